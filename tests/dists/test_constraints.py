"""Constraints: membership inside and outside, event-dim reductions, feasible points."""

from __future__ import annotations

import hypothesis.extra.numpy as hnp
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, strategies as st

import dists as D
from dists import constraints as C

# (name, constraint, points inside, points outside). Points are scalars checked together
# as one array, so the result must be elementwise.
SCALAR = [
    ("real", C.real, [0.0, -1e300, 1e300, 3.5], [np.nan, np.inf, -np.inf]),
    ("positive", C.positive, [1e-300, 1.0, 1e10], [0.0, -1.0, np.nan]),
    ("nonnegative", C.nonnegative, [0.0, 2.0], [-1e-12, -3.0, np.nan]),
    ("greater_than", C.greater_than(2.0), [2.0001, 10.0], [2.0, 1.0, -np.inf]),
    ("greater_than_eq", C.greater_than_eq(2.0), [2.0, 3.0], [1.9999, -1.0]),
    ("less_than", C.less_than(-1.0), [-1.0001, -50.0], [-1.0, 0.0, np.inf]),
    ("interval", C.interval(-1.0, 2.0), [-1.0, 0.0, 2.0], [-1.0001, 2.0001, np.nan]),
    ("open_interval", C.open_interval(-1.0, 2.0), [-0.999, 1.999], [-1.0, 2.0, 5.0]),
    ("unit_interval", C.unit_interval, [0.0, 0.5, 1.0], [-0.1, 1.1]),
    ("boolean", C.boolean, [0.0, 1.0], [0.5, 2.0, -1.0]),
    ("integer_interval", C.integer_interval(-2, 3), [-2.0, 0.0, 3.0], [-3.0, 4.0, 0.5]),
    ("nonnegative_integer", C.nonnegative_integer, [0.0, 7.0], [-1.0, 1.5]),
    ("positive_integer", C.positive_integer, [1.0, 9.0], [0.0, -2.0, 2.5]),
    ("integer_greater_than", C.integer_greater_than(2), [2.0, 5.0], [1.0, 2.5]),
]


@pytest.mark.parametrize("name,c,inside,outside", SCALAR, ids=[s[0] for s in SCALAR])
def test_scalar_constraints(name, c, inside, outside):
    assert c.event_dim == 0
    ok = c(jnp.asarray(inside))
    assert ok.shape == (len(inside),) and bool(jnp.all(ok)), (inside, ok)
    bad = c(jnp.asarray(outside))
    assert not bool(jnp.any(bad)), (outside, bad)
    assert bool(jnp.all(c.check(jnp.asarray(inside))))


def test_array_bounds_broadcast():
    c = C.interval(jnp.asarray([0.0, -1.0]), jnp.asarray([1.0, 1.0]))
    x = jnp.asarray([[0.5, -0.5], [-0.5, 0.5], [2.0, 0.0]])
    np.testing.assert_array_equal(c(x), [[True, True], [False, True], [False, True]])
    g = C.greater_than(jnp.asarray([0.0, 5.0]))
    np.testing.assert_array_equal(g(jnp.asarray([1.0, 1.0])), [True, False])


def test_discrete_flags_and_event_dims():
    discrete = [C.boolean, C.integer_interval(0, 2), C.nonnegative_integer, C.positive_integer]
    discrete += [C.integer_greater_than(1), C.independent(C.boolean, 1)]
    for c in discrete:
        assert c.is_discrete, c
    continuous = [C.real, C.positive, C.simplex, C.corr_matrix, C.independent(C.real, 2)]
    for c in continuous:
        assert not c.is_discrete, c
    dims = [
        (C.real, 0),
        (C.unit_interval, 0),
        (C.simplex, 1),
        (C.ordered_vector, 1),
        (C.positive_ordered_vector, 1),
        (C.real_vector, 1),
        (C.positive_vector, 1),
        (C.lower_cholesky, 2),
        (C.corr_cholesky, 2),
        (C.corr_matrix, 2),
        (C.positive_definite, 2),
    ]
    for c, d in dims:
        assert c.event_dim == d, c
    assert C.independent(C.simplex, 2).event_dim == 3
    assert C.independent(C.positive, 0).event_dim == 0


