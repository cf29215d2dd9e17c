"""Small numerical and shape helpers used by the distribution families (the public ones
are re-exported by ``dists.util``)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
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


def sum_rightmost(x: ArrayLike, dim: int) -> Array:
    """Sum the ``dim`` rightmost dimensions of ``x`` (none when ``dim <= 0``).

    Example:
        >>> import jax.numpy as jnp
        >>> from dists.util import sum_rightmost
        >>> sum_rightmost(jnp.ones((2, 3, 4)), 2).tolist()
        [12.0, 12.0]
    """
    x = jnp.asarray(x)
    if dim <= 0:
        return x
    return jnp.sum(x, axis=tuple(range(-dim, 0)))


def clamp_probs(probs: ArrayLike) -> Array:
    """Clip probabilities into ``[tiny, 1 - eps]`` of their float type, so that their
    logarithms and those of their complements are finite.

    Example:
        >>> import jax.numpy as jnp
        >>> from dists.util import clamp_probs
        >>> p = clamp_probs(jnp.array([0.0, 0.5, 1.0]))
        >>> bool(jnp.all(jnp.isfinite(jnp.log(p)) & jnp.isfinite(jnp.log1p(-p))))
        True
    """
    probs = jnp.asarray(probs)
    finfo = jnp.finfo(jnp.result_type(probs, float))
    return jnp.clip(probs, finfo.tiny, 1.0 - finfo.eps)


def logits_to_probs(logits: ArrayLike, is_binary: bool = False) -> Array:
    """Probabilities from logits: ``sigmoid`` when ``is_binary``, else ``softmax`` over
    the last dim.

    Example:
        >>> import jax.numpy as jnp
        >>> from dists.util import logits_to_probs
        >>> [round(float(p), 4) for p in logits_to_probs(jnp.log(jnp.array([1.0, 3.0])))]
        [0.25, 0.75]
        >>> float(logits_to_probs(0.0, is_binary=True))
        0.5
    """
    logits = as_float(logits)
    if is_binary:
        return jax.nn.sigmoid(logits)
    return jax.nn.softmax(logits, axis=-1)


def probs_to_logits(probs: ArrayLike, is_binary: bool = False) -> Array:
    """Logits from probabilities (clamped by ``clamp_probs``): the log-odds when
    ``is_binary``, else ``log(probs)`` (logits of a categorical, up to a constant).

    Example:
        >>> import jax.numpy as jnp
        >>> from dists.util import probs_to_logits
        >>> float(probs_to_logits(0.5, is_binary=True))
        0.0
    """
    p = clamp_probs(as_float(probs))
    if is_binary:
        return jnp.log(p) - jnp.log1p(-p)
    return jnp.log(p)


def _reshape(x: ArrayLike, shape: tuple[int, ...]) -> ArrayLike:
    # NumPy inputs stay NumPy, as in NumPyro (they may be static shapes or constants).
    if isinstance(x, (int, float, np.ndarray, np.generic)):
        return np.reshape(x, shape)
    return jnp.reshape(x, shape)


def promote_shapes(*args: ArrayLike, shape: tuple[int, ...] = (), return_shapes: bool = False):
    """Left-pad the shapes of ``args`` with ones so that they all have the same rank.

    The rank is that of the broadcast of every shape and ``shape``; the arrays are not
    broadcast, only reshaped. A single argument with no ``shape`` is returned as it is.

    Args:
        *args: arrays (or Python numbers).
        shape: a shape that the result must also broadcast with.
        return_shapes: return the padded shapes instead of the arrays.

    Returns:
        A list (the args unchanged when there is one arg and no ``shape``: a tuple).

    Example:
        >>> import jax.numpy as jnp
        >>> from dists.util import promote_shapes
        >>> a, b = promote_shapes(jnp.ones(3), jnp.ones((2, 1)))
        >>> a.shape, b.shape
        ((1, 3), (2, 1))
    """
    if len(args) < 2 and not shape:
        return [jnp.shape(a) for a in args] if return_shapes else args
    shapes = [jnp.shape(a) for a in args]
    rank = len(jnp.broadcast_shapes(tuple(shape), *shapes))
    padded = [(1,) * (rank - len(s)) + tuple(s) for s in shapes]
    if return_shapes:
        return padded
    return [_reshape(a, p) if len(s) < rank else a for a, s, p in zip(args, shapes, padded)]


def _is_weak(x: object) -> bool:
    """Whether ``x`` is weakly typed: a Python number, or an array JAX made from one."""
    return isinstance(x, (bool, int, float, complex)) or bool(getattr(x, "weak_type", False))


def _is_float(x: ArrayLike) -> bool:
    return bool(jnp.issubdtype(jnp.result_type(x), jnp.floating))


def _float_dtype(*xs: ArrayLike) -> np.dtype:
    """The one floating dtype for ``xs`` together.

    The strongly typed floats decide, the widest of them winning (as standard promotion
    would choose). Weakly typed floats (Python numbers, or arrays made from them) never
    widen the result, and integers never decide it. With no strongly typed float, the
    default float type (float64 when x64 is enabled, else float32).
    """
    # Lists and tuples become (strongly typed) arrays, as ``jnp.asarray`` makes them.
    xs = tuple(x if _is_weak(x) or hasattr(x, "dtype") else jnp.asarray(x) for x in xs)
    strong = {jnp.result_type(x) for x in xs if _is_float(x) and not _is_weak(x)}
    if not strong:
        return jnp.result_type(float)
    bits = max(jnp.finfo(d).bits for d in strong)
    widest = {d for d in strong if jnp.finfo(d).bits == bits}
    # float16 with bfloat16: neither holds the other, and standard promotion gives float32.
    dtype = widest.pop() if len(widest) == 1 else np.dtype(np.float32)
    # A float64 array made while x64 was on, used after it is turned off, gets float32.
    return jax.dtypes.canonicalize_dtype(dtype)


def _cast(x: ArrayLike, dtype: np.dtype) -> Array:
    x = jnp.asarray(x)
    return x if x.dtype == dtype else x.astype(dtype)


def promote_value(value: ArrayLike, *params: ArrayLike) -> list[Array]:
    """``value`` and ``params`` in one floating dtype and left-padded to one rank, so that
    they combine elementwise with neither implicit dtype promotion nor implicit rank
    promotion (both of which JAX can be told to refuse).

    The dtype is chosen by the floating arguments that are strongly typed (the widest
    wins); Python numbers never widen float32 to float64, and integers (a count, an
    integer value) are cast to it. With no such float, it is the default float type.
    Shapes are left-padded with ones as by ``promote_shapes``, never broadcast.

    Args:
        value: the value (or noise) that meets the parameters.
        *params: the parameters, each of the batch shape or broadcastable to it.

    Returns:
        A list ``[value, *params]`` of arrays.

    Example:
        >>> import jax.numpy as jnp
        >>> from dists.util import promote_value
        >>> x, loc = promote_value(jnp.ones((2, 3), jnp.int32), jnp.zeros(3, jnp.float32))
        >>> x.shape, x.dtype, loc.shape, loc.dtype
        ((2, 3), dtype('float32'), (1, 3), dtype('float32'))
        >>> [a.dtype for a in promote_value(2, jnp.float32(1.0), 0.5)]
        [dtype('float32'), dtype('float32'), dtype('float32')]
    """
    dtype = _float_dtype(value, *params)
    arrays = [_cast(x, dtype) for x in (value, *params)]
    return list(promote_shapes(*arrays))


def is_prng_key(key: object) -> bool:
    """Whether ``key`` is one PRNG key: a typed key of shape ``()``, or a raw
    ``uint32[2]`` key (``jax.random.PRNGKey``).

    Example:
        >>> import jax
        >>> from dists.util import is_prng_key
        >>> is_prng_key(jax.random.key(0)), is_prng_key(jax.random.split(jax.random.key(0)))
        (True, False)
    """
    dtype, shape = getattr(key, "dtype", None), getattr(key, "shape", None)
    if dtype is None or shape is None:
        return False
    if jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key):
        return tuple(shape) == ()
    return tuple(shape) == (2,) and dtype == np.uint32


def safe_normalize(x: ArrayLike, *, p: float | int = 2) -> Array:
    """Project ``x`` onto the unit sphere of the ``p``-norm along its last dim.

    A zero vector, which has no direction, maps to the unit vector along
    ``[1, 1, ..., 1]``.

    Example:
        >>> import jax.numpy as jnp
        >>> from dists.util import safe_normalize
        >>> x = safe_normalize(jnp.array([[3.0, 4.0], [0.0, 0.0]]))
        >>> [[round(float(v), 4) for v in row] for row in x]
        [[0.6, 0.8], [0.7071, 0.7071]]
    """
    if not isinstance(p, (int, float)) or p <= 0:
        raise ValueError(f"safe_normalize: `p` must be a positive number; found p={p!r}.")
    x = as_float(x)
    norm = jnp.linalg.norm(x, ord=p, axis=-1, keepdims=True)
    out = x / jnp.maximum(norm, jnp.finfo(x.dtype).tiny)
    zero = jnp.all(x == 0, axis=-1, keepdims=True)
    return jnp.where(zero, jnp.asarray(x.shape[-1] ** (-1.0 / p), x.dtype), out)


def periodic_repeat(x: ArrayLike, size: int, dim: int) -> Array:
    """Tile ``x`` along ``dim`` (its period) and cut it to length ``size``.

    Entry ``i`` along ``dim`` is entry ``i % period`` of ``x``, as Pyro documents this
    helper. (NumPyro 0.22's version repeats each entry in place instead, ``[a, a, b,
    b]``, which is not periodic.)

    Example:
        >>> import jax.numpy as jnp
        >>> from dists.util import periodic_repeat
        >>> periodic_repeat(jnp.array([1, 2, 3]), 7, 0).tolist()
        [1, 2, 3, 1, 2, 3, 1]
    """
    if not isinstance(size, int) or size < 0:
        raise ValueError(f"periodic_repeat: `size` must be a non-negative int; found {size!r}.")
    x = jnp.asarray(x)
    if not -x.ndim <= dim < x.ndim:
        raise ValueError(f"periodic_repeat: `dim` {dim} is out of range for shape {x.shape}.")
    period = x.shape[dim]
    return jnp.take(x, np.arange(size) % period, axis=dim)


def multigammaln(a: ArrayLike, d: int) -> Array:
    """Log of the multivariate gamma function of dimension ``d``, elementwise in ``a``:
    ``d(d-1)/4 log(pi) + sum_(j=1..d) gammaln(a + (1 - j)/2)``.

    Example:
        >>> import math
        >>> from dists.util import multigammaln
        >>> math.isclose(float(multigammaln(2.5, 1)), math.lgamma(2.5), rel_tol=1e-6)
        True
    """
    a = as_float(a)
    a_col, j = promote_shapes(a[..., None], jnp.arange(d, dtype=a.dtype))
    terms = jax.scipy.special.gammaln(a_col - 0.5 * j)
    return 0.25 * d * (d - 1) * math.log(math.pi) + jnp.sum(terms, axis=-1)


def log1mexp(x: ArrayLike) -> Array:
    """``log(1 - exp(x))`` for ``x <= 0``, accurate on both sides of ``-log 2``
    (Maechler's rule): ``-inf`` at 0, NaN for ``x > 0``.

    Example:
        >>> import math
        >>> from dists.util import log1mexp
        >>> math.isclose(float(log1mexp(-1e-6)), math.log(1e-6), rel_tol=1e-4)
        True
    """
    x = as_float(x)
    return jnp.where(x > -math.log(2), jnp.log(-jnp.expm1(x)), jnp.log1p(-jnp.exp(x)))


def logdiffexp(a: ArrayLike, b: ArrayLike) -> Array:
    """``log(exp(a) - exp(b))`` for ``inf > a >= b``: ``-inf`` where ``a == b``, NaN where
    ``a < b`` or ``a`` is ``inf``.

    Example:
        >>> import math
        >>> from dists.util import logdiffexp
        >>> round(float(logdiffexp(math.log(3.0), math.log(1.0))), 4) == round(math.log(2.0), 4)
        True
    """
    a, b = as_float(a), as_float(b)
    finite = a < jnp.inf
    inner = a + log1mexp(jnp.where(a > b, b - a, -1.0))
    nan = jnp.full((), jnp.nan, inner.dtype)
    return jnp.where(finite & (a > b), inner, jnp.where(finite & (a == b), -jnp.inf, nan))


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
