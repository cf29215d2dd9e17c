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

from typing import TYPE_CHECKING, Any, ClassVar

import equinox as eqx

from ._messages import Effect

if TYPE_CHECKING:
    from ._runtime import Handled, Pipeline


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
        from ._runtime import Pipeline

        return Pipeline((self,)) >> other

    def __rrshift__(self, other: Handler | Pipeline) -> Pipeline:
        from ._runtime import Pipeline

        return Pipeline.of(other) >> self

    def __call__(self, fn: Any) -> Handled:
        """Wrap ``fn`` NumPyro style: ``handler(fn)(*args)`` runs ``fn`` under this handler."""
        from ._runtime import Handled

        return Handled(fn, self)

    # --- NumPyro-style context manager, for handlers whose output is not needed ----------
    def __enter__(self) -> Handler:
        """``with seed(rng_seed=0): ...`` puts this handler innermost in force.

        Only for handlers whose output is ``None`` (``seed``, ``condition``, ``block``, ...):
        a ``with`` block has nowhere to return a trace or another accumulated output.
        """
        from ._runtime import push

        if getattr(self, "records_trace", False) or (
            type(self).output is Handler.output and self.init_state() is not None
        ):
            raise TypeError(
                f"{self.handler_name} is a stateful handler (its output, e.g. a trace, is "
                "returned by the runner), so it cannot be used as a context manager. Fix: "
                "use `trace(model).get_trace(*args)` or `run(model, trace())(*args)`."
            )
        push((self,), (self.init_state(),))
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        from ._runtime import _FRAME, Frame, _set_frame

        frame = _FRAME.get()
        if frame is None or not frame.handlers or frame.handlers[0] is not self:
            if exc_type is not None:
                return None
            raise RuntimeError(
                f"{self.handler_name} exited its `with` block but is not the innermost "
                "handler in force. Handler and plate `with` blocks must be properly nested."
            )
        state = frame.states[0]
        _set_frame(Frame(frame.handlers[1:], frame.states[1:]))
        if exc_type is None and self.output(state) is not None:
            raise TypeError(
                f"{self.handler_name} produced an output that a `with` block cannot return. "
                "Fix: run the model with `run(model, handler)(*args)` instead."
            )
        return None

    @property
    def handler_name(self) -> str:
        return type(self).__name__.lstrip("_")
