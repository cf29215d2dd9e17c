"""Lotka-Volterra: the posterior predictive against SciPy's ODE solver.

Given a posterior draw, ``y`` is LogNormal(log z(t), sigma), where z solves the ODE from
``z_init`` with ``theta``. The solution is recomputed here by SciPy (LSODA, tight
tolerances) for each draw, so the standardised log residuals of Predictive's ``y`` must be
independent N(0, 1): a wrong solve inside the model, or a predictive that reused the data,
fails.
"""

from __future__ import annotations

import numpy as np
from scipy.integrate import odeint

from . import _port


def lotka_volterra(z, t, theta):
    alpha, beta, gamma, delta = theta
    u, v = z
    return [(alpha - beta * v) * u, (-gamma + delta * u) * v]


def test_ode_predictive_matches_scipy_solution():
    draws = _port.effax_draws("ode")
    log_y_pred = np.asarray(draws["log_y_pred"])
    ts = np.arange(float(log_y_pred.shape[1]))
    z = np.stack(
        [
            odeint(lotka_volterra, z0, ts, args=(theta,), rtol=1e-10, atol=1e-10)
            for z0, theta in zip(np.asarray(draws["z_init"]), np.asarray(draws["theta"]))
        ]
    )
    residual = (log_y_pred - np.log(z)) / np.asarray(draws["sigma"])[:, None, :]
    _port.assert_matches(
        {"residual": residual}, {"residual": _port.known(np.zeros(z.shape[1:]), 1.0)}
    )


def test_ode_matches_numpyro():
    # test_ports.py's check of this port, beside the oracle check of the same draws.
    _port.assert_matches_numpyro("ode")
