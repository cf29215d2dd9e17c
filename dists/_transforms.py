"""Bijective transforms: the abstract base, the inverse and the structural combinators.

A transform is an immutable ``eqx.Module``: parameters (``loc``, ``scale``, ...) are array
leaves and configuration (dims, shapes) is static, so transforms pass through ``jax.jit``
and ``jax.vmap`` like any pytree. The concrete maps live beside this module:
``_elementwise_transforms.py``, ``_vector_transforms.py`` and ``_matrix_transforms.py``;
``biject_to`` (in ``_biject_to.py``) picks a transform for a constraint.
"""

from __future__ import annotations

import abc
import math
from typing import Any

import equinox as eqx
import jax.numpy as jnp

from . import _constraints as C
from ._typing import Array, ArrayLike, Shape
from ._util import as_float, promote_value, sum_rightmost


def _eps(x: Array) -> float:
    return float(jnp.finfo(x.dtype).eps)


def _tiny(x: Array) -> float:
    return float(jnp.finfo(x.dtype).tiny)


def _exclusive_cumsum(x: Array, axis: int = -1) -> Array:
    return jnp.cumsum(x, axis=axis) - x


def _check_event_rank(who: str, x: Array, rank: int) -> None:
    if x.ndim < rank:
        raise ValueError(
            f"{who}: expected an input with at least {rank} dimension(s), got shape "
            f"{x.shape}; add the event dimension."
        )


class Transform(eqx.Module):
    """Abstract base of all bijective transforms.

    Subclasses implement ``__call__`` (forward), ``_inverse``, ``log_abs_det_jacobian``,
    ``domain`` and ``codomain``; transforms that change the shape also override
    ``forward_shape`` and ``inverse_shape``. ``t.inv`` is the inverse transform.

    Example:
        >>> import jax.numpy as jnp, dists as D
        >>> t = D.ExpTransform()
        >>> round(float(t.inv(t(jnp.asarray(0.5)))), 6)
        0.5
    """

    @property
    @abc.abstractmethod
    def domain(self) -> C.Constraint:
        """The constraint that inputs satisfy."""

    @property
    @abc.abstractmethod
    def codomain(self) -> C.Constraint:
        """The constraint that outputs satisfy."""

    @abc.abstractmethod
    def __call__(self, x: ArrayLike) -> Array:
        """Apply the forward map."""

    @abc.abstractmethod
    def _inverse(self, y: ArrayLike) -> Array: ...

    @abc.abstractmethod
    def log_abs_det_jacobian(self, x: ArrayLike, y: ArrayLike, intermediates: Any = None) -> Array:
        """``log |det J|`` of the forward map at ``x`` (with ``y = self(x)``).

        The result has the batch shape: ``x.shape`` minus ``domain.event_dim`` dims.
        """

    @property
    def inv(self) -> Transform:
        """The inverse transform; ``t.inv.inv`` is ``t``."""
        if isinstance(self, InverseTransform):
            return self.base
        return InverseTransform(self)

    @property
    def sign(self) -> Array:
        """Sign of the derivative, for monotone scalar transforms."""
        raise NotImplementedError(f"{type(self).__name__} has no well-defined sign.")

    def forward_shape(self, shape: Shape) -> Shape:
        """The output shape for an input of shape ``shape``."""
        return tuple(shape)

    def inverse_shape(self, shape: Shape) -> Shape:
        """The input shape for an output of shape ``shape``."""
        return tuple(shape)

    def call_with_intermediates(self, x: ArrayLike) -> tuple[Array, Any]:
        """``(self(x), None)``; kept for NumPyro compatibility."""
        return self(x), None


class InverseTransform(Transform):
    """The inverse of ``base``: forward is ``base``'s inverse and vice versa."""

    base: Transform

    @property
    def domain(self) -> C.Constraint:
        return self.base.codomain

    @property
    def codomain(self) -> C.Constraint:
        return self.base.domain

    @property
    def sign(self) -> Array:
        return self.base.sign

    def __call__(self, x: ArrayLike) -> Array:
        return self.base._inverse(x)

    def _inverse(self, y: ArrayLike) -> Array:
        return self.base(y)

    def log_abs_det_jacobian(self, x: ArrayLike, y: ArrayLike, intermediates: Any = None) -> Array:
        return -self.base.log_abs_det_jacobian(y, x)

    def forward_shape(self, shape: Shape) -> Shape:
        return self.base.inverse_shape(shape)

    def inverse_shape(self, shape: Shape) -> Shape:
        return self.base.forward_shape(shape)


