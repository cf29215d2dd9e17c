"""Bayesian imputation: both spellings of the missing-data pattern against SciPy, and the
imputed ages that Predictive draws through ``obs_mask`` against their conditional law.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import norm

from inference import log_density

from . import _port


def scipy_log_joint(data, survived, params, age_full):
    title = data["title"]
    priors = sum(
        norm.logpdf(np.asarray(params[k])).sum()
        for k in ("b_Pclass", "b_Title", "b_Sex", "b_SibSp", "b_Parch", "b_Embarked")
        + ("age_mu", "age_sigma", "a", "b_Age")
    )
    ages = norm.logpdf(age_full, params["age_mu"][title], params["age_sigma"][title]).sum()
    logits = (
        params["a"]
        + params["b_Age"] * age_full
        + params["b_Title"][title]
        + params["b_Pclass"][data["pclass"]]
        + params["b_Sex"][data["sex"]]
        + params["b_SibSp"][data["sibsp"]]
        + params["b_Parch"][data["parch"]]
        + params["b_Embarked"][data["embarked"]]
    )
    bernoulli = (survived * logits - np.logaddexp(0.0, logits)).sum()
    return priors + ages + bernoulli


def test_imputation_log_density_matches_scipy_in_both_spellings():
    module = _port.load("imputation")
    data, survived = module.make_data()
    missing = np.isnan(data["age"])
    rng = np.random.default_rng(1)
    params = {
        "b_Pclass": rng.normal(size=3),
        "b_Title": rng.normal(size=5),
        "b_Sex": rng.normal(size=2),
        "b_SibSp": rng.normal(size=2),
        "b_Parch": rng.normal(size=3),
        "b_Embarked": rng.normal(size=3),
        "age_mu": rng.normal(size=5),
        "age_sigma": rng.uniform(0.5, 1.5, size=5),
        "a": rng.normal(),
        "b_Age": rng.normal(),
    }
    imputed = rng.normal(size=missing.sum())
    age_full = data["age"].copy()
    age_full[missing] = imputed
    expected = scipy_log_joint(data, survived, params, age_full)

    # The notebook's spelling: age_impute's own density is masked off, and the completed
    # age vector is observed.
    notebook, _ = log_density(
        module.model, (), dict(data, survived=survived), dict(params, age_impute=imputed)
    )
    # obs_mask: the latent age_unobserved covers every entry; only the missing ones count,
    # so the values at observed entries must not matter.
    unobserved = np.where(missing, age_full, rng.normal(size=missing.shape) * 100)
    masked, _ = log_density(
        module.model_obs_mask,
        (),
        dict(data, survived=survived),
        dict(params, age_unobserved=unobserved),
    )
    np.testing.assert_allclose(float(notebook), expected, rtol=1e-10)
    np.testing.assert_allclose(float(masked), expected, rtol=1e-10)


def test_imputation_obs_mask_predictive_draws_missing_ages_from_their_conditional():
    # Predictive of the obs_mask model from the posterior of the notebook's model: each
    # missing age is a fresh draw from N(age_mu[title], age_sigma[title]) of its draw.
    module = _port.load("imputation")
    title = module.data["title"][np.isnan(module.data["age"])]
    draws = _port.effax_draws("imputation")
    mu = np.asarray(draws["age_mu"])[:, title]
    sigma = np.asarray(draws["age_sigma"])[:, title]
    residual = (np.asarray(draws["age_pred_missing"]) - mu) / sigma
    _port.assert_matches(
        {"residual": residual}, {"residual": _port.known(np.zeros(len(title)), 1.0)}
    )


def test_imputation_matches_numpyro():
    # test_ports.py's check of this port, beside the oracle check of the same draws.
    _port.assert_matches_numpyro("imputation")
