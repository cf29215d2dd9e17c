"""``dims``: batch-dim allocation as handler state.

Plates take dims from the right (``-1, -2, ...``) and, when ``max_plate_nesting`` is
given, must fit in ``-max_plate_nesting .. -1``. Enumeration dims are taken from
``-(max_plate_nesting + 1)`` leftwards. Dims are released when their owner says so (a
plate on exit; ``markov`` when a variable falls out of its history), and a released dim
may be given out again. The table of dims in use is the handler's state: static data
only, so it passes through ``jit``, ``vmap`` and effect-aware ``scan`` as structure.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, overload

import equinox as eqx

from effects import AllocateDim, Handled, Handler as _Handler, ReleaseDim
from effects._plate import check_requested, describe_dims, first_free

from ._common import wrap


class DimTable(eqx.Module):
    """The dims in use: ``entries`` holds ``(dim, owner, kind)`` triples (static)."""

    entries: tuple[tuple[int, str, str], ...] = eqx.field(static=True, default=())

    def in_use(self) -> dict[int, tuple[str, str]]:
        """dim -> (owner, kind)."""
        return {d: (o, k) for d, o, k in self.entries}

    def holds(self, owner: str) -> list[int]:
        return [d for d, o, _ in self.entries if o == owner]

    def add(self, dim: int, owner: str, kind: str) -> DimTable:
        return DimTable(self.entries + ((dim, owner, kind),))

    def remove(self, dim: int, owner: str) -> DimTable:
        return DimTable(tuple(e for e in self.entries if e[:2] != (dim, owner)))


class Dims(_Handler):
    """Allocates batch dims; see the module docstring. ``max_plate_nesting`` may be
    ``None`` (plates unbounded; no enumeration dims can be given)."""

    handles: ClassVar = (AllocateDim, ReleaseDim)
    max_plate_nesting: int | None = eqx.field(static=True, default=None)

    def __check_init__(self):
        m = self.max_plate_nesting
        if m is not None and (isinstance(m, bool) or not isinstance(m, int) or m < 0):
            raise ValueError(f"dims: max_plate_nesting must be an int >= 0 or None, got {m!r}.")

    def init_state(self) -> DimTable:
        return DimTable()

    def output(self, state: DimTable) -> None:
        return None

    def process(self, msg, table: DimTable):
        if isinstance(msg, ReleaseDim):
            return msg, table.remove(msg.dim, msg.owner)
        if msg.value is not None:
            return msg, table
        dim = self._plate_dim(msg, table) if msg.kind == "plate" else self._enum_dim(msg, table)
        return msg.replace(value=dim), table.add(dim, msg.owner, msg.kind)

    def _plate_dim(self, msg: AllocateDim, table: DimTable) -> int:
        in_use = table.in_use()
        m = self.max_plate_nesting
        dim = msg.dim
        if dim is not None:
            check_requested(msg.owner, "plate", dim, in_use)
        else:
            dim = first_free(in_use, -1)
        if m is not None and -dim > m:
            raise ValueError(
                f"plate '{msg.owner}' needs dim {dim}, but max_plate_nesting={m} keeps plates "
                f"within dims -{m}..-1 (the dims left of them are for enumeration). Dims in "
                f"use: {describe_dims(in_use)}. Fix: raise max_plate_nesting to at least "
                f"{-dim}, or give the plate a dim within the range."
            )
        return dim

    def _enum_dim(self, msg: AllocateDim, table: DimTable) -> int:
        m = self.max_plate_nesting
        if m is None:
            raise ValueError(
                f"Site '{msg.owner}' asks for an enumeration dim, but max_plate_nesting is "
                "not known, so there is no telling where the plates end. Fix: pass "
                "max_plate_nesting (the deepest nesting of plates in the model) or "
                "first_available_dim = -(max_plate_nesting + 1)."
            )
        in_use = table.in_use()
        if msg.dim is not None:
            if -msg.dim <= m:
                raise ValueError(
                    f"Site '{msg.owner}' asks for enumeration dim {msg.dim}, which lies in "
                    f"the plates' region -{m}..-1 (max_plate_nesting={m}). Fix: use a dim "
                    f"left of {-m - 1}."
                )
            check_requested(msg.owner, "enum", msg.dim, in_use)
            return msg.dim
        return first_free(in_use, -m - 1)


@overload
def dims(fn: None = None, max_plate_nesting: int | None = None) -> Dims: ...
@overload
def dims(fn: Callable, max_plate_nesting: int | None = None) -> Handled: ...
def dims(fn: Callable | None = None, max_plate_nesting: int | None = None) -> Any:
    """Allocate batch dims as pipeline state (see the module docstring).

    Example:
        >>> import jax, dists as D
        >>> from effects import plate, run, sample
        >>> from handlers import dims, seed, trace
        >>> def model():
        ...     with plate("a", 2), plate("b", 3):
        ...         return sample("x", D.Normal(0.0, 1.0))
        >>> pipeline = seed(jax.random.key(0)) >> dims(max_plate_nesting=2) >> trace()
        >>> _, (_, _, tr) = run(model, pipeline)()
        >>> [(f.name, f.dim) for f in tr["x"].cond_indep_stack]
        [('b', -2), ('a', -1)]
    """
    return wrap(fn, Dims(max_plate_nesting))
