"""``infer_config``: set the ``infer`` configuration of sample sites."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import ClassVar

import equinox as eqx

from effects import Handled, Handler as _Handler, Sample

from ._common import wrap


class InferConfig(_Handler):
    """Merges ``config_fn(msg)`` (a dict, or ``None``) into each sample site's ``infer``.

    The ``infer`` entries are static configuration (they change the program), so their
    values must be hashable Python values, such as strings, numbers and booleans.
    """

    handles: ClassVar = (Sample,)

    config_fn: Callable = eqx.field(static=True)

    def process(self, msg, state):
        config = self.config_fn(msg)
        if not config:
            return msg, state
        if not isinstance(config, Mapping):
            raise TypeError(
                f"infer_config: config_fn must return a dict (or None) for site "
                f"'{msg.name}', got {type(config).__name__}."
            )
        return msg.replace(infer=msg.infer.merged(config)), state


def infer_config(
    fn: Callable | None = None, config_fn: Callable | None = None
) -> InferConfig | Handled:
    """Set inference configuration per site: ``config_fn(msg) -> dict``.

    ``infer_config(config_fn=f)`` is a handler; ``infer_config(model, f)`` wraps.

    Example:
        >>> import jax, dists as D
        >>> from effects import sample
        >>> from handlers import seed, trace
        >>> def model():
        ...     return sample("x", D.Normal(0.0, 1.0))
        >>> cfg = lambda msg: {"enumerate": "parallel"}
        >>> tr = trace(seed(infer_config(model, cfg), rng_seed=0)).get_trace()
        >>> tr["x"].infer["enumerate"]
        'parallel'
    """
    if config_fn is None:
        raise ValueError("infer_config needs config_fn, a function from a site to a dict.")
    if not callable(config_fn):
        raise TypeError(f"infer_config: config_fn must be callable, got {config_fn!r}.")
    return wrap(fn, InferConfig(config_fn))
