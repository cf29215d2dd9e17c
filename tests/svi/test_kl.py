"""The KL registry against closed forms computed independently (SciPy quadrature)."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, stats

import dists as D


def _quad_kl(p, q, lo, hi):
    f = lambda x: p.pdf(x) * (p.logpdf(x) - q.logpdf(x)) if p.pdf(x) > 0 else 0.0
    return integrate.quad(f, lo, hi, limit=200)[0]


@pytest.mark.parametrize(
    "ours, scipy_pair, bounds",
    [
        (
            (D.Normal(0.3, 1.2), D.Normal(-1.0, 0.7)),
            (stats.norm(0.3, 1.2), stats.norm(-1.0, 0.7)),
            (-20, 20),
        ),
        (
            (D.Laplace(0.3, 1.2), D.Laplace(-1.0, 0.7)),
            (stats.laplace(0.3, 1.2), stats.laplace(-1.0, 0.7)),
            (-40, 40),
        ),
        (
            (D.Exponential(2.0), D.Exponential(0.5)),
            (stats.expon(scale=0.5), stats.expon(scale=2.0)),
            (0, 60),
        ),
        (
            (D.Gamma(2.5, 1.5), D.Gamma(1.2, 0.4)),
            (stats.gamma(2.5, scale=1 / 1.5), stats.gamma(1.2, scale=1 / 0.4)),
            (0, 80),
        ),
        (
            (D.Beta(2.0, 3.0), D.Beta(0.8, 1.7)),
            (stats.beta(2.0, 3.0), stats.beta(0.8, 1.7)),
            (0, 1),
        ),
    ],
)
def test_univariate_pairs_match_quadrature(ours, scipy_pair, bounds):
    expected = _quad_kl(*scipy_pair, *bounds)
    assert float(D.kl_divergence(*ours)) == pytest.approx(expected, rel=1e-6, abs=1e-9)


def test_bernoulli_and_dirichlet_match_sums():
    p, q = 0.3, 0.8
    expected = p * np.log(p / q) + (1 - p) * np.log((1 - p) / (1 - q))
    assert float(D.kl_divergence(D.Bernoulli(probs=p), D.Bernoulli(probs=q))) == pytest.approx(
        expected
    )
    a, b = np.array([1.5, 2.0, 0.7]), np.array([1.0, 3.0, 2.0])
    # Monte Carlo with a fixed seed, against SciPy's densities (a different code path).
    xs = stats.dirichlet(a).rvs(200000, random_state=0)
    mc = np.mean(stats.dirichlet(a).logpdf(xs.T) - stats.dirichlet(b).logpdf(xs.T))
    ours = float(D.kl_divergence(D.Dirichlet(jnp.asarray(a)), D.Dirichlet(jnp.asarray(b))))
    assert ours == pytest.approx(mc, abs=0.02)


def test_multivariate_normal_matches_the_textbook_formula():
    rng = np.random.default_rng(0)
    A, B = rng.normal(size=(3, 3)), rng.normal(size=(3, 3))
    S1, S2 = A @ A.T + np.eye(3), B @ B.T + np.eye(3)
    m1, m2 = rng.normal(size=3), rng.normal(size=3)
    inv2 = np.linalg.inv(S2)
    expected = 0.5 * (
        np.trace(inv2 @ S1)
        + (m2 - m1) @ inv2 @ (m2 - m1)
        - 3
        + np.log(np.linalg.det(S2) / np.linalg.det(S1))
    )
    p = D.MultivariateNormal(jnp.asarray(m1), covariance_matrix=jnp.asarray(S1))
    q = D.MultivariateNormal(jnp.asarray(m2), covariance_matrix=jnp.asarray(S2))
    assert float(D.kl_divergence(p, q)) == pytest.approx(expected, rel=1e-10)


def test_independent_and_expanded_sum_and_broadcast():
    p = D.Normal(jnp.array([0.0, 1.0]), 1.0).to_event(1)
    q = D.Normal(0.0, 2.0).expand([2]).to_event(1)
    each = D.kl_divergence(D.Normal(jnp.array([0.0, 1.0]), 1.0), D.Normal(0.0, 2.0))
    assert float(D.kl_divergence(p, q)) == pytest.approx(float(each.sum()))
    out = D.kl_divergence(D.Normal(0.0, 1.0).expand([4]), D.Normal(0.0, 2.0))
    assert out.shape == (4,)


def test_unregistered_pair_says_how_to_register():
    with pytest.raises(NotImplementedError, match="register_kl"):
        D.kl_divergence(D.Normal(0.0, 1.0), D.Cauchy(0.0, 1.0))
    with pytest.raises(NotImplementedError, match="reinterpreted_batch_ndims"):
        D.kl_divergence(
            D.Normal(jnp.zeros((2, 2)), 1.0).to_event(2),
            D.Normal(jnp.zeros((2, 2)), 1.0).to_event(1),
        )
