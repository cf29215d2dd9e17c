"""``seed``: site-addressed randomness."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, overload

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import ArrayLike

from effects import Handled, Handler as _Handler, Param, Plate, PRNGKey, Sample, stable_hash

from ._common import wrap


def site_key(key: Any, name: str, indices: tuple = ()) -> Any:
    """The key for site ``name`` at scan steps ``indices``: a function of the address only."""
    k = jax.random.fold_in(key, stable_hash(name))
    for i in indices:
        k = jax.random.fold_in(k, i)
    return k


def _as_key(rng_seed: Any) -> jax.Array:
    if rng_seed is None:
        raise ValueError(
            "seed needs rng_seed: an int or a PRNG key, e.g. seed(model, rng_seed=0) or "
            "seed(jax.random.key(0))."
        )
    if isinstance(rng_seed, bool) or not (
        isinstance(rng_seed, (int, np.integer, np.ndarray, jax.Array))
    ):
        raise TypeError(
            f"seed: rng_seed must be an int or a PRNG key, got {type(rng_seed).__name__} "
            f"{rng_seed!r}. Fix: pass an int such as 0, or a key such as jax.random.key(0)."
        )
    if isinstance(rng_seed, (int, np.integer)):
        return jax.random.key(int(rng_seed))
    arr = (
        jnp.asarray(rng_seed)
        if not jax.dtypes.issubdtype(getattr(rng_seed, "dtype", None), jax.dtypes.prng_key)
        else rng_seed
    )
    if jax.dtypes.issubdtype(arr.dtype, jax.dtypes.prng_key):
        return arr
    if arr.dtype == jnp.uint32 and arr.shape[-1:] == (2,):
        return jax.random.wrap_key_data(arr)
    if jnp.issubdtype(arr.dtype, jnp.integer) and arr.ndim == 0:
        return jax.random.key(arr)
    raise TypeError(
        f"seed: rng_seed must be an int or a PRNG key, got {arr.dtype}{list(arr.shape)}."
    )


class Seed(_Handler):
    """Gives every site that needs randomness a key derived from ``key`` and its address.

    A site's key depends only on this handler's key, the site's name, and the enclosing
    scan steps, never on program order. So the draw at one site does not depend on which
    other sites exist, are conditioned, or are blocked. Anonymous ``prng_key()`` requests
    are numbered in program order.
    """

    handles: ClassVar = (Sample, Plate, PRNGKey, Param)
    key: jax.Array

    def init_state(self):
        return jnp.zeros((), jnp.int32)

    def process(self, msg, state):
        if isinstance(msg, PRNGKey):
            if msg.value is not None:
                return msg, state
            if msg.name is None:
                k = site_key(jax.random.fold_in(self.key, state), "__prng_key__", msg.indices)
                return msg.replace(value=k), state + 1
            return msg.replace(value=site_key(self.key, msg.name, msg.indices)), state
        if msg.key is not None or (
            msg.value is not None and not (isinstance(msg, Sample) and msg.fill is not None)
        ):
            return msg, state
        if isinstance(msg, Param) and msg.init_fn is None:
            return msg, state
        return msg.replace(key=site_key(self.key, msg.name, msg.indices)), state

    def output(self, state):
        return None


@overload
def seed(fn: None = None, rng_seed: Any = None) -> Seed: ...
@overload
def seed(fn: Callable, rng_seed: Any = None) -> Handled: ...
@overload
def seed(fn: ArrayLike, rng_seed: None = None) -> Seed: ...  # `seed(key)`, `seed(0)`
def seed(fn: Any = None, rng_seed: Any = None) -> Seed | Handled:
    """Site-addressed randomness. ``seed(key)`` is a handler; ``seed(model, key)`` wraps.

    Example:
        >>> import jax, dists as D
        >>> from effects import sample
        >>> def model():
        ...     return sample("x", D.Normal(0.0, 1.0))
        >>> a = seed(model, rng_seed=0)()
        >>> bool(a == seed(model, rng_seed=0)())
        True
    """
    if fn is not None and not callable(fn) and rng_seed is None:
        fn, rng_seed = None, fn
    return wrap(fn, Seed(_as_key(rng_seed)))
