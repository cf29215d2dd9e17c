"""Small numerical and shape helpers used by the distribution families."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.core import Tracer

from ._typing import Array, ArrayLike


def as_float(x: ArrayLike) -> Array:
    """Convert ``x`` to a floating array, keeping float64 when x64 is enabled."""
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.result_type(float))
    return x


def is_concrete(x: object) -> bool:
    """True when ``x`` holds concrete values (not a tracer under jit/vmap/grad)."""
    return not any(isinstance(leaf, Tracer) for leaf in jax.tree.leaves(x))


def sum_rightmost(x: Array, n: int) -> Array:
    """Sum the ``n`` rightmost dimensions of ``x``."""
    if n <= 0:
        return x
    return jnp.sum(x, axis=tuple(range(-n, 0)))


def clamp_probs(p: Array) -> Array:
    eps = jnp.finfo(jnp.result_type(p)).eps
    return jnp.clip(p, eps, 1.0 - eps)


def _softplus_and_exp(x: Array) -> tuple[Array, Array]:
    """``(softplus(x), exp(-|x|))``: the value, and the exp its derivative reuses."""
    e = jnp.exp(-jnp.abs(x))
    return jnp.maximum(x, 0) + jnp.log1p(e), e


@jax.custom_jvp
def softplus(x: ArrayLike) -> Array:
    """``log(1 + exp(x))``, computed as ``max(x, 0) + log1p(exp(-|x|))``.

    ``jax.nn.softplus`` is ``logaddexp(x, 0)``, whose derivative takes a second exp. Here the
    derivative ``sigmoid(x)`` reuses ``exp(-|x|)``, so a log density and its gradient cost
    one exp and one log1p per element (for a Bernoulli likelihood over many observations,
    that is most of the work outside the matrix products).
    """
    return _softplus_and_exp(jnp.asarray(x))[0]


@softplus.defjvp
def _softplus_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    x = jnp.asarray(x)
    value, e = _softplus_and_exp(x)
    sigmoid = jnp.where(x >= 0, 1.0, e) / (1.0 + e)
    return value, sigmoid * t