# --------------------------------------------------------------------------------------
# Structural combinators
# --------------------------------------------------------------------------------------


class ReshapeTransform(Transform):
    """Reshape the rightmost dims from ``inverse_shape`` to ``forward_shape``."""

    _forward_shape: Shape = eqx.field(static=True)
    _inverse_shape: Shape = eqx.field(static=True)

    def __init__(self, forward_shape: Shape, inverse_shape: Shape):
        forward_shape = tuple(int(s) for s in forward_shape)
        inverse_shape = tuple(int(s) for s in inverse_shape)
        if math.prod(forward_shape) != math.prod(inverse_shape):
            raise ValueError(
                f"ReshapeTransform: forward_shape {forward_shape} and inverse_shape "
                f"{inverse_shape} hold different numbers of elements."
            )
        self._forward_shape = forward_shape
        self._inverse_shape = inverse_shape

    @property
    def domain(self) -> C.Constraint:
        return C.independent(C.real, len(self._inverse_shape))

    @property
    def codomain(self) -> C.Constraint:
        return C.independent(C.real, len(self._forward_shape))

    def _split(self, shape: Shape, event: Shape, who: str) -> Shape:
        shape = tuple(shape)
        n = len(event)
        if shape[len(shape) - n :] != event or len(shape) < n:
            raise ValueError(
                f"ReshapeTransform.{who}: expected a shape ending in {event}, got {shape}."
            )
        return shape[: len(shape) - n]

    def __call__(self, x: ArrayLike) -> Array:
        x = jnp.asarray(x)
        batch = self._split(x.shape, self._inverse_shape, "__call__")
        return jnp.reshape(x, batch + self._forward_shape)

    def _inverse(self, y: ArrayLike) -> Array:
        y = jnp.asarray(y)
        batch = self._split(y.shape, self._forward_shape, "inv")
        return jnp.reshape(y, batch + self._inverse_shape)

    def log_abs_det_jacobian(self, x: ArrayLike, y: ArrayLike, intermediates: Any = None) -> Array:
        x = as_float(x)
        batch = self._split(x.shape, self._inverse_shape, "log_abs_det_jacobian")
        return jnp.zeros(batch, x.dtype)

    def forward_shape(self, shape: Shape) -> Shape:
        return self._split(shape, self._inverse_shape, "forward_shape") + self._forward_shape

    def inverse_shape(self, shape: Shape) -> Shape:
        return self._split(shape, self._forward_shape, "inverse_shape") + self._inverse_shape


class IndependentTransform(Transform):
    """``base`` with ``reinterpreted_batch_ndims`` batch dims treated as event dims.

    The forward map is unchanged; the log-det is summed over the reinterpreted dims.
    """

    base_transform: Transform
    reinterpreted_batch_ndims: int = eqx.field(static=True)

    def __init__(self, base_transform: Transform, reinterpreted_batch_ndims: int):
        n = int(reinterpreted_batch_ndims)
        if n < 0:
            raise ValueError(
                f"IndependentTransform: reinterpreted_batch_ndims must be >= 0, got {n}."
            )
        self.base_transform = base_transform
        self.reinterpreted_batch_ndims = n

    @property
    def domain(self) -> C.Constraint:
        return C.independent(self.base_transform.domain, self.reinterpreted_batch_ndims)

    @property
    def codomain(self) -> C.Constraint:
        return C.independent(self.base_transform.codomain, self.reinterpreted_batch_ndims)

    @property
    def sign(self) -> Array:
        return self.base_transform.sign

    def __call__(self, x: ArrayLike) -> Array:
        return self.base_transform(x)

    def _inverse(self, y: ArrayLike) -> Array:
        return self.base_transform._inverse(y)

    def log_abs_det_jacobian(self, x: ArrayLike, y: ArrayLike, intermediates: Any = None) -> Array:
        ld = self.base_transform.log_abs_det_jacobian(x, y, intermediates)
        return sum_rightmost(ld, self.reinterpreted_batch_ndims)

    def forward_shape(self, shape: Shape) -> Shape:
        return self.base_transform.forward_shape(shape)

    def inverse_shape(self, shape: Shape) -> Shape:
        return self.base_transform.inverse_shape(shape)


