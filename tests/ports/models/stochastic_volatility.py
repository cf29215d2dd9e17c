# NumPyro's examples/stochastic_volatility.py: log-volatility as a GaussianRandomWalk with
# Student-t returns, sampled with the functional interface (initialize_model, hmc,
# fori_collect). The S&P 500 returns are replaced by a short synthetic series drawn by NumPy
# from the model's own form; several chains are run one after another.
import numpy as np

import jax.numpy as jnp
import jax.random as random

import numpyro
import numpyro.distributions as dist
from numpyro.infer.hmc import hmc
from numpyro.infer.util import initialize_model
from numpyro.util import fori_collect


def model(returns):
    step_size = numpyro.sample("sigma", dist.Exponential(50.0))
    s = numpyro.sample(
        "s", dist.GaussianRandomWalk(scale=step_size, num_steps=jnp.shape(returns)[0])
    )
    nu = numpyro.sample("nu", dist.Exponential(0.1))
    return numpyro.sample("r", dist.StudentT(df=nu, loc=0.0, scale=jnp.exp(s)), obs=returns)


def make_data(num_steps=100, seed=0):
    # A log-volatility random walk of step 0.05 and Student-t(5) returns.
    rng = np.random.default_rng(seed)
    s = np.cumsum(0.05 * rng.normal(size=num_steps))
    return np.exp(s) * rng.standard_t(5.0, size=num_steps)


def run_chain(rng_key, returns, num_warmup, num_samples):
    init_rng_key, sample_rng_key = random.split(rng_key)
    model_info = initialize_model(init_rng_key, model, model_args=(returns,))
    init_kernel, sample_kernel = hmc(model_info.potential_fn, algo="NUTS")
    hmc_state = init_kernel(model_info.param_info, num_warmup, rng_key=sample_rng_key)
    hmc_states = fori_collect(
        num_warmup,
        num_warmup + num_samples,
        sample_kernel,
        hmc_state,
        transform=lambda hmc_state: model_info.postprocess_fn(hmc_state.z),
        progbar=False,
    )
    return hmc_states


def run(rng_key, num_warmup, num_samples, num_chains):
    returns = make_data()
    chains = [
        run_chain(key, returns, num_warmup, num_samples)
        for key in random.split(rng_key, num_chains)
    ]
    return {k: jnp.concatenate([c[k] for c in chains]) for k in ("sigma", "nu", "s")}


# The harness's settings for the Effax test run (one chain): (num_warmup, num_samples).
TEST_SIZES = (300, 600)
