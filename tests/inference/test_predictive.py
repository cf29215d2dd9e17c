"""Predictive (prior and posterior) and log_likelihood."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats as st

import dists as D
from effects import deterministic, plate, sample
from inference import Predictive, log_likelihood


def model(x, y=None):
    w = sample("w", D.Normal(0.0, 1.0))
    b = sample("b", D.Normal(2.0, 0.5))
    deterministic("w2", 2.0 * w)
    with plate("N", x.shape[0]):
        return sample("y", D.Normal(w * x + b, 1.0), obs=y)


X = jnp.array([0.0, 1.0, 2.0])


def test_prior_predictive_shapes_and_moments():
    n = 4000
    out = Predictive(model, num_samples=n)(jax.random.key(0), X)
    assert set(out) == {"w", "b", "w2", "y"}
    assert out["y"].shape == (n, 3)
    np.testing.assert_allclose(out["w2"], 2 * out["w"])
    # y_i = w x_i + b + eps: mean 2, variance x_i^2 + 0.25 + 1.
    se = np.sqrt((np.asarray(X) ** 2 + 1.25) / n)
    assert np.all(np.abs(out["y"].mean(0) - 2.0) < 5 * se)
    np.testing.assert_allclose(out["y"].var(0), np.asarray(X) ** 2 + 1.25, rtol=0.1)


def test_posterior_predictive_substitutes_draws():
    post = {"w": jnp.array([1.0, -1.0]), "b": jnp.array([0.0, 10.0])}
    out = Predictive(model, post)(jax.random.key(1), X)
    assert set(out) == {"y", "w2"}
    np.testing.assert_allclose(out["w2"], [2.0, -2.0])
    # Draw 1 has mean 10 - x; draw 0 has mean x; noise sd 1.
    assert np.all(np.abs(out["y"][1] - (10.0 - np.asarray(X))) < 5)
    assert np.all(np.abs(out["y"][0] - np.asarray(X)) < 5)


def test_posterior_predictive_batch_ndims_and_return_sites():
    post = {"w": jnp.zeros((2, 5)), "b": jnp.ones((2, 5))}
    out = Predictive(model, post, batch_ndims=2, return_sites=["y"])(jax.random.key(1), X)
    assert list(out) == ["y"]
    assert out["y"].shape == (2, 5, 3)
    all_sites = Predictive(model, post, batch_ndims=2, return_sites="")(jax.random.key(1), X)
    assert {"w", "b", "w2", "y"} <= set(all_sites)


def test_predictive_draws_differ_and_are_reproducible():
    p = Predictive(model, num_samples=3)
    a = p(jax.random.key(0), X)["y"]
    b = p(jax.random.key(0), X)["y"]
    c = p(jax.random.key(1), X)["y"]
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    assert not np.allclose(a[0], a[1])


def test_log_likelihood_matches_scipy():
    post = {"w": jnp.array([0.5, -1.0]), "b": jnp.array([0.0, 1.0])}
    y = jnp.array([0.1, 0.7, 2.0])
    ll = log_likelihood(model, post, X, y=y)
    assert ll["y"].shape == (2, 3)
    for i in range(2):
        mean = np.asarray(post["w"][i] * X + post["b"][i])
        np.testing.assert_allclose(ll["y"][i], st.norm(mean, 1.0).logpdf(np.asarray(y)), rtol=1e-12)


def test_predictive_errors():
    with pytest.raises(ValueError, match="posterior_samples .* or num_samples"):
        Predictive(model)
    with pytest.raises(ValueError, match="share their first"):
        Predictive(model, {"w": jnp.zeros(3), "b": jnp.zeros(4)})(jax.random.key(0), X)
    with pytest.raises(ValueError, match="not sites of the model"):
        Predictive(model, num_samples=2, return_sites=["nope"])(jax.random.key(0), X)
    with pytest.raises(TypeError, match="(?i)callable"):
        Predictive(3, num_samples=2)
