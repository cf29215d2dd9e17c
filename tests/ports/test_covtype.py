"""The covtype-style logistic regression against a brute-force posterior.

The posterior of the five coefficients is computed without a sampler of either
framework: importance sampling in NumPy, from a Student-t proposal centred at the
posterior mode (found by Newton's method) with the inverse Hessian, scaled up, as its
scale. The self-normalised estimates of the posterior means and sds carry their own
delta-method standard errors, and the weights' effective sample size is checked, so a
poor proposal fails the test instead of passing it. Both the NumPyro reference (what
``test_port_matches_numpyro[covtype]`` compares Effax's ``model`` with) and Effax's draws
of ``model_to_event`` (the same regression written with ``.to_event(1)``) are checked.
"""

from __future__ import annotations

import functools

import jax
import numpy as np
from scipy.special import expit, log_expit

from . import _port


def log_posterior(beta: np.ndarray, X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """log N(beta | 0, I) + sum log Bernoulli(y | logits = X beta), up to a constant;
    ``beta`` is ``(..., dim)``."""
    eta = beta @ X.T
    return -0.5 * np.sum(beta**2, -1) + np.sum(y * log_expit(eta) + (1 - y) * log_expit(-eta), -1)


@functools.cache
def oracle(num_draws: int = 100_000, df: float = 8.0, inflate: float = 1.5) -> dict:
    X, y = (np.asarray(a, dtype=np.float64) for a in _port.load("covtype")._load_dataset())
    dim = X.shape[1]
    beta = np.zeros(dim)
    for _ in range(50):  # Newton's method on a strictly concave function
        p = expit(X @ beta)
        grad = X.T @ (y - p) - beta
        hess = -(X.T * (p * (1 - p))) @ X - np.eye(dim)
        beta = beta - np.linalg.solve(hess, grad)
    assert np.max(np.abs(grad)) < 1e-8
    scale = np.linalg.cholesky(inflate * np.linalg.inv(-hess))
    rng = np.random.default_rng(0)
    z = rng.standard_normal((num_draws, dim)) / np.sqrt(rng.chisquare(df, (num_draws, 1)) / df)
    draws = beta + z @ scale.T
    # the multivariate t's log density, up to a constant (it cancels in self-normalised
    # weights)
    log_q = -0.5 * (df + dim) * np.log1p(np.sum(z**2, -1) / df)
    log_w = log_posterior(draws, X, y) - log_q
    w = np.exp(log_w - log_w.max())
    w /= w.sum()
    ess = 1.0 / np.sum(w**2)
    mean = w @ draws
    dev2 = (draws - mean) ** 2
    var = w @ dev2
    sd = np.sqrt(var)
    mcse = np.sqrt(w**2 @ dev2)
    mcse_sd = np.sqrt(w**2 @ (dev2 - var) ** 2) / (2 * sd)
    return {
        "ess": ess,
        "num_draws": num_draws,
        "coefs": {"mean": mean, "sd": sd, "mcse": mcse, "mcse_sd": mcse_sd},
    }


def test_oracle_is_sound():
    o = oracle()
    # A proposal this close to the target keeps most of its draws' worth.
    assert o["ess"] > 0.25 * o["num_draws"], o["ess"]
    assert np.all(o["coefs"]["mcse"] < 0.01 * o["coefs"]["sd"])


def test_numpyro_reference_matches_the_brute_force_posterior():
    ref, o = _port.reference("covtype")["coefs"], oracle()["coefs"]
    z = _port.family_z(2 * len(o["mean"]))
    for stat, err in (("mean", "mcse"), ("sd", "mcse_sd")):
        bound = z * np.hypot(np.asarray(ref[err]), o[err])
        assert np.all(np.abs(np.asarray(ref[stat]) - o[stat]) <= bound), (stat, ref[stat], o[stat])


def test_to_event_form_on_effax_matches_the_brute_force_posterior():
    module = _port.load("covtype")
    warmup, samples = module.TEST_SIZES
    draws = module.run(jax.random.key(3), warmup, samples, 1, model=module.model_to_event)
    _port.assert_matches(draws, {"coefs": oracle()["coefs"]})
