"""``dists.util``, NumPyro's ``numpyro.distributions.util``, against independent oracles:
NumPy and SciPy computations, and NumPyro's own function where that is the definition.
Run in float64 (the suite's default), with batch dims.
"""

from __future__ import annotations

import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special as sp
import scipy.stats as ss

import dists as D
from dists import constraints
from dists.util import (
    add_diag,
    cholesky_of_inverse,
    cholesky_update,
    clamp_probs,
    is_prng_key,
    lazy_property,
    log1mexp,
    logdiffexp,
    logits_to_probs,
    logmatmulexp,
    matrix_to_tril_vec,
    multigammaln,
    periodic_repeat,
    probs_to_logits,
    promote_shapes,
    safe_normalize,
    signed_stick_breaking_tril,
    sum_rightmost,
    validate_sample,
    vec_to_tril_matrix,
    von_mises_centered,
)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def _spd(rng, batch: tuple[int, ...], n: int) -> np.ndarray:
    a = rng.normal(size=batch + (n, n))
    return a @ np.swapaxes(a, -1, -2) + n * np.eye(n)


def test_runs_in_float64():
    assert vec_to_tril_matrix(jnp.ones(3)).dtype == jnp.float64


@pytest.mark.parametrize("diagonal", [0, -1, -2, 1])
def test_vec_to_tril_matrix_and_back(diagonal, rng):
    n = 4
    rows, cols = np.tril_indices(n, diagonal)
    t = rng.normal(size=(2, 3, rows.size))
    expected = np.zeros((2, 3, n, n))
    expected[..., rows, cols] = t  # numpy's row-major layout
    m = vec_to_tril_matrix(t, diagonal)
    assert m.shape == (2, 3, n, n)
    np.testing.assert_array_equal(m, expected)
    np.testing.assert_array_equal(matrix_to_tril_vec(m, diagonal), t)


def test_vec_to_tril_matrix_layout_matches_numpyro(rng):
    util = pytest.importorskip("numpyro.distributions.util")
    t = rng.normal(size=(2, 6))
    for diagonal in (0, -1):
        np.testing.assert_array_equal(
            vec_to_tril_matrix(t[..., : 6 if diagonal == 0 else 3], diagonal),
            util.vec_to_tril_matrix(jnp.asarray(t[..., : 6 if diagonal == 0 else 3]), diagonal),
        )


def test_vec_to_tril_matrix_rejects_a_bad_length():
    with pytest.raises(ValueError, match="length 4"):
        vec_to_tril_matrix(jnp.ones(4))


def test_clamp_probs():
    p = clamp_probs(jnp.array([[0.0, 0.3, 1.0]]))
    finfo = np.finfo(np.float64)
    np.testing.assert_array_equal(p, [[finfo.tiny, 0.3, 1 - finfo.eps]])
    assert bool(jnp.all(jnp.isfinite(jnp.log(p)) & jnp.isfinite(jnp.log1p(-p))))


def test_logits_and_probs(rng):
    logits = rng.normal(size=(3, 4))
    np.testing.assert_allclose(logits_to_probs(logits), sp.softmax(logits, -1), rtol=1e-13)
    np.testing.assert_allclose(logits_to_probs(logits, True), sp.expit(logits), rtol=1e-13)
    probs = sp.expit(logits)
    np.testing.assert_allclose(probs_to_logits(probs, is_binary=True), logits, rtol=1e-10)
    np.testing.assert_allclose(probs_to_logits(probs), np.log(probs), rtol=1e-13)
    # Round trip up to the normalising constant of a categorical.
    back = logits_to_probs(probs_to_logits(sp.softmax(logits, -1)))
    np.testing.assert_allclose(back, sp.softmax(logits, -1), rtol=1e-12)
    assert bool(jnp.all(jnp.isfinite(probs_to_logits(jnp.array([0.0, 1.0]), True))))


