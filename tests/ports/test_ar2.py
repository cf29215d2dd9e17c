"""AR(2): both versions of the example against the exact posterior, by quadrature.

Given ``sigma`` the model is a Bayesian linear regression of ``y[2:]`` on
``(y[t-1], y[t-2], 1)`` with N(0, 1) priors, so ``(alpha_1, alpha_2, const) | sigma, y`` is
Gaussian in closed form and ``p(sigma | y)`` is known up to a constant
(``HalfNormal(1) * N(y; 0, sigma^2 I + X X^T)``). Integrating over a fine grid of ``sigma``
gives every posterior mean and sd exactly, ``mu = X beta`` included.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

from . import _port


def exact_posterior(y):
    y = np.asarray(y, dtype=np.float64)
    X = np.stack([y[1:-1], y[:-2], np.ones(len(y) - 2)], axis=1)
    target = y[2:]
    sigmas = np.linspace(0.02, 1.0, 20001)
    log_w, means, covs = [], [], []
    for s in sigmas:
        prec = np.eye(3) + X.T @ X / s**2
        cov = np.linalg.inv(prec)
        means.append(cov @ X.T @ target / s**2)
        covs.append(cov)
        marginal = s**2 * np.eye(len(target)) + X @ X.T
        _, logdet = np.linalg.slogdet(marginal)
        log_lik = -0.5 * (logdet + target @ np.linalg.solve(marginal, target))
        log_w.append(log_lik - 0.5 * s**2)  # HalfNormal(1), up to a constant
    w = np.exp(np.asarray(log_w) - logsumexp(log_w))
    means, covs = np.asarray(means), np.asarray(covs)
    beta_mean = w @ means
    beta_sq = w @ (means**2 + np.diagonal(covs, axis1=1, axis2=2))
    mu_cond_mean = means @ X.T
    mu_cond_var = np.einsum("ti,sij,tj->st", X, covs, X)
    mu_mean = w @ mu_cond_mean
    mu_sq = w @ (mu_cond_mean**2 + mu_cond_var)
    sigma_mean = w @ sigmas
    out = {
        "sigma": (sigma_mean, np.sqrt(w @ sigmas**2 - sigma_mean**2)),
        "mu": (mu_mean, np.sqrt(mu_sq - mu_mean**2)),
    }
    for i, name in enumerate(("alpha_1", "alpha_2", "const")):
        out[name] = (beta_mean[i], np.sqrt(beta_sq[i] - beta_mean[i] ** 2))
    return out


def test_ar2_scan_and_for_loop_match_exact_posterior():
    module = _port.load("ar2")
    exact = exact_posterior(module.make_data())
    reference = {}
    for prefix in ("", "for_loop/"):
        for name, (mean, sd) in exact.items():
            reference[prefix + name] = _port.known(mean, sd)
    _port.assert_matches(_port.effax_draws("ar2"), reference)


def test_ar2_matches_numpyro():
    # test_ports.py's check of this port, beside the oracle check of the same draws.
    _port.assert_matches_numpyro("ar2")
