"""Welford's streaming mean and (co)variance, for mass-matrix adaptation.

After ``n`` draws the sample covariance is ``m2 / (n - 1)``. For the inverse mass matrix Stan
shrinks it towards ``1e-3 * I``: ``(n / (n + 5)) * cov + 1e-3 * (5 / (n + 5)) * I``.
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Int


class WelfordState(eqx.Module):
    """Running mean and sum of squared deviations.

    Attributes:
        mean: shape ``(d,)``.
        m2: shape ``(d,)`` (diagonal) or ``(d, d)`` (dense): the sum of (outer) products of
            deviations from the running mean.
        count: number of draws seen.
    """

    mean: Float[Array, " d"]
    m2: Array
    count: Int[Array, ""]


def welford_init(position: Float[ArrayLike, " d"], dense: bool = False) -> WelfordState:
    """An empty estimator for vectors shaped and typed like ``position``.

    Example:
        >>> import jax.numpy as jnp
        >>> welford_init(jnp.zeros(3), dense=True).m2.shape
        (3, 3)
    """
    x = jnp.asarray(position)
    d = x.shape[-1]
    m2 = jnp.zeros((d, d) if dense else (d,), x.dtype)
    return WelfordState(jnp.zeros((d,), x.dtype), m2, jnp.zeros((), jnp.int32))


def welford_update(state: WelfordState, x: Float[ArrayLike, " d"]) -> WelfordState:
    """Add one draw ``x``.

    Example:
        >>> import jax.numpy as jnp
        >>> s = welford_update(welford_init(jnp.zeros(2)), jnp.array([1.0, 3.0]))
        >>> s.mean
        Array([1., 3.], dtype=float32)
    """
    x = jnp.asarray(x, state.mean.dtype)
    count = state.count + 1
    delta = x - state.mean
    mean = state.mean + delta / count.astype(x.dtype)
    if state.m2.ndim == 1:
        m2 = state.m2 + delta * (x - mean)
    else:
        m2 = state.m2 + jnp.outer(delta, x - mean)
    return WelfordState(mean, m2, count)


def welford_covariance(state: WelfordState, regularize: bool = True) -> Array:
    """The sample (co)variance, shrunk towards ``1e-3 * I`` as Stan does when ``regularize``.

    Returns a ``(d,)`` variance vector or a ``(d, d)`` covariance matrix, following ``m2``.
    With fewer than two draws the unregularised estimate is 0.

    Example:
        >>> import jax.numpy as jnp
        >>> s = welford_init(jnp.zeros(1))
        >>> for x in (0.0, 2.0):
        ...     s = welford_update(s, jnp.array([x]))
        >>> welford_covariance(s, regularize=False)
        Array([2.], dtype=float32)
    """
    dtype = state.m2.dtype
    n = state.count.astype(dtype)
    cov = state.m2 / jnp.maximum(n - 1.0, 1.0)
    if not regularize:
        return cov
    shrink = 1e-3 * (5.0 / (n + 5.0))
    scaled = (n / (n + 5.0)) * cov
    if cov.ndim == 1:
        return scaled + shrink
    return scaled + shrink * jnp.eye(cov.shape[0], dtype=dtype)
