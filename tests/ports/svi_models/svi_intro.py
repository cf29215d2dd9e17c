# NumPyro's SVI docstring example (numpyro/infer/svi.py), the coin-fairness model of the
# SVI tutorial: a Beta guide with a positive param initialised from a PRNG key.
from jax import random
import jax.numpy as jnp

import numpyro
import numpyro.distributions as dist
from numpyro.distributions import constraints
from numpyro.infer import Predictive, SVI, Trace_ELBO


def model(data):
    f = numpyro.sample("latent_fairness", dist.Beta(10, 10))
    with numpyro.plate("N", data.shape[0] if data is not None else 10):
        numpyro.sample("obs", dist.Bernoulli(f), obs=data)


def guide(data):
    alpha_q = numpyro.param("alpha_q", 15.0, constraint=constraints.positive)
    beta_q = numpyro.param(
        "beta_q",
        lambda rng_key: random.exponential(rng_key),
        constraint=constraints.positive,
    )
    numpyro.sample("latent_fairness", dist.Beta(alpha_q, beta_q))


def run(num_steps, step_size=0.0005):
    data = jnp.concatenate([jnp.ones(6), jnp.zeros(4)])
    optimizer = numpyro.optim.Adam(step_size=step_size)
    svi = SVI(model, guide, optimizer, loss=Trace_ELBO())
    svi_result = svi.run(random.PRNGKey(0), num_steps, data, progress_bar=False)
    params = svi_result.params
    inferred_mean = params["alpha_q"] / (params["alpha_q"] + params["beta_q"])
    # get posterior samples
    predictive = Predictive(guide, params=params, num_samples=1000)
    samples = predictive(random.PRNGKey(1), data=None)
    return params, inferred_mean, samples, svi_result.losses
