"""``perform``: how a message travels the handlers in force.

Message order: ``process`` runs from the innermost handler (nearest the model) outwards,
stopping early at a handler that sets ``stop``; then the effect's default interpretation;
then ``postprocess`` from the outermost visited handler back inwards.

The handlers' states live in the frame (``effects._frame``), never in a local copy: each
handler call reads its state from the frame in force and writes the new one back. So a
handler's ``process``/``postprocess`` or an effect's ``default`` may itself perform
effects (a reparameteriser that samples an auxiliary site), and the state updates those
nested messages make are kept.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

from jax.extend.core import get_opaque_trace_state

from . import _frame
from ._frame import Frame as Frame, current_frame as current_frame, isolated as isolated
from ._handler import (
    Handled as Handled,
    Handler,
    Pipeline as Pipeline,
    identity as identity,
    run as run,
)
from ._messages import Effect

_E = TypeVar("_E", bound=Effect)


class UnhandledEffectError(TypeError):
    """An effect with no default interpretation reached no handler that handles it."""


def _interprets(handler: Handler, msg: Effect) -> bool:
    # Generic observers (trace, block, scope, the scan step tag) declare `Effect` itself:
    # they pass any message on but give none a meaning. An effect with no default needs a
    # handler that names its type (or a base class of it other than `Effect`).
    return any(t is not Effect and isinstance(msg, t) for t in handler.handles)


def _call(i: int, method: Callable[[Any, Any], tuple[Any, Any]], msg: Any) -> Any:
    """``method`` (of the ``i``-th handler in force) on ``msg`` and that handler's state
    in the frame; the new state is written back to the frame."""
    before = _frame.current_frame()
    assert before is not None
    msg, state = method(msg, before.states[i])
    now = _frame.current_frame()
    assert now is not None
    if state is not now.states[i]:
        _frame.update(now.states[:i] + (state,) + now.states[i + 1 :])
    return msg


def perform(msg: _E) -> _E:
    """Send ``msg`` through the handlers in force and return the handled message.

    This is how every primitive (``sample``, ``param``, ...) and every user-defined effect
    is performed. It is re-entrant (see the module docstring).
    """
    if not isinstance(msg, Effect):
        raise TypeError(f"perform expects an Effect message, got {type(msg).__name__}.")
    frame = _frame.current_frame()
    if frame is not None and frame.trace != get_opaque_trace_state():
        raise TypeError(
            f"{type(msg).__name__} site '{msg.name}' is performed inside a "
            "JAX transformation that the model entered itself (a plain jax.lax.scan, "
            "lax.fori_loop, lax.while_loop, lax.cond, jax.vmap or jax.jit around effectful "
            "code). The handlers' states cannot cross it: every step would get the same "
            "randomness and traces would leak tracers. Fix: use effects.scan for loops and "
            "effects.cond for branches whose body performs effects, or move the effects "
            "out of the transformation."
        )
    handlers = () if frame is None else frame.handlers
    visited: list[int] = []
    for i, h in enumerate(handlers):
        if not isinstance(msg, h.handles):
            continue
        msg = _call(i, h.process, msg)
        visited.append(i)
        if msg.stop:
            break
    if type(msg).has_default:
        # Handlers and defaults return a message of the type they were given
        # (``msg.replace(...)``).
        msg = cast(_E, msg.default())
    elif not any(_interprets(handlers[i], msg) for i in visited):
        names = [h.handler_name for h in handlers] or ["(none)"]
        raise UnhandledEffectError(
            f"Effect {type(msg).__name__} at site '{msg.name}' has no "
            f"default interpretation and no handler in force handles it (handlers in force, "
            f"innermost first: {', '.join(names)}). Fix: run the model under a handler whose "
            f"`handles` includes {type(msg).__name__}, or give the effect a default."
        )
    for i in reversed(visited):
        msg = _call(i, handlers[i].postprocess, msg)
    return msg
