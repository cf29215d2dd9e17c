"""``do``: Pearl's intervention on sample sites."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import jax.numpy as jnp

from effects import Handled, Handler as _Handler, Sample

from ._common import index_steps, wrap

CF_SUFFIX = "__CF"


class Do(_Handler):
    """Intervene on the sample sites named in ``data``, with NumPyro's semantics.

    An intervened site ``z`` is split in two. On its way out (to the handlers outside
    ``do``) it is a fresh, ordinary site ``z``: still sampled (or conditioned) there and
    recorded, with its own log density, but its value is not used by the model. On its way
    back (to the model and the handlers inside ``do``) it becomes the observed site
    ``z__CF`` holding the intervention, and the model continues with that value. Outer
    handlers therefore never see the intervention value, so it adds no log density.

    Values inside an effect-aware ``scan`` are stacked along time, as for ``condition``.
    """

    handles: ClassVar = (Sample,)

    data: dict[str, Any]

    # The state pairs each `process` with its `postprocess`: a stack (innermost message
    # last) holding, per message in flight, the name to intervene on or None. A name is
    # kept because an outer `scope` may rename the message in between; a stack because an
    # outer handler may perform further messages while this one is in flight.
    def init_state(self):
        return ()

    def process(self, msg, state):
        return msg, state + ((msg.name if msg.name in self.data else None),)

    def postprocess(self, msg, state):
        name, state = state[-1], state[:-1]
        if name is None:
            return msg, state
        value = jnp.asarray(index_steps(self.data[name], msg.indices))
        return msg.replace(name=name + CF_SUFFIX, value=value, is_observed=True), state

    def output(self, state):
        return None


def do(fn: Any = None, data: Mapping[str, Any] | None = None) -> Do | Handled:
    """Intervene: the model receives ``data[name]`` at each named sample site.

    ``do(data=...)`` is a handler; ``do(model, data)`` wraps (NumPyro style).

    Example:
        >>> import jax, dists as D
        >>> from effects import sample
        >>> from handlers import seed, trace
        >>> def model():
        ...     z = sample("z", D.Normal(0.0, 1.0))
        ...     return z**2
        >>> tr = trace(seed(do(model, data={"z": 3.0}), rng_seed=0))
        >>> value, t = tr.run()
        >>> float(value), bool(t["z"].value != 3.0)
        (9.0, True)
    """
    if fn is not None and not callable(fn) and data is None:
        fn, data = None, fn
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise TypeError(
            f"do: data must be a mapping from site name to value, got {type(data).__name__}."
        )
    return wrap(fn, Do({str(k): v for k, v in data.items()}))
