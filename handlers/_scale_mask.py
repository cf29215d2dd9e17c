"""``scale`` and ``mask``: reweight or switch off log-density terms."""

from __future__ import annotations

from typing import Any, ClassVar

import jax.numpy as jnp
from jax.core import Tracer

from effects import Factor, Handled, Handler as _Handler, Sample

from ._common import wrap


class Scale(_Handler):
    """Multiply the log density of every sample and factor site by ``scale``."""

    handles: ClassVar = (Sample, Factor)
    scale: Any

    def __check_init__(self):
        if isinstance(self.scale, Tracer):
            return
        value = jnp.asarray(self.scale)
        if not bool(jnp.all((value > 0) & jnp.isfinite(value))):
            raise ValueError(
                f"scale: the scale must be positive and finite, got {self.scale}. Fix: pass "
                "a positive finite number or array (use mask(...) to switch terms off)."
            )

    def process(self, msg, state):
        s = self.scale if msg.scale is None else self.scale * msg.scale
        return msg.replace(scale=s), state


def scale(fn: Any = None, scale: Any = 1.0) -> Scale | Handled:
    """Scale log densities by a positive factor (e.g. for data subsampling or tempering)."""
    if fn is not None and not callable(fn):
        fn, scale = None, fn
    return wrap(fn, Scale(jnp.asarray(scale)))


class Mask(_Handler):
    """Switch off (mask) the log density of sample and factor sites where ``mask`` is False."""

    handles: ClassVar = (Sample, Factor)
    mask: Any

    def __check_init__(self):
        dt = getattr(self.mask, "dtype", None)
        if dt is not None and dt != jnp.bool_:
            raise TypeError(f"mask: the mask must be boolean, got dtype {dt}.")

    def process(self, msg, state):
        m = self.mask if msg.mask is None else (self.mask & msg.mask)
        return msg.replace(mask=m), state


def mask(fn: Any = None, mask: Any = True) -> Mask | Handled:
    """Mask log densities with a boolean array broadcastable to the sites' batch shapes."""
    if fn is not None and not callable(fn):
        fn, mask = None, fn
    return wrap(fn, Mask(jnp.asarray(mask)))