def test_promote_shapes():
    a, b, c = promote_shapes(jnp.ones(3), jnp.ones((2, 1)), 2.0)
    assert (a.shape, b.shape, np.shape(c)) == ((1, 3), (2, 1), (1, 1))
    # Python and NumPy inputs stay NumPy (reshaped), as in NumPyro.
    assert isinstance(c, np.ndarray)
    (x,) = promote_shapes(jnp.ones(3), shape=(4, 1, 1))
    assert x.shape == (1, 1, 3)
    assert promote_shapes(jnp.ones(3), jnp.ones((2, 1)), return_shapes=True) == [(1, 3), (2, 1)]
    # One argument and no shape: returned as it is.
    y = 1.5
    assert promote_shapes(y) == (y,)
    util = pytest.importorskip("numpyro.distributions.util")
    args = (jnp.ones((5,)), jnp.ones((2, 3, 1)), jnp.ones(()))
    ours = [jnp.shape(v) for v in promote_shapes(*args, shape=(7, 1, 1, 1))]
    theirs = [jnp.shape(v) for v in util.promote_shapes(*args, shape=(7, 1, 1, 1))]
    assert ours == theirs


def test_sum_rightmost(rng):
    x = rng.normal(size=(2, 3, 4))
    np.testing.assert_allclose(sum_rightmost(x, 2), x.sum((-1, -2)), rtol=1e-13)
    np.testing.assert_array_equal(sum_rightmost(x, 0), x)
    np.testing.assert_allclose(sum_rightmost(x, 3), x.sum(), rtol=1e-13)


def test_is_prng_key():
    assert is_prng_key(jax.random.key(0))
    assert is_prng_key(jax.random.PRNGKey(0))
    assert not is_prng_key(jax.random.split(jax.random.key(0), 2))
    assert not is_prng_key(jax.random.split(jax.random.PRNGKey(0), 2))
    assert not is_prng_key(jnp.zeros(2))
    assert not is_prng_key(None) and not is_prng_key(3)


