"""Running moments of MCMC draws, so that memory does not grow with the number of draws.

``MCMC(..., streaming=True)`` keeps, per chain, Welford's running count, mean and sum of
squared deviations of every draw (Welford 1962), instead of the draws. That is a few
numbers per chain and coordinate, whatever the number of draws: 10^9 draws over 10^5 chains
take as much memory as 10 draws. R-hat over chains is computed from the per-chain means and
variances (``inference.rhat_from_moments``, ``inference.nested_rhat_from_moments``).

The thinned alternative needs no new code: ``MCMC(..., num_samples=n, thinning=t)`` keeps
``n / t`` draws per chain in a buffer of fixed size.
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Int


class Moments(eqx.Module):
    """Draw count, mean and variance (divisor ``count - 1``), per chain or pooled.

    Attributes:
        count: draws seen, ``(chains,)`` per chain or ``()`` pooled.
        mean: ``(chains, *shape)`` or ``(*shape)``.
        variance: like ``mean``.
    """

    count: Int[Array, "*chains"]
    mean: Array
    variance: Array


def combine_moments(moments: Moments) -> Moments:
    """Pool per-chain moments (leading chain axis) into those of all draws together.

    The pooled variance is ``(sum_c (n_c - 1) var_c + sum_c n_c (mean_c - mean)^2) /
    (N - 1)``: exactly the sample variance of all the draws.

    Example:
        >>> import jax.numpy as jnp
        >>> m = Moments(jnp.array([2, 2]), jnp.array([0.0, 2.0]), jnp.array([2.0, 2.0]))
        >>> pooled = combine_moments(m)  # the draws -1, 1, 1, 3
        >>> float(pooled.mean), round(float(pooled.variance), 4)
        (1.0, 2.6667)
    """
    count = jnp.asarray(moments.count)
    mean = jnp.asarray(moments.mean)
    var = jnp.asarray(moments.variance)
    n = count.astype(mean.dtype).reshape(count.shape + (1,) * (mean.ndim - 1))
    total = jnp.sum(n, axis=0)
    pooled = jnp.sum(n * mean, axis=0) / total
    ss = jnp.sum((n - 1.0) * var, axis=0) + jnp.sum(n * (mean - pooled[None]) ** 2, axis=0)
    return Moments(jnp.sum(count), pooled, ss / jnp.maximum(total - 1.0, 1.0))


def moments_of(draws: Float[ArrayLike, "chains draws *shape"]) -> Moments:
    """Per-chain moments of stored draws ``(chains, draws, *shape)`` (to compare a
    streaming run with a stored one).

    Example:
        >>> import jax.numpy as jnp
        >>> moments_of(jnp.arange(6.0).reshape(2, 3)).mean
        Array([1., 4.], dtype=float32)
    """
    x = jnp.asarray(draws)
    count = jnp.full((x.shape[0],), x.shape[1], jnp.int32)
    return Moments(count, jnp.mean(x, axis=1), jnp.var(x, axis=1, ddof=1))
