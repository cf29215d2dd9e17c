"""Elementwise bijective transforms: identity, exp, affine, sigmoid, tanh, softplus, power."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import jax
import jax.numpy as jnp

from . import _constraints as C
from ._transforms import Transform, _eps, _tiny
from ._typing import Array, ArrayLike, Shape
from ._util import as_float, is_concrete, promote_value, softplus, sum_rightmost


class _Increasing(Transform):
    """A strictly increasing elementwise transform (its derivative has sign +1)."""

    @property
    def sign(self) -> Array:
        return jnp.asarray(1)


class IdentityTransform(_Increasing):
    """``y = x``."""

    domain: ClassVar[C.Constraint] = C.real
    codomain: ClassVar[C.Constraint] = C.real

    def __call__(self, x: ArrayLike) -> Array:
        return jnp.asarray(x)

    def _inverse(self, y: ArrayLike) -> Array:
        return jnp.asarray(y)

    def log_abs_det_jacobian(self, x: ArrayLike, y: ArrayLike, intermediates: Any = None) -> Array:
        x = as_float(x)
        return jnp.zeros_like(x)


class ExpTransform(_Increasing):
    """``y = exp(x)``: reals onto the positive reals (floored at the smallest normal)."""

    domain: ClassVar[C.Constraint] = C.real
    codomain: ClassVar[C.Constraint] = C.positive

    def __call__(self, x: ArrayLike) -> Array:
        x = as_float(x)
        # Floor at the smallest normal number: exp underflows to 0 below about -87 in
        # float32 (CPUs flush subnormals), which is not positive.
        return jnp.maximum(jnp.exp(x), _tiny(x))

    def _inverse(self, y: ArrayLike) -> Array:
        return jnp.log(as_float(y))

    def log_abs_det_jacobian(self, x: ArrayLike, y: ArrayLike, intermediates: Any = None) -> Array:
        return as_float(x)


def _affine_codomain(domain: C.Constraint, loc: Array, scale: Array) -> C.Constraint:
    if isinstance(domain, C._Independent):
        base = _affine_codomain(domain.base_constraint, loc, scale)
        return C.independent(base, domain.reinterpreted_batch_ndims)
    if isinstance(domain, C._Real):
        return C.real
    # The sign of ``scale`` decides which side the bound lands on; under jit it is
    # unknown, so assume positive (as NumPyro does).
    negative = is_concrete(scale) and bool(jnp.all(scale < 0))
    if isinstance(domain, C._Interval):
        a, b = loc + scale * domain.lower_bound, loc + scale * domain.upper_bound
        lo, hi = (b, a) if negative else (a, b)
        if isinstance(domain, C._OpenInterval):
            return C.open_interval(lo, hi)
        return C.interval(lo, hi)
    if isinstance(domain, C._GreaterThan):
        bound = loc + scale * domain.lower_bound
        return C.less_than(bound) if negative else C.greater_than(bound)
    if isinstance(domain, C._LessThan):
        bound = loc + scale * domain.upper_bound
        return C.greater_than(bound) if negative else C.less_than(bound)
    raise ValueError(
        f"AffineTransform: cannot work out the image of domain {domain!r}; use a real, "
        "interval, greater_than or less_than domain (optionally wrapped in independent)."
    )


class AffineTransform(Transform):
    """``y = loc + scale * x``, elementwise.

    Args:
        loc, scale: arrays broadcastable with the input.
        domain: the constraint of inputs (default ``real``); an ``independent`` domain
            makes the log-det sum over its event dims.
    """

    loc: Array
    scale: Array
    _domain: C.Constraint

    def __init__(self, loc: ArrayLike, scale: ArrayLike, domain: C.Constraint = C.real):
        self.loc = as_float(loc)
        self.scale = as_float(scale)
        self._domain = domain

    @property
    def domain(self) -> C.Constraint:
        return self._domain

    @property
    def codomain(self) -> C.Constraint:
        return _affine_codomain(self._domain, self.loc, self.scale)

    @property
    def sign(self) -> Array:
        return jnp.sign(self.scale)

    def __call__(self, x: ArrayLike) -> Array:
        x, loc, scale = promote_value(x, self.loc, self.scale)
        return loc + scale * x

    def _inverse(self, y: ArrayLike) -> Array:
        y, loc, scale = promote_value(y, self.loc, self.scale)
        return (y - loc) / scale

    def log_abs_det_jacobian(self, x: ArrayLike, y: ArrayLike, intermediates: Any = None) -> Array:
        x = as_float(x)
        shape = jnp.broadcast_shapes(x.shape, self.loc.shape, self.scale.shape)
        ld = jnp.broadcast_to(jnp.log(jnp.abs(self.scale)), shape).astype(x.dtype)
        return sum_rightmost(ld, self._domain.event_dim)

    def forward_shape(self, shape: Shape) -> Shape:
        return tuple(jnp.broadcast_shapes(tuple(shape), self.loc.shape, self.scale.shape))

    def inverse_shape(self, shape: Shape) -> Shape:
        return tuple(jnp.broadcast_shapes(tuple(shape), self.loc.shape, self.scale.shape))


class SigmoidTransform(_Increasing):
    """``y = 1 / (1 + exp(-x))``: reals onto the unit interval.

    The output is clipped to ``[tiny, 1 - eps]`` so it stays strictly inside ``(0, 1)``
    in float32 too.
    """

    domain: ClassVar[C.Constraint] = C.real
    codomain: ClassVar[C.Constraint] = C.unit_interval

    def __call__(self, x: ArrayLike) -> Array:
        x = as_float(x)
        return jnp.clip(jax.nn.sigmoid(x), _tiny(x), 1.0 - _eps(x))

    def _inverse(self, y: ArrayLike) -> Array:
        y = as_float(y)
        y = jnp.clip(y, _tiny(y), 1.0 - _eps(y))
        return jnp.log(y) - jnp.log1p(-y)

    def log_abs_det_jacobian(self, x: ArrayLike, y: ArrayLike, intermediates: Any = None) -> Array:
        # log(sigmoid(x) sigmoid(-x)) = -softplus(-x) - softplus(x) = x - 2 softplus(x):
        # one exp/log chain instead of two.
        x = as_float(x)
        return x - 2.0 * softplus(x)


def _log_one_minus_tanh_sq(x: Array) -> Array:
    """``log(1 - tanh(x)^2)``, stable for large ``|x|``."""
    return 2.0 * (math.log(2.0) - x - softplus(-2.0 * x))


class TanhTransform(_Increasing):
    """``y = tanh(x)``: reals onto ``(-1, 1)`` (clipped to ``±(1 - eps)``)."""

    domain: ClassVar[C.Constraint] = C.real
    codomain: ClassVar[C.Constraint] = C.open_interval(-1.0, 1.0)

    def __call__(self, x: ArrayLike) -> Array:
        x = as_float(x)
        bound = 1.0 - _eps(x)
        return jnp.clip(jnp.tanh(x), -bound, bound)

    def _inverse(self, y: ArrayLike) -> Array:
        y = as_float(y)
        bound = 1.0 - _eps(y)
        return jnp.arctanh(jnp.clip(y, -bound, bound))

    def log_abs_det_jacobian(self, x: ArrayLike, y: ArrayLike, intermediates: Any = None) -> Array:
        return _log_one_minus_tanh_sq(as_float(x))


def _softplus_inverse(y: Array) -> Array:
    # log(exp(y) - 1) = y + log(1 - exp(-y)), which does not overflow for large y.
    return y + jnp.log(-jnp.expm1(-y))


class SoftplusTransform(_Increasing):
    """``y = log(1 + exp(x))``: reals onto the positive reals."""

    domain: ClassVar[C.Constraint] = C.real
    codomain: ClassVar[C.Constraint] = C.positive

    def __call__(self, x: ArrayLike) -> Array:
        return softplus(as_float(x))

    def _inverse(self, y: ArrayLike) -> Array:
        return _softplus_inverse(as_float(y))

    def log_abs_det_jacobian(self, x: ArrayLike, y: ArrayLike, intermediates: Any = None) -> Array:
        return -softplus(-as_float(x))


class PowerTransform(Transform):
    """``y = x ** exponent`` on the positive reals."""

    exponent: Array

    def __init__(self, exponent: ArrayLike):
        self.exponent = as_float(exponent)

    domain: ClassVar[C.Constraint] = C.positive
    codomain: ClassVar[C.Constraint] = C.positive

    @property
    def sign(self) -> Array:
        return jnp.sign(self.exponent)

    def __call__(self, x: ArrayLike) -> Array:
        return jnp.power(*promote_value(x, self.exponent))

    def _inverse(self, y: ArrayLike) -> Array:
        y, exponent = promote_value(y, self.exponent)
        return jnp.power(y, 1.0 / exponent)

    def log_abs_det_jacobian(self, x: ArrayLike, y: ArrayLike, intermediates: Any = None) -> Array:
        x = as_float(x)
        shape = jnp.broadcast_shapes(x.shape, self.exponent.shape)
        x, exponent = promote_value(x, self.exponent)
        ld = jnp.log(jnp.abs(exponent)) + (exponent - 1.0) * jnp.log(x)
        return jnp.broadcast_to(ld, shape)

    def forward_shape(self, shape: Shape) -> Shape:
        return tuple(jnp.broadcast_shapes(tuple(shape), self.exponent.shape))

    def inverse_shape(self, shape: Shape) -> Shape:
        return tuple(jnp.broadcast_shapes(tuple(shape), self.exponent.shape))