def test_simplex_reduces_last_dim():
    x = jnp.asarray(
        [
            [0.2, 0.3, 0.5],
            [-0.1, 0.6, 0.5],  # negative entry
            [0.2, 0.3, 0.6],  # sums to 1.1
            [0.0, 0.0, 1.0],  # a vertex is inside
        ]
    )
    np.testing.assert_array_equal(C.simplex(x), [True, False, False, True])
    # float32 sums get a looser tolerance.
    y = jnp.full((7,), 1.0 / 7, dtype=jnp.float32)
    assert bool(C.simplex(y))


def test_ordered_vectors():
    x = jnp.asarray([[-1.0, 0.0, 2.0], [0.0, 0.0, 1.0], [1.0, 3.0, 2.0], [0.5, 1.0, 2.0]])
    np.testing.assert_array_equal(C.ordered_vector(x), [True, False, False, True])
    np.testing.assert_array_equal(C.positive_ordered_vector(x), [False, False, False, True])
    assert not bool(C.ordered_vector(jnp.asarray([0.0, np.inf])))


def _stack(*ms):
    return jnp.asarray(np.stack(ms))


def test_lower_cholesky_and_corr_cholesky():
    good = np.array([[1.0, 0.0], [0.6, 0.8]])
    upper = np.array([[1.0, 0.1], [0.6, 0.8]])
    neg_diag = np.array([[1.0, 0.0], [0.6, -0.8]])
    not_unit = np.array([[2.0, 0.0], [0.6, 0.8]])
    x = _stack(good, upper, neg_diag, not_unit)
    np.testing.assert_array_equal(C.lower_cholesky(x), [True, False, False, True])
    np.testing.assert_array_equal(C.corr_cholesky(x), [True, False, False, False])
    assert C.lower_cholesky(jnp.zeros((5, 3, 2, 2))).shape == (5, 3)


def test_positive_definite_and_corr_matrix():
    good = np.array([[1.0, 0.5], [0.5, 1.0]])
    asym = np.array([[1.0, 0.5], [0.4, 1.0]])
    indefinite = np.array([[1.0, 2.0], [2.0, 1.0]])
    scaled = np.array([[2.0, 0.5], [0.5, 3.0]])  # PD but not a correlation matrix
    x = _stack(good, asym, indefinite, scaled)
    np.testing.assert_array_equal(C.positive_definite(x), [True, False, False, True])
    np.testing.assert_array_equal(C.corr_matrix(x), [True, False, False, False])
    assert not bool(C.positive_definite(jnp.zeros((3, 3))))  # semi-definite is outside


def test_independent_reduces_batch_dims():
    x = jnp.asarray([[1.0, 2.0, 3.0], [1.0, -2.0, 3.0]])
    np.testing.assert_array_equal(C.positive_vector(x), [True, False])
    np.testing.assert_array_equal(C.independent(C.positive, 2)(x), False)
    np.testing.assert_array_equal(C.independent(C.positive, 0)(x), x > 0)
    s = jnp.asarray([[[0.5, 0.5], [0.1, 0.9]], [[0.5, 0.5], [0.1, 0.8]]])
    np.testing.assert_array_equal(C.independent(C.simplex, 1)(s), [True, False])
    assert C.real_vector(jnp.asarray([[0.0, np.nan], [0.0, 1.0]])).tolist() == [False, True]
    with pytest.raises(ValueError, match="n >= 0"):
        C.independent(C.real, -1)


def test_dependent_cannot_be_checked():
    with pytest.raises(ValueError, match="dependent"):
        C.dependent(jnp.zeros(2))


FEASIBLE = [
    (C.real, (3,)),
    (C.positive, (2, 3)),
    (C.nonnegative, ()),
    (C.greater_than(jnp.asarray([1.0, -4.0])), (3, 2)),
    (C.greater_than_eq(2.0), (2,)),
    (C.less_than(-3.0), (2,)),
    (C.interval(-1.0, 5.0), (4,)),
    (C.open_interval(2.0, 3.0), (2,)),
    (C.unit_interval, (2,)),
    (C.boolean, (3,)),
    (C.integer_interval(2, 6), (3,)),
    (C.nonnegative_integer, (2,)),
    (C.positive_integer, (2,)),
    (C.simplex, (2, 4)),
    (C.ordered_vector, (3, 5)),
    (C.positive_ordered_vector, (4,)),
    (C.lower_cholesky, (2, 3, 3)),
    (C.corr_cholesky, (3, 3)),
    (C.corr_matrix, (2, 4, 4)),
    (C.positive_definite, (3, 3)),
    (C.real_vector, (2, 3)),
    (C.positive_vector, (3,)),
    (C.independent(C.simplex, 1), (2, 3, 4)),
]


