"""``lift``: turn learnable parameters into random variables with a prior."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from effects import Handled, Handler as _Handler, Param, Sample

from ._common import wrap


def _is_distribution(x: Any) -> bool:
    return hasattr(x, "sample") and hasattr(x, "log_prob") and hasattr(x, "batch_shape")


class Lift(_Handler):
    """Replaces each ``param`` site by a latent ``sample`` site drawn from its prior.

    ``prior`` is one distribution for every param site, or a dict from site name to
    distribution (param sites not in the dict stay params). The handler replaces the
    message itself: the ``Param`` message becomes a ``Sample`` message of the same name,
    which then travels on through the outer handlers (``seed``, ``trace``, ...) like any
    other sample site. So put ``seed`` outside ``lift``, as in NumPyro.
    """

    handles: ClassVar = (Param,)

    prior: Any

    def __check_init__(self):
        ok = _is_distribution(self.prior) or (
            isinstance(self.prior, Mapping)
            and all(_is_distribution(v) for v in self.prior.values())
        )
        if not ok:
            raise TypeError(
                "lift: prior must be a distribution or a dict from param name to "
                f"distribution, got {type(self.prior).__name__}."
            )

    def process(self, msg, state):
        if isinstance(self.prior, Mapping):
            fn = self.prior.get(msg.name)
            if fn is None:
                return msg, state
        else:
            fn = self.prior
        lifted = Sample(
            name=msg.name,
            fn=fn,
            value=msg.value,
            key=msg.key,
            indices=msg.indices,
            cond_indep_stack=msg.cond_indep_stack,
            stop=msg.stop,
        )
        return lifted, state


def lift(fn: Any = None, prior: Any = None) -> Lift | Handled:
    """Lift param sites to sample sites drawn from ``prior``.

    ``lift(prior=...)`` is a handler; ``lift(model, prior)`` wraps (NumPyro style).

    Example:
        >>> import jax, dists as D
        >>> from effects import param
        >>> from handlers import seed, trace
        >>> def model():
        ...     return param("w", 0.5)
        >>> tr = trace(seed(lift(model, prior=D.Normal(0.0, 1.0)), rng_seed=0)).get_trace()
        >>> tr["w"]["type"]
        'sample'
    """
    if fn is not None and not callable(fn) and prior is None:
        fn, prior = None, fn
    if prior is None:
        raise ValueError(
            "lift needs a prior: a distribution, or a dict from param name to distribution."
        )
    return wrap(fn, Lift(dict(prior) if isinstance(prior, Mapping) else prior))
