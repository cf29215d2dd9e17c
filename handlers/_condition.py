"""``condition`` and ``substitute``: give sites values from data or a function."""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, overload

import equinox as eqx
import jax
import jax.numpy as jnp

from effects import (
    Deterministic,
    Handled,
    Handler as _Handler,
    Param,
    Plate,
    Sample,
    scan_lengths,
)

from ._common import SeenNames, check_on_unknown, check_unknown, index_steps, wrap


def _steps_given(data: Any, indices: tuple) -> int | None:
    """Inside an effect-aware scan: the number of steps the time-stacked ``data`` cover,
    when that is fewer than the scan's length; else ``None``."""
    if not indices:
        return None
    lengths = scan_lengths()
    leaves = jax.tree.leaves(data)
    if not lengths or lengths[0] < 0 or not leaves or jnp.ndim(leaves[0]) == 0:
        return None
    n = jnp.shape(leaves[0])[0]
    return n if 0 < n < lengths[0] else None


def _as_data(data: Mapping[str, Any] | None, who: str) -> dict[str, Any]:
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise TypeError(
            f"{who}: data must be a mapping from site name to value, got "
            f"{type(data).__name__}. Fix: pass a dict such as {{'y': y}}."
        )
    return {str(k): v for k, v in data.items()}


class _SiteValues(_Handler):
    """Abstract base of ``Condition`` and ``Substitute``: give sites values.

    A site named in ``data`` gets that value; inside an effect-aware ``scan`` the value is
    stacked along time (leading axis per loop) and the current step is taken. When a value
    function is given instead, it is called with each message and returns a value, or
    ``None`` to leave the site alone. Data naming a site the model does not perform is
    reported after the run according to ``on_unknown``.
    """

    scan_mode: ClassVar[str] = "stack"
    # The public name used in error and warning messages.
    verb: eqx.AbstractClassVar[str]
    # Whether a site given a value is marked observed (``condition``) or stays latent.
    marks_observed: eqx.AbstractClassVar[bool]

    data: eqx.AbstractVar[dict[str, Any]]
    # Subclasses declare ``on_unknown: str`` too, after their value function. It is not an
    # AbstractVar here because a base declaration would fix its position before the value
    # function and so change the positional constructor ``Condition(data, fn, on_unknown)``.

    @property
    @abc.abstractmethod
    def value_fn(self) -> Callable | None:
        """The function ``msg -> value | None`` used instead of ``data``, if any."""

    def __check_init__(self):
        check_on_unknown(self.on_unknown)

    def init_state(self):
        return SeenNames()

    def process(self, msg, state):
        if self.value_fn is not None:
            value = self.value_fn(msg)
        elif msg.name in self.data:
            state = state.add(msg.name)
            indices = msg.indices if msg.indexed else ()
            data = self.data[msg.name]
            short = _steps_given(data, indices)
            if short is not None:
                return self._past_the_data(msg, data, indices, short), state
            value = index_steps(data, indices)
        else:
            # Every site seen is recorded, so an unknown-name report can list them.
            return msg, state.add(msg.name)
        if value is None:
            return msg, state
        if self.marks_observed:
            return msg.replace(value=jnp.asarray(value), is_observed=True), state
        return msg.replace(value=jnp.asarray(value)), state

    def _past_the_data(self, msg, data, indices, n):
        """A site inside a scan whose data cover only its first ``n`` steps: those steps
        take the data, and the later ones are drawn (NumPyro's forecasting pattern)."""
        if not isinstance(msg, Sample):
            raise ValueError(
                f"{self.verb}: the data for site '{msg.name}' cover {n} steps of a scan of "
                f"{scan_lengths()[0]} steps; only sample sites can be drawn past the data. "
                "Fix: pass a value for every step."
            )
        step = indices[0]
        value = index_steps(data, (jnp.minimum(step, n - 1),) + tuple(indices[1:]))
        fill = step >= n
        changes = {"value": jnp.asarray(value), "fill": fill}
        if self.marks_observed:
            changes["is_observed"] = True
        return msg.replace(**changes)

    def merge(self, state, inner):
        return state.union(inner)

    def output(self, state):
        if self.value_fn is None:
            check_unknown(self.verb, self.data, state, self.on_unknown)
        return None


class Condition(_SiteValues):
    """Observe sample sites: each site named in ``data`` gets that value, marked observed.

    Inside an effect-aware ``scan``, values are stacked along time (leading axis per loop).
    ``condition_fn(msg)`` may instead return a value (or ``None``) for each site.
    """

    handles: ClassVar = (Sample,)
    verb: ClassVar[str] = "condition"
    marks_observed: ClassVar[bool] = True

    data: dict[str, Any]
    condition_fn: Callable | None = eqx.field(static=True, default=None)
    on_unknown: str = eqx.field(static=True, default="warn")

    @property
    def value_fn(self) -> Callable | None:
        return self.condition_fn


def condition(
    fn: Any = None,
    data: Mapping[str, Any] | None = None,
    condition_fn: Callable | None = None,
    *,
    on_unknown: str = "warn",
) -> Condition | Handled:
    """Condition sample sites on observed values.

    ``condition(data)`` is a handler; ``condition(model, data)`` wraps (NumPyro style).
    Data naming a site the model does not perform gives a warning
    (``on_unknown="error"`` makes it an error, ``"ignore"`` silences it).
    """
    if fn is not None and not callable(fn) and data is None:
        fn, data = None, fn
    return wrap(fn, Condition(_as_data(data, "condition"), condition_fn, on_unknown))


class Substitute(_SiteValues):
    """Replace the values of sample, param, plate and deterministic sites.

    Unlike ``condition``, a substituted sample site keeps its ``is_observed`` flag: it is
    still a latent variable whose value happens to be fixed (as when evaluating a log
    density at a point). Values inside ``scan`` are stacked along time.
    """

    handles: ClassVar = (Sample, Param, Plate, Deterministic)
    verb: ClassVar[str] = "substitute"
    marks_observed: ClassVar[bool] = False

    data: dict[str, Any]
    substitute_fn: Callable | None = eqx.field(static=True, default=None)
    on_unknown: str = eqx.field(static=True, default="warn")

    @property
    def value_fn(self) -> Callable | None:
        return self.substitute_fn


@overload
def substitute(
    fn: None = None,
    data: Mapping[str, Any] | None = None,
    substitute_fn: Callable | None = None,
    *,
    on_unknown: str = "warn",
) -> Substitute: ...
@overload
def substitute(
    fn: Mapping[str, Any],
    data: None = None,
    substitute_fn: None = None,
    *,
    on_unknown: str = "warn",
) -> Substitute: ...  # `substitute(data)`
@overload
def substitute(
    fn: Callable,
    data: Mapping[str, Any] | None = None,
    substitute_fn: Callable | None = None,
    *,
    on_unknown: str = "warn",
) -> Handled: ...
def substitute(
    fn: Any = None,
    data: Mapping[str, Any] | None = None,
    substitute_fn: Callable | None = None,
    *,
    on_unknown: str = "warn",
) -> Substitute | Handled:
    """Fix site values from ``data`` (a dict) or ``substitute_fn(msg) -> value | None``."""
    if fn is not None and not callable(fn) and data is None and substitute_fn is None:
        fn, data = None, fn
    if substitute_fn is not None and data:
        raise ValueError("substitute: pass either data or substitute_fn, not both.")
    return wrap(fn, Substitute(_as_data(data, "substitute"), substitute_fn, on_unknown))
