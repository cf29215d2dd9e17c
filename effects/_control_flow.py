"""Effect-aware control flow: ``scan`` and ``cond`` whose bodies may perform effects.

The handlers in force are threaded through ``lax.scan``/``lax.cond``. Handlers with
``scan_mode == "carry"`` carry their state through the loop. Handlers with
``scan_mode == "stack"`` start each step with a fresh state; the step states are stacked
along time as scan outputs and folded back with ``Handler.merge``. So a trace inside
``scan`` holds each site stacked along time.

Each site inside the body gets the step number in ``msg.indices`` (outermost loop first),
so ``seed`` gives each step its own randomness and ``condition``/``substitute`` can take
time-stacked values.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
from jax import lax

from ._handler import Handler
from ._messages import Effect
from ._runtime import _FRAME, Frame, _set_frame


class ScanStep(Handler):
    """Tags every message performed in a scan body with the step number (``length``: the
    scan's number of steps, static)."""

    handles: ClassVar = (Effect,)
    step: jax.Array
    length: int = eqx.field(static=True, default=-1)

    def process(self, msg, state):
        if hasattr(msg, "indices"):
            msg = msg.replace(indices=(self.step,) + tuple(msg.indices))
        return msg, state


def scan_lengths() -> tuple[int, ...]:
    """The lengths of the effect-aware scans enclosing the current point, outermost first
    (the order of a message's ``indices``)."""
    frame = _FRAME.get()
    if frame is None:
        return ()
    return tuple(h.length for h in reversed(frame.handlers) if isinstance(h, ScanStep))


def _as_carry(x: Any) -> Any:
    # Carried states must keep dtype and weak type fixed across iterations.
    return jax.tree.map(lambda a: jnp.asarray(a, dtype=jnp.result_type(a)), x)


def _run_body(handlers, states, extra: tuple[Handler, ...], fn, *args):
    """Run ``fn(*args)`` under ``extra + handlers`` with ``states``; return value and states."""
    token = _FRAME.set(Frame(tuple(extra) + handlers, (None,) * len(extra) + tuple(states)))
    try:
        out = fn(*args)
        frame = _FRAME.get()
        if frame is None or len(frame.handlers) != len(extra) + len(handlers):
            raise RuntimeError("A plate or handler context was left open inside a scan/cond body.")
        new_states = frame.states[len(extra) :]
    finally:
        _FRAME.reset(token)
    return out, new_states


def _split(handlers, states):
    carry_idx = tuple(i for i, h in enumerate(handlers) if h.scan_mode == "carry")
    return carry_idx, tuple(_as_carry(states[i]) for i in carry_idx)


def _join(handlers, states, carry_idx, carried, fresh_outs):
    out = []
    ci = iter(carried)
    fi = iter(fresh_outs)
    for i, h in enumerate(handlers):
        if i in carry_idx:
            out.append(next(ci))
        else:
            out.append(h.merge(states[i], next(fi)))
    return tuple(out)


def scan(
    f: Callable,
    init: Any,
    xs: Any,
    length: int | None = None,
    reverse: bool = False,
    unroll: int | bool = 1,
) -> tuple[Any, Any]:
    """``lax.scan`` whose body ``f(carry, x) -> (carry, y)`` may perform effects.

    Outside any handler it is exactly ``lax.scan``. Under handlers, traces hold each site
    of the body stacked along a leading time axis, and ``seed`` gives each step its own key.
    """
    frame = _FRAME.get()
    if frame is None or not frame.handlers:
        return lax.scan(f, init, xs, length=length, reverse=reverse, unroll=unroll)
    handlers, states = frame.handlers, frame.states
    carry_idx, carried0 = _split(handlers, states)
    n = length if length is not None else jax.tree.leaves(xs)[0].shape[0]

    def body(carry, x):
        c, carried, t = carry
        step = (n - 1 - t) if reverse else t
        it = iter(carried)
        step_states = tuple(
            next(it) if i in carry_idx else h.init_state() for i, h in enumerate(handlers)
        )
        (c2, y), new_states = _run_body(handlers, step_states, (ScanStep(step, n),), f, c, x)
        new_carried = tuple(_as_carry(new_states[i]) for i in carry_idx)
        fresh = tuple(new_states[i] for i in range(len(handlers)) if i not in carry_idx)
        return (c2, new_carried, t + 1), (y, fresh)

    (c_final, carried, _), (ys, fresh_stacked) = lax.scan(
        body, (init, carried0, jnp.asarray(0)), xs, length=length, reverse=reverse, unroll=unroll
    )
    _set_frame(Frame(handlers, _join(handlers, states, carry_idx, carried, fresh_stacked)))
    return c_final, ys


def cond(pred: Any, true_fun: Callable, false_fun: Callable, *operands: Any) -> Any:
    """``lax.cond`` whose branches may perform effects.

    Both branches must perform the same sites with the same shapes, so that the handlers'
    states have one structure; the trace then holds the taken branch's values.
    """
    frame = _FRAME.get()
    if frame is None or not frame.handlers:
        return lax.cond(pred, true_fun, false_fun, *operands)
    handlers, states = frame.handlers, frame.states
    carry_idx, carried0 = _split(handlers, states)

    def branch(fn):
        def wrapped(carried, *ops):
            it = iter(carried)
            st = tuple(
                next(it) if i in carry_idx else h.init_state() for i, h in enumerate(handlers)
            )
            out, new_states = _run_body(handlers, st, (), fn, *ops)
            new_carried = tuple(_as_carry(new_states[i]) for i in carry_idx)
            fresh = tuple(new_states[i] for i in range(len(handlers)) if i not in carry_idx)
            return out, new_carried, fresh

        return wrapped

    try:
        out, carried, fresh = lax.cond(
            pred, branch(true_fun), branch(false_fun), carried0, *operands
        )
    except TypeError as e:
        raise ValueError(
            "effects.cond: the two branches perform different sites or give them different "
            "shapes, so the handlers' states differ between branches. Fix: make both "
            f"branches perform the same named sites with the same shapes. ({e})"
        ) from e
    _set_frame(Frame(handlers, _join(handlers, states, carry_idx, carried, fresh)))
    return out
