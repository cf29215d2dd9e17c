# NumPyro's examples/funnel.py, the reparameterised model: Neal's funnel with `x` made
# non-centred from outside the model by `handlers.reparam` and `LocScaleReparam(0)`, so
# NUTS samples `x_decentered ~ N(0, 1)` and `x = exp(y / 2) * x_decentered` is a
# deterministic site. The posterior is then sampled without divergences, and y's marginal
# N(0, 3) is reached (the centred port cannot compare y). `x` itself is heavy-tailed (its
# sd's Monte Carlo error is unreliable), so its signs are compared instead, as in the
# centred port. test_funnel_reparam.py checks y and x_decentered against their exact laws.
import jax.numpy as jnp

import numpyro
import numpyro.distributions as dist
from numpyro.handlers import reparam
from numpyro.infer import MCMC, NUTS
from numpyro.infer.reparam import LocScaleReparam


def model(dim=10):
    y = numpyro.sample("y", dist.Normal(0, 3))
    numpyro.sample("x", dist.Normal(jnp.zeros(dim - 1), jnp.exp(y / 2)))


reparam_model = reparam(model, config={"x": LocScaleReparam(0)})


def run_inference(model, rng_key, num_warmup, num_samples, num_chains):
    kernel = NUTS(model)
    mcmc = MCMC(
        kernel,
        num_warmup=num_warmup,
        num_samples=num_samples,
        num_chains=num_chains,
        progress_bar=False,
    )
    mcmc.run(rng_key)
    return mcmc


def run(rng_key, num_warmup, num_samples, num_chains):
    mcmc = run_inference(reparam_model, rng_key, num_warmup, num_samples, num_chains)
    samples = mcmc.get_samples()
    return {
        "y": samples["y"],
        "x_decentered": samples["x_decentered"],
        "x_positive": jnp.where(samples["x"] > 0, 1.0, 0.0),
    }


# The harness's settings for the Effax test run (one chain): (num_warmup, num_samples).
TEST_SIZES = (500, 2000)
