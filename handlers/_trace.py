"""``trace``: record every named site, in program order."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import ClassVar, overload

import equinox as eqx
from jaxtyping import Array

from effects import AbstractSite, Effect, Handled, Handler as _Handler, Plate

from ._common import wrap
from ._factors import LogFactor, sum_factors


class Trace(eqx.Module, Mapping):
    """An immutable, ordered record of a run: site name -> message.

    It is a pytree (names are static, messages are leaves), so it passes through ``jit``,
    ``vmap`` and ``lax.scan``; and a ``Mapping``, so NumPyro code such as
    ``tr["x"]["value"]`` keeps working.
    """

    names: tuple[str, ...] = eqx.field(static=True, default=())
    sites: tuple[Effect, ...] = ()

    def __getitem__(self, name: str) -> Effect:
        try:
            return self.sites[self.names.index(name)]
        except ValueError:
            raise KeyError(
                f"No site named '{name}' in the trace; sites are {list(self.names)}."
            ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)

    def __contains__(self, name: object) -> bool:
        return name in self.names

    def __hash__(self):
        return id(self)

    def __eq__(self, other):
        return self is other

    def add(self, msg: Effect) -> Trace:
        name = msg.name
        if name is None:
            raise ValueError(
                f"Trace.add: this {msg.type_name} message has no name, and a trace records "
                "named sites only. Fix: give the effect a name, or do not record it."
            )
        if name in self.names:
            old = self[name]
            if isinstance(msg, Plate) and isinstance(old, Plate) and old.size == msg.size:
                return self
            raise ValueError(
                f"Site '{name}' appears twice in the model ({old.type_name} and "
                f"{msg.type_name}). Site names must be unique. Fix: rename one of them, or "
                "wrap a repeated submodel in `scope(prefix=...)`."
            )
        return Trace(self.names + (name,), self.sites + (msg,))

    def log_prob_sum(self) -> Array:
        """Sum of the scaled, masked log densities of all sample and factor sites (the sum
        of their factors; raises on a factor with an enumerated dim)."""
        return sum_factors(LogFactor.of(s) for s in self.sites if isinstance(s, AbstractSite))


class TraceHandler(_Handler):
    """Records every named site into a :class:`Trace` (its state and output)."""

    handles: ClassVar = (Effect,)
    scan_mode: ClassVar[str] = "stack"
    records_trace: ClassVar[bool] = True

    def init_state(self) -> Trace:
        return Trace()

    def postprocess(self, msg, state):
        if msg.name is None:
            return msg, state
        return msg, state.add(msg)

    def merge(self, state: Trace, inner: Trace) -> Trace:
        for site in inner.sites:
            state = state.add(site)
        return state


@overload
def trace(fn: None = None) -> TraceHandler: ...
@overload
def trace(fn: Callable) -> Handled: ...
def trace(fn: Callable | None = None) -> TraceHandler | Handled:
    """Record the sites of a run. ``trace()`` is a handler; ``trace(model)`` wraps, and
    ``trace(model).get_trace(*args)`` returns the :class:`Trace`."""
    return wrap(fn, TraceHandler())
