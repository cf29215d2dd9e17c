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

    @property
    def handler_name(self) -> str:
        return type(self).__name__.lstrip("_")
