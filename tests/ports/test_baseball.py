"""The baseball port's two unpooled-or-fully-pooled models against their exact posteriors.

Under a Uniform(0, 1) prior and a Binomial likelihood the posterior of a success
probability is Beta(1 + hits, 1 + misses): one Beta shared by all players in
``fully_pooled``, one per player in ``not_pooled``. So the oracle needs no sampler:
the posterior of ``phi``, the posterior predictive hits (BetaBinomial) and the pointwise
log-likelihood ``log Binomial(h | n, phi)`` (its mean and variance by digamma and
trigamma) are all known in closed form. NumPyro's reference covers the two partially
pooled models, which have no closed form.
"""

from __future__ import annotations

import jax
import numpy as np
from scipy.special import gammaln, polygamma, psi

from . import _port


def exact(a: np.ndarray, b: np.ndarray, n: np.ndarray, h: np.ndarray) -> dict:
    """Mean and sd of phi ~ Beta(a, b), of hits ~ BetaBinomial(n, a, b) and of
    log Binomial(h | n, phi), each entry with zero Monte Carlo error."""
    s = a + b
    phi_mean, phi_var = a / s, a * b / (s**2 * (s + 1))
    obs_mean, obs_var = n * a / s, n * a * b * (s + n) / (s**2 * (s + 1))
    log_choose = gammaln(n + 1) - gammaln(h + 1) - gammaln(n - h + 1)
    # E log phi = psi(a) - psi(s), E log(1 - phi) = psi(b) - psi(s); their covariances
    # are trigamma(a) - trigamma(s), trigamma(b) - trigamma(s) and -trigamma(s).
    ll_mean = log_choose + h * (psi(a) - psi(s)) + (n - h) * (psi(b) - psi(s))
    t_a, t_b, t_s = (polygamma(1, x) for x in (a, b, s))
    ll_var = h**2 * (t_a - t_s) + (n - h) ** 2 * (t_b - t_s) - 2 * h * (n - h) * t_s
    out = {}
    for name, mean, var in (
        ("phi", phi_mean, phi_var),
        ("obs", obs_mean, obs_var),
        ("log_lik", ll_mean, ll_var),
    ):
        mean, sd = np.asarray(mean, float), np.sqrt(np.asarray(var, float))
        zero = np.zeros_like(mean)
        out[name] = {"mean": mean, "sd": sd, "mcse": zero, "mcse_sd": zero}
    return out


def test_baseball_pooled_and_unpooled_match_their_beta_posteriors():
    module = _port.load("baseball")
    at_bats, hits = module.train[:, 0].astype(float), module.train[:, 1].astype(float)
    reference = {}
    pooled = exact(np.array(1 + hits.sum()), np.array(1 + (at_bats - hits).sum()), at_bats, hits)
    pooled["phi"] = {k: v.item() for k, v in pooled["phi"].items()}  # a scalar site
    unpooled = exact(1 + hits, 1 + at_bats - hits, at_bats, hits)
    for model, summary in (("fully_pooled", pooled), ("not_pooled", unpooled)):
        for name, entry in summary.items():
            reference[f"{model}.{name}"] = entry
    warmup, samples = module.TEST_SIZES
    draws = module.run(
        jax.random.key(2), warmup, samples, 1, models=(module.fully_pooled, module.not_pooled)
    )
    assert set(draws) == set(reference)
    _port.assert_matches(draws, reference)
