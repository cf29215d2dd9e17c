"""``plate``: a context manager that broadcasts the sites inside it along one batch dim;
and batch dims as effects (:class:`AllocateDim`, :class:`ReleaseDim`).

A plate asks for a batch dim when it is entered and gives it back when it exits;
enumeration (``enum``, ``markov``) asks for dims of its own. Who answers is a handler's
business: ``handlers.dims`` keeps the dims in use as its state, reserves the dims left of
``max_plate_nesting`` for enumeration, and lets released ones be used again. With no such
handler in force, the default meaning serves plates only, from the plates in force (the
first dim from the right that no enclosing plate uses).

Dims are negative, counted from the right of a site's batch shape: plates take ``-1,
-2, ...``; enumeration takes ``-(max_plate_nesting + 1)`` and further left.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from . import _frame
from ._handler import Handler
from ._messages import (
    CondIndepStackFrame,
    Deterministic,
    Effect,
    Factor,
    Param,
    Plate,
    Sample,
    Subsample,
)
from ._runtime import perform


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


def plate_dims_in_force() -> dict[int, tuple[str, str]]:
    """The dims of the plates in force (dim -> (plate name, "plate"))."""
    return {h.dim: (h.name, "plate") for h in _frame.in_force() if isinstance(h, PlateHandler)}


DimKind = Literal["plate", "enum"]


def _holder(owner: str, kind: str) -> str:
    return f"plate '{owner}'" if kind == "plate" else f"enumerated site '{owner}'"


def describe_dims(in_use: dict[int, tuple[str, str]]) -> str:
    """``in_use`` (dim -> (owner, kind)) for an error message, rightmost first."""
    if not in_use:
        return "none"
    return ", ".join(f"{d} ({_holder(*in_use[d])})" for d in sorted(in_use, reverse=True))


def first_free(in_use: dict[int, Any], start: int) -> int:
    """The rightmost dim at or left of ``start`` that is not in use."""
    d = start
    while d in in_use:
        d -= 1
    return d


class AllocateDim(Effect):
    """A request for a batch dim for ``owner`` (a plate's name or an enumerated site's).

    ``kind`` says what it is for: ``"plate"`` dims are taken from the right;
    ``"enum"`` dims from the left of the plates' region. ``dim`` asks for a particular
    dim (a plate's ``dim=`` argument). Its ``value`` is the dim given.
    """

    type_name: ClassVar[str] = "allocate_dim"
    has_default: ClassVar[bool] = True

    owner: str = eqx.field(static=True)
    kind: DimKind = eqx.field(static=True, default="plate")
    dim: int | None = eqx.field(static=True, default=None)
    name: None = eqx.field(static=True, default=None)
    value: Any = eqx.field(static=True, default=None)
    stop: bool = eqx.field(static=True, default=False)

    def default(self) -> AllocateDim:
        if self.value is not None:
            return self
        if self.kind != "plate":
            raise ValueError(
                f"'{self.owner}' asks for an enumeration dim, but no dims handler is in "
                "force to reserve one left of the plates. Fix: run the model under "
                "`handlers.dims(max_plate_nesting=...)` (the enumeration handlers put one "
                "in force for you)."
            )
        in_use = plate_dims_in_force()
        if self.dim is not None:
            check_requested(self.owner, self.kind, self.dim, in_use)
            return self.replace(value=self.dim)
        return self.replace(value=first_free(in_use, -1))


def check_requested(owner: str, kind: str, dim: int, in_use: dict[int, tuple[str, str]]) -> None:
    """Refuse a requested ``dim`` that someone else holds."""
    if dim in in_use and in_use[dim][0] != owner:
        raise ValueError(
            f"{_holder(owner, kind)} asks for dim {dim}, which the {_holder(*in_use[dim])} "
            f"already uses (dims in use: {describe_dims(in_use)}). Fix: give one of them a "
            "different dim, or leave dim=None to allocate one automatically."
        )


class ReleaseDim(Effect):
    """``owner`` gives back batch dim ``dim`` (a plate on exit). No meaning by default:
    without a dims handler, plates' dims are read from the plates in force."""

    type_name: ClassVar[str] = "release_dim"
    has_default: ClassVar[bool] = True

    owner: str = eqx.field(static=True)
    dim: int = eqx.field(static=True)
    name: None = eqx.field(static=True, default=None)
    value: Any = eqx.field(static=True, default=None)
    stop: bool = eqx.field(static=True, default=False)


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

    def __enter__(self) -> Array:
        sub = self.size if self.subsample_size is None else self.subsample_size
        dim = perform(AllocateDim(self.name, "plate", self.dim)).value
        # The handled Plate message says what the plate means: a handler may have given
        # it its indices (replay, substitute) or another dim.
        msg = perform(Plate(name=self.name, size=self.size, subsample_size=sub, dim=dim))
        if msg.dim is None:
            raise ValueError(
                f"plate '{self.name}': a handler gave the Plate message no dim. Fix: a "
                "handler that reinterprets Plate must keep or set its dim."
            )
        handler = PlateHandler(self.name, self.size, sub, msg.dim, jnp.asarray(msg.value))
        _frame.enter((handler,), (None,))
        return msg.value

    def __exit__(self, exc_type: Any, *exc: Any) -> None:
        handlers = _frame.in_force()
        top = handlers[0] if handlers else None
        if not (isinstance(top, PlateHandler) and top.name == self.name):
            if exc_type is not None:
                return None  # the error on its way out says more
            inner = top.handler_name if top is not None else "(none)"
            raise RuntimeError(
                f"plate '{self.name}' exited while {inner} is innermost in force; plates "
                "and handler `with` blocks must be properly nested."
            )
        _frame.exit(handlers[:1], len(handlers) - 1, f"plate '{self.name}'")
        perform(ReleaseDim(self.name, top.dim))
        return None
