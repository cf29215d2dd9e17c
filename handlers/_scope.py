"""``scope``: prefix site names, so that a submodel can be used more than once."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import equinox as eqx

from effects import CondIndepStackFrame, Effect, Handled, Handler as _Handler, Site

from ._common import wrap


class Scope(_Handler):
    """Renames every named site ``f"{prefix}{divider}{name}"``, and the plates recorded on
    the sites likewise.

    Nested scopes compose: the inner scope renames first, so a site ``x`` under
    ``scope(prefix="inner")`` under ``scope(prefix="outer")`` is ``outer/inner/x``.
    ``hide_types`` lists effect types (classes, or type names such as ``"plate"``) whose
    sites keep their names; hiding ``"plate"`` also keeps the plate names on the sites.
    """

    handles: ClassVar = (Effect,)

    prefix: str = eqx.field(static=True)
    divider: str = eqx.field(static=True, default="/")
    hide_types: tuple = eqx.field(static=True, default=())

    def _hidden(self, type_name: str, cls: type | None = None) -> bool:
        for t in self.hide_types:
            if isinstance(t, str):
                if t == type_name:
                    return True
            elif cls is not None and issubclass(cls, t):
                return True
        return False

    def _rename(self, name: str) -> str:
        return f"{self.prefix}{self.divider}{name}"

    def process(self, msg, state):
        changes = {}
        name = msg.name
        if name is not None and not self._hidden(msg.type_name, type(msg)):
            changes["name"] = self._rename(name)
        stack = msg.cond_indep_stack if isinstance(msg, Site) else ()
        if stack and not self._hidden("plate"):
            changes["cond_indep_stack"] = tuple(
                CondIndepStackFrame(self._rename(f.name), f.dim, f.size) for f in stack
            )
        return (msg.replace(**changes) if changes else msg), state


def scope(
    fn: Any = None,
    prefix: str = "",
    divider: str = "/",
    hide_types: Sequence[str | type] | None = None,
) -> Scope | Handled:
    """Prefix the names of the sites inside with ``prefix`` and ``divider``.

    ``scope(prefix="a")`` is a handler; ``scope(model, "a")`` wraps (NumPyro style).

    Example:
        >>> import jax, dists as D
        >>> from effects import sample
        >>> from handlers import seed, trace
        >>> def model():
        ...     return sample("x", D.Normal(0.0, 1.0))
        >>> list(trace(seed(scope(model, prefix="a"), rng_seed=0)).get_trace())
        ['a/x']
    """
    if fn is not None and not callable(fn) and isinstance(fn, str) and not prefix:
        fn, prefix = None, fn
    if not isinstance(prefix, str) or not isinstance(divider, str):
        raise TypeError(
            f"scope: prefix and divider must be strings, got {prefix!r} and {divider!r}."
        )
    return wrap(fn, Scope(prefix, divider, tuple(hide_types or ())))
