# NumPyro's examples/holt_winters.py: Holt-Winters exponential smoothing, its filter an
# effect-aware scan longer than the data, observed through condition(data={"pred": y}); the
# steps past the data are drawn, and Predictive returns them as the forecast. The data are
# the example's (a seasonal sine plus a trend), with the noise drawn by NumPy so that both
# frameworks fit the same numbers.
import numpy as np

from jax import random
import jax.numpy as jnp

import numpyro
from numpyro.contrib.control_flow import scan
import numpyro.distributions as dist
from numpyro.infer import MCMC, NUTS, Predictive

N_POINTS_PER_UNIT = 10  # number of points to plot for each unit interval


def holt_winters(y, n_seasons, future=0):
    T = y.shape[0]
    level_smoothing = numpyro.sample("level_smoothing", dist.Beta(1, 1))
    trend_smoothing = numpyro.sample("trend_smoothing", dist.Beta(1, 1))
    seasonality_smoothing = numpyro.sample("seasonality_smoothing", dist.Beta(1, 1))
    adj_seasonality_smoothing = seasonality_smoothing * (1 - level_smoothing)
    noise = numpyro.sample("noise", dist.HalfNormal(1))
    level_init = numpyro.sample("level_init", dist.Normal(0, 1))
    trend_init = numpyro.sample("trend_init", dist.Normal(0, 1))
    with numpyro.plate("n_seasons", n_seasons):
        seasonality_init = numpyro.sample("seasonality_init", dist.Normal(0, 1))

    def transition_fn(carry, t):
        previous_level, previous_trend, previous_seasonality = carry
        level = jnp.where(
            t < T,
            level_smoothing * (y[t] - previous_seasonality[0])
            + (1 - level_smoothing) * (previous_level + previous_trend),
            previous_level,
        )
        trend = jnp.where(
            t < T,
            trend_smoothing * (level - previous_level) + (1 - trend_smoothing) * previous_trend,
            previous_trend,
        )
        new_season = jnp.where(
            t < T,
            adj_seasonality_smoothing * (y[t] - (previous_level + previous_trend))
            + (1 - adj_seasonality_smoothing) * previous_seasonality[0],
            previous_seasonality[0],
        )
        step = jnp.where(t < T, 1, t - T + 1)
        mu = previous_level + step * previous_trend + previous_seasonality[0]
        pred = numpyro.sample("pred", dist.Normal(mu, noise))

        seasonality = jnp.concatenate([previous_seasonality[1:], new_season[None]], axis=0)
        return (level, trend, seasonality), pred

    with numpyro.handlers.condition(data={"pred": y}):
        _, preds = scan(
            transition_fn,
            (level_init, trend_init, seasonality_init),
            jnp.arange(T + future),
        )

    if future > 0:
        numpyro.deterministic("y_forecast", preds[-future:])


# The example's artificial dataset (T=6 units and 1 unit of future, 10 points a unit),
# its noise drawn by NumPy rather than jax.random.
T_UNITS, FUTURE_UNITS = 6, 1


def make_data(seed=0):
    rng = np.random.default_rng(seed)
    t = np.linspace(0, T_UNITS + FUTURE_UNITS, (T_UNITS + FUTURE_UNITS) * N_POINTS_PER_UNIT)
    y = np.sin(2 * np.pi * t) + 0.3 * t + rng.normal(size=t.shape) * 0.1
    # The model indexes y with the scan's step, so y is a JAX array, as in the example.
    y_train = jnp.array(y[: -FUTURE_UNITS * N_POINTS_PER_UNIT])
    return y_train, N_POINTS_PER_UNIT


def run(rng_key, num_warmup, num_samples, num_chains):
    y, n_seasons = make_data()
    rng_key, rng_key_predict = random.split(rng_key)
    mcmc = MCMC(
        NUTS(holt_winters),
        num_warmup=num_warmup,
        num_samples=num_samples,
        num_chains=num_chains,
        progress_bar=False,
    )
    mcmc.run(rng_key, y=y, n_seasons=n_seasons)
    samples = mcmc.get_samples()
    predictive = Predictive(holt_winters, samples, return_sites=["y_forecast"])
    y_forecast = predictive(
        rng_key_predict, y=y, n_seasons=n_seasons, future=FUTURE_UNITS * N_POINTS_PER_UNIT
    )["y_forecast"]
    return dict(samples, y_forecast=y_forecast)


# The harness's settings for the Effax test run (one chain): (num_warmup, num_samples).
TEST_SIZES = (500, 2000)
