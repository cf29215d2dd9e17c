"""A model wrapped in handlers that hold arrays (``condition(model, data)``) is data, not a
static constant: no "JAX array set as static" warning, its arrays enter the compiled
programs as arguments (new data of the same shape does not recompile), and the answers
are right."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np

import dists as D
from effects import plate, sample
from handlers import condition
from inference import MCMC, NUTS, Predictive, log_likelihood
from inference._mcmc import _loop_single


def model():
    mu = sample("mu", D.Normal(0.0, 5.0))
    with plate("N", 3):
        sample("y", D.Normal(mu, 1.0))


def _posterior_mean(y):
    # Normal-normal conjugacy: prior N(0, 5^2), unit noise, n = 3.
    return np.sum(y) / (3 + 1 / 25), 1 / np.sqrt(3 + 1 / 25)


def test_conditioned_models_are_arguments_of_one_program():
    means = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "A JAX array is being set as static!" included
        for i, y in enumerate((np.array([1.0, 2.0, 3.0]), np.array([11.0, 12.0, 13.0]))):
            m = MCMC(
                NUTS(condition(model, {"y": jnp.asarray(y)})),
                num_warmup=300,
                num_samples=1000,
                progress_bar=False,
            )
            m.run(jax.random.key(0))
            if i == 0:
                programs = _loop_single._cached._cache_size()
                first = m
            means.append((m.get_samples()["mu"], y))
        # The second model differs only in its arrays: the same compiled loop ran it.
        assert _loop_single._cached._cache_size() == programs
        draws = first.get_samples()
        pred = Predictive(condition(model, {"y": jnp.asarray(means[0][1])}), draws)
        assert pred(jax.random.key(1))["y"].shape == (1000, 3)
        ll = log_likelihood(condition(model, {"y": jnp.asarray(means[0][1])}), draws)
        assert ll["y"].shape == (1000, 3)
    for mu, y in means:
        mean, sd = _posterior_mean(y)
        # 5 Monte Carlo standard errors, with a generous effective sample size of 200.
        assert abs(float(jnp.mean(mu)) - mean) < 5 * sd / np.sqrt(200), (float(jnp.mean(mu)), mean)
