"""``plate``: a context manager that broadcasts the sites inside it along one batch dim."""

from __future__ import annotations

from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from ._handler import Handler
from ._messages import CondIndepStackFrame, Deterministic, Factor, Param, Plate, Sample, Subsample
from ._runtime import _FRAME, Frame, _set_frame, perform


class PlateHandler(Handler):
    """The interpretation a ``plate`` puts in force for the sites inside it."""

    handles: ClassVar = (Sample, Factor, Subsample, Deterministic, Param)

    name: str = eqx.field(static=True)
    size: int = eqx.field(static=True)
    subsample_size: int = eqx.field(static=True)
    dim: int = eqx.field(static=True)
    subsample_indices: Array

    def _frame(self) -> CondIndepStackFrame:
        return CondIndepStackFrame(self.name, self.dim, self.subsample_size)

    def process(self, msg, state):
        if isinstance(msg, Subsample):
            return self._subsample(msg), state
        if isinstance(msg, (Deterministic, Param)):
            return msg.replace(cond_indep_stack=msg.cond_indep_stack + (self._frame(),)), state
        scale = msg.scale
        if self.subsample_size < self.size:
            ratio = self.size / self.subsample_size
            scale = ratio if scale is None else scale * ratio
        stack = msg.cond_indep_stack + (self._frame(),)
        if isinstance(msg, Factor):
            return msg.replace(cond_indep_stack=stack, scale=scale), state
        fn = msg.fn
        batch_shape = tuple(fn.batch_shape)
        n = max(-self.dim, len(batch_shape))
        expected = [1] * n
        expected[self.dim] = self.subsample_size
        if len(batch_shape) >= -self.dim and batch_shape[self.dim] not in (
            1,
            self.subsample_size,
        ):
            raise ValueError(
                f"Site '{msg.name}' has batch_shape {batch_shape}, whose dim {self.dim} has "
                f"size {batch_shape[self.dim]}, but the enclosing plate '{self.name}' has "
                f"size {self.subsample_size} at that dim. Fix: make the distribution's "
                f"batch dim {self.dim} match the plate, or move the site out of the plate."
            )
        new_shape = jnp.broadcast_shapes(tuple(expected), batch_shape)
        if new_shape != batch_shape:
            fn = fn.expand(new_shape)
        return msg.replace(fn=fn, cond_indep_stack=stack, scale=scale), state

    def _subsample(self, msg: Subsample) -> Subsample:
        if self.subsample_size == self.size:
            return msg
        data = msg.value
        axis = data.ndim + self.dim - msg.event_dim
        if axis < 0 or data.shape[axis] != self.size:
            return msg
        return msg.replace(value=jnp.take(data, self.subsample_indices, axis=axis))


def _used_dims() -> dict[int, str]:
    frame = _FRAME.get()
    if frame is None:
        return {}
    return {h.dim: h.name for h in frame.handlers if isinstance(h, PlateHandler)}


class _TracedSize:
    """A plate size that was a tracer (kept out of the static field, to be reported)."""

    def __init__(self, value: Any):
        self.value = value

    def __repr__(self) -> str:
        return f"Tracer({self.value.aval})"


def _size(value: Any) -> Any:
    """A plate size as a Python int: ints, NumPy integers and integral 0-d arrays."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, jax.core.Tracer):
        return _TracedSize(value)  # reported by __check_init__, which has the plate's name
    if isinstance(value, (np.ndarray, jax.Array)) and np.ndim(value) == 0:
        if np.issubdtype(np.asarray(value).dtype, np.integer):
            return int(value)
    return value


class plate(eqx.Module):
    """Conditionally independent copies of the sites inside, along batch dim ``dim``.

    ``with plate("data", N) as idx:`` broadcasts each site's batch shape to size ``N``
    (or ``subsample_size``) at ``dim`` (allocated automatically from the right when
    ``None``), and yields the indices in use. With ``subsample_size < size`` a random
    subsample is drawn (needs a ``seed``) and log densities are scaled by
    ``size / subsample_size``.

    A ``plate`` is immutable and can be entered again.
    """

    name: str = eqx.field(static=True)
    size: int = eqx.field(static=True, converter=_size)
    subsample_size: int | None = eqx.field(static=True, default=None, converter=_size)
    dim: int | None = eqx.field(static=True, default=None, converter=_size)

    def __check_init__(self):
        for what, value in (("size", self.size), ("subsample_size", self.subsample_size)):
            if isinstance(value, _TracedSize):
                raise TypeError(
                    f"plate '{self.name}': {what} must be a concrete int, but it is a traced "
                    f"value (a JAX Tracer): it was computed from a traced argument of a "
                    "compiled program. Fix: pass the size as a Python int (or take it from "
                    "an array's .shape), not as a JAX array."
                )
        if isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < 1:
            raise ValueError(
                f"plate '{self.name}': size must be a positive int, got {self.size!r}."
            )
        if self.subsample_size is not None and not (0 < self.subsample_size <= self.size):
            raise ValueError(
                f"plate '{self.name}': subsample_size must be in 1..size={self.size}, "
                f"got {self.subsample_size}."
            )
        if self.dim is not None and self.dim >= 0:
            raise ValueError(
                f"plate '{self.name}': dim must be negative (counted from the right of the "
                f"batch shape), got {self.dim}."
            )

    def _resolve_dim(self) -> int:
        used = _used_dims()
        if self.dim is not None:
            if self.dim in used and used[self.dim] != self.name:
                raise ValueError(
                    f"plate '{self.name}' asks for dim {self.dim}, which the enclosing plate "
                    f"'{used[self.dim]}' already uses. Fix: give one of them a different "
                    "dim, or leave dim=None to allocate one automatically."
                )
            return self.dim
        d = -1
        while d in used:
            d -= 1
        return d

    def __enter__(self) -> Array:
        sub = self.size if self.subsample_size is None else self.subsample_size
        dim = self._resolve_dim()
        idx = perform(Plate(name=self.name, size=self.size, subsample_size=sub, dim=dim)).value
        handler = PlateHandler(self.name, self.size, sub, dim, jnp.asarray(idx))
        frame = _FRAME.get()
        hs = frame.handlers if frame is not None else ()
        ss = frame.states if frame is not None else ()
        _FRAME.set(Frame((handler,) + hs, (None,) + ss))
        return idx

    def __exit__(self, *exc: Any) -> None:
        frame = _FRAME.get()
        if frame is None or not frame.handlers or not isinstance(frame.handlers[0], PlateHandler):
            raise RuntimeError(f"plate '{self.name}' exited but is not the innermost handler.")
        if frame.handlers[0].name != self.name:
            raise RuntimeError(
                f"plate '{self.name}' exited while plate '{frame.handlers[0].name}' is "
                "innermost; plates must be properly nested."
            )
        _set_frame(Frame(frame.handlers[1:], frame.states[1:]))
        return None
