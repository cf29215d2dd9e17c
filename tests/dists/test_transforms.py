"""Bijective transforms and ``biject_to``: round trips, log-dets, shapes, pytrees."""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable

import equinox as eqx
import hypothesis.extra.numpy as hnp
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, strategies as st

import dists as D
from dists import _constraints as CC, constraints as C, transforms as T
from dists.util import matrix_to_tril_vec, vec_to_tril_matrix

# --------------------------------------------------------------------------------------
# Point generators (independent of the transforms under test)
# --------------------------------------------------------------------------------------


# Points are made with NumPy, so that drawing them compiles nothing.
def reals(data, shape, lim=3.0):
    elements = st.floats(-lim, lim, allow_nan=False, allow_infinity=False, allow_subnormal=False)
    return data.draw(hnp.arrays(np.float64, shape, elements=elements))


def positives(data, shape):
    return np.exp(reals(data, shape))


def units(data, shape, low=0.01, high=0.99):
    return data.draw(hnp.arrays(np.float64, shape, elements=st.floats(low, high)))


def simplex_points(data, shape):
    p = units(data, shape, 0.05, 1.0)
    return p / np.sum(p, -1, keepdims=True)


def ordered_points(data, shape):
    steps = reals(data, shape)
    return np.cumsum(np.concatenate([steps[..., :1], np.exp(steps[..., 1:])], -1), -1)


def lower_cholesky_points(data, batch, n):
    w = np.tril(reals(data, batch + (n, n)), -1)
    return w + np.exp(reals(data, batch + (n,)))[..., None] * np.eye(n)


def corr_cholesky_points(data, batch, n):
    w = np.tril(reals(data, batch + (n, n), 1.0), -1)
    w = w + (0.5 + units(data, batch + (n,)))[..., None] * np.eye(n)
    return w / np.linalg.norm(w, axis=-1, keepdims=True)


def _sym(m):
    return 0.5 * (m + np.swapaxes(m, -1, -2))


def pd_points(data, batch, n):
    a = reals(data, batch + (n, n), 2.0)
    return _sym(a @ np.swapaxes(a, -1, -2) + 0.5 * np.eye(n))


def corr_matrix_points(data, batch, n):
    L = corr_cholesky_points(data, batch, n)
    return _sym(L @ np.swapaxes(L, -1, -2))


def tri(n):
    return n * (n + 1) // 2


# Maps between a domain point and its free coordinates, and from an output to its free
# coordinates, so that each log-det can be checked against a square Jacobian.
def ident(v):
    return v


def tril_vec(y):
    return matrix_to_tril_vec(y)


def strict_vec(y):
    return matrix_to_tril_vec(y, -1)


def sym_from_tril(v):
    w = vec_to_tril_matrix(v)
    return w + jnp.swapaxes(jnp.tril(w, -1), -1, -2)


def corr_from_strict(v):
    w = vec_to_tril_matrix(v, -1)
    return jnp.eye(w.shape[-1]) + w + jnp.swapaxes(w, -1, -2)


def corr_chol_from_strict(v):
    w = vec_to_tril_matrix(v, -1)
    diag = jnp.sqrt(1.0 - jnp.sum(w**2, -1))
    return w + diag[..., None] * jnp.eye(w.shape[-1])


def simplex_from_head(v):
    return jnp.concatenate([v, 1.0 - jnp.sum(v, -1, keepdims=True)], -1)


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    make: Callable[[], T.Transform]
    gen_x: Callable  # (data, batch, n) -> domain point
    gen_y: Callable  # (data, batch, n) -> codomain point
    event_dim: int  # input event dims
    free_in: Callable = ident  # domain point -> free coordinates
    to_in: Callable = ident  # free coordinates -> domain point
    free_out: Callable = ident  # codomain point -> free coordinates
    n: int = 3  # vector length or matrix side that sets the event shape


def _scalar(gen):
    return lambda data, batch, n: gen(data, batch)


def _vec(gen, size=lambda n: n):
    return lambda data, batch, n: gen(data, batch + (size(n),))


_real = _scalar(reals)
_pos = _scalar(positives)

