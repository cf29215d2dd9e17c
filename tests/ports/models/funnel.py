# NumPyro's examples/funnel.py, the centred model only (no reparam): Neal's funnel, whose
# neck NUTS cannot enter, so it reports divergences and its draws of y miss the lower tail.
# Both frameworks' draws of y depend on where each chain gets stuck, so y is not compared.
# What a few thousand draws do estimate reliably is compared instead: the signs of x (each
# P(x_i > 0) = 1/2 by symmetry) and x standardised by its conditional scale, z = x / e^(y/2),
# which is N(0, 1) given any y. test_funnel.py checks z against N(0, 1) and that
# divergences are reported.
import jax.numpy as jnp

import numpyro
import numpyro.distributions as dist
from numpyro.infer import MCMC, NUTS


def model(dim=10):
    y = numpyro.sample("y", dist.Normal(0, 3))
    numpyro.sample("x", dist.Normal(jnp.zeros(dim - 1), jnp.exp(y / 2)))


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
    mcmc = run_inference(model, rng_key, num_warmup, num_samples, num_chains)
    samples = mcmc.get_samples()
    return {
        "x_positive": jnp.where(samples["x"] > 0, 1.0, 0.0),
        "z": samples["x"] * jnp.exp(-samples["y"][:, None] / 2),
    }


# The harness's settings for the Effax test run (one chain): (num_warmup, num_samples).
TEST_SIZES = (500, 2000)
