"""Matrix-valued bijective transforms: Cholesky factors, correlation and covariance matrices.

Vectors of free coordinates use NumPyro's layout so that unconstrained values port
unchanged: for ``LowerCholeskyTransform`` the strictly-lower entries (row-major, as in
``numpy.tril_indices(n, -1)``) come first and the ``n`` log-diagonal entries last. Log-dets
of maps between matrices are taken in the free coordinates: the lower triangle of a
symmetric matrix, and the strictly-lower triangle of a correlation matrix or its factor.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from . import _constraints as C
from ._elementwise_transforms import _log_one_minus_tanh_sq
from ._linalg import _tril_n, add_diag, matrix_to_tril_vec, vec_to_tril_matrix
from ._transforms import Transform, _check_event_rank, _eps
from ._typing import Array, ArrayLike, Shape
from ._util import as_float, promote_shapes, promote_value, softplus


def _diag(x: Array) -> Array:
    return jnp.diagonal(x, axis1=-2, axis2=-1)


def _gram(L: Array) -> Array:
    """``L @ L^T``, symmetrised so rounding cannot break symmetry."""
    m = L @ jnp.swapaxes(L, -1, -2)
    return 0.5 * (m + jnp.swapaxes(m, -1, -2))


def _check_square(who: str, y: Array) -> int:
    if y.ndim < 2 or y.shape[-1] != y.shape[-2]:
        raise ValueError(f"{who}: expected (..., n, n) square matrices, got shape {y.shape}.")
    return y.shape[-1]


def _vec_shape_to_matrix(shape: Shape, diagonal: int, who: str) -> Shape:
    if len(shape) < 1:
        raise ValueError(f"{who}: expected a shape with an event dim, got {shape}.")
    n = _tril_n(shape[-1], diagonal, who)
    return tuple(shape[:-1]) + (n, n)


def _matrix_shape_to_vec(shape: Shape, diagonal: int, who: str) -> Shape:
    if len(shape) < 2 or shape[-1] != shape[-2]:
        raise ValueError(f"{who}: expected a (..., n, n) shape, got {shape}.")
    k = shape[-1] + diagonal
    return tuple(shape[:-2]) + (k * (k + 1) // 2,)


class LowerCholeskyTransform(Transform):
    """``R^(n(n+1)/2)`` onto lower-triangular matrices with a positive diagonal.

    The first ``n(n-1)/2`` inputs fill the strictly-lower triangle; the last ``n`` are the
    logs of the diagonal.
    """

    domain: ClassVar[C.Constraint] = C.real_vector
    codomain: ClassVar[C.Constraint] = C.lower_cholesky

    def __call__(self, x: ArrayLike) -> Array:
        x = as_float(x)
        _check_event_rank("LowerCholeskyTransform", x, 1)
        n = _tril_n(x.shape[-1], 0, "LowerCholeskyTransform")
        m = x.shape[-1] - n
        strict = vec_to_tril_matrix(x[..., :m], -1)
        diag = jnp.maximum(jnp.exp(x[..., m:]), float(jnp.finfo(x.dtype).tiny))
        # Scatter rather than multiply by eye(n), so an overflowing exp gives inf, not NaN.
        i = np.arange(n)
        return strict.at[..., i, i].set(diag)

    def _inverse(self, y: ArrayLike) -> Array:
        y = as_float(y)
        _check_square("LowerCholeskyTransform.inv", y)
        return jnp.concatenate([matrix_to_tril_vec(y, -1), jnp.log(_diag(y))], -1)

    def log_abs_det_jacobian(self, x: ArrayLike, y: ArrayLike, intermediates: Any = None) -> Array:
        x = as_float(x)
        n = _tril_n(x.shape[-1], 0, "LowerCholeskyTransform")
        return jnp.sum(x[..., x.shape[-1] - n :], -1)

    def forward_shape(self, shape: Shape) -> Shape:
        return _vec_shape_to_matrix(shape, 0, "LowerCholeskyTransform")

    def inverse_shape(self, shape: Shape) -> Shape:
        return _matrix_shape_to_vec(shape, 0, "LowerCholeskyTransform")


class ScaledUnitLowerCholeskyTransform(Transform):
    """``R^(n(n+1)/2)`` onto lower Cholesky factors as ``diag(s) @ U``.

    ``U`` is unit lower-triangular with the first ``n(n-1)/2`` inputs below its diagonal,
    and ``s = softplus`` of the last ``n`` inputs scales its rows.
    """

    domain: ClassVar[C.Constraint] = C.real_vector
    codomain: ClassVar[C.Constraint] = C.lower_cholesky

    def __call__(self, x: ArrayLike) -> Array:
        x = as_float(x)
        _check_event_rank("ScaledUnitLowerCholeskyTransform", x, 1)
        n = _tril_n(x.shape[-1], 0, "ScaledUnitLowerCholeskyTransform")
        m = x.shape[-1] - n
        s = softplus(x[..., m:])
        i = np.arange(n)
        return (vec_to_tril_matrix(x[..., :m], -1) * s[..., None]).at[..., i, i].set(s)

    def _inverse(self, y: ArrayLike) -> Array:
        y = as_float(y)
        _check_square("ScaledUnitLowerCholeskyTransform.inv", y)
        s = _diag(y)
        unit = y / s[..., None]
        s_free = s + jnp.log(-jnp.expm1(-s))  # inverse softplus
        return jnp.concatenate([matrix_to_tril_vec(unit, -1), s_free], -1)

    def log_abs_det_jacobian(self, x: ArrayLike, y: ArrayLike, intermediates: Any = None) -> Array:
        x = as_float(x)
        n = _tril_n(x.shape[-1], 0, "ScaledUnitLowerCholeskyTransform")
        x_diag = x[..., x.shape[-1] - n :]
        # Row i has i strictly-lower entries, each scaled by s_i; d s_i / d x_i = sigmoid.
        order, log_s = promote_shapes(jnp.arange(n, dtype=x.dtype), jnp.log(softplus(x_diag)))
        return jnp.sum(order * log_s - softplus(-x_diag), -1)

    def forward_shape(self, shape: Shape) -> Shape:
        return _vec_shape_to_matrix(shape, 0, "ScaledUnitLowerCholeskyTransform")

    def inverse_shape(self, shape: Shape) -> Shape:
        return _matrix_shape_to_vec(shape, 0, "ScaledUnitLowerCholeskyTransform")


class CorrCholeskyTransform(Transform):
    """``R^(n(n-1)/2)`` onto Cholesky factors of correlation matrices.

    Each input goes through ``tanh`` to a partial correlation ``z_ij`` (filled row-major
    below the diagonal). Row ``i`` of the factor is built by stick-breaking on the unit
    sphere: ``L_ij = z_ij * sqrt(1 - sum_(k<j) L_ik^2)`` and ``L_ii`` takes the rest.
    """

    domain: ClassVar[C.Constraint] = C.real_vector
    codomain: ClassVar[C.Constraint] = C.corr_cholesky

    @staticmethod
    def _parts(x: Array) -> tuple[Array, Array, Array]:
        eps = _eps(x)
        z = jnp.clip(jnp.tanh(x), -(1.0 - eps), 1.0 - eps)
        log_dz = _log_one_minus_tanh_sq(x)
        # log(1 - z^2) of the clipped z, computed without cancellation for moderate x,
        # and floored at the clipped value so that rows keep unit norm.
        log_1mz2 = jnp.maximum(log_dz, math.log1p(-((1.0 - eps) ** 2)))
        return z, log_dz, log_1mz2

    def __call__(self, x: ArrayLike) -> Array:
        x = as_float(x)
        _check_event_rank("CorrCholeskyTransform", x, 1)
        _tril_n(x.shape[-1], -1, "CorrCholeskyTransform")  # checks the length
        z, _, log_1mz2 = self._parts(x)
        z_mat = add_diag(vec_to_tril_matrix(z, -1), 1.0)
        log_rest = vec_to_tril_matrix(log_1mz2, -1)
        # Squared length left in row i before column j; log space avoids underflow.
        log_left = jnp.cumsum(log_rest, -1) - log_rest
        return z_mat * jnp.exp(0.5 * log_left)

    def _inverse(self, y: ArrayLike) -> Array:
        y = as_float(y)
        n = _check_square("CorrCholeskyTransform.inv", y)
        y = jnp.tril(y)
        # b_ij^2 = sum_(k>j) L_ik^2 is the squared length left after column j, summed from
        # the diagonal so that small remainders keep full precision. The partial
        # correlation is z = a / sqrt(a^2 + b^2), so x = atanh(z) = asinh(a / b).
        sq_tail = jnp.flip(jnp.cumsum(jnp.flip(y * y, -1), -1), -1)
        rows, cols = np.tril_indices(n, -1)
        return jnp.arcsinh(y[..., rows, cols] / jnp.sqrt(sq_tail[..., rows, cols + 1]))

    def log_abs_det_jacobian(self, x: ArrayLike, y: ArrayLike, intermediates: Any = None) -> Array:
        x = as_float(x)
        n = _tril_n(x.shape[-1], -1, "CorrCholeskyTransform")
        _, log_dz, log_1mz2 = self._parts(x)
        # d L_ij / d x_ij = sqrt(prod_(k<j) (1 - z_ik^2)) * (1 - z_ij^2), triangular in
        # row-major order. log(1 - z_ik^2) enters for each j in (k, i): i - k - 1 times.
        rows, cols = np.tril_indices(n, -1)
        weight, log_1mz2 = promote_shapes(jnp.asarray(rows - cols - 1, dtype=x.dtype), log_1mz2)
        return jnp.sum(log_dz + 0.5 * weight * log_1mz2, -1)

    def forward_shape(self, shape: Shape) -> Shape:
        return _vec_shape_to_matrix(shape, -1, "CorrCholeskyTransform")

    def inverse_shape(self, shape: Shape) -> Shape:
        return _matrix_shape_to_vec(shape, -1, "CorrCholeskyTransform")


class _CholeskyFactor(Transform):
    """A matrix to its lower Cholesky factor and back; subclasses give the log-det."""

    def __call__(self, x: ArrayLike) -> Array:
        x = as_float(x)
        _check_square(type(self).__name__, x)
        return jnp.linalg.cholesky(x)

    def _inverse(self, y: ArrayLike) -> Array:
        y = as_float(y)
        _check_square(f"{type(self).__name__}.inv", y)
        return _gram(y)


class CholeskyTransform(_CholeskyFactor):
    """Positive-definite matrices to their lower Cholesky factors: ``C -> L``, ``C = L L^T``.

    The log-det is taken in the lower triangles of ``C`` and ``L``.
    """

    domain: ClassVar[C.Constraint] = C.positive_definite
    codomain: ClassVar[C.Constraint] = C.lower_cholesky

    def log_abs_det_jacobian(self, x: ArrayLike, y: ArrayLike, intermediates: Any = None) -> Array:
        y = as_float(y)
        n = _check_square("CholeskyTransform", y)
        # d C / d L is triangular with diagonal 2 L_jj (i = j) and L_jj (i > j).
        order, log_diag = promote_shapes(jnp.arange(n, 0, -1, dtype=y.dtype), jnp.log(_diag(y)))
        return -(n * math.log(2.0) + jnp.sum(order * log_diag, -1))


class CorrMatrixCholeskyTransform(_CholeskyFactor):
    """Correlation matrices to their Cholesky factors.

    The log-det is taken in the strictly-lower triangles of the matrix and the factor.
    """

    domain: ClassVar[C.Constraint] = C.corr_matrix
    codomain: ClassVar[C.Constraint] = C.corr_cholesky

    def log_abs_det_jacobian(self, x: ArrayLike, y: ArrayLike, intermediates: Any = None) -> Array:
        y = as_float(y)
        n = _check_square("CorrMatrixCholeskyTransform", y)
        # d C_ij / d L_ij = L_jj for i > j; the diagonal of L is not free.
        order, log_diag = promote_shapes(
            jnp.arange(n - 1, -1, -1, dtype=y.dtype), jnp.log(_diag(y))
        )
        return -jnp.sum(order * log_diag, -1)


class PositiveDefiniteTransform(Transform):
    """``R^(n(n+1)/2)`` onto positive-definite matrices: ``L L^T`` with ``L`` from
    ``LowerCholeskyTransform``. The log-det is taken in the lower triangle of the output.
    """

    domain: ClassVar[C.Constraint] = C.real_vector
    codomain: ClassVar[C.Constraint] = C.positive_definite

    def __call__(self, x: ArrayLike) -> Array:
        return _gram(LowerCholeskyTransform()(x))

    def _inverse(self, y: ArrayLike) -> Array:
        y = as_float(y)
        _check_square("PositiveDefiniteTransform.inv", y)
        return LowerCholeskyTransform()._inverse(jnp.linalg.cholesky(y))

    def log_abs_det_jacobian(self, x: ArrayLike, y: ArrayLike, intermediates: Any = None) -> Array:
        x = as_float(x)
        lower = LowerCholeskyTransform()
        L = lower(x)
        n = L.shape[-1]
        order, log_diag = promote_shapes(jnp.arange(n, 0, -1, dtype=x.dtype), jnp.log(_diag(L)))
        gram_ld = n * math.log(2.0) + jnp.sum(order * log_diag, -1)
        return lower.log_abs_det_jacobian(x, L) + gram_ld

    def forward_shape(self, shape: Shape) -> Shape:
        return _vec_shape_to_matrix(shape, 0, "PositiveDefiniteTransform")

    def inverse_shape(self, shape: Shape) -> Shape:
        return _matrix_shape_to_vec(shape, 0, "PositiveDefiniteTransform")


class LowerCholeskyAffine(Transform):
    """``y = loc + scale_tril @ x`` on vectors, with ``scale_tril`` lower-triangular.

    Args:
        loc: shape ``(..., n)``.
        scale_tril: shape ``(..., n, n)``, lower-triangular with a positive diagonal.
    """

    loc: Array
    scale_tril: Array

    def __init__(self, loc: ArrayLike, scale_tril: ArrayLike):
        loc, scale_tril = as_float(loc), as_float(scale_tril)
        if scale_tril.ndim < 2 or scale_tril.shape[-1] != scale_tril.shape[-2]:
            raise ValueError(
                f"LowerCholeskyAffine: scale_tril must have shape (..., n, n), got "
                f"{scale_tril.shape}."
            )
        if loc.ndim < 1 or loc.shape[-1] != scale_tril.shape[-1]:
            raise ValueError(
                f"LowerCholeskyAffine: loc must have shape (..., {scale_tril.shape[-1]}) to "
                f"match scale_tril, got {loc.shape}."
            )
        self.loc = loc
        self.scale_tril = scale_tril

    domain: ClassVar[C.Constraint] = C.real_vector
    codomain: ClassVar[C.Constraint] = C.real_vector

    def __call__(self, x: ArrayLike) -> Array:
        x = as_float(x)
        mv, loc = promote_value(jnp.squeeze(self.scale_tril @ x[..., None], -1), self.loc)
        return loc + mv

    def _inverse(self, y: ArrayLike) -> Array:
        y, loc = promote_value(y, self.loc)
        r = y - loc
        batch = jnp.broadcast_shapes(r.shape[:-1], self.scale_tril.shape[:-2])
        n = self.scale_tril.shape[-1]
        a = jnp.broadcast_to(self.scale_tril, batch + (n, n))
        b = jnp.broadcast_to(r, batch + (n,))[..., None]
        return jnp.squeeze(jax.scipy.linalg.solve_triangular(a, b, lower=True), -1)

    def log_abs_det_jacobian(self, x: ArrayLike, y: ArrayLike, intermediates: Any = None) -> Array:
        x = as_float(x)
        ld = jnp.sum(jnp.log(jnp.abs(_diag(self.scale_tril))), -1)
        batch = jnp.broadcast_shapes(x.shape[:-1], self.loc.shape[:-1], ld.shape)
        return jnp.broadcast_to(ld, batch)

    def forward_shape(self, shape: Shape) -> Shape:
        return tuple(jnp.broadcast_shapes(tuple(shape), self.loc.shape, self.scale_tril.shape[:-1]))

    def inverse_shape(self, shape: Shape) -> Shape:
        return self.forward_shape(shape)