@pytest.mark.parametrize("c,shape", FEASIBLE, ids=lambda v: repr(v))
def test_feasible_like_is_inside(c, shape):
    proto = jnp.zeros(shape)
    p = c.feasible_like(proto)
    assert p.shape == shape and p.dtype == proto.dtype
    ok = c(p)
    assert ok.shape == shape[: len(shape) - c.event_dim]
    assert bool(jnp.all(ok))


def test_constraints_are_pytrees():
    @jax.jit
    def check(c, x):
        return c(x)

    x = jnp.asarray([0.5, 1.5, 2.5])
    np.testing.assert_array_equal(check(C.interval(0.0, 2.0), x), [True, True, False])
    np.testing.assert_array_equal(check(C.interval(1.0, 3.0), x), [False, True, True])
    # A batch of bounds under vmap.
    lows = jnp.asarray([0.0, 1.0])
    out = jax.vmap(lambda lo: C.greater_than(lo)(x))(lows)
    np.testing.assert_array_equal(out, [[True, True, True], [False, True, True]])
    assert isinstance(C.positive, D.Constraint)


# Hypothesis: points built to be inside are accepted; points pushed outside are rejected.
finite = st.floats(-10.0, 10.0, allow_nan=False, allow_subnormal=False)


@given(a=finite, w=st.floats(0.1, 10.0), u=st.floats(0.0, 1.0), d=st.floats(1e-3, 5.0))
def test_interval_property(a, w, u, d):
    b = a + w
    lo, hi = jnp.asarray(a), jnp.asarray(b)
    x_in = jnp.clip(a + u * w, a, b)
    assert bool(C.interval(lo, hi)(x_in))
    assert not bool(C.interval(lo, hi)(jnp.asarray(b + d)))
    assert not bool(C.interval(lo, hi)(jnp.asarray(a - d)))
    assert not bool(C.open_interval(lo, hi)(lo)) and not bool(C.open_interval(lo, hi)(hi))
    assert bool(C.greater_than(lo)(jnp.asarray(a + d)))
    assert not bool(C.greater_than(lo)(jnp.asarray(a - d)))
    assert bool(C.less_than(hi)(jnp.asarray(b - d)))


@given(
    p=hnp.arrays(np.float64, (2, 4), elements=st.floats(0.01, 1.0)),
    i=st.integers(0, 3),
    d=st.floats(0.01, 1.0),
)
def test_simplex_property(p, i, d):
    s = p / p.sum(-1, keepdims=True)
    assert bool(jnp.all(C.simplex(jnp.asarray(s))))
    off = s.copy()
    off[1, i] += d  # no longer sums to one
    np.testing.assert_array_equal(C.simplex(jnp.asarray(off)), [True, False])


@given(
    a=hnp.arrays(np.float64, (3, 3), elements=st.floats(-2.0, 2.0)),
    r=st.integers(0, 2),
    c=st.integers(0, 2),
)
def test_matrix_property(a, r, c):
    L = np.tril(a, -1) + np.diag(np.abs(np.diag(a)) + 0.1)
    assert bool(C.lower_cholesky(jnp.asarray(L)))
    pd = L @ L.T
    assert bool(C.positive_definite(jnp.asarray(pd)))
    unit = L / np.linalg.norm(L, axis=-1, keepdims=True)
    assert bool(C.corr_cholesky(jnp.asarray(unit)))
    assert bool(C.corr_matrix(jnp.asarray(unit @ unit.T)))
    bad = L.copy()
    if c > r:
        bad[r, c] = 1.0  # above the diagonal
    else:
        bad[r, r] = -abs(bad[r, r])  # non-positive diagonal
    assert not bool(C.lower_cholesky(jnp.asarray(bad)))
    assert not bool(C.positive_definite(jnp.asarray(-pd)))