CASES = [
    Case("exp", T.ExpTransform, _real, _pos, 0),
    Case("affine", lambda: T.AffineTransform(1.5, -2.0), _real, _real, 0),
    Case("sigmoid", T.SigmoidTransform, _real, _scalar(units), 0),
    Case("tanh", T.TanhTransform, _real, _scalar(lambda d, s: units(d, s, -0.99, 0.99)), 0),
    Case("softplus", T.SoftplusTransform, _real, _pos, 0),
    Case("power", lambda: T.PowerTransform(2.5), _pos, _pos, 0),
    Case("power_neg", lambda: T.PowerTransform(-0.7), _pos, _pos, 0),
    Case("identity", T.IdentityTransform, _real, _real, 0),
    Case(
        "stick_breaking",
        T.StickBreakingTransform,
        _vec(reals),
        _vec(simplex_points, lambda n: n + 1),
        1,
        free_out=lambda y: y[..., :-1],
    ),
    Case("ordered", T.OrderedTransform, _vec(reals), _vec(ordered_points), 1),
    Case(
        "permute",
        lambda: T.PermuteTransform(jnp.asarray([2, 0, 1])),
        _vec(reals),
        _vec(reals),
        1,
        n=3,
    ),
    Case(
        "lower_cholesky",
        T.LowerCholeskyTransform,
        _vec(reals, tri),
        lower_cholesky_points,
        1,
        free_out=tril_vec,
    ),
    Case(
        "scaled_unit_lower_cholesky",
        T.ScaledUnitLowerCholeskyTransform,
        _vec(reals, tri),
        lower_cholesky_points,
        1,
        free_out=tril_vec,
    ),
    Case(
        "corr_cholesky",
        T.CorrCholeskyTransform,
        _vec(reals, lambda n: tri(n) - n),
        corr_cholesky_points,
        1,
        free_out=strict_vec,
        n=4,
    ),
    Case(
        "positive_definite",
        T.PositiveDefiniteTransform,
        _vec(lambda d, s: reals(d, s, 1.5), tri),
        pd_points,
        1,
        free_out=tril_vec,
    ),
    Case(
        "cholesky",
        T.CholeskyTransform,
        pd_points,
        lower_cholesky_points,
        2,
        free_in=tril_vec,
        to_in=sym_from_tril,
        free_out=tril_vec,
    ),
    Case(
        "corr_matrix_cholesky",
        T.CorrMatrixCholeskyTransform,
        corr_matrix_points,
        corr_cholesky_points,
        2,
        free_in=strict_vec,
        to_in=corr_from_strict,
        free_out=strict_vec,
    ),
    Case(
        "lower_cholesky_affine",
        lambda: T.LowerCholeskyAffine(
            jnp.asarray([0.5, -1.0, 2.0]),
            jnp.asarray([[1.5, 0.0, 0.0], [0.3, 0.7, 0.0], [-1.2, 0.4, 2.0]]),
        ),
        _vec(reals),
        _vec(reals),
        1,
        n=3,
    ),
    # Inverses: the log-det of ``t.inv`` is checked against the inverse's own Jacobian.
    Case(
        "corr_cholesky_inv",
        lambda: T.CorrCholeskyTransform().inv,
        corr_cholesky_points,
        _vec(reals, lambda n: tri(n) - n),
        2,
        free_in=strict_vec,
        to_in=corr_chol_from_strict,
        n=3,
    ),
    # Compositions, including parts with different event dims.
    Case(
        "compose_elementwise",
        lambda: T.ComposeTransform(
            [T.AffineTransform(0.3, 2.0), T.ExpTransform(), T.AffineTransform(1.0, -3.0)]
        ),
        _real,
        _scalar(lambda d, s: 1.0 - 3.0 * positives(d, s)),
        0,
    ),
    Case(
        "compose_affine_stick",
        lambda: T.ComposeTransform([T.AffineTransform(0.5, 1.7), T.StickBreakingTransform()]),
        _vec(reals),
        _vec(simplex_points, lambda n: n + 1),
        1,
        free_out=lambda y: y[..., :-1],
    ),
    Case(
        "compose_stick_permute",
        lambda: T.ComposeTransform(
            [T.StickBreakingTransform(), T.PermuteTransform(jnp.asarray([3, 1, 0, 2]))]
        ),
        _vec(reals),
        _vec(simplex_points, lambda n: n + 1),
        1,
        # Dropping any one coordinate of a simplex point is a |det| = 1 change of chart.
        free_out=lambda y: y[..., :-1],
    ),
    Case(
        "corr_matrix_biject",
        lambda: D.biject_to(C.corr_matrix),
        _vec(reals, lambda n: tri(n) - n),
        corr_matrix_points,
        1,
        free_out=strict_vec,
    ),
    Case(
        "independent_exp",
        lambda: T.IndependentTransform(T.ExpTransform(), 1),
        _vec(reals),
        _vec(positives),
        1,
    ),
    Case(
        "reshape",
        lambda: T.ReshapeTransform((2, 3), (6,)),
        _vec(reals, lambda n: 6),
        lambda d, b, n: reals(d, b + (2, 3)),
        1,
        free_out=lambda y: jnp.reshape(y, y.shape[:-2] + (6,)),
        n=6,
    ),
]


