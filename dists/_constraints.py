"""Constraints: the supports of distributions and the domains of transforms.

A constraint is an immutable ``eqx.Module``. Calling it on a value returns a boolean
array with the value's batch shape (the rightmost ``event_dim`` dimensions are reduced).
``biject_to(constraint)`` (in ``_biject_to.py``) gives a bijection from unconstrained
reals onto the constraint's set.
"""

from __future__ import annotations

import abc
from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp

from ._typing import Array, ArrayLike
from ._util import promote_shapes


class Constraint(eqx.Module):
    """Abstract base of all constraints.

    Subclasses implement ``__call__(x) -> bool array`` and ``feasible_like(prototype)``.
    ``event_dim`` is the number of rightmost dimensions that form one constrained point.
    """

    is_discrete: ClassVar[bool] = False

    @property
    def event_dim(self) -> int:
        return 0

    @abc.abstractmethod
    def __call__(self, x: ArrayLike) -> Array: ...

    def check(self, x: ArrayLike) -> Array:
        """Alias of ``__call__`` (NumPyro spelling)."""
        return self(x)

    def feasible_like(self, prototype: ArrayLike) -> Array:
        """A point inside the constraint with the shape and dtype of ``prototype``."""
        return jnp.zeros_like(prototype)

    def __repr__(self) -> str:
        return type(self).__name__.lstrip("_")


def _alike(x: ArrayLike, *bounds: ArrayLike) -> list[Array]:
    """``x`` and its ``bounds`` in one dtype and one rank for comparing, cast and
    left-padded with size-1 dims explicitly (strict promotion mixes no dtypes, and
    rank-promotion errors refuse a value of another rank than its bounds).

    A floating ``x`` sets the dtype: bounds are constants, perhaps built while 64-bit
    types were on. An integer ``x`` against a floating bound compares as the default
    float; against integer bounds, in its own dtype."""
    x = jnp.asarray(x)
    out = [jnp.asarray(b) for b in bounds]
    if jnp.issubdtype(x.dtype, jnp.inexact):
        target = x.dtype
    elif any(jnp.issubdtype(b.dtype, jnp.inexact) for b in out):
        target = jnp.result_type(float)
    else:
        target = x.dtype
    return list(promote_shapes(*(a if a.dtype == target else a.astype(target) for a in (x, *out))))


class _Real(Constraint):
    def __call__(self, x):
        # Not NaN and not infinite (integers always are finite).
        return jnp.isfinite(jnp.asarray(x))


class _Boolean(Constraint):
    is_discrete: ClassVar[bool] = True

    def __call__(self, x):
        x = jnp.asarray(x)
        return (x == 0) | (x == 1)


class _GreaterThan(Constraint):
    lower_bound: Array

    def __init__(self, lower_bound: ArrayLike):
        self.lower_bound = jnp.asarray(lower_bound)

    def __call__(self, x):
        x, lo = _alike(x, self.lower_bound)
        return x > lo

    def feasible_like(self, prototype):
        return jnp.broadcast_to(self.lower_bound + 1, jnp.shape(prototype)).astype(
            jnp.result_type(prototype)
        )


class _GreaterThanEq(_GreaterThan):
    def __call__(self, x):
        x, lo = _alike(x, self.lower_bound)
        return x >= lo


class _Positive(_GreaterThan):
    def __init__(self):
        self.lower_bound = jnp.asarray(0.0)


class _Nonnegative(_GreaterThanEq):
    def __init__(self):
        self.lower_bound = jnp.asarray(0.0)


class _LessThan(Constraint):
    upper_bound: Array

    def __init__(self, upper_bound: ArrayLike):
        self.upper_bound = jnp.asarray(upper_bound)

    def __call__(self, x):
        x, hi = _alike(x, self.upper_bound)
        return x < hi

    def feasible_like(self, prototype):
        return jnp.broadcast_to(self.upper_bound - 1, jnp.shape(prototype)).astype(
            jnp.result_type(prototype)
        )


class _Interval(Constraint):
    lower_bound: Array
    upper_bound: Array

    def __init__(self, lower_bound: ArrayLike, upper_bound: ArrayLike):
        self.lower_bound = jnp.asarray(lower_bound)
        self.upper_bound = jnp.asarray(upper_bound)

    def __call__(self, x):
        x, lo, hi = _alike(x, self.lower_bound, self.upper_bound)
        return (x >= lo) & (x <= hi)

    def feasible_like(self, prototype):
        lo, hi = promote_shapes(self.lower_bound, self.upper_bound)
        mid = (lo + hi) / 2
        return jnp.broadcast_to(mid, jnp.shape(prototype)).astype(jnp.result_type(prototype))


