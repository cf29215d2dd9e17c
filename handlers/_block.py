"""``block``: hide sites from the handlers outside it."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import ClassVar

import equinox as eqx

from effects import Effect, Handled, Handler as _Handler

from ._common import SeenNames, wrap


class Block(_Handler):
    """Stops messages from reaching outer handlers.

    A site is hidden when ``hide_fn(msg)`` is true; else when it is named in ``hide``; else
    when ``expose`` (or ``expose_types``) is given and the site is not in it; else when its
    type is in ``hide_types``. With no arguments, everything is hidden.
    """

    handles: ClassVar = (Effect,)

    hide_fn: Callable | None = eqx.field(static=True, default=None)
    hide: tuple[str, ...] | None = eqx.field(static=True, default=None)
    expose: tuple[str, ...] | None = eqx.field(static=True, default=None)
    hide_types: tuple[type, ...] | None = eqx.field(static=True, default=None)
    expose_types: tuple[type, ...] | None = eqx.field(static=True, default=None)

    def hides(self, msg: Effect) -> bool:
        name = msg.name
        if self.hide_fn is not None:
            return bool(self.hide_fn(msg))
        if self.hide is not None:
            return name in self.hide
        if self.expose is not None or self.expose_types is not None:
            exposed = (self.expose is not None and name in self.expose) or (
                self.expose_types is not None and isinstance(msg, self.expose_types)
            )
            return not exposed
        if self.hide_types is not None:
            return isinstance(msg, self.hide_types)
        return True

    scan_mode: ClassVar[str] = "stack"

    def init_state(self):
        return SeenNames()

    def process(self, msg, state):
        if msg.name is not None:
            state = state.add(msg.name)
        if self.hides(msg):
            return msg.replace(stop=True), state
        return msg, state

    def merge(self, state, inner):
        return state.union(inner)

    def output(self, state):
        # An `expose` name that no site reaching this block had is most often misspelled
        # (and then everything is hidden). `hide` names are not checked: an inner block may
        # already have hidden them, which composes (block_union in proofs/).
        if self.hide_fn is None and self.hide is None and self.expose is not None:
            unknown = sorted(set(self.expose) - set(state.names))
            if unknown:
                warnings.warn(
                    f"block: expose={unknown} names no site that reached this block (sites "
                    f"seen: {sorted(state.names)}); those names expose nothing. Fix: check "
                    "the spelling.",
                    UserWarning,
                    stacklevel=4,
                )
        return None


def _names(x: Sequence[str] | str | None) -> tuple[str, ...] | None:
    if x is None:
        return None
    if isinstance(x, str):
        return (x,)
    return tuple(x)


def block(
    fn: Callable | None = None,
    hide_fn: Callable | None = None,
    hide: Sequence[str] | None = None,
    expose: Sequence[str] | None = None,
    hide_types: Sequence[type] | None = None,
    expose_types: Sequence[type] | None = None,
) -> Block | Handled:
    """Hide sites from outer handlers (by name, by type, or by predicate)."""
    return wrap(
        fn,
        Block(
            hide_fn,
            _names(hide),
            _names(expose),
            None if hide_types is None else tuple(hide_types),
            None if expose_types is None else tuple(expose_types),
        ),
    )