BATCH = (2,)


# The transform's work for one case goes through one jitted function with fixed shapes,
# so each case compiles once and the hypothesis examples reuse the compiled code.
# Constraint checks and slogdet run outside, where they are shared between cases.
# Low optimisation: each program runs only a dozen times, so compile time dominates.
_FAST_COMPILE = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}


def _fast_jit(fn=None, **kwargs):
    if fn is None:
        return functools.partial(_fast_jit, **kwargs)
    return jax.jit(fn, compiler_options=_FAST_COMPILE, **kwargs)


@_fast_jit(static_argnums=3)
def _apply(t, x, y2, case):
    y = t(x)
    x2 = t.inv(y2)
    ld = t.log_abs_det_jacobian(x, y)

    # The Jacobian from the free coordinates of the input to those of the output.
    def f(v):
        return case.free_out(t(case.to_in(v)))

    vs = case.free_in(x)
    jac = jax.vmap(jax.grad(f) if case.event_dim == 0 else jax.jacfwd(f))(vs)
    return y, t.inv(y), x2, t(x2), ld, jac


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
@given(data=st.data())
def test_round_trip_and_log_det(case, data):
    t = case.make()
    x = case.gen_x(data, BATCH, case.n)
    y2 = case.gen_y(data, BATCH, case.n)  # made without the transform
    y, xr, x2, y2r, ld, jac = _apply(t, x, y2, case)
    # Shapes.
    assert y.shape == t.forward_shape(x.shape)
    assert t.inverse_shape(y.shape) == x.shape
    assert ld.shape == BATCH == x.shape[: x.ndim - t.domain.event_dim]
    # t.inv(t(x)) = x, and t(t.inv(y)) = y for y in the codomain.
    assert bool(jnp.all(t.codomain(y))) and bool(jnp.all(t.domain(x2)))
    np.testing.assert_allclose(xr, x, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(y2r, y2, rtol=1e-6, atol=1e-8)
    # log|det J| in free coordinates.
    jac = np.asarray(jac)
    expected = np.log(np.abs(jac)) if case.event_dim == 0 else np.linalg.slogdet(jac)[1]
    np.testing.assert_allclose(ld, expected, rtol=1e-6, atol=1e-7)


# --------------------------------------------------------------------------------------
# biject_to
# --------------------------------------------------------------------------------------


# (constraint, unconstrained event shape, bound on |x| for the membership test). The
# ordered and positive-definite families lose strict order / definiteness to rounding
# for wider inputs (x = [0, 20, -20] gives two equal floats), so they get smaller ranges.
BIJECT = [
    ("real", C.real, (), 20.0),
    ("positive", C.positive, (), 20.0),
    ("nonnegative", C.nonnegative, (), 20.0),
    ("greater_than", C.greater_than(-1.5), (), 20.0),
    ("greater_than_vec", C.greater_than(jnp.asarray([0.0, 2.0, -3.0])), (3,), 20.0),
    ("greater_than_eq", C.greater_than_eq(2.0), (), 20.0),
    ("less_than", C.less_than(2.5), (), 20.0),
    ("interval", C.interval(-2.0, 3.0), (), 20.0),
    ("interval_vec", C.interval(jnp.asarray([0.0, -1.0]), jnp.asarray([1.0, 5.0])), (2,), 20.0),
    ("open_interval", C.open_interval(0.5, 4.0), (), 20.0),
    ("unit_interval", C.unit_interval, (), 20.0),
    ("simplex", C.simplex, (3,), 20.0),
    ("ordered_vector", C.ordered_vector, (4,), 10.0),
    ("positive_ordered_vector", C.positive_ordered_vector, (4,), 10.0),
    ("lower_cholesky", C.lower_cholesky, (6,), 20.0),
    ("corr_cholesky", C.corr_cholesky, (6,), 20.0),
    ("corr_matrix", C.corr_matrix, (6,), 2.0),
    ("positive_definite", C.positive_definite, (6,), 2.0),
    ("real_vector", C.real_vector, (3,), 20.0),
    ("positive_vector", C.positive_vector, (3,), 20.0),
    ("independent_simplex", C.independent(C.simplex, 1), (2, 3), 20.0),
    ("independent_interval", C.independent(C.interval(0.0, 2.0), 2), (2, 2), 20.0),
]


@_fast_jit
def _biject_apply(t, x, x_small):
    y = t(x)
    return y, t.log_abs_det_jacobian(x, y), t.inv(t(x_small))


@pytest.mark.parametrize("name,c,event,lim", BIJECT, ids=[b[0] for b in BIJECT])
@given(data=st.data())
def test_biject_to_maps_reals_into_constraint(name, c, event, lim, data):
    t = D.biject_to(c)
    x = reals(data, BATCH + event, lim)
    x_small = reals(data, BATCH + event, 2.0)
    y, ld, x_back = _biject_apply(t, x, x_small)
    ok = c(y)
    assert y.shape == t.forward_shape(x.shape)
    assert ok.shape == ld.shape == y.shape[: y.ndim - c.event_dim]
    assert bool(jnp.all(ok)), (x, y)
    # Round trip on moderate inputs, where the inverse is well conditioned.
    np.testing.assert_allclose(x_back, x_small, rtol=1e-6, atol=1e-8)


F32_CASES = [
    (C.positive, ()),
    (C.unit_interval, ()),
    (C.interval(-2.0, 3.0), ()),
    (C.open_interval(0.0, 1.0), ()),
    (C.simplex, (4,)),
    (C.lower_cholesky, (6,)),
    (C.corr_cholesky, (6,)),
]


@_fast_jit
def _f32_checks(x):
    out = []
    for c, event in F32_CASES:
        xe = jnp.broadcast_to(x.reshape((7,) + (1,) * len(event)), (7,) + event)
        y = D.biject_to(c)(xe)
        out.append((y.dtype == jnp.float32, jnp.all(c(y))))
    return out


def test_biject_to_stays_inside_in_float32():
    # Clipping keeps outputs strictly inside the set where float32 would round onto its
    # boundary.
    x = jnp.asarray(np.linspace(-100.0, 100.0, 7), dtype=jnp.float32)
    for (c, _), (is_f32, ok) in zip(F32_CASES, _f32_checks(x)):
        assert is_f32 and bool(ok), c


def test_biject_to_table():
    assert isinstance(D.biject_to(C.real), T.IdentityTransform)
    assert isinstance(D.biject_to(C.positive), T.ExpTransform)
    assert isinstance(D.biject_to(C.unit_interval), T.SigmoidTransform)
    assert isinstance(D.biject_to(C.simplex), T.StickBreakingTransform)
    assert isinstance(D.biject_to(C.ordered_vector), T.OrderedTransform)
    assert isinstance(D.biject_to(C.lower_cholesky), T.LowerCholeskyTransform)
    assert isinstance(D.biject_to(C.corr_cholesky), T.CorrCholeskyTransform)
    assert isinstance(D.biject_to(C.positive_definite), T.PositiveDefiniteTransform)
    t = D.biject_to(C.real_vector)
    assert isinstance(t, T.IndependentTransform) and t.reinterpreted_batch_ndims == 1
    assert D.biject_to(C.independent(C.positive, 0)) == T.ExpTransform()
    # Affine codomains keep the bound and its side.
    gt = D.biject_to(C.greater_than(2.0)).codomain
    assert isinstance(gt, CC._GreaterThan) and float(gt.lower_bound) == 2.0
    lt = D.biject_to(C.less_than(-1.0)).codomain
    assert isinstance(lt, CC._LessThan) and float(lt.upper_bound) == -1.0
    iv = D.biject_to(C.interval(-1.0, 4.0)).codomain
    assert float(iv.lower_bound) == -1.0 and float(iv.upper_bound) == 4.0
    assert D.transform_to(C.simplex) == D.biject_to(C.simplex)
    assert T.biject_to is D.biject_to


@pytest.mark.parametrize(
    "c",
    [
        C.boolean,
        C.nonnegative_integer,
        C.positive_integer,
        C.integer_interval(0, 3),
        C.integer_greater_than(2),
        C.independent(C.boolean, 1),
    ],
)
def test_biject_to_discrete_raises(c):
    with pytest.raises(ValueError, match="discrete.*enumerate or marginalise"):
        D.biject_to(c)


def test_biject_to_user_constraints():
    class _HasBijection(C.Constraint):
        def __call__(self, x):
            return jnp.asarray(x) > 3.0

        def biject_to(self):
            return T.ComposeTransform([T.ExpTransform(), T.AffineTransform(3.0, 1.0)])

    class _NoBijection(C.Constraint):
        def __call__(self, x):
            return jnp.asarray(x) != 0

    c = _HasBijection()
    assert bool(jnp.all(c(D.biject_to(c)(jnp.linspace(-5.0, 5.0, 4)))))
    with pytest.raises(ValueError, match="NoBijection"):
        D.biject_to(_NoBijection())
    with pytest.raises(ValueError, match="dependent"):
        D.biject_to(C.dependent)
    with pytest.raises(TypeError, match="Constraint"):
        D.biject_to("positive")


# --------------------------------------------------------------------------------------
# Combinators: shapes, event dims and log-dets
# --------------------------------------------------------------------------------------


def test_inverse_transform():
    t = T.StickBreakingTransform()
    assert t.inv.inv is t
    assert isinstance(t.inv, T.InverseTransform)
    assert t.inv.domain is C.simplex and t.inv.codomain == C.real_vector
    assert t.inv.forward_shape((2, 4)) == (2, 3)
    assert t.inv.inverse_shape((2, 3)) == (2, 4)
    x = jnp.asarray([[0.3, -1.0, 2.0], [0.0, 0.5, -0.5]])

    @_fast_jit
    def lds(t, x):
        y = t(x)
        return t.inv.log_abs_det_jacobian(y, x), t.log_abs_det_jacobian(x, y)

    inv_ld, ld = lds(t, x)
    np.testing.assert_allclose(inv_ld, -ld)
    a = T.AffineTransform(0.0, -2.0)
    assert float(a.inv.sign) == -1.0 and float(a.sign) == -1.0
    assert T.ExpTransform().inv.inv == T.ExpTransform()


def test_compose_event_dims_and_shapes():
    t = T.ComposeTransform([T.ExpTransform(), T.StickBreakingTransform()])
    assert t.domain.event_dim == 1 and t.codomain.event_dim == 1
    assert t.forward_shape((5, 3)) == (5, 4) and t.inverse_shape((5, 4)) == (5, 3)
    t = T.ComposeTransform([T.CorrCholeskyTransform(), T.ExpTransform()])
    assert t.domain.event_dim == 1 and t.codomain.event_dim == 2
    assert t.forward_shape((2, 3)) == (2, 3, 3)
    t = T.ComposeTransform([T.ReshapeTransform((2, 3), (6,)), T.ExpTransform()])
    x = jnp.linspace(-1.0, 1.0, 24).reshape(4, 6)
    ld = t.log_abs_det_jacobian(x, t(x))
    assert ld.shape == (4,)
    np.testing.assert_allclose(ld, jnp.sum(x, -1))
    assert T.ComposeTransform([]).forward_shape((3,)) == (3,)
    e = T.ComposeTransform([T.AffineTransform(0.0, -2.0), T.ExpTransform()])
    assert float(e.sign) == -1.0


def test_compose_sums_elementwise_logdets_over_event():
    # Affine (event dim 0) before stick-breaking (event dim 1): its log-det is summed over
    # the vector, once per batch element.
    t = T.ComposeTransform([T.AffineTransform(0.5, 3.0), T.StickBreakingTransform()])
    x = jnp.asarray([[0.1, -0.2], [1.0, 2.0], [0.0, 0.0]])

    @_fast_jit
    def lds(x):
        sb = T.StickBreakingTransform()
        expected = 2 * math.log(3.0) + sb.log_abs_det_jacobian(0.5 + 3.0 * x, t(x))
        # The same Affine with an independent domain sums over the vector itself.
        a = T.AffineTransform(0.5, 3.0, domain=C.real_vector)
        return t.log_abs_det_jacobian(x, t(x)), expected, a.log_abs_det_jacobian(x, a(x))

    ld, expected, affine_ld = lds(x)
    np.testing.assert_allclose(ld, expected)
    np.testing.assert_allclose(affine_ld, 2 * math.log(3.0) * np.ones(3))


def test_independent_transform():
    t = T.IndependentTransform(T.SigmoidTransform(), 2)
    assert t.domain.event_dim == 2 and t.codomain.event_dim == 2
    x = jnp.linspace(-3.0, 3.0, 24).reshape(2, 3, 4)
    ld = t.log_abs_det_jacobian(x, t(x))
    assert ld.shape == (2,)
    base = T.SigmoidTransform().log_abs_det_jacobian(x, t(x))
    np.testing.assert_allclose(ld, jnp.sum(base, (-2, -1)))
    with pytest.raises(ValueError, match=">= 0"):
        T.IndependentTransform(T.ExpTransform(), -1)


def test_reshape_transform():
    t = T.ReshapeTransform((2, 3), (3, 2))
    x = jnp.arange(30.0).reshape(5, 3, 2)
    y = t(x)
    assert y.shape == (5, 2, 3)
    assert t.forward_shape((5, 3, 2)) == (5, 2, 3) and t.inverse_shape((5, 2, 3)) == (5, 3, 2)
    np.testing.assert_array_equal(t.inv(y), x)
    ld = t.log_abs_det_jacobian(x, y)
    assert ld.shape == (5,) and not bool(jnp.any(ld))
    assert t.domain.event_dim == 2 and t.codomain.event_dim == 2
    with pytest.raises(ValueError, match="different numbers"):
        T.ReshapeTransform((2, 3), (5,))
    with pytest.raises(ValueError, match="ending in"):
        t(jnp.zeros((4, 4)))


def test_permute_transform():
    t = T.PermuteTransform(jnp.asarray([3, 0, 2, 1]))
    x = jnp.arange(8.0).reshape(2, 4)
    np.testing.assert_array_equal(t(x), x[:, [3, 0, 2, 1]])
    np.testing.assert_array_equal(t.inv(t(x)), x)
    ld = t.log_abs_det_jacobian(x, t(x))
    assert ld.shape == (2,) and not bool(jnp.any(ld))
    with pytest.raises(ValueError, match="not a permutation"):
        T.PermuteTransform(jnp.asarray([0, 0, 1]))
    with pytest.raises(ValueError, match="integer"):
        T.PermuteTransform(jnp.asarray([0.0, 1.0]))


def test_misc_interface():
    t = T.ExpTransform()
    y, inter = t.call_with_intermediates(jnp.asarray([0.0, 1.0]))
    assert inter is None
    np.testing.assert_allclose(y, jnp.exp(jnp.asarray([0.0, 1.0])))
    assert float(T.SigmoidTransform().sign) == 1.0
    assert float(T.PowerTransform(-2.0).sign) == -1.0
    with pytest.raises(NotImplementedError):
        T.StickBreakingTransform().sign
    # Shapes of parameter-dependent transforms broadcast with their parameters.
    a = T.AffineTransform(jnp.zeros(3), 2.0)
    assert a.forward_shape((4, 1)) == (4, 3)
    with pytest.raises(ValueError, match="n\\(n\\+1\\)/2"):
        T.LowerCholeskyTransform()(jnp.zeros(4))
    with pytest.raises(ValueError, match="scale_tril"):
        T.LowerCholeskyAffine(jnp.zeros(2), jnp.zeros(2))
    # Large positive diagonal entries give inf, not NaN, off the diagonal.
    L = T.LowerCholeskyTransform()(jnp.asarray([0.0, 800.0, 0.0]))
    assert not bool(jnp.any(jnp.isnan(L)))
    assert float(L[0, 1]) == 0.0


@pytest.mark.parametrize(
    "t,x_shape,c",
    [
        (T.StickBreakingTransform(), (2, 0), C.simplex),
        (T.StickBreakingTransform(), (2, 1), C.simplex),
        (T.CorrCholeskyTransform(), (2, 0), C.corr_cholesky),
        (T.CorrCholeskyTransform(), (2, 1), C.corr_cholesky),
        (T.LowerCholeskyTransform(), (2, 1), C.lower_cholesky),
        (T.PositiveDefiniteTransform(), (2, 1), C.positive_definite),
    ],
)
def test_smallest_event_sizes(t, x_shape, c):
    @_fast_jit
    def run(x):
        y = t(x)
        return y, c(y), t.inv(y), t.log_abs_det_jacobian(x, y)

    x = jnp.full(x_shape, 0.7)
    y, ok, x_back, ld = run(x)
    assert y.shape == t.forward_shape(x_shape)
    assert bool(jnp.all(ok))
    np.testing.assert_allclose(x_back, x, atol=1e-12)
    assert ld.shape == (2,)


# --------------------------------------------------------------------------------------
# Transforms are pytrees
# --------------------------------------------------------------------------------------


def test_jit_with_transform_argument():
    traces = []

    @eqx.filter_jit
    def apply(t, x):
        traces.append(None)
        return t(x), t.log_abs_det_jacobian(x, t(x))

    x = jnp.asarray([0.1, -0.4, 2.0])
    y, ld = apply(T.AffineTransform(1.0, 2.0), x)
    np.testing.assert_allclose(y, 1.0 + 2.0 * x)
    y, ld = apply(T.AffineTransform(-1.0, 0.5), x)
    np.testing.assert_allclose(y, -1.0 + 0.5 * x)
    np.testing.assert_allclose(ld, jnp.full(3, math.log(0.5)))
    assert len(traces) == 1  # new leaf values reuse the compiled code

    t = D.biject_to(C.corr_matrix)
    jitted = jax.jit(lambda t, x: t.inv(t(x)))
    z = jnp.asarray([0.2, -0.3, 0.5])
    np.testing.assert_allclose(jitted(t, z), z, rtol=1e-10)


def test_vmap_over_affine_params():
    locs = jnp.asarray([0.0, 1.0, -2.0])
    scales = jnp.asarray([1.0, 2.0, 0.5])
    ts = T.AffineTransform(locs, scales)
    x = jnp.asarray([1.0, 1.0, 1.0])
    y = jax.vmap(lambda t, x: t(x))(ts, x)
    np.testing.assert_allclose(y, locs + scales)
    ld = jax.vmap(lambda t, x: t.log_abs_det_jacobian(x, t(x)))(ts, x)
    np.testing.assert_allclose(ld, jnp.log(scales))
    # A batch of transforms built inside vmap, then applied to a vector each.
    built = jax.vmap(lambda s: T.AffineTransform(0.0, s, domain=C.real_vector))(scales)
    ys = jax.vmap(lambda t: t(jnp.ones(2)))(built)
    np.testing.assert_allclose(ys, jnp.broadcast_to(scales[:, None], (3, 2)))
    # Gradient with respect to a transform's parameters.
    g = jax.grad(lambda t: jnp.sum(t(jnp.asarray([1.0, 2.0]))))(T.AffineTransform(0.0, 1.0))
    np.testing.assert_allclose(g.scale, 3.0)
    np.testing.assert_allclose(g.loc, 2.0)


# --- softplus with a cheap derivative ---------------------------------------------------


def test_softplus_matches_scipy_and_its_derivatives():
    import scipy.special

    from dists._util import softplus

    x = np.array([-800.0, -50.0, -3.0, -1e-3, 0.0, 1e-3, 2.5, 30.0, 800.0])
    xj = jnp.asarray(x, jnp.float64)
    # log(1 + e^x) = logaddexp(0, x), and its first two derivatives are sigmoid(x) and
    # sigmoid(x) sigmoid(-x).
    np.testing.assert_allclose(softplus(xj), np.logaddexp(0.0, x), rtol=1e-14, atol=1e-300)
    d1 = jax.vmap(jax.grad(softplus))(xj)
    np.testing.assert_allclose(d1, scipy.special.expit(x), rtol=1e-14, atol=1e-300)
    d2 = jax.vmap(jax.grad(jax.grad(softplus)))(xj)
    expected = scipy.special.expit(x) * scipy.special.expit(-x)
    np.testing.assert_allclose(d2, expected, rtol=1e-12, atol=1e-300)
    assert float(d1[4]) == 0.5
    assert softplus(jnp.float32(1.0)).dtype == jnp.float32
    assert float(softplus(jnp.inf)) == np.inf and float(softplus(-jnp.inf)) == 0.0
