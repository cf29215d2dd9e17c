"""Vector bijective transforms: stick-breaking onto the simplex, ordering, permutation."""

from __future__ import annotations

from typing import Any, ClassVar

import jax.numpy as jnp
import numpy as np

from . import _constraints as C
from ._transforms import Transform, _check_event_rank, _exclusive_cumsum, _tiny
from ._typing import Array, ArrayLike, Shape
from ._util import as_float, is_concrete, promote_shapes, softplus


class StickBreakingTransform(Transform):
    """Stick-breaking map from ``R^(K-1)`` onto the simplex in ``R^K``.

    ``z_i = sigmoid(x_i - log(K-1-i))`` is the fraction of the remaining stick taken by
    coordinate ``i``; the offset makes ``x = 0`` the uniform point. The log-det is taken in
    the ``K-1`` free coordinates of the output.
    """

    domain: ClassVar[C.Constraint] = C.real_vector
    codomain: ClassVar[C.Constraint] = C.simplex

    def _offset(self, k1: int, dtype) -> Array:
        return jnp.log(jnp.arange(k1, 0, -1, dtype=dtype))

    def _log_fractions(self, x: Array) -> tuple[Array, Array]:
        """``(log z, log(1 - z))`` from one softplus: ``log z = t - softplus(t)``.

        One exp/log per coordinate rather than two keeps the transform and its gradient to
        few kernels, which matters inside a sampler's leapfrog loop.
        """
        x, offset = promote_shapes(x, self._offset(x.shape[-1], x.dtype))
        t = x - offset
        log_1mz = -softplus(t)
        return t + log_1mz, log_1mz

    def __call__(self, x: ArrayLike) -> Array:
        x = as_float(x)
        _check_event_rank("StickBreakingTransform", x, 1)
        log_z, log_1mz = self._log_fractions(x)
        # Work in log space: the remaining stick can be far below float precision of 1.
        log_rest = _exclusive_cumsum(log_1mz)
        log_y = jnp.concatenate([log_z + log_rest, jnp.sum(log_1mz, -1, keepdims=True)], -1)
        return jnp.exp(log_y)

    def _inverse(self, y: ArrayLike) -> Array:
        y = as_float(y)
        _check_event_rank("StickBreakingTransform.inv", y, 1)
        # Remaining stick after coordinate i, summed from the tail so it stays accurate
        # when it is small.
        tail = jnp.flip(jnp.cumsum(jnp.flip(y, -1), -1), -1)[..., 1:]
        tiny = _tiny(y)
        head = jnp.maximum(y[..., :-1], tiny)
        tail = jnp.maximum(tail, tiny)
        log_ratio, offset = promote_shapes(
            jnp.log(head) - jnp.log(tail), self._offset(y.shape[-1] - 1, y.dtype)
        )
        return log_ratio + offset

    def log_abs_det_jacobian(self, x: ArrayLike, y: ArrayLike, intermediates: Any = None) -> Array:
        log_z, log_1mz = self._log_fractions(as_float(x))
        return jnp.sum(log_z + log_1mz + _exclusive_cumsum(log_1mz), -1)

    def forward_shape(self, shape: Shape) -> Shape:
        if len(shape) < 1:
            raise ValueError("StickBreakingTransform: expected a shape with an event dim.")
        return tuple(shape[:-1]) + (shape[-1] + 1,)

    def inverse_shape(self, shape: Shape) -> Shape:
        if len(shape) < 1 or shape[-1] < 1:
            raise ValueError("StickBreakingTransform: expected a shape with an event dim.")
        return tuple(shape[:-1]) + (shape[-1] - 1,)


class OrderedTransform(Transform):
    """Reals onto increasing vectors: ``y_0 = x_0``, ``y_i = y_(i-1) + exp(x_i)``."""

    domain: ClassVar[C.Constraint] = C.real_vector
    codomain: ClassVar[C.Constraint] = C.ordered_vector

    def __call__(self, x: ArrayLike) -> Array:
        x = as_float(x)
        _check_event_rank("OrderedTransform", x, 1)
        steps = jnp.concatenate([x[..., :1], jnp.exp(x[..., 1:])], -1)
        return jnp.cumsum(steps, -1)

    def _inverse(self, y: ArrayLike) -> Array:
        y = as_float(y)
        _check_event_rank("OrderedTransform.inv", y, 1)
        return jnp.concatenate([y[..., :1], jnp.log(jnp.diff(y, axis=-1))], -1)

    def log_abs_det_jacobian(self, x: ArrayLike, y: ArrayLike, intermediates: Any = None) -> Array:
        return jnp.sum(as_float(x)[..., 1:], -1)


class PermuteTransform(Transform):
    """Permute the last dimension: ``y = x[..., permutation]``."""

    permutation: Array

    def __init__(self, permutation: ArrayLike):
        perm = jnp.asarray(permutation)
        if perm.ndim != 1 or not jnp.issubdtype(perm.dtype, jnp.integer):
            raise ValueError(
                f"PermuteTransform: expected a 1-d integer permutation, got dtype "
                f"{perm.dtype} and shape {perm.shape}."
            )
        if is_concrete(perm) and not np.array_equal(
            np.sort(np.asarray(perm)), np.arange(perm.size)
        ):
            raise ValueError(
                f"PermuteTransform: {np.asarray(perm).tolist()} is not a permutation of "
                f"0..{perm.size - 1}."
            )
        self.permutation = perm

    domain: ClassVar[C.Constraint] = C.real_vector
    codomain: ClassVar[C.Constraint] = C.real_vector

    def __call__(self, x: ArrayLike) -> Array:
        return jnp.take(jnp.asarray(x), self.permutation, axis=-1)

    def _inverse(self, y: ArrayLike) -> Array:
        return jnp.take(jnp.asarray(y), jnp.argsort(self.permutation), axis=-1)

    def log_abs_det_jacobian(self, x: ArrayLike, y: ArrayLike, intermediates: Any = None) -> Array:
        x = as_float(x)
        return jnp.zeros(x.shape[:-1], x.dtype)