def test_cholesky_of_inverse(rng):
    m = _spd(rng, (2, 3), 4)
    L = cholesky_of_inverse(m)
    assert L.shape == (2, 3, 4, 4)
    np.testing.assert_allclose(L, np.linalg.cholesky(np.linalg.inv(m)), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("coef", [1.0, 2.5, -0.5])
def test_cholesky_update(coef, rng):
    m = _spd(rng, (2, 3), 4)
    L = np.linalg.cholesky(m)
    x = rng.normal(size=(3, 4))  # broadcasts against L's batch (2, 3)
    target = m + coef * x[..., :, None] * x[..., None, :]
    out = cholesky_update(L, x, coef)
    assert out.shape == (2, 3, 4, 4)
    np.testing.assert_allclose(out, np.linalg.cholesky(target), rtol=1e-10, atol=1e-12)


def test_signed_stick_breaking_tril(rng):
    t = rng.uniform(-1, 1, size=(2, 3, 6))
    L = np.asarray(signed_stick_breaking_tril(t))
    assert L.shape == (2, 3, 4, 4)
    # Oracle: the definition, entry by entry.
    expected = np.zeros((2, 3, 4, 4))
    r = np.zeros((2, 3, 4, 4))
    rows, cols = np.tril_indices(4, -1)
    r[..., rows, cols] = t
    for i in range(4):
        left = np.ones((2, 3))
        for j in range(i):
            expected[..., i, j] = r[..., i, j] * np.sqrt(left)
            left = left * (1 - r[..., i, j] ** 2)
        expected[..., i, i] = np.sqrt(left)
    np.testing.assert_allclose(L, expected, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(np.linalg.norm(L, axis=-1), 1.0, rtol=1e-12)
    assert bool(jnp.all(constraints.corr_cholesky(L)))
    util = pytest.importorskip("numpyro.distributions.util")
    np.testing.assert_allclose(L, util.signed_stick_breaking_tril(jnp.asarray(t)), rtol=1e-10)


def test_safe_normalize(rng):
    x = rng.normal(size=(3, 4))
    x[1] = 0.0
    for p in (1, 2, 3.5):
        out = safe_normalize(x, p=p)
        norms = np.sum(np.abs(x) ** p, -1, keepdims=True) ** (1 / p)
        expected = np.where(norms > 0, x / np.where(norms > 0, norms, 1), 4 ** (-1 / p))
        np.testing.assert_allclose(out, expected, rtol=1e-13)
        np.testing.assert_allclose(np.sum(np.abs(out) ** p, -1), 1.0, rtol=1e-12)
    with pytest.raises(ValueError, match="positive"):
        safe_normalize(x, p=0)


@pytest.mark.parametrize("dim", [0, 1, -1, -2])
def test_periodic_repeat(dim, rng):
    x = rng.normal(size=(2, 3))
    size = 7
    out = periodic_repeat(x, size, dim)
    expected = np.take(x, np.arange(size) % x.shape[dim], axis=dim)
    np.testing.assert_array_equal(out, expected)


def test_multigammaln(rng):
    a = rng.uniform(2.0, 6.0, size=(2, 3))
    for d in (1, 2, 4):
        expected = np.vectorize(lambda v, d=d: sp.multigammaln(v, d))(a)
        np.testing.assert_allclose(multigammaln(a, d), expected, rtol=1e-12)


def test_log1mexp_and_logdiffexp(rng):
    x = -np.geomspace(1e-12, 50.0, 40).reshape(2, 20)
    # Each float64 formula where it is accurate (the split need not be at -log 2).
    with np.errstate(divide="ignore"):
        expected = np.where(x > -1.0, np.log(-np.expm1(x)), np.log1p(-np.exp(x)))
    np.testing.assert_allclose(log1mexp(x), expected, rtol=1e-12)
    assert float(log1mexp(0.0)) == -np.inf and bool(jnp.isnan(log1mexp(1.0)))
    a = rng.normal(size=(2, 3))
    b = a - rng.uniform(1e-6, 5.0, size=(2, 3))
    np.testing.assert_allclose(logdiffexp(a, b), np.log(np.exp(a) - np.exp(b)), rtol=1e-9)
    assert float(logdiffexp(1.0, 1.0)) == -np.inf
    assert float(logdiffexp(-np.inf, -np.inf)) == -np.inf
    assert bool(jnp.isnan(logdiffexp(0.0, 1.0))) and bool(jnp.isnan(logdiffexp(np.inf, 0.0)))


def test_logmatmulexp(rng):
    x = rng.normal(size=(2, 3, 4)) * 30  # exp overflows without the shifts
    y = rng.normal(size=(4, 5)) * 30 + 800
    expected = sp.logsumexp(x[..., :, :, None] + y[None, :, :], axis=-2)
    np.testing.assert_allclose(logmatmulexp(x, y), expected, rtol=1e-12)
    z = logmatmulexp(jnp.full((1, 2), -jnp.inf), jnp.zeros((2, 2)))
    np.testing.assert_array_equal(z, [[-np.inf, -np.inf]])


def test_add_diag(rng):
    m = rng.normal(size=(2, 3, 3))
    d = rng.normal(size=(2, 3))
    np.testing.assert_allclose(add_diag(m, d), m + d[..., None] * np.eye(3), rtol=1e-14)
    np.testing.assert_allclose(add_diag(m, 1.0), m + np.eye(3), rtol=1e-14)


def test_von_mises_centered():
    kappa = 2.0
    x = von_mises_centered(jax.random.key(0), kappa, (4000,))
    assert x.shape == (4000,) and x.dtype == jnp.float64
    assert ss.kstest(np.asarray(x), ss.vonmises(kappa).cdf).pvalue > 1e-3
    # The shape defaults to that of the concentration.
    assert von_mises_centered(jax.random.key(1), jnp.ones((2, 3))).shape == (2, 3)


def test_lazy_property_on_a_plain_class_caches():
    calls = []

    class Box:
        def __init__(self, x):
            self.x = x

        @lazy_property
        def double(self):
            calls.append(1)
            return 2 * self.x

    b = Box(jnp.asarray(3.0))
    assert float(b.double) == 6.0 and float(b.double) == 6.0
    assert len(calls) == 1
    assert isinstance(Box.double, lazy_property)


class _ProbsOrLogits(D.Distribution):
    """A NumPyro-style Bernoulli that stores one of probs/logits and computes the other."""

    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    support = constraints.boolean

    def __init__(self, probs=None, logits=None, *, validate_args=None):
        if probs is not None:
            self.probs = probs
        else:
            self.logits = logits
        shape = jnp.shape(probs if probs is not None else logits)
        super().__init__(batch_shape=shape, validate_args=validate_args)

    @lazy_property
    def probs(self):
        return jax.nn.sigmoid(self.logits)

    @lazy_property
    def logits(self):
        return jnp.log(self.probs) - jnp.log1p(-self.probs)

    def sample(self, key, sample_shape=()):
        return jax.random.bernoulli(key, self.probs, self.shape(sample_shape))

    @validate_sample
    def log_prob(self, value):
        return value * jax.nn.log_sigmoid(self.logits) + (1 - value) * jax.nn.log_sigmoid(
            -self.logits
        )


def test_lazy_property_on_a_distribution():
    d = _ProbsOrLogits(probs=jnp.array([0.2, 0.6]))
    np.testing.assert_allclose(d.logits, sp.logit([0.2, 0.6]), rtol=1e-12)
    assert set(d.get_args()) == {"probs"}
    e = _ProbsOrLogits(logits=jnp.array([0.0, 1.0]))
    np.testing.assert_allclose(e.probs, sp.expit([0.0, 1.0]), rtol=1e-12)
    # Through jit the stored one stays stored and the other is computed again.
    np.testing.assert_allclose(jax.jit(lambda d: d.logits)(d), d.logits, rtol=1e-12)
    # The stored parameter is checked by default; the lazy one is not computed for that.
    with pytest.raises(ValueError, match="`probs`"):
        _ProbsOrLogits(probs=1.5)


def test_validate_sample():
    d = _ProbsOrLogits(probs=0.3)
    np.testing.assert_allclose(d.log_prob(1.0), np.log(0.3), rtol=1e-12)
    assert bool(jnp.isfinite(d.log_prob(0.5)))  # not checked by default
    with pytest.raises(ValueError, match="outside the support"):
        _ProbsOrLogits(probs=0.3, validate_args=True).log_prob(0.5)
    with pytest.raises(ValueError, match="outside the support"):
        _ProbsOrLogits(probs=0.3, validate_args=True).log_prob(value=0.5)


def test_numpyro_is_prng_key_agrees():
    util = pytest.importorskip("numpyro.distributions.util")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        for k in (jax.random.key(0), jax.random.PRNGKey(0), jnp.zeros(2), None):
            assert is_prng_key(k) == bool(util.is_prng_key(k))


def test_public_names():
    import dists.util as U

    names = [
        "vec_to_tril_matrix",
        "matrix_to_tril_vec",
        "clamp_probs",
        "logits_to_probs",
        "probs_to_logits",
        "promote_shapes",
        "sum_rightmost",
        "is_prng_key",
        "signed_stick_breaking_tril",
        "cholesky_of_inverse",
        "safe_normalize",
        "periodic_repeat",
        "multigammaln",
        "cholesky_update",
        "von_mises_centered",
        "lazy_property",
    ]
    assert all(callable(getattr(U, n)) for n in names)
    assert D.util is U
    assert math.isfinite(float(U.multigammaln(3.0, 2)))
