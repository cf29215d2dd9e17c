"""Holt-Winters: the forecast that Predictive returns against the closed form.

Given a posterior draw, the example's filter is deterministic up to time ``T``; past it the
level, trend and seasons stay fixed, so step ``h`` of the forecast is
``Normal(level_T + h * trend_T + season_T[(h - 1) % m], noise)``. The filter is recomputed
here in NumPy for every draw, and the forecast's standardised residuals must be independent
N(0, 1): a forecast that copied the last observation, reused one draw of noise for all
steps, or ran the filter wrongly fails.
"""

from __future__ import annotations

import numpy as np

from . import _port


def filtered_forecast_mean(draws, y, n_seasons, future):
    """The forecast's mean at steps 1..future for each draw, ``(draws, future)``."""
    a = np.asarray(draws["level_smoothing"])
    b = np.asarray(draws["trend_smoothing"])
    g = np.asarray(draws["seasonality_smoothing"]) * (1 - a)
    level = np.asarray(draws["level_init"])
    trend = np.asarray(draws["trend_init"])
    season = np.asarray(draws["seasonality_init"])
    for y_t in np.asarray(y):
        new_level = a * (y_t - season[:, 0]) + (1 - a) * (level + trend)
        new_trend = b * (new_level - level) + (1 - b) * trend
        new_season = g * (y_t - (level + trend)) + (1 - g) * season[:, 0]
        level, trend = new_level, new_trend
        season = np.concatenate([season[:, 1:], new_season[:, None]], axis=1)
    h = np.arange(1, future + 1)
    return level[:, None] + h * trend[:, None] + season[:, (h - 1) % n_seasons]


def test_holt_winters_forecast_matches_its_closed_form():
    module = _port.load("holt_winters")
    y, n_seasons = module.make_data()
    draws = _port.effax_draws("holt_winters")
    forecast = np.asarray(draws["y_forecast"])
    mean = filtered_forecast_mean(draws, y, n_seasons, forecast.shape[1])
    residual = (forecast - mean) / np.asarray(draws["noise"])[:, None]
    # Neighbouring steps' noise is independent: the products of their residuals have
    # mean 0 and sd 1 too.
    product = residual[:, 1:] * residual[:, :-1]
    _port.assert_matches(
        {"residual": residual, "product": product},
        {"residual": _port.known(np.zeros(10), 1.0), "product": _port.known(np.zeros(9), 1.0)},
    )


def test_holt_winters_matches_numpyro():
    # test_ports.py's check of this port, beside the oracle check of the same draws.
    _port.assert_matches_numpyro("holt_winters")