def _input_event_dim(parts: tuple[Transform, ...]) -> int:
    # Walk backwards: each part needs its own domain event dims, plus whatever event dims
    # of its output the later parts consume beyond its codomain's.
    event_dim = parts[-1].codomain.event_dim
    for part in reversed(parts):
        event_dim = part.domain.event_dim + max(event_dim - part.codomain.event_dim, 0)
    return event_dim


def _output_event_dim(parts: tuple[Transform, ...]) -> int:
    event_dim = parts[0].domain.event_dim
    for part in parts:
        event_dim = part.codomain.event_dim + max(event_dim - part.domain.event_dim, 0)
    return event_dim


class ComposeTransform(Transform):
    """Apply ``parts`` in order: ``y = parts[-1](... parts[0](x))``.

    The log-det sums the parts' log-dets, each first summed over the event dims that the
    composition has beyond that part's own.

    Example:
        >>> import jax.numpy as jnp, dists as D
        >>> t = D.ComposeTransform([D.ExpTransform(), D.AffineTransform(1.0, 2.0)])
        >>> float(t(jnp.asarray(0.0)))
        3.0
    """

    parts: tuple[Transform, ...]

    def __init__(self, parts: list[Transform] | tuple[Transform, ...]):
        parts = tuple(parts)
        for p in parts:
            if not isinstance(p, Transform):
                raise TypeError(
                    f"ComposeTransform: every part must be a Transform, got {type(p).__name__}."
                )
        self.parts = parts

    @property
    def domain(self) -> C.Constraint:
        if not self.parts:
            return C.real
        extra = _input_event_dim(self.parts) - self.parts[0].domain.event_dim
        first = self.parts[0].domain
        return C.independent(first, extra) if extra > 0 else first

    @property
    def codomain(self) -> C.Constraint:
        if not self.parts:
            return C.real
        extra = _output_event_dim(self.parts) - self.parts[-1].codomain.event_dim
        last = self.parts[-1].codomain
        return C.independent(last, extra) if extra > 0 else last

    @property
    def sign(self) -> Array:
        s = jnp.asarray(1)
        for p in self.parts:
            s = s * p.sign
        return s

    def __call__(self, x: ArrayLike) -> Array:
        x = jnp.asarray(x)
        for p in self.parts:
            x = p(x)
        return x

    def _inverse(self, y: ArrayLike) -> Array:
        y = jnp.asarray(y)
        for p in reversed(self.parts):
            y = p._inverse(y)
        return y

    def log_abs_det_jacobian(self, x: ArrayLike, y: ArrayLike, intermediates: Any = None) -> Array:
        x = as_float(x)
        if not self.parts:
            return jnp.zeros_like(x)
        event_dim = _input_event_dim(self.parts)
        total = jnp.zeros((), x.dtype)
        for i, p in enumerate(self.parts):
            # Use the given ``y`` for the last part rather than recomputing it.
            x_next = jnp.asarray(y) if i == len(self.parts) - 1 else p(x)
            ld = p.log_abs_det_jacobian(x, x_next)
            total, ld = promote_value(total, sum_rightmost(ld, event_dim - p.domain.event_dim))
            total = total + ld
            event_dim += p.codomain.event_dim - p.domain.event_dim
            x = x_next
        return total

    def forward_shape(self, shape: Shape) -> Shape:
        for p in self.parts:
            shape = p.forward_shape(shape)
        return tuple(shape)

    def inverse_shape(self, shape: Shape) -> Shape:
        for p in reversed(self.parts):
            shape = p.inverse_shape(shape)
        return tuple(shape)
