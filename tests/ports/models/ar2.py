# NumPyro's examples/ar2.py: an AR(2) process, written both with the effect-aware scan
# (observed through condition on the scanned site) and as a Python for-loop of named sites.
# Both versions are fitted to the same data, the example's sine plus noise (the noise drawn by
# NumPy; 40 points rather than 142).
import numpy as np

from jax import random
import jax.numpy as jnp

import numpyro
from numpyro.contrib.control_flow import scan
import numpyro.distributions as dist


def ar2_scan(y):
    alpha_1 = numpyro.sample("alpha_1", dist.Normal(0, 1))
    alpha_2 = numpyro.sample("alpha_2", dist.Normal(0, 1))
    const = numpyro.sample("const", dist.Normal(0, 1))
    sigma = numpyro.sample("sigma", dist.HalfNormal(1))

    def transition(carry, _):
        y_prev, y_prev_prev = carry
        m_t = const + alpha_1 * y_prev + alpha_2 * y_prev_prev
        y_t = numpyro.sample("y", dist.Normal(m_t, sigma))
        carry = (y_t, y_prev)
        return carry, m_t

    timesteps = jnp.arange(y.shape[0] - 2)
    init = (y[1], y[0])

    with numpyro.handlers.condition(data={"y": y[2:]}):
        _, mu = scan(transition, init, timesteps)

    numpyro.deterministic("mu", mu)


def ar2_for_loop(y):
    alpha_1 = numpyro.sample("alpha_1", dist.Normal(0, 1))
    alpha_2 = numpyro.sample("alpha_2", dist.Normal(0, 1))
    const = numpyro.sample("const", dist.Normal(0, 1))
    sigma = numpyro.sample("sigma", dist.HalfNormal(1))

    y_prev = y[1]
    y_prev_prev = y[0]
    mu = []
    for i in range(2, len(y)):
        m_t = const + alpha_1 * y_prev + alpha_2 * y_prev_prev
        mu.append(m_t)
        y_t = numpyro.sample("y_{}".format(i), dist.Normal(m_t, sigma), obs=y[i])  # noqa: UP032
        y_prev_prev = y_prev
        y_prev = y_t

    numpyro.deterministic("mu", jnp.asarray(mu))


def run_inference(model, rng_key, y, num_warmup, num_samples, num_chains):
    sampler = numpyro.infer.NUTS(model)
    mcmc = numpyro.infer.MCMC(
        sampler,
        num_warmup=num_warmup,
        num_samples=num_samples,
        num_chains=num_chains,
        progress_bar=False,
    )
    mcmc.run(rng_key, y=y)
    return mcmc.get_samples()


def make_data(num_data=40, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(0, num_data)
    # A JAX array, as in the example: condition's data are indexed by the scan's step.
    return jnp.array(np.sin(t) + rng.normal(size=(num_data,)) * 0.1)


def run(rng_key, num_warmup, num_samples, num_chains):
    y = make_data()
    key_scan, key_loop = random.split(rng_key)
    out = {}
    for prefix, model, key in (("", ar2_scan, key_scan), ("for_loop/", ar2_for_loop, key_loop)):
        samples = run_inference(model, key, y, num_warmup, num_samples, num_chains)
        for name in ("alpha_1", "alpha_2", "const", "sigma", "mu"):
            out[prefix + name] = samples[name]
    return out


# The harness's settings for the Effax test run (one chain): (num_warmup, num_samples).
TEST_SIZES = (500, 2000)
