"""MCMC, Predictive, log_likelihood and to_arviz on a reparameterised model.

The model is conjugate, so the posterior of the original sites is known exactly; MCMC
draws are compared with it within Monte Carlo error (z = 4 per scalar, Bonferroni over
the scalars gives a false alarm below 1e-3)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats as st

import dists as D
import handlers as H
from effects import plate, sample
from inference import MCMC, NUTS, Predictive, log_likelihood, mcse_mean, to_arviz
from inference.reparam import LocScaleReparam

Y = np.array([1.5, -0.4, 2.2, 0.7])
SIGMA = 0.8


def model(y=None):
    mu = sample("mu", D.Normal(0.0, 2.0))
    with plate("J", 4):
        theta = sample("theta", D.Normal(mu, 1.0))
        sample("y", D.Normal(theta, SIGMA), obs=y)


def _exact_posterior():
    prior_cov = 4.0 * np.ones((5, 5)) + np.diag([0.0, 1, 1, 1, 1])
    H_ = np.hstack([np.zeros((4, 1)), np.eye(4)])
    cov = np.linalg.inv(np.linalg.inv(prior_cov) + H_.T @ H_ / SIGMA**2)
    return cov @ (H_.T @ Y / SIGMA**2), cov


@pytest.fixture(scope="module")
def mcmc():
    rep = H.reparam(model, config={"theta": LocScaleReparam(0.0)})
    m = MCMC(NUTS(rep), num_warmup=400, num_samples=1000, num_chains=2, progress_bar=False)
    m.run(jax.random.key(1), jnp.asarray(Y))
    return m


def test_mcmc_returns_original_and_new_sites_with_the_exact_posterior(mcmc):
    draws = mcmc.get_samples(group_by_chain=True)
    assert set(draws) == {"mu", "theta", "theta_decentered"}
    mu, theta, z = (np.asarray(draws[k]) for k in ("mu", "theta", "theta_decentered"))
    # The deterministic site is the function of the new one.
    np.testing.assert_allclose(theta, mu[..., None] + z, rtol=1e-10)
    x = np.concatenate([mu[..., None], theta], axis=-1)
    mean, cov = _exact_posterior()
    mcse = np.array([float(mcse_mean(x[..., i])) for i in range(5)])
    assert np.all(np.abs(x.mean((0, 1)) - mean) < 4 * mcse), (x.mean((0, 1)), mean, mcse)
    np.testing.assert_allclose(x.reshape(-1, 5).std(0), np.sqrt(np.diag(cov)), rtol=0.15)
    assert not np.asarray(mcmc.get_extra_fields()["diverging"]).any()


def test_predictive_and_log_likelihood_on_the_reparameterised_model(mcmc):
    rep = H.reparam(model, config={"theta": LocScaleReparam(0.0)})
    draws = mcmc.get_samples()
    pred = Predictive(rep, draws)(jax.random.key(2))
    assert pred["y"].shape == (2000, 4)
    # y | theta ~ N(theta, SIGMA): standardised residuals are N(0, 1).
    r = (np.asarray(pred["y"]) - np.asarray(draws["theta"])) / SIGMA
    assert st.kstest(r.ravel()[::4], "norm").pvalue > 1e-3
    ll = log_likelihood(rep, draws, jnp.asarray(Y))["y"]
    np.testing.assert_allclose(ll, st.norm.logpdf(Y, np.asarray(draws["theta"]), SIGMA), rtol=1e-10)
    # Posterior predictive given only the new site: the deterministic site is recomputed.
    sub = {"mu": draws["mu"], "theta_decentered": draws["theta_decentered"]}
    pred2 = Predictive(rep, sub, return_sites=["theta"])(jax.random.key(3))
    np.testing.assert_allclose(pred2["theta"], draws["theta"], rtol=1e-10)


def test_to_arviz_holds_both_sites_and_the_log_likelihood(mcmc):
    pytest.importorskip("arviz")
    idata = to_arviz(mcmc)
    post = idata.posterior
    assert {"mu", "theta", "theta_decentered"} <= set(post.data_vars)
    assert post["theta"].shape == (2, 1000, 4)
    ll = idata.log_likelihood["y"].values
    np.testing.assert_allclose(
        ll, st.norm.logpdf(Y, np.asarray(mcmc.get_samples(True)["theta"]), SIGMA), rtol=1e-10
    )