class _OpenInterval(_Interval):
    def __call__(self, x):
        x, lo, hi = _alike(x, self.lower_bound, self.upper_bound)
        return (x > lo) & (x < hi)


class _UnitInterval(_Interval):
    def __init__(self):
        self.lower_bound = jnp.asarray(0.0)
        self.upper_bound = jnp.asarray(1.0)


class _IntegerInterval(Constraint):
    is_discrete: ClassVar[bool] = True
    lower_bound: Array
    upper_bound: Array

    def __init__(self, lower_bound: ArrayLike, upper_bound: ArrayLike):
        self.lower_bound = jnp.asarray(lower_bound)
        self.upper_bound = jnp.asarray(upper_bound)

    def __call__(self, x):
        x, lo, hi = _alike(x, self.lower_bound, self.upper_bound)
        return (x >= lo) & (x <= hi) & (x == jnp.floor(x))

    def feasible_like(self, prototype):
        return jnp.broadcast_to(self.lower_bound, jnp.shape(prototype)).astype(
            jnp.result_type(prototype)
        )


class _IntegerGreaterThan(Constraint):
    is_discrete: ClassVar[bool] = True
    lower_bound: Array

    def __init__(self, lower_bound: ArrayLike):
        self.lower_bound = jnp.asarray(lower_bound)

    def __call__(self, x):
        x, lo = _alike(x, self.lower_bound)
        return (x >= lo) & (x == jnp.floor(x))

    def feasible_like(self, prototype):
        return jnp.broadcast_to(self.lower_bound, jnp.shape(prototype)).astype(
            jnp.result_type(prototype)
        )


class _NonnegativeInteger(_IntegerGreaterThan):
    def __init__(self):
        self.lower_bound = jnp.asarray(0)


class _PositiveInteger(_IntegerGreaterThan):
    def __init__(self):
        self.lower_bound = jnp.asarray(1)


class _Simplex(Constraint):
    @property
    def event_dim(self) -> int:
        return 1

    def __call__(self, x):
        x = jnp.asarray(x)
        tol = 1e-6 if x.dtype == jnp.float64 else 1e-4
        return jnp.all(x >= 0, axis=-1) & (jnp.abs(jnp.sum(x, axis=-1) - 1) < tol)

    def feasible_like(self, prototype):
        n = jnp.shape(prototype)[-1]
        return jnp.full_like(prototype, 1.0 / n)


class _OrderedVector(Constraint):
    @property
    def event_dim(self) -> int:
        return 1

    def __call__(self, x):
        x = jnp.asarray(x)
        return jnp.all(x[..., 1:] > x[..., :-1], axis=-1) & jnp.all(_Real()(x), axis=-1)

    def feasible_like(self, prototype):
        n = jnp.shape(prototype)[-1]
        return jnp.broadcast_to(
            jnp.arange(n, dtype=jnp.result_type(prototype)), jnp.shape(prototype)
        )


class _PositiveOrderedVector(_OrderedVector):
    def __call__(self, x):
        x = jnp.asarray(x)
        return super().__call__(x) & jnp.all(x > 0, axis=-1)

    def feasible_like(self, prototype):
        n = jnp.shape(prototype)[-1]
        return jnp.broadcast_to(
            jnp.arange(1, n + 1, dtype=jnp.result_type(prototype)), jnp.shape(prototype)
        )


def _tol(x: Array) -> float:
    return 1e-6 if x.dtype == jnp.float64 else 1e-4


class _LowerCholesky(Constraint):
    """Lower-triangular matrices with a positive diagonal."""

    @property
    def event_dim(self) -> int:
        return 2

    def __call__(self, x):
        x = jnp.asarray(x)
        lower = jnp.all(jnp.tril(x) == x, axis=(-2, -1))
        diag = jnp.all(jnp.diagonal(x, axis1=-2, axis2=-1) > 0, axis=-1)
        return lower & diag

    def feasible_like(self, prototype):
        n = jnp.shape(prototype)[-1]
        return jnp.broadcast_to(jnp.eye(n, dtype=jnp.result_type(prototype)), jnp.shape(prototype))


