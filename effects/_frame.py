"""The frame: the one piece of ambient state, and the one way in and out of it.

While a model runs, the ``ContextVar`` ``_FRAME`` holds an immutable :class:`Frame`: the
handlers in force (innermost first) and their current states. This module is the only one
that reads or writes the variable. Everything that changes what is in force goes through
:func:`enter` and :func:`exit` (or :func:`scoped`, which pairs them): ``run``, a handler's
``with`` block, ``plate``, and the bodies of effect-aware ``scan`` and ``cond``.
:func:`update` replaces the states of the handlers already in force (``perform`` uses it).

A context variable makes runs thread-safe (each thread has its own context) and
re-entrant; :func:`scoped` restores the outer frame in a ``finally`` block, so an error
inside a model never leaves handlers behind.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import equinox as eqx
from jax.extend.core import get_opaque_trace_state

if TYPE_CHECKING:
    from ._handler import Handler


def _current_trace() -> Any:
    return get_opaque_trace_state()


class Frame(eqx.Module):
    """The handlers in force, innermost first, with their current states.

    ``trace`` is the JAX trace the frame was made in. An effect performed under another
    trace (inside a plain ``jax.lax.scan``, ``vmap`` or ``jit`` that the model entered)
    would carry the handlers' states across that transformation and leak tracers, so
    ``perform`` refuses it.
    """

    handlers: tuple[Handler, ...]
    states: tuple[Any, ...]
    trace: Any = eqx.field(default_factory=_current_trace)


_FRAME: contextvars.ContextVar[Frame | None] = contextvars.ContextVar("effax_frame", default=None)


def current_frame() -> Frame | None:
    """The frame in force, or ``None`` outside any handled run."""
    return _FRAME.get()


def in_force() -> tuple[Handler, ...]:
    """The handlers in force, innermost first (empty outside any handled run)."""
    frame = _FRAME.get()
    return () if frame is None else frame.handlers


def _set(frame: Frame | None) -> None:
    _FRAME.set(frame if frame is not None and frame.handlers else None)


def update(states: tuple[Any, ...]) -> None:
    """Replace the states of the handlers in force (same handlers, same order)."""
    frame = _FRAME.get()
    if frame is None or len(frame.states) != len(states):
        raise RuntimeError(
            "effects: handler states were updated for a frame that is no longer in force "
            "(a handler or plate was entered or exited halfway through an effect)."
        )
    _FRAME.set(Frame(frame.handlers, tuple(states), frame.trace))


def enter(handlers: tuple[Handler, ...], states: tuple[Any, ...]) -> int:
    """Put ``handlers`` (with ``states``) innermost in force; return the depth of the frame
    outside them, to give to :func:`exit`.

    The new frame keeps the JAX trace of the frame it extends: handlers entered inside a
    plain ``jax.vmap``/``lax.scan`` that the model entered itself must not make the outer
    handlers' states look usable there.
    """
    frame = _FRAME.get()
    if frame is None:
        _FRAME.set(Frame(tuple(handlers), tuple(states)))
        return 0
    _FRAME.set(Frame(tuple(handlers) + frame.handlers, tuple(states) + frame.states, frame.trace))
    return len(frame.handlers)


def exit(handlers: tuple[Handler, ...], depth: int, what: str) -> tuple[Any, ...]:
    """Take ``handlers`` (entered by :func:`enter`, which returned ``depth``) out of force
    and return their final states.

    ``what`` names the context for the error raised when the frame is unbalanced: a plate
    or a handler's ``with`` block was left open inside, or exited out of order.
    """
    frame = _FRAME.get()
    n = len(handlers)
    found = () if frame is None else frame.handlers
    if len(found) != n + depth or any(a is not b for a, b in zip(found[:n], handlers)):
        innermost = ", ".join(h.handler_name for h in found[: max(n, 1)]) or "(none)"
        raise RuntimeError(
            f"{what} exited, but it is not the innermost handler in force (expected "
            f"{n + depth} handlers with its own innermost; found {len(found)}, innermost: "
            f"{innermost}). A plate or handler `with` block inside it was left open, or "
            "`with` blocks were exited out of order: they must be properly nested."
        )
    assert frame is not None
    _set(Frame(frame.handlers[n:], frame.states[n:], frame.trace))
    return frame.states[:n]


class Scope:
    """What :func:`scoped` yields: after the block, ``states`` holds the entered handlers'
    final states."""

    __slots__ = ("states",)

    def __init__(self) -> None:
        self.states: tuple[Any, ...] = ()


@contextlib.contextmanager
def scoped(
    handlers: tuple[Handler, ...], states: tuple[Any, ...], what: str, replace: bool = False
) -> Iterator[Scope]:
    """Run the block with ``handlers`` innermost in force (or, with ``replace``, as the
    only handlers in force); on leaving it normally, ``scope.states`` holds their final
    states.

    On leaving normally, the handlers outside keep the states the block gave them (a
    nested ``run`` updates the trace of the run around it); with ``replace``, the outer
    frame comes back as it was (the caller folds the body's states back itself). On an
    error, the outer frame is restored as it was before the block.
    """
    outer = _FRAME.get()
    if replace:
        _set(None)
    scope = Scope()
    try:
        depth = enter(handlers, states)
        yield scope
        scope.states = exit(handlers, depth, what)
    except BaseException:
        _FRAME.set(outer)
        raise
    if replace:
        _FRAME.set(outer)


def isolated(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)`` with no handlers in force: it runs in a fresh context, so a
    model run inside it sees none of the caller's handlers (and cannot change their
    states), wherever it is called from (a guide's setup run, a model's spec)."""
    return contextvars.Context().run(fn, *args, **kwargs)
