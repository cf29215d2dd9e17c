"""Tests of the multivariate families against SciPy, quadrature and Monte Carlo bounds."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.integrate as si
import scipy.special as sp
import scipy.stats as ss
from hypothesis import given, settings, strategies as st

import dists as D


def _matrix(n, lo=-1.5, hi=1.5):
    return st.lists(st.floats(lo, hi), min_size=n * n, max_size=n * n).map(
        lambda v: np.asarray(v).reshape(n, n)
    )


def _vector(n, lo=-2.0, hi=2.0):
    return st.lists(st.floats(lo, hi), min_size=n, max_size=n).map(np.asarray)


def _check_moments(x, mean, var):
    """Sample mean and variance within 5 Monte Carlo standard errors."""
    x = np.asarray(x, float)
    n = x.shape[0]
    np.testing.assert_array_less(np.abs(x.mean(0) - mean), 5 * np.sqrt(var / n) + 1e-12)
    m4 = np.mean((x - x.mean(0)) ** 4, axis=0)
    se_var = np.sqrt(np.maximum(m4 - x.var(0) ** 2, 0) / n)
    np.testing.assert_array_less(np.abs(x.var(0) - var), 5 * se_var + 1e-12)


# --------------------------------------------------------------------------------------
# MultivariateNormal, LowRankMultivariateNormal, MultivariateStudentT
# --------------------------------------------------------------------------------------


@settings(deadline=None)
@given(data=st.data(), n=st.sampled_from([1, 3]))
def test_mvn_against_scipy(data, n):
    a = data.draw(_matrix(n))
    cov = a @ a.T + 0.5 * np.eye(n)
    loc = data.draw(_vector(n))
    x = np.stack([data.draw(_vector(n, -4.0, 4.0)) for _ in range(2)])
    ref = ss.multivariate_normal(loc, cov)
    for kw in (
        {"covariance_matrix": cov},
        {"precision_matrix": np.linalg.inv(cov)},
        {"scale_tril": np.linalg.cholesky(cov)},
    ):
        d = D.MultivariateNormal(loc, **kw)
        assert d.batch_shape == () and d.event_shape == (n,)
        np.testing.assert_allclose(d.log_prob(x), ref.logpdf(x), rtol=1e-9)
        np.testing.assert_allclose(d.scale_tril @ d.scale_tril.T, cov, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(d.covariance_matrix, cov, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(d.precision_matrix, np.linalg.inv(cov), rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(d.entropy(), ref.entropy(), rtol=1e-9)
        np.testing.assert_allclose(d.mean, loc)
        np.testing.assert_allclose(d.variance, np.diag(cov), rtol=1e-9)
        assert np.allclose(np.triu(np.asarray(d.scale_tril), 1), 0)


def test_mvn_batching_and_sampling():
    cov = np.array([[2.0, 0.6, 0.0], [0.6, 1.0, -0.3], [0.0, -0.3, 0.5]])
    loc = np.array([[0.0, 1.0, -1.0], [2.0, 0.0, 0.5]])
    d = D.MultivariateNormal(loc, covariance_matrix=cov)
    assert d.batch_shape == (2,) and d.event_shape == (3,)
    x = d.sample(jax.random.key(0), (20000,))
    assert x.shape == (20000, 2, 3)
    lp = d.log_prob(x[:5])
    assert lp.shape == (5, 2)
    np.testing.assert_allclose(lp[:, 1], ss.multivariate_normal(loc[1], cov).logpdf(x[:5, 1]))
    _check_moments(x.reshape(20000, 6), np.ravel(d.mean), np.ravel(d.variance))
    emp = np.cov(np.asarray(x[:, 0]).T)
    np.testing.assert_allclose(emp, cov, atol=0.06)
    # Scalar loc is broadcast to the event.
    d0 = D.MultivariateNormal(0.0, scale_tril=np.eye(2))
    assert d0.event_shape == (2,)
    np.testing.assert_allclose(d0.log_prob(np.zeros(2)), -math.log(2 * math.pi))


@settings(deadline=None)
@given(data=st.data())
def test_low_rank_mvn_matches_full(data):
    n, k = 3, 2
    w = data.draw(_matrix(n)).reshape(-1)[: n * k].reshape(n, k)
    diag = data.draw(_vector(n, 0.3, 2.0))
    loc = data.draw(_vector(n))
    x = np.stack([data.draw(_vector(n, -4.0, 4.0)) for _ in range(2)])
    cov = w @ w.T + np.diag(diag)
    d = D.LowRankMultivariateNormal(loc, w, diag)
    full = D.MultivariateNormal(loc, covariance_matrix=cov)
    np.testing.assert_allclose(d.log_prob(x), full.log_prob(x), rtol=1e-9)
    np.testing.assert_allclose(d.log_prob(x), ss.multivariate_normal(loc, cov).logpdf(x))
    np.testing.assert_allclose(d.entropy(), full.entropy(), rtol=1e-9)
    np.testing.assert_allclose(d.variance, np.diag(cov), rtol=1e-9)
    np.testing.assert_allclose(d.covariance_matrix, cov, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(d.precision_matrix, np.linalg.inv(cov), rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(d.scale_tril, np.linalg.cholesky(cov), rtol=1e-7, atol=1e-9)


def test_low_rank_mvn_sampling():
    w = np.array([[1.0, 0.0], [0.5, -1.0], [0.2, 0.3]])
    diag = np.array([0.5, 1.0, 0.2])
    d = D.LowRankMultivariateNormal(np.zeros((2, 3)), w, diag)
    assert d.batch_shape == (2,) and d.event_shape == (3,)
    x = d.sample(jax.random.key(1), (20000,))
    assert x.shape == (20000, 2, 3)
    _check_moments(x.reshape(20000, 6), np.ravel(d.mean), np.ravel(d.variance))


@settings(deadline=None)
@given(data=st.data(), df=st.floats(0.5, 10.0))
def test_multivariate_student_t_against_scipy(data, df):
    n = 2
    a = data.draw(_matrix(n))
    tril = np.linalg.cholesky(a @ a.T + 0.5 * np.eye(n))
    loc = data.draw(_vector(n))
    x = np.stack([data.draw(_vector(n, -4.0, 4.0)) for _ in range(3)])
    d = D.MultivariateStudentT(df, loc, tril)
    ref = ss.multivariate_t(loc, tril @ tril.T, df=df)
    np.testing.assert_allclose(d.log_prob(x), ref.logpdf(x), rtol=1e-9)


def test_multivariate_student_t_moments():
    tril = np.array([[1.0, 0.0], [0.5, 0.8]])
    d = D.MultivariateStudentT(np.array([6.0, 9.0]), np.array([1.0, -1.0]), tril)
    x = d.sample(jax.random.key(2), (20000,))
    assert x.shape == (20000, 2, 2)
    _check_moments(x.reshape(20000, 4), np.ravel(d.mean), np.ravel(d.variance))
    assert bool(jnp.all(jnp.isnan(D.MultivariateStudentT(0.8, 0.0, tril).mean)))


# --------------------------------------------------------------------------------------
# Dirichlet
# --------------------------------------------------------------------------------------


@settings(deadline=None)
@given(data=st.data(), k=st.sampled_from([2, 4]))
def test_dirichlet_against_scipy(data, k):
    alpha = data.draw(_vector(k, 0.3, 5.0))
    raw = data.draw(_vector(k, 0.05, 1.0))
    x = raw / raw.sum()
    d = D.Dirichlet(alpha)
    ref = ss.dirichlet(alpha)
    np.testing.assert_allclose(d.log_prob(x), ref.logpdf(x), rtol=1e-9)
    np.testing.assert_allclose(d.mean, ref.mean(), rtol=1e-9)
    np.testing.assert_allclose(d.variance, ref.var(), rtol=1e-9)
    np.testing.assert_allclose(d.entropy(), ref.entropy(), rtol=1e-8, atol=1e-10)
    # Each marginal is Beta(alpha_i, alpha_0 - alpha_i).
    a0 = alpha.sum()
    marg = ss.beta(alpha, a0 - alpha)
    np.testing.assert_allclose(d.mean, marg.mean(), rtol=1e-9)
    np.testing.assert_allclose(d.variance, marg.var(), rtol=1e-9)


def test_dirichlet_sampling_marginals_are_beta():
    alpha = np.array([[0.5, 1.0, 3.0], [2.0, 2.0, 2.0]])
    d = D.Dirichlet(alpha)
    assert d.batch_shape == (2,) and d.event_shape == (3,) and d.has_rsample
    x = d.sample(jax.random.key(3), (20000,))
    assert x.shape == (20000, 2, 3)
    np.testing.assert_allclose(x.sum(-1), 1.0, atol=1e-10)
    a0 = alpha.sum(-1, keepdims=True)
    marg = ss.beta(alpha, a0 - alpha)
    _check_moments(x.reshape(20000, 6), np.ravel(marg.mean()), np.ravel(marg.var()))


# --------------------------------------------------------------------------------------
# LKJ
# --------------------------------------------------------------------------------------


def _corr_tril_2d(r):
    return np.array([[1.0, 0.0], [r, math.sqrt(1 - r * r)]])


@pytest.mark.parametrize("eta", [0.5, 1.0, 2.0, 5.0])
def test_lkj_cholesky_2d_integrates_to_one(eta):
    d = D.LKJCholesky(2, eta)
    grid = np.linspace(-0.999, 0.999, 7)
    lp = np.asarray(d.log_prob(np.stack([_corr_tril_2d(r) for r in grid])))
    # The density of the free correlation r is proportional to (1 - r^2)^(eta - 1).
    np.testing.assert_allclose(lp - (eta - 1) * np.log1p(-(grid**2)), lp[3], rtol=1e-9)
    # The log density as a function of r: log-normaliser plus the kernel above (the map
    # r -> L has unit Jacobian in the single free entry L_10 = r).
    const = lp[3]
    total, _ = si.quad(lambda r: math.exp(const + (eta - 1) * math.log1p(-r * r)), -1, 1)
    np.testing.assert_allclose(total, 1.0, rtol=1e-8)
    lkj = D.LKJ(2, eta)
    c = np.array([[1.0, 0.3], [0.3, 1.0]])
    np.testing.assert_allclose(lkj.log_prob(c), d.log_prob(_corr_tril_2d(0.3)), rtol=1e-10)


def _lkj_paper_log_normalizer(d, eta):
    """Log of the LKJ (2009) normaliser of det(C)^(eta-1) over correlation matrices."""
    out = 0.0
    for k in range(1, d):
        b = eta + (d - k - 1) / 2
        out += (2 * eta - 2 + d - k) * (d - k) * math.log(2)
        out += (d - k) * sp.betaln(b, b)
    return out


@pytest.mark.parametrize("d", [2, 3, 4, 5])
@pytest.mark.parametrize("eta", [0.7, 1.0, 3.0])
def test_lkj_normalizer_matches_paper(d, eta):
    # At the identity all diagonal entries are 1, so log_prob is minus the normaliser.
    lp = D.LKJCholesky(d, eta).log_prob(np.eye(d))
    np.testing.assert_allclose(-lp, _lkj_paper_log_normalizer(d, eta), rtol=1e-10)
    np.testing.assert_allclose(D.LKJ(d, eta).log_prob(np.eye(d)), lp, rtol=1e-10)


@pytest.mark.parametrize("eta", [1.0, 2.5])
def test_lkj_3d_integrates_to_one(eta):
    """Monte Carlo integral of the LKJ density over the three free correlations."""
    rng = np.random.default_rng(0)
    r = rng.uniform(-1, 1, size=(100_000, 3))
    c = np.tile(np.eye(3), (len(r), 1, 1))
    c[:, 1, 0] = c[:, 0, 1] = r[:, 0]
    c[:, 2, 0] = c[:, 0, 2] = r[:, 1]
    c[:, 2, 1] = c[:, 1, 2] = r[:, 2]
    pd = np.linalg.eigvalsh(c)[:, 0] > 0
    lp = np.asarray(D.LKJ(3, eta).log_prob(np.where(pd[:, None, None], c, np.eye(3))))
    vals = np.where(pd, np.exp(lp), 0.0) * 8.0
    se = vals.std() / math.sqrt(len(vals))
    assert abs(vals.mean() - 1.0) < 5 * se


@pytest.mark.parametrize("method", ["onion", "cvine"])
def test_lkj_sample_moments(method):
    """Every off-diagonal correlation is Beta(b, b) on (-1, 1), b = eta - 1 + dim / 2.

    One batched distribution covers several concentrations, so the sampler compiles once.
    """
    n, dim = 10000, 4
    eta = np.array([0.5, 1.0, 3.0])
    d = D.LKJCholesky(dim, eta, method)
    assert d.batch_shape == (3,) and d.event_shape == (dim, dim)
    tril = d.sample(jax.random.key(4), (n,))
    assert tril.shape == (n, 3, dim, dim)
    assert bool(jnp.all(D.constraints.corr_cholesky(tril)))
    assert d.log_prob(tril[:2]).shape == (2, 3)
    corr = np.asarray(tril @ jnp.swapaxes(tril, -1, -2))
    rows, cols = np.tril_indices(dim, -1)
    r = corr[:, :, rows, cols]  # (n, 3, 6)
    b = (eta - 1 + dim / 2)[:, None]
    mean, var = np.zeros_like(b), 1 / (2 * b + 1)  # moments of Beta(b, b) on (-1, 1)
    mean, var = np.broadcast_to(mean, r.shape[1:]), np.broadcast_to(var, r.shape[1:])
    _check_moments(r.reshape(n, -1), np.ravel(mean), np.ravel(var))
    # LKJ on correlation matrices draws through the same sampler.
    c = D.LKJ(dim, eta, method).sample(jax.random.key(4), (n,))
    assert c.shape == (n, 3, dim, dim)
    np.testing.assert_allclose(c[:3], corr[:3], atol=1e-12)
    assert bool(jnp.all(D.constraints.corr_matrix(c[:50])))


def _random_corr_tril(rng, dim, size):
    a = rng.normal(size=(size, dim, dim + 2))
    cov = a @ np.swapaxes(a, -1, -2)
    s = np.sqrt(np.diagonal(cov, axis1=-2, axis2=-1))
    return np.linalg.cholesky(cov / s[..., :, None] / s[..., None, :])


def test_lkj_cholesky_vs_lkj_jacobian():
    """log p(C) = log p(L) - log|dC/dL| with |dC/dL| = prod_i L_ii^(d - 1 - i)."""
    dim, eta = 4, 1.7
    tril = _random_corr_tril(np.random.default_rng(0), dim, 5)
    corr = tril @ np.swapaxes(tril, -1, -2)
    diag = np.diagonal(tril, axis1=-2, axis2=-1)
    log_jac = np.sum((dim - 1 - np.arange(dim)) * np.log(diag), -1)
    np.testing.assert_allclose(
        D.LKJ(dim, eta).log_prob(corr), D.LKJCholesky(dim, eta).log_prob(tril) - log_jac
    )
    kernel = np.sum((dim - 1 - np.arange(dim) + 2 * (eta - 1)) * np.log(diag), -1)
    np.testing.assert_allclose(
        D.LKJCholesky(dim, eta).log_prob(tril),
        kernel - _lkj_paper_log_normalizer(dim, eta),
        rtol=1e-10,
    )


# --------------------------------------------------------------------------------------
# GaussianRandomWalk
# --------------------------------------------------------------------------------------


def test_gaussian_random_walk():
    scale = np.array([0.5, 2.0])
    d = D.GaussianRandomWalk(scale, num_steps=4)
    assert d.batch_shape == (2,) and d.event_shape == (4,)
    x = np.asarray(d.sample(jax.random.key(7), (20000,)))
    assert x.shape == (20000, 2, 4)
    steps = np.diff(x, axis=-1, prepend=0.0)
    expected = ss.norm(0, scale[:, None]).logpdf(steps[:5]).sum(-1)
    np.testing.assert_allclose(d.log_prob(x[:5]), expected, rtol=1e-10)
    _check_moments(x.reshape(20000, 8), np.ravel(d.mean), np.ravel(d.variance))
    np.testing.assert_allclose(d.variance, np.arange(1, 5) * scale[:, None] ** 2)


# --------------------------------------------------------------------------------------
# Shape wrappers, validation, jit and vmap
# --------------------------------------------------------------------------------------


def test_expand_to_event_mask():
    d = D.MultivariateNormal(np.zeros(2), scale_tril=np.eye(2))
    x = np.arange(12.0).reshape(2, 3, 2) / 10
    e = d.expand((3,))
    assert e.batch_shape == (3,) and e.event_shape == (2,)
    assert e.sample(jax.random.key(0), (2,)).shape == (2, 3, 2)
    lp = np.asarray(e.log_prob(x))
    assert lp.shape == (2, 3)
    ind = e.to_event(1)
    assert ind.event_shape == (3, 2) and ind.batch_shape == ()
    np.testing.assert_allclose(ind.log_prob(x), lp.sum(-1))
    m = e.mask(np.array([True, False, True]))
    np.testing.assert_allclose(m.log_prob(x), lp * np.array([1, 0, 1]))
    dr = D.Dirichlet(np.ones((2, 3))).to_event(1)
    assert dr.event_shape == (2, 3) and dr.batch_shape == ()
    y = np.full((2, 3), 1 / 3)
    np.testing.assert_allclose(dr.log_prob(y), 2 * math.log(2.0))


@pytest.mark.parametrize(
    "make, name",
    [
        (
            lambda: D.MultivariateNormal(
                np.zeros(2),
                covariance_matrix=np.array([[1.0, 2.0], [2.0, 1.0]]),
                validate_args=True,
            ),
            "covariance_matrix",
        ),
        (
            lambda: D.MultivariateNormal(
                np.zeros(2), precision_matrix=-np.eye(2), validate_args=True
            ),
            "precision_matrix",
        ),
        (
            lambda: D.MultivariateNormal(
                np.zeros(2), scale_tril=np.array([[1.0, 1.0], [0.0, 1.0]]), validate_args=True
            ),
            "scale_tril",
        ),
        (
            lambda: D.LowRankMultivariateNormal(
                np.zeros(2), np.ones((2, 1)), np.array([1.0, -1.0]), validate_args=True
            ),
            "cov_diag",
        ),
        (lambda: D.Dirichlet(np.array([1.0, -0.5]), validate_args=True), "concentration"),
        (lambda: D.LKJCholesky(3, -1.0, validate_args=True), "concentration"),
        (lambda: D.GaussianRandomWalk(-1.0, 3, validate_args=True), "scale"),
        (lambda: D.MultivariateStudentT(-1.0, 0.0, np.eye(2), validate_args=True), "df"),
    ],
)
def test_bad_params_raise(make, name):
    with pytest.raises(ValueError, match=f"`{name}`.*Found {name}="):
        make()


def test_argument_errors():
    with pytest.raises(ValueError, match="exactly one of"):
        D.MultivariateNormal(np.zeros(2))
    with pytest.raises(ValueError, match="exactly one of"):
        D.MultivariateNormal(np.zeros(2), covariance_matrix=np.eye(2), scale_tril=np.eye(2))
    with pytest.raises(ValueError, match="loc"):
        D.MultivariateNormal(np.zeros(3), covariance_matrix=np.eye(2))
    with pytest.raises(ValueError, match="sample_method"):
        D.LKJCholesky(3, 1.0, "bogus")


def test_out_of_support_raises():
    with pytest.raises(ValueError, match="outside the support"):
        D.Dirichlet(np.ones(3), validate_args=True).log_prob(np.array([0.5, 0.6, 0.1]))
    with pytest.raises(ValueError, match="outside the support"):
        D.LKJCholesky(2, validate_args=True).log_prob(np.array([[1.0, 0.0], [0.5, 0.5]]))
    with pytest.raises(ValueError, match="outside the support"):
        D.MultivariateNormal(np.zeros(2), scale_tril=np.eye(2), validate_args=True).log_prob(
            np.array([np.inf, 0.0])
        )


def test_jit_and_vmap():
    locs = jnp.array([[0.0, 1.0], [2.0, -1.0], [0.5, 0.5]])
    tril = jnp.array([[1.0, 0.0], [0.3, 0.7]])
    x = jnp.array([0.2, 0.4])
    mapped = jax.vmap(lambda m: D.MultivariateNormal(m, scale_tril=tril).log_prob(x))(locs)
    np.testing.assert_allclose(mapped, D.MultivariateNormal(locs, scale_tril=tril).log_prob(x))
    d = D.Dirichlet(jnp.array([[1.0, 2.0, 3.0], [0.5, 0.5, 0.5]]))
    y = jnp.array([0.2, 0.3, 0.5])
    np.testing.assert_allclose(jax.vmap(lambda d: d.log_prob(y))(d), d.log_prob(y))

    @jax.jit
    def f(d, v):
        return d.log_prob(v), d.sample(jax.random.key(0), (2,))

    mvn = D.MultivariateNormal(locs, covariance_matrix=tril @ tril.T, validate_args=True)
    lp, s = f(mvn, x)
    np.testing.assert_allclose(lp, mvn.log_prob(x))
    assert s.shape == (2, 3, 2)
    lkj = D.LKJCholesky(3, jnp.array([2.0, 0.5]))
    lp = jax.jit(lambda d, v: d.log_prob(v))(lkj, jnp.eye(3))
    np.testing.assert_allclose(lp, lkj.log_prob(jnp.eye(3)))
