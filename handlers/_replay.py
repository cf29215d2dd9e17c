"""``replay``: give latent sites the values recorded in a trace."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import jax.numpy as jnp

from effects import FrozenDict, Handled, Handler as _Handler, Plate, Sample

from ._common import index_steps, wrap


class Replay(_Handler):
    """Latent sample sites and plates named in ``trace`` take the trace's value.

    Observed sample sites keep their observed value. Inside an effect-aware ``scan`` the
    trace holds each site stacked along time (as ``trace`` records it), and each step takes
    its own slice. A recorded sample site also passes its ``infer`` configuration on, as in
    NumPyro (so, for example, a guide's enumeration settings reach the model).
    """

    handles: ClassVar = (Sample, Plate)

    trace: Mapping[str, Any]

    def process(self, msg, state):
        if msg.name not in self.trace:
            return msg, state
        if isinstance(msg, Sample) and msg.is_observed:
            return msg, state
        guide = self.trace[msg.name]
        if guide["type"] != msg.type_name or guide.get("is_observed", False):
            raise ValueError(
                f"replay: site '{msg.name}' is a latent {msg.type_name} site in the model, but "
                f"the trace holds it as {'an observed' if guide.get('is_observed') else 'a'} "
                f"{guide['type']} site. Fix: replay a trace in which '{msg.name}' was "
                "sampled, e.g. one recorded from a guide or from the prior."
            )
        value = index_steps(guide["value"], msg.indices if msg.indexed else ())
        msg = msg.replace(value=jnp.asarray(value))
        if isinstance(msg, Sample):
            infer = guide.get("infer")
            if infer:
                msg = msg.replace(infer=FrozenDict(infer))
        return msg, state


def replay(fn: Any = None, trace: Mapping[str, Any] | None = None) -> Replay | Handled:
    """Replay the latent values of ``trace`` (a :class:`handlers.Trace`, or a mapping from
    site name to a message-like mapping with ``"type"`` and ``"value"``).

    ``replay(trace=tr)`` is a handler; ``replay(model, tr)`` wraps (NumPyro style).

    Example:
        >>> import jax, dists as D
        >>> from effects import sample
        >>> from handlers import seed, trace
        >>> def model():
        ...     return sample("x", D.Normal(0.0, 1.0))
        >>> tr = trace(seed(model, rng_seed=0)).get_trace()
        >>> bool(replay(seed(model, rng_seed=1), trace=tr)() == tr["x"].value)
        True
    """
    if fn is not None and not callable(fn) and trace is None:
        fn, trace = None, fn
    if trace is None:
        raise ValueError(
            "replay needs a trace: pass the trace to replay, e.g. "
            "`replay(model, trace=tr)` with `tr = trace(guide).get_trace(...)`."
        )
    if not isinstance(trace, Mapping):
        raise TypeError(
            f"replay: trace must be a Trace (or a mapping of site name to site), got "
            f"{type(trace).__name__}."
        )
    return wrap(fn, Replay(trace))
