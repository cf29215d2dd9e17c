"""Triangular-matrix and Cholesky helpers (public through ``dists.util``).

Vectors of lower-triangular entries are in row-major order, as ``numpy.tril_indices``
lists them, which is NumPyro's layout.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.linalg import solve_triangular

from ._typing import Array, ArrayLike
from ._util import _cast, as_float, promote_shapes


def _tril_count(n: int, diagonal: int) -> int:
    """The number of entries of ``numpy.tril_indices(n, diagonal)``."""
    # Row i holds the columns 0 .. min(i + diagonal, n - 1).
    return sum(min(max(i + diagonal + 1, 0), n) for i in range(n))


def _tril_n(size: int, diagonal: int, who: str) -> int:
    """The ``n`` such that ``numpy.tril_indices(n, diagonal)`` has ``size`` entries."""
    if diagonal <= 0:
        # tril(n, d) for d <= 0 has k(k+1)/2 entries with k = n + d.
        k = (math.isqrt(8 * size + 1) - 1) // 2
        n = k - diagonal
        ok = k * (k + 1) // 2 == size
    else:
        n = 0
        while _tril_count(n, diagonal) < size:
            n += 1
        ok = _tril_count(n, diagonal) == size
    if not ok:
        count = {0: "n(n+1)/2", -1: "n(n-1)/2"}.get(diagonal, "len(numpy.tril_indices(n, d)[0])")
        raise ValueError(
            f"{who}: a vector of length {size} is not the lower triangle (diagonal="
            f"{diagonal}) of a square matrix; pass a vector of length {count} for some n."
        )
    return n


def vec_to_tril_matrix(t: ArrayLike, diagonal: int = 0) -> Array:
    """The lower-triangular matrix whose ``tril_indices(n, diagonal)`` entries are ``t``.

    Args:
        t: the entries, shape ``batch + (m,)``, row-major.
        diagonal: 0 includes the diagonal, -1 starts below it, 1 includes one
            superdiagonal (as ``numpy.tril``).

    Returns:
        Shape ``batch + (n, n)``; the other entries are zero.

    Example:
        >>> import jax.numpy as jnp
        >>> from dists.util import vec_to_tril_matrix
        >>> vec_to_tril_matrix(jnp.array([1.0, 2.0, 3.0])).tolist()
        [[1.0, 0.0], [2.0, 3.0]]
    """
    t = jnp.asarray(t)
    n = _tril_n(t.shape[-1], diagonal, "vec_to_tril_matrix")
    rows, cols = np.tril_indices(n, diagonal)
    out = jnp.zeros(t.shape[:-1] + (n, n), t.dtype)
    return out.at[..., rows, cols].set(t)


def matrix_to_tril_vec(x: ArrayLike, diagonal: int = 0) -> Array:
    """The ``tril_indices(n, diagonal)`` entries of ``x``, row-major: the inverse of
    ``vec_to_tril_matrix``.

    Args:
        x: shape ``batch + (n, n)``.
        diagonal: as in ``vec_to_tril_matrix``.

    Example:
        >>> import jax.numpy as jnp
        >>> from dists.util import matrix_to_tril_vec
        >>> matrix_to_tril_vec(jnp.array([[1.0, 9.0], [2.0, 3.0]])).tolist()
        [1.0, 2.0, 3.0]
    """
    x = jnp.asarray(x)
    rows, cols = np.tril_indices(x.shape[-1], diagonal)
    return x[..., rows, cols]


def add_diag(matrix: ArrayLike, diag: ArrayLike) -> Array:
    """``matrix`` with ``diag`` (a scalar or shape ``(..., n)``) added to its diagonal.

    Example:
        >>> import jax.numpy as jnp
        >>> from dists.util import add_diag
        >>> add_diag(jnp.zeros((2, 2)), jnp.array([1.0, 2.0])).tolist()
        [[1.0, 0.0], [0.0, 2.0]]
    """
    matrix = jnp.asarray(matrix)
    idx = np.arange(matrix.shape[-1])
    # In the matrix's dtype, as a scatter keeps it (strict promotion would refuse a mix).
    return matrix.at[..., idx, idx].add(_cast(diag, matrix.dtype))


def cholesky_of_inverse(matrix: ArrayLike) -> Array:
    """The lower Cholesky factor ``L`` of ``inv(matrix)`` (``L @ L.T == inv(matrix)``),
    for a positive-definite ``matrix`` of shape ``batch + (n, n)``.

    Only a triangular matrix is inverted. With ``J`` the reversal permutation and
    ``M = chol(J P J)``, ``J M^{-T} J`` is lower triangular with a positive diagonal and
    squares to ``P^{-1}``.

    Example:
        >>> import jax.numpy as jnp
        >>> from dists.util import cholesky_of_inverse
        >>> cholesky_of_inverse(jnp.array([[4.0, 0.0], [0.0, 0.25]])).tolist()
        [[0.5, 0.0], [0.0, 2.0]]
    """
    flip = as_float(matrix)[..., ::-1, ::-1]
    m = jnp.linalg.cholesky(flip)
    eye = jnp.broadcast_to(jnp.eye(m.shape[-1], dtype=m.dtype), m.shape)
    m_inv = solve_triangular(m, eye, lower=True)
    return jnp.swapaxes(m_inv, -1, -2)[..., ::-1, ::-1]


def cholesky_update(L: ArrayLike, x: ArrayLike, coef: ArrayLike = 1) -> Array:
    """The lower Cholesky factor of ``L @ L.T + coef * outer(x, x)``.

    A rank-one update (``coef > 0``) or downdate (``coef < 0``, which needs the result
    to stay positive definite), in ``O(n^2)`` rather than the ``O(n^3)`` of a new
    factorisation. The columns are swept in order; each sweep rotates the current column
    of ``L`` against ``x``.

    Args:
        L: lower-triangular with a positive diagonal, shape ``batch + (n, n)``.
        x: shape ``batch + (n,)``; the batch dims broadcast with those of ``L``.
        coef: a scalar weight.

    Example:
        >>> import jax.numpy as jnp
        >>> from dists.util import cholesky_update
        >>> L = cholesky_update(jnp.eye(2), jnp.array([1.0, 1.0]), 3.0)
        >>> [[round(float(v), 6) for v in row] for row in L @ L.T]
        [[4.0, 3.0], [3.0, 4.0]]
    """
    L, x = as_float(L), as_float(x)
    dtype = jnp.result_type(L, x)
    n = L.shape[-1]
    batch = jnp.broadcast_shapes(L.shape[:-2], x.shape[:-1])
    L = jnp.broadcast_to(L, batch + (n, n)).astype(dtype)
    coef = jnp.asarray(coef, dtype)
    # Work with L L^T + sign * v v^T, v = sqrt(|coef|) x.
    sign = jnp.sign(coef)
    v = jnp.broadcast_to(x, batch + (n,)).astype(dtype) * jnp.sqrt(jnp.abs(coef))
    rows = jnp.arange(n)

    def sweep(carry, k):
        L, v = carry
        col = L[..., :, k]
        lkk, vk = col[..., k], v[..., k]
        r = jnp.sqrt(lkk**2 + sign * vk**2)
        c, s = r / lkk, vk / lkk
        below = rows > k
        new_col = (col + sign * s[..., None] * v) / c[..., None]
        new_col = jnp.where(below, new_col, jnp.where(rows == k, r[..., None], col))
        v = jnp.where(below, c[..., None] * v - s[..., None] * new_col, v)
        return (L.at[..., :, k].set(new_col), v), None

    (L, _), _ = jax.lax.scan(sweep, (L, v), jnp.arange(n))
    return L


def signed_stick_breaking_tril(t: ArrayLike) -> Array:
    """The Cholesky factor of a correlation matrix from ``n(n-1)/2`` numbers in ``(-1, 1)``.

    ``t`` fills the strictly lower triangle (row-major) of ``r``. Row ``i`` of the
    result breaks the unit length: ``L_ij = r_ij * sqrt(prod_(k<j) (1 - r_ik^2))`` for
    ``j < i``, and ``L_ii`` takes what is left, so each row has unit norm. Values are
    clipped one ``eps`` inside ``(-1, 1)``.

    Args:
        t: shape ``batch + (n(n-1)/2,)``.

    Returns:
        Shape ``batch + (n, n)``.

    Example:
        >>> import jax.numpy as jnp
        >>> from dists.util import signed_stick_breaking_tril
        >>> L = signed_stick_breaking_tril(jnp.array([0.6]))
        >>> [[round(float(v), 6) for v in row] for row in L]
        [[1.0, 0.0], [0.6, 0.8]]
    """
    t = as_float(t)
    eps = jnp.finfo(t.dtype).eps
    r = vec_to_tril_matrix(jnp.clip(t, -1 + eps, 1 - eps), diagonal=-1)
    # Squared length left in row i before column j (entries at and above the diagonal of
    # r are zero, so they leave the products unchanged).
    left = jnp.cumprod(1 - r**2, axis=-1)
    left = jnp.concatenate([jnp.ones_like(left[..., :1]), left[..., :-1]], axis=-1)
    return add_diag(r, 1.0) * jnp.sqrt(left)


def logmatmulexp(x: ArrayLike, y: ArrayLike) -> Array:
    """``log(exp(x) @ exp(y))`` without overflow: a matrix product in log space.

    Each row of ``x`` and column of ``y`` is shifted by its maximum first (a row that is
    all ``-inf`` gives ``-inf``).

    Example:
        >>> import jax.numpy as jnp
        >>> from dists.util import logmatmulexp
        >>> x = jnp.log(jnp.array([[1.0, 2.0]]))
        >>> y = jnp.log(jnp.array([[3.0], [4.0]]))
        >>> round(float(jnp.exp(logmatmulexp(x, y))[0, 0]), 4)
        11.0
    """
    x, y = as_float(x), as_float(y)
    x_shift = jax.lax.stop_gradient(jnp.max(x, -1, keepdims=True))
    y_shift = jax.lax.stop_gradient(jnp.max(y, -2, keepdims=True))
    x_shift = jnp.where(jnp.isfinite(x_shift), x_shift, 0)
    y_shift = jnp.where(jnp.isfinite(y_shift), y_shift, 0)
    xy = jnp.log(jnp.matmul(jnp.exp(x - x_shift), jnp.exp(y - y_shift)))
    # x and y may have batch dims of different ranks, as matmul allows.
    xy, x_shift, y_shift = promote_shapes(xy, x_shift, y_shift)
    return xy + x_shift + y_shift
