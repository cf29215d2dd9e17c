"""``biject_to(constraint)``: a bijection from unconstrained reals onto a constraint's set.

The table is a plain ``isinstance`` dispatch, not a mutable registry. A user-defined
constraint supplies its own bijection through a ``biject_to()`` method.
"""

from __future__ import annotations

from . import _constraints as C
from ._elementwise_transforms import (
    AffineTransform,
    ExpTransform,
    IdentityTransform,
    SigmoidTransform,
    SoftplusTransform,
)
from ._matrix_transforms import (
    CorrCholeskyTransform,
    CorrMatrixCholeskyTransform,
    LowerCholeskyTransform,
    PositiveDefiniteTransform,
)
from ._transforms import ComposeTransform, IndependentTransform, Transform
from ._util import promote_value
from ._vector_transforms import OrderedTransform, StickBreakingTransform


def biject_to(constraint: C.Constraint) -> Transform:
    """A transform from unconstrained reals onto ``constraint``.

    ``biject_to(c)(x)`` lies in ``c`` for every real ``x``, and ``biject_to(c).inv`` maps
    a point of ``c`` back to the reals. The domain may have a different shape from the
    constraint (e.g. ``R^(K-1)`` for the simplex in ``R^K``).

    Raises:
        ValueError: for a discrete constraint (there is no bijection from the reals),
            for ``dependent``, and for a constraint this table does not know that has
            no ``biject_to()`` method of its own.

    Example:
        >>> import jax.numpy as jnp, dists as D
        >>> t = D.biject_to(D.constraints.positive)
        >>> bool(D.constraints.positive(t(jnp.asarray(-3.0))))
        True
    """
    if not isinstance(constraint, C.Constraint):
        raise TypeError(
            f"biject_to expects a Constraint (e.g. dists.constraints.positive), got "
            f"{type(constraint).__name__}."
        )
    own = getattr(constraint, "biject_to", None)
    if callable(own):
        return own()
    if constraint.is_discrete:
        raise ValueError(
            f"biject_to: constraint {constraint!r} is discrete; there is no bijection from "
            "the reals; enumerate or marginalise the site."
        )
    c = constraint
    t = type(c)
    if t is C._Independent:
        base = biject_to(c.base_constraint)
        n = c.reinterpreted_batch_ndims
        return IndependentTransform(base, n) if n > 0 else base
    if t is C._Real:
        return IdentityTransform()
    if t in (C._Positive, C._Nonnegative):
        return ExpTransform()
    if t in (C._GreaterThan, C._GreaterThanEq):
        return ComposeTransform(
            [ExpTransform(), AffineTransform(c.lower_bound, 1.0, domain=C.positive)]
        )
    if t is C._LessThan:
        return ComposeTransform(
            [ExpTransform(), AffineTransform(c.upper_bound, -1.0, domain=C.positive)]
        )
    if t is C._UnitInterval:
        return SigmoidTransform()
    if t in (C._Interval, C._OpenInterval):
        lo, hi = promote_value(c.lower_bound, c.upper_bound)
        return ComposeTransform(
            [SigmoidTransform(), AffineTransform(lo, hi - lo, domain=C.unit_interval)]
        )
    if t is C._Simplex:
        return StickBreakingTransform()
    if t is C._OrderedVector:
        return OrderedTransform()
    if t is C._PositiveOrderedVector:
        # Softplus rather than exp after the ordered map: exp(x_0 + sum exp(x_i))
        # overflows once an x_i passes about 6.6, softplus only where exp(x_i) does.
        return ComposeTransform([OrderedTransform(), SoftplusTransform()])
    if t is C._LowerCholesky:
        return LowerCholeskyTransform()
    if t is C._CorrCholesky:
        return CorrCholeskyTransform()
    if t is C._CorrMatrix:
        return ComposeTransform([CorrCholeskyTransform(), CorrMatrixCholeskyTransform().inv])
    if t is C._PositiveDefinite:
        return PositiveDefiniteTransform()
    if t is C._Dependent:
        raise ValueError(
            "biject_to: constraint dependent has no fixed set of values, so there is no "
            "bijection onto it; give the site a distribution with a concrete support."
        )
    raise ValueError(
        f"biject_to: no bijection is known for constraint {constraint!r} "
        f"({type(constraint).__name__}); give the constraint a `biject_to()` method that "
        "returns a Transform from the reals onto it."
    )


def transform_to(constraint: C.Constraint) -> Transform:
    """Alias of :func:`biject_to`."""
    return biject_to(constraint)
