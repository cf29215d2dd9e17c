"""Helpers shared by the standard handlers."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, TypeVar

import equinox as eqx
import jax
import jax.numpy as jnp

from effects import Handled, Handler

_H = TypeVar("_H", bound=Handler)


class SeenNames(eqx.Module):
    """Site names a handler has acted on. Only static data, so it passes through
    ``lax.scan``/``lax.cond`` as structure without any array leaves."""

    names: frozenset = eqx.field(static=True, default=frozenset())

    def add(self, name: str) -> SeenNames:
        if name in self.names:
            return self
        return SeenNames(self.names | {name})

    def union(self, other: SeenNames) -> SeenNames:
        return SeenNames(self.names | other.names)


def index_steps(value: Any, indices: tuple) -> Any:
    """Select the current scan step(s) from a time-stacked value (outermost loop first)."""
    for i in indices:
        # jnp.asarray: user data may be NumPy arrays, which cannot be indexed by the
        # traced step number of a scan.
        value = jax.tree.map(lambda v, i=i: jnp.asarray(v)[i], value)
    return value


def check_unknown(handler_name: str, data_names, seen: SeenNames, on_unknown: str) -> None:
    unknown = sorted(set(data_names) - set(seen.names))
    if not unknown or on_unknown == "ignore":
        return
    msg = (
        f"{handler_name}: data name site(s) {unknown} that the model did not perform "
        f"(sites seen: {sorted(seen.names)}). Fix: check the spelling or remove the "
        f"extra entries; pass on_unknown='ignore' to silence this."
    )
    if on_unknown == "error":
        raise ValueError(msg)
    warnings.warn(msg, UserWarning, stacklevel=4)


def check_on_unknown(value: str) -> None:
    if value not in ("error", "warn", "ignore"):
        raise ValueError(f"on_unknown must be 'error', 'warn' or 'ignore', got {value!r}.")


def wrap(fn: Callable | None, handler: _H) -> _H | Handled:
    """NumPyro-style dual use: ``h(fn, ...)`` wraps fn; ``h(...)`` is the handler itself."""
    return handler if fn is None else handler(fn)