class _CorrCholesky(_LowerCholesky):
    """Lower Cholesky factors of correlation matrices: rows have unit norm."""

    def __call__(self, x):
        x = jnp.asarray(x)
        unit = jnp.all(jnp.abs(jnp.linalg.norm(x, axis=-1) - 1) < _tol(x), axis=-1)
        return super().__call__(x) & unit


class _PositiveDefinite(Constraint):
    @property
    def event_dim(self) -> int:
        return 2

    def __call__(self, x):
        x = jnp.asarray(x)
        sym = jnp.all(jnp.abs(x - jnp.swapaxes(x, -1, -2)) < _tol(x), axis=(-2, -1))
        eig = jnp.linalg.eigvalsh(x)
        return sym & jnp.all(eig > 0, axis=-1)

    def feasible_like(self, prototype):
        n = jnp.shape(prototype)[-1]
        return jnp.broadcast_to(jnp.eye(n, dtype=jnp.result_type(prototype)), jnp.shape(prototype))


class _CorrMatrix(_PositiveDefinite):
    def __call__(self, x):
        x = jnp.asarray(x)
        d = jnp.diagonal(x, axis1=-2, axis2=-1)
        return super().__call__(x) & jnp.all(jnp.abs(d - 1) < _tol(x), axis=-1)


class _Independent(Constraint):
    """Reinterprets ``reinterpreted_batch_ndims`` batch dims of a base constraint as event."""

    base_constraint: Constraint
    reinterpreted_batch_ndims: int = eqx.field(static=True)

    def __check_init__(self):
        if self.reinterpreted_batch_ndims < 0:
            raise ValueError(
                f"independent(constraint, n) expects n >= 0, got {self.reinterpreted_batch_ndims}."
            )

    @property
    def is_discrete(self) -> bool:  # type: ignore[override]
        return self.base_constraint.is_discrete

    @property
    def event_dim(self) -> int:
        return self.base_constraint.event_dim + self.reinterpreted_batch_ndims

    def __call__(self, x):
        ok = self.base_constraint(x)
        n = self.reinterpreted_batch_ndims
        if n == 0:
            return ok
        return jnp.all(ok, axis=tuple(range(-n, 0)))

    def feasible_like(self, prototype):
        return self.base_constraint.feasible_like(prototype)

    def __repr__(self) -> str:
        return f"Independent({self.base_constraint!r}, {self.reinterpreted_batch_ndims})"


class _Dependent(Constraint):
    """Placeholder for supports that depend on other values and cannot be checked."""

    def __call__(self, x):
        raise ValueError("Cannot check a dependent constraint: it has no fixed set of values.")


# Singletons. These are immutable modules, so sharing them is safe.
real = _Real()
boolean = _Boolean()
positive = _Positive()
nonnegative = _Nonnegative()
unit_interval = _UnitInterval()
simplex = _Simplex()
ordered_vector = _OrderedVector()
positive_ordered_vector = _PositiveOrderedVector()
lower_cholesky = _LowerCholesky()
corr_cholesky = _CorrCholesky()
corr_matrix = _CorrMatrix()
positive_definite = _PositiveDefinite()
nonnegative_integer = _NonnegativeInteger()
positive_integer = _PositiveInteger()
real_vector = _Independent(real, 1)
positive_vector = _Independent(positive, 1)
dependent = _Dependent()


def interval(lower_bound: ArrayLike, upper_bound: ArrayLike) -> Constraint:
    """The closed interval ``[lower_bound, upper_bound]``."""
    return _Interval(lower_bound, upper_bound)


def open_interval(lower_bound: ArrayLike, upper_bound: ArrayLike) -> Constraint:
    return _OpenInterval(lower_bound, upper_bound)


def greater_than(lower_bound: ArrayLike) -> Constraint:
    return _GreaterThan(lower_bound)


def greater_than_eq(lower_bound: ArrayLike) -> Constraint:
    return _GreaterThanEq(lower_bound)


def less_than(upper_bound: ArrayLike) -> Constraint:
    return _LessThan(upper_bound)


def integer_interval(lower_bound: ArrayLike, upper_bound: ArrayLike) -> Constraint:
    return _IntegerInterval(lower_bound, upper_bound)


def integer_greater_than(lower_bound: ArrayLike) -> Constraint:
    return _IntegerGreaterThan(lower_bound)


def independent(constraint: Constraint, reinterpreted_batch_ndims: int) -> Constraint:
    """Treat the ``reinterpreted_batch_ndims`` rightmost batch dims as one event."""
    return _Independent(constraint, reinterpreted_batch_ndims)
