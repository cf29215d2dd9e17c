"""The KL registry against closed forms computed independently (SciPy quadrature)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, stats

import dists as D
from effects import sample


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


def _gaussians(rng, n=3, batch=()):
    """A dense, a low-rank and a diagonal Gaussian vector (ours), each with its mean and
    dense covariance (NumPy)."""
    a = rng.normal(size=batch + (n, n))
    dense_cov = a @ np.swapaxes(a, -1, -2) + np.eye(n)
    w, d = rng.normal(size=batch + (n, 2)), rng.uniform(0.5, 2.0, size=batch + (n,))
    low_cov = w @ np.swapaxes(w, -1, -2) + d[..., None] * np.eye(n)
    s = rng.uniform(0.5, 2.0, size=batch + (n,))
    locs = [rng.normal(size=batch + (n,)) for _ in range(3)]
    return {
        "dense": (
            D.MultivariateNormal(jnp.asarray(locs[0]), covariance_matrix=jnp.asarray(dense_cov)),
            locs[0],
            dense_cov,
        ),
        "low_rank": (
            D.LowRankMultivariateNormal(jnp.asarray(locs[1]), jnp.asarray(w), jnp.asarray(d)),
            locs[1],
            low_cov,
        ),
        "diagonal": (
            D.Normal(jnp.asarray(locs[2]), jnp.asarray(s)).to_event(1),
            locs[2],
            s[..., None] ** 2 * np.eye(n),
        ),
    }


def _textbook_kl(m1, s1, m2, s2):
    n = m1.shape[-1]
    inv2 = np.linalg.inv(s2)
    diff = m2 - m1
    return 0.5 * (
        np.trace(inv2 @ s1, axis1=-2, axis2=-1)
        + np.einsum("...i,...ij,...j->...", diff, inv2, diff)
        - n
        + np.linalg.slogdet(s2)[1]
        - np.linalg.slogdet(s1)[1]
    )


_PAIRS = [
    (a, b)
    for a in ("dense", "low_rank", "diagonal")
    for b in ("dense", "low_rank", "diagonal")
    if (a, b) != ("diagonal", "diagonal")
]


@pytest.mark.parametrize(("p_kind", "q_kind"), _PAIRS)
def test_gaussian_vector_pairs_match_the_textbook_formula(p_kind, q_kind):
    # Batched (2,), p and q drawn apart: each pair's KL against the formula with dense
    # covariances (NumPy).
    rng = np.random.default_rng(1)
    p, m1, s1 = _gaussians(rng, batch=(2,))[p_kind]
    q, m2, s2 = _gaussians(rng, batch=(2,))[q_kind]
    got = D.kl_divergence(p, q)
    assert got.shape == (2,)
    np.testing.assert_allclose(got, _textbook_kl(m1, s1, m2, s2), rtol=1e-10, atol=1e-12)


def test_low_rank_against_dense_matches_a_scipy_monte_carlo_kl():
    # Draws and densities from SciPy (another code path); 200000 draws, tolerance 5 se.
    g = _gaussians(np.random.default_rng(2))
    (p, m1, s1), (q, m2, s2) = g["low_rank"], g["dense"]
    xs = stats.multivariate_normal(m1, s1).rvs(200000, random_state=0)
    terms = stats.multivariate_normal(m1, s1).logpdf(xs) - stats.multivariate_normal(m2, s2).logpdf(
        xs
    )
    se = terms.std() / np.sqrt(len(terms))
    assert abs(float(D.kl_divergence(p, q)) - terms.mean()) < 5 * se


def test_non_normal_independent_against_a_gaussian_is_not_a_pair():
    p = D.Laplace(jnp.zeros(3), 1.0).to_event(1)
    q = D.MultivariateNormal(jnp.zeros(3), scale_tril=jnp.eye(3))
    with pytest.raises(NotImplementedError, match="no closed form for p = Independent"):
        D.kl_divergence(p, q)


def test_mean_field_elbo_uses_the_low_rank_kl():
    # No data: the loss is KL(q || p) with q low-rank and p dense, in closed form.
    from inference import TraceMeanField_ELBO

    g = _gaussians(np.random.default_rng(3))
    (q, m1, s1), (p, m2, s2) = g["low_rank"], g["dense"]

    def model():
        sample("z", p)

    def guide():
        sample("z", q)

    loss = TraceMeanField_ELBO().loss(jax.random.key(0), {}, model, guide)
    assert float(loss) == pytest.approx(float(_textbook_kl(m1, s1, m2, s2)), rel=1e-10)
