"""``uncondition``: turn observed sample sites back into latent ones."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from effects import Handled, Handler as _Handler, Sample

from ._common import wrap


class Uncondition(_Handler):
    """Every observed sample site becomes latent: its value is dropped and it is sampled.

    The site's ``infer`` gets ``was_observed=True``, as in NumPyro, so that later handlers
    can tell such sites apart. Put ``uncondition`` outside ``condition`` to undo it, and
    inside ``seed`` so that the sites can be drawn.
    """

    handles: ClassVar = (Sample,)

    def process(self, msg, state):
        if not msg.is_observed:
            return msg, state
        infer = msg.infer.merged({"was_observed": True})
        return msg.replace(value=None, is_observed=False, infer=infer), state


def uncondition(fn: Callable | None = None) -> Uncondition | Handled:
    """Sample the observed sites instead of observing them (e.g. for prior predictives).

    Example:
        >>> import jax, dists as D
        >>> from effects import sample
        >>> from handlers import seed, trace
        >>> def model():
        ...     return sample("y", D.Normal(0.0, 1.0), obs=5.0)
        >>> tr = trace(seed(uncondition(model), rng_seed=0)).get_trace()
        >>> bool(tr["y"].is_observed), bool(tr["y"].value != 5.0)
        (False, True)
    """
    return wrap(fn, Uncondition())
