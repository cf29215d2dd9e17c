"""The runner: the one piece of ambient state, and how messages travel the pipeline.

The only ambient state is the ``ContextVar`` ``_FRAME``. While a model runs it holds an
immutable :class:`Frame`: the handlers in force (innermost first) and their current states.
Performing an effect reads the frame, passes the message through the handlers, and sets a
new frame with the new states. ``run`` sets the frame and resets it in a ``finally`` block,
so runs are thread-safe (each thread has its own context) and re-entrant.

Message order: ``process`` runs from the innermost handler (nearest the model) outwards,
stopping early at a handler that sets ``stop``; then the effect's default interpretation;
then ``postprocess`` from the outermost visited handler back inwards.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from typing import Any

import equinox as eqx
from jax.extend.core import get_opaque_trace_state

from ._handler import Handler
from ._messages import Effect


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


def _set_frame(frame: Frame | None) -> None:
    _FRAME.set(frame if frame is not None and frame.handlers else None)


class UnhandledEffectError(TypeError):
    """An effect with no default interpretation reached no handler that handles it."""


def _interprets(handler: Handler, msg: Effect) -> bool:
    # Generic observers (trace, block, scope, the scan step tag) declare `Effect` itself:
    # they pass any message on but give none a meaning. An effect with no default needs a
    # handler that names its type (or a base class of it other than `Effect`).
    return any(t is not Effect and isinstance(msg, t) for t in handler.handles)


class _States:
    """One ``perform``'s view of the handler states, kept in step with the ContextVar.

    The ContextVar stays the source of truth across nested performs: local state updates
    are written back before any handler call (which might perform effects itself), and
    read back after it.
    """

    __slots__ = ("handlers", "states", "current", "dirty")

    def __init__(self, frame):
        self.handlers = frame.handlers if frame is not None else ()
        self.states = list(frame.states) if frame is not None else []
        self.current = frame
        self.dirty = False

    def call(self, method, *args):
        if self.dirty:
            self.current = Frame(self.handlers, tuple(self.states))
            _FRAME.set(self.current)
            self.dirty = False
        out = method(*args)
        now = _FRAME.get()
        if now is not self.current and now is not None and len(now.states) == len(self.states):
            self.states = list(now.states)
            self.current = now
        return out

    def update(self, i, state):
        if state is not self.states[i]:
            self.states[i] = state
            self.dirty = True

    def finish(self):
        if self.current is not None and self.dirty:
            _FRAME.set(Frame(self.handlers, tuple(self.states)))


def perform(msg: Effect) -> Effect:
    """Send ``msg`` through the handlers in force and return the handled message.

    This is how every primitive (``sample``, ``param``, ...) and every user-defined effect
    is performed. It is re-entrant: a handler's ``process``/``postprocess`` or an effect's
    ``default`` may itself perform effects (say, a reparameteriser that samples an auxiliary
    site), and the state updates those nested messages make are kept.
    """
    if not isinstance(msg, Effect):
        raise TypeError(f"perform expects an Effect message, got {type(msg).__name__}.")
    frame = _FRAME.get()
    if frame is not None and frame.trace != get_opaque_trace_state():
        raise TypeError(
            f"{type(msg).__name__} site '{getattr(msg, 'name', None)}' is performed inside a "
            "JAX transformation that the model entered itself (a plain jax.lax.scan, "
            "lax.fori_loop, lax.while_loop, lax.cond, jax.vmap or jax.jit around effectful "
            "code). The handlers' states cannot cross it: every step would get the same "
            "randomness and traces would leak tracers. Fix: use effects.scan for loops and "
            "effects.cond for branches whose body performs effects, or move the effects "
            "out of the transformation."
        )
    st = _States(frame)
    handlers = st.handlers
    visited: list[int] = []
    for i, h in enumerate(handlers):
        if not isinstance(msg, h.handles):
            continue
        msg, new_state = st.call(h.process, msg, st.states[i])
        st.update(i, new_state)
        visited.append(i)
        if msg.stop:
            break
    if type(msg).has_default:
        msg = st.call(msg.default)
    elif not any(_interprets(handlers[i], msg) for i in visited):
        names = [h.handler_name for h in handlers] or ["(none)"]
        raise UnhandledEffectError(
            f"Effect {type(msg).__name__} at site '{getattr(msg, 'name', None)}' has no "
            f"default interpretation and no handler in force handles it (handlers in force, "
            f"innermost first: {', '.join(names)}). Fix: run the model under a handler whose "
            f"`handles` includes {type(msg).__name__}, or give the effect a default."
        )
    for i in reversed(visited):
        msg, new_state = st.call(handlers[i].postprocess, msg, st.states[i])
        st.update(i, new_state)
    st.finish()
    return msg


def push(handlers: tuple[Handler, ...], states: tuple[Any, ...]) -> int:
    """Put ``handlers`` innermost on the frame; return the depth to ``pop`` to later."""
    frame = _FRAME.get()
    outer_h = frame.handlers if frame is not None else ()
    outer_s = frame.states if frame is not None else ()
    _FRAME.set(Frame(tuple(handlers) + outer_h, tuple(states) + outer_s))
    return len(outer_h)


def pop(n: int, outer_depth: int) -> tuple[Any, ...]:
    """Remove the ``n`` innermost handlers; return their final states.

    ``outer_depth`` is the value ``push`` returned; it guards against unbalanced pushes
    (for instance a plate left open inside the model).
    """
    frame = _FRAME.get()
    if frame is None or len(frame.handlers) != n + outer_depth:
        found = 0 if frame is None else len(frame.handlers)
        raise RuntimeError(
            f"Handler frame is unbalanced: expected {n + outer_depth} handlers in force, "
            f"found {found}. A plate or handler context was entered and not exited."
        )
    inner_states = frame.states[:n]
    _set_frame(Frame(frame.handlers[n:], frame.states[n:]))
    return inner_states


class Pipeline(eqx.Module):
    """An immutable sequence of handlers, innermost (nearest the model) first.

    ``a >> b`` puts ``a`` inside ``b``: messages reach ``a`` first. Composition is
    associative, and ``Pipeline(())`` is its identity.
    """

    handlers: tuple[Handler, ...] = ()

    def __check_init__(self):
        for h in self.handlers:
            if not isinstance(h, Handler):
                raise TypeError(
                    f"A Pipeline holds Handler instances; got {type(h).__name__}. "
                    "Build pipelines with `>>` from handler values such as `seed(key)`."
                )

    @staticmethod
    def of(x: Handler | Pipeline) -> Pipeline:
        if isinstance(x, Pipeline):
            return x
        if isinstance(x, Handler):
            return Pipeline((x,))
        raise TypeError(
            f"Expected a Handler or a Pipeline, got {type(x).__name__}. "
            "Did you pass a model where a handler was expected?"
        )

    def __rshift__(self, other: Handler | Pipeline) -> Pipeline:
        return Pipeline(self.handlers + Pipeline.of(other).handlers)

    def __rrshift__(self, other: Handler | Pipeline) -> Pipeline:
        return Pipeline(Pipeline.of(other).handlers + self.handlers)

    def __len__(self) -> int:
        return len(self.handlers)

    def __iter__(self):
        return iter(self.handlers)

    def __call__(self, fn: Callable) -> Callable:
        """``pipeline(fn)`` is ``run(fn, pipeline)``."""
        return run(fn, self)

    def handles(self, effect_type: type[Effect]) -> bool:
        """Whether some handler in the pipeline handles ``effect_type``."""
        return any(issubclass(effect_type, h.handles) for h in self.handlers)


def identity() -> Pipeline:
    """The empty pipeline: running a model under it changes nothing."""
    return Pipeline(())


def _check_model(fn: Any) -> None:
    if not callable(fn):
        raise TypeError(
            f"Expected a model (a callable), got {type(fn).__name__}: {fn!r}. "
            "Fix: pass the model function itself, e.g. `run(model, pipeline)(*args)` or "
            "`seed(model, rng_seed=0)`, not the result of calling it."
        )


def run(model: Callable, pipeline: Handler | Pipeline) -> Callable[..., tuple[Any, tuple]]:
    """Run ``model`` under ``pipeline``.

    Returns a function of the model's arguments that gives ``(value, outputs)``, where
    ``outputs`` is a tuple with one entry per handler of the pipeline (the handler's
    ``output``, e.g. the trace for ``trace()``, ``None`` for stateless handlers).

    Example:
        >>> import jax, dists as D
        >>> from effects import sample, run
        >>> from handlers import seed, trace
        >>> def model():
        ...     return sample("x", D.Normal(0.0, 1.0))
        >>> value, (_, tr) = run(model, seed(jax.random.key(0)) >> trace())()
        >>> bool(tr["x"].value == value)
        True
    """
    _check_model(model)
    pipe = Pipeline.of(pipeline)

    def runner(*args: Any, **kwargs: Any) -> tuple[Any, tuple]:
        hs = pipe.handlers
        states0 = tuple(h.init_state() for h in hs)
        outer = _FRAME.get()
        depth = push(hs, states0)
        try:
            value = model(*args, **kwargs)
            final = pop(len(hs), depth)
        except BaseException:
            _set_frame(outer)
            raise
        return value, tuple(h.output(s) for h, s in zip(hs, final))

    return runner


class Handled(eqx.Module):
    """``fn`` wrapped by one handler, NumPyro style: ``seed(model, 0)``, ``trace(fn)``.

    Calling it runs ``fn`` with the handler innermost in force and returns ``fn``'s value.
    ``get_trace`` (for ``trace``) returns the handler's output instead.
    """

    fn: Callable
    handler: Handler

    def __check_init__(self):
        _check_model(self.fn)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return run(self.fn, self.handler)(*args, **kwargs)[0]

    def run(self, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
        """Run and return ``(value, output of this handler)``."""
        value, (out,) = run(self.fn, self.handler)(*args, **kwargs)
        return value, out

    def get_trace(self, *args: Any, **kwargs: Any) -> Any:
        """Run and return the trace (only for a ``trace`` handler)."""
        if not getattr(self.handler, "records_trace", False):
            raise TypeError(
                f"get_trace() needs a trace handler outermost, but this is wrapped by "
                f"{self.handler.handler_name}. Fix: `trace(...).get_trace(*args)`."
            )
        return self.run(*args, **kwargs)[1]
