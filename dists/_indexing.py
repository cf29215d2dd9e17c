"""``vindex``: indexing that broadcasts batch dims, safe under enumeration (Pyro's and
NumPyro's ``Vindex``)."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike


def _is_array(x: Any) -> bool:
    return hasattr(x, "shape") and hasattr(x, "dtype") and not isinstance(x, slice)


def vindex(tensor: ArrayLike, args: Any) -> Array:
    """Index the rightmost dims of ``tensor`` by ``args``, broadcasting the index arrays
    with each other and with the dims of ``tensor`` left of them.

    ``args`` holds one entry per indexed dim (after an optional leading ``...``): an
    integer array (any batch shape), an int, or ``slice(None)`` (``:``, kept as an event
    dim on the right). Where plain advanced indexing would put the index arrays'
    dims in front of the remaining dims, ``vindex`` treats the leading dims of ``tensor``
    as batch dims that broadcast with the index arrays' batch shape. So
    ``vindex(p, (..., z))`` with ``p`` of shape ``(N, K)`` and ``z`` enumerated with shape
    ``(K, 1)`` gives shape ``(K, N)``: the row of ``p`` picked by each value of ``z`` for
    each plate element. The result's shape is ``broadcast(batch of tensor, index
    shapes) + (sizes of the kept ':' dims)``.

    Example:
        >>> import jax.numpy as jnp
        >>> from dists.util import vindex
        >>> p = jnp.arange(6.0).reshape(2, 3)  # 2 rows, 3 states
        >>> z = jnp.array([[0], [2]])  # two enumerated values, broadcast over the rows
        >>> vindex(p, (..., z)).tolist()
        [[0.0, 3.0], [2.0, 5.0]]
    """
    tensor = jnp.asarray(tensor)
    if not isinstance(args, tuple):
        args = (args,)
    if not args:
        return tensor
    if args[0] is Ellipsis:
        args = args[1:]
        if not args:
            return tensor
        old_event_dim = len(args)
        args = (slice(None),) * (tensor.ndim - len(args)) + args
    else:
        args = args + (slice(None),) * (tensor.ndim - len(args))
        old_event_dim = len(args)
    if len(args) != tensor.ndim:
        raise ValueError(
            f"vindex: {len(args)} indices for a tensor of rank {tensor.ndim}. Fix: give at "
            "most one index per dim (a leading ... indexes the rightmost dims)."
        )
    if any(a is Ellipsis for a in args):
        raise ValueError("vindex: only a leading `...` is supported. Fix: move it to the front.")
    args = tuple(jnp.asarray(a) if isinstance(a, int) else a for a in args)
    new_event_dim = sum(isinstance(a, slice) for a in args[len(args) - old_event_dim :])
    new_dim = 0
    out: list[Array] = [None] * len(args)  # type: ignore[list-item]
    for i in reversed(range(len(args))):
        a = args[i]
        if isinstance(a, slice):
            if a != slice(None):
                raise ValueError(
                    f"vindex: only full slices `:` are supported, got {a}. Fix: index with "
                    "an integer array instead."
                )
            out[i] = jnp.reshape(jnp.arange(tensor.shape[i]), (-1,) + (1,) * new_dim)
            new_dim += 1
        elif _is_array(a):
            a = jnp.asarray(a)
            out[i] = jnp.reshape(a, a.shape + (1,) * new_event_dim)
        else:
            raise TypeError(f"vindex: unsupported index {a!r}; use arrays, ints, ':' or '...'.")
    # Broadcast the index arrays explicitly (no implicit rank promotion).
    shape = jnp.broadcast_shapes(*(x.shape for x in out))
    out = [
        jnp.broadcast_to(jnp.reshape(x, (1,) * (len(shape) - x.ndim) + x.shape), shape) for x in out
    ]
    return tensor[tuple(out)]
