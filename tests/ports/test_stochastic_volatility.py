"""Stochastic volatility: the potential that the functional interface samples against SciPy.

``initialize_model(...).potential_fn`` takes unconstrained values (log sigma, s, log nu); it
must equal minus the log joint computed with SciPy (Exponential priors, the random walk's
Gaussian increments from 0, Student-t returns) minus the log-Jacobians of the two exp maps.
"""

from __future__ import annotations

import jax
import numpy as np
from scipy.stats import expon, norm, t

from . import _port


def test_stochastic_volatility_potential_matches_scipy():
    module = _port.load("stochastic_volatility")
    returns = module.make_data()
    model_info = module.initialize_model(jax.random.key(0), module.model, model_args=(returns,))
    rng = np.random.default_rng(0)
    log_sigma, log_nu = np.log(0.03), np.log(8.0)
    s = np.cumsum(0.03 * rng.normal(size=returns.shape[0]))
    potential = model_info.potential_fn({"sigma": log_sigma, "s": s, "nu": log_nu})

    sigma, nu = np.exp(log_sigma), np.exp(log_nu)
    log_joint = (
        expon.logpdf(sigma, scale=1 / 50.0)
        + norm.logpdf(np.diff(s, prepend=0.0), scale=sigma).sum()
        + expon.logpdf(nu, scale=10.0)
        + t.logpdf(returns, df=nu, loc=0.0, scale=np.exp(s)).sum()
    )
    np.testing.assert_allclose(float(potential), -(log_joint + log_sigma + log_nu), rtol=1e-10)

    constrained = model_info.postprocess_fn({"sigma": log_sigma, "s": s, "nu": log_nu})
    np.testing.assert_allclose(float(constrained["sigma"]), sigma, rtol=1e-12)
    np.testing.assert_allclose(float(constrained["nu"]), nu, rtol=1e-12)
