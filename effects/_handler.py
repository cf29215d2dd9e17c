"""The abstract handler interface.

A handler is an immutable ``eqx.Module``. Its data are pytree leaves; its configuration is
static. A handler that accumulates something (a trace, a log density) declares its initial
state with ``init_state`` and returns a new state from ``process``/``postprocess``; the
runner threads the states and returns them. Nothing is stored on the handler.

``handles`` lists the effect types the handler acts on; other messages pass it by.

Inside an effect-aware ``scan``, a handler's state is either carried through the loop
(``scan_mode = "carry"``: the state must keep a fixed structure, e.g. a scalar sum) or
started fresh at each step, stacked along time and folded back with ``merge``
(``scan_mode = "stack"``: e.g. a trace, whose sites are stacked along time).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import equinox as eqx

from . import _frame
from ._messages import Effect


class Handler(eqx.Module):
    """Abstract base of all handlers. See the module docstring for the protocol."""

    handles: ClassVar[tuple[type[Effect], ...]] = (Effect,)
    scan_mode: ClassVar[str] = "carry"

    def init_state(self) -> Any:
        """The state this handler starts a run with (``None`` for stateless handlers)."""
        return None

    def process(self, msg: Effect, state: Any) -> tuple[Effect, Any]:
        """Act on ``msg`` on its way out of the model (before the default interpretation)."""
        return msg, state

    def postprocess(self, msg: Effect, state: Any) -> tuple[Effect, Any]:
        """Act on ``msg`` on its way back to the model (after the default interpretation)."""
        return msg, state

    def output(self, state: Any) -> Any:
        """What ``run`` returns for this handler, given its final state."""
        return state

    def merge(self, state: Any, inner: Any) -> Any:
        """Fold the state of a scan body (stacked along time) or a cond branch into ``state``.

        Only called when ``scan_mode == "stack"``.
        """
        return state

    # --- composition -------------------------------------------------------------------
    def __rshift__(self, other: Handler | Pipeline) -> Pipeline:
        return Pipeline((self,)) >> other

    def __rrshift__(self, other: Handler | Pipeline) -> Pipeline:
        return Pipeline.of(other) >> self

    def __call__(self, fn: Any) -> Handled:
        """Wrap ``fn`` NumPyro style: ``handler(fn)(*args)`` runs ``fn`` under this handler."""
        if not callable(fn):
            raise TypeError(
                f"{self.handler_name}: expected a model (a callable) to wrap, got "
                f"{type(fn).__name__}: {fn!r}. Fix: pass the model function itself, or pass "
                "the handler's data by keyword."
            )
        return Handled(fn, self)

    # --- NumPyro-style context manager, for handlers whose output is not needed ----------
    def __enter__(self) -> Handler:
        """``with seed(rng_seed=0): ...`` puts this handler innermost in force.

        Only for handlers whose output is ``None`` (``seed``, ``condition``, ``block``, ...):
        a ``with`` block has nowhere to return a trace or another accumulated output.
        """
        if getattr(self, "records_trace", False) or (
            type(self).output is Handler.output and self.init_state() is not None
        ):
            raise TypeError(
                f"{self.handler_name} is a stateful handler (its output, e.g. a trace, is "
                "returned by the runner), so it cannot be used as a context manager. Fix: "
                "use `trace(model).get_trace(*args)` or `run(model, trace())(*args)`."
            )
        _frame.enter((self,), (self.init_state(),))
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        handlers = _frame.in_force()
        if exc_type is not None and (not handlers or handlers[0] is not self):
            return None  # the error that is on its way out says more than this one would
        (state,) = _frame.exit((self,), len(handlers) - 1, f"`with {self.handler_name}`")
        if exc_type is None and self.output(state) is not None:
            raise TypeError(
                f"{self.handler_name} produced an output that a `with` block cannot return. "
                "Fix: run the model with `run(model, handler)(*args)` instead."
            )
        return None

    @property
    def handler_name(self) -> str:
        return type(self).__name__.lstrip("_")


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
        with _frame.scoped(hs, tuple(h.init_state() for h in hs), "run") as scope:
            value = model(*args, **kwargs)
        return value, tuple(h.output(s) for h, s in zip(hs, scope.states))

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
