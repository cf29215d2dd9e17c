"""The default path users take: float32 everywhere, NumPy data, Python ints for sizes.

Each test here builds its data inside the test, so that nothing made with float64 on (at
import time, under ``tests/conftest.py``) leaks in.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats as st

import dists as D
from effects import plate, sample
from inference import MCMC, NUTS, Predictive, _mcmc, log_likelihood, mcse_mean, rhat

M0, S0, NOISE = 1.0, 2.0, 1.5


def normal_normal(y):
    mu = sample("mu", D.Normal(M0, S0))
    with plate("N", y.shape[0]):
        sample("y", D.Normal(mu, NOISE), obs=y)


def eight_schools(J, sigma, y=None):
    mu = sample("mu", D.Normal(0, 5))
    tau = sample("tau", D.HalfCauchy(5))
    with plate("J", J):
        theta = sample("theta", D.Normal(mu, tau))
        sample("obs", D.Normal(theta, sigma), obs=y)


SIGMA = [15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0]
Y = [28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0]


def test_nuts_matches_the_conjugate_posterior_in_float32():
    y = np.random.default_rng(1).normal(2.5, NOISE, size=20)
    mcmc = MCMC(
        NUTS(normal_normal),
        num_warmup=300,
        num_samples=1000,
        num_chains=2,
        chain_method="vectorized",
        progress_bar=False,
    )
    mcmc.run(jax.random.key(7), y)
    draws = mcmc.get_samples(group_by_chain=True)["mu"]
    assert draws.dtype == jnp.float32
    x = np.asarray(draws, dtype=np.float64)
    precision = 1 / S0**2 + len(y) / NOISE**2
    mean = (M0 / S0**2 + y.sum() / NOISE**2) / precision
    sd = math.sqrt(1 / precision)
    mcse = float(mcse_mean(x))
    assert abs(x.mean() - mean) <= 4 * mcse, (x.mean(), mean, mcse)
    assert abs(x.std(ddof=1) - sd) <= 0.12 * sd, (x.std(ddof=1), sd)
    assert float(rhat(x)) < 1.02


def test_eight_schools_with_lists_and_an_int_then_predictive_and_log_likelihood():
    mcmc = MCMC(NUTS(eight_schools), num_warmup=150, num_samples=150, progress_bar=False)
    sigma, y = np.array(SIGMA), np.array(Y)
    mcmc.run(jax.random.key(0), 8, sigma, y=y)
    samples = mcmc.get_samples()
    assert {k: v.dtype for k, v in samples.items()} == dict.fromkeys(
        ("mu", "tau", "theta"), jnp.float32
    )
    assert samples["theta"].shape == (150, 8)
    assert bool(jnp.all(samples["tau"] > 0))
    pred = Predictive(eight_schools, samples)(jax.random.key(1), 8, sigma)
    assert pred["obs"].shape == (150, 8) and pred["obs"].dtype == jnp.float32
    # The predictive sd of each school is at least its measurement sd.
    assert np.all(np.asarray(pred["obs"]).std(0) > 0.8 * sigma)
    ll = log_likelihood(eight_schools, samples, 8, sigma, y=y)["obs"]
    expected = st.norm(np.asarray(samples["theta"], np.float64), sigma).logpdf(y)
    np.testing.assert_allclose(np.asarray(ll), expected, rtol=1e-5, atol=1e-5)


def test_new_jax_data_of_the_same_shape_does_not_recompile_in_float32():
    def model(x, y=None):
        w = sample("w", D.Normal(0.0, 1.0))
        with plate("N", x.shape[0]):
            sample("y", D.Normal(w * x, 1.0), obs=y)

    x = jnp.linspace(-1.0, 1.0, 5)
    assert x.dtype == jnp.float32
    mcmc = MCMC(NUTS(model), num_warmup=20, num_samples=20, progress_bar=False)
    mcmc.run(jax.random.key(0), x, y=2.0 * x)
    starts = _mcmc._start_chains.cache_size()
    mcmc.run(jax.random.key(1), x + 1.0, y=-x)
    assert _mcmc._start_chains.cache_size() == starts
    assert mcmc.get_samples()["w"].dtype == jnp.float32


@pytest.mark.parametrize(
    "dist, frozen, value",
    [
        (lambda: D.Normal(0.5, 2.0), st.norm(0.5, 2.0), 1.3),
        (lambda: D.Gamma(2.0, 3.0), st.gamma(2.0, scale=1 / 3.0), 0.7),
        (lambda: D.Beta(2.0, 5.0), st.beta(2.0, 5.0), 0.3),
        (lambda: D.StudentT(4.0, 1.0, 2.0), st.t(4.0, 1.0, 2.0), -0.4),
        (lambda: D.Poisson(3.5), st.poisson(3.5), 2),
        (lambda: D.Binomial(10, probs=0.3), st.binom(10, 0.3), 4),
    ],
)
def test_log_prob_in_float32_matches_scipy(dist, frozen, value):
    d = dist()
    lp = d.log_prob(jnp.asarray(value))
    assert lp.dtype == jnp.float32
    exact = frozen.logpmf(value) if hasattr(frozen, "logpmf") else frozen.logpdf(value)
    np.testing.assert_allclose(float(lp), exact, rtol=2e-6, atol=2e-6)
    draws = d.sample(jax.random.key(0), (4,))
    assert draws.shape == (4,)
