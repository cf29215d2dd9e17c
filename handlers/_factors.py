"""Log-density factors with labelled dims: :class:`LogFactor`, the ``factors`` handler,
and :func:`sum_factors`.

A model's log joint density is a product of factors, one per sample or factor site. A
factor here is the site's elementwise log density before mask and scale, with the mask and
scale beside it and one label per axis saying what the axis is:

* ``("time", None)``: a step of an effect-aware ``scan`` (leading axes, outermost first);
* ``("plate", name)``: the batch dim of the enclosing plate ``name``;
* ``("enum", site)``: a dim that enumerates the support of discrete site ``site`` (set by
  enumeration handlers through the site's ``infer["dim_labels"]``, a mapping from dim to
  site name);
* ``("batch", None)``: any other axis (a ``sample_shape`` or a batch dim no plate owns).

Summing is one way to consume factors: every label but ``"enum"`` is summed over.
Contracting them (enumeration) is another. :func:`sum_factors` refuses a dim it does not
know how to reduce, naming the site, so an enumerated model never gets summed silently.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, ClassVar, overload

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array

from effects import AbstractSite, Handled, Handler as _Handler, Sample, mask_and_scale

from ._common import wrap

DimLabel = tuple[str, Any]
SUMMABLE = ("time", "plate", "batch")


def _labels(site: AbstractSite, ndim: int, time_axes: int) -> tuple[DimLabel, ...]:
    plates = {f.dim: f.name for f in site.cond_indep_stack}
    enum = dict(site.infer.get("dim_labels", {})) if isinstance(site, Sample) else {}
    out: list[DimLabel] = [("time", None)] * time_axes
    per_step = ndim - time_axes
    for axis in range(per_step):
        dim = axis - per_step
        if dim in enum:
            out.append(("enum", enum[dim]))
        elif dim in plates:
            out.append(("plate", plates[dim]))
        else:
            out.append(("batch", None))
    return tuple(out)


class LogFactor(eqx.Module):
    """One site's log-density factor: ``log_density`` (elementwise, before ``mask`` and
    ``scale``), with one label per axis in ``dims`` (see the module docstring)."""

    name: str = eqx.field(static=True)
    log_density: Array
    dims: tuple[DimLabel, ...] = eqx.field(static=True)
    mask: Any = None
    scale: Any = None
    # How a time chain of enumerated variables through this site is contracted
    # ("auto", "parallel" or "sequential"; set by ``enum`` inside an effect-aware scan).
    contraction: str | None = eqx.field(static=True, default=None)

    @staticmethod
    def of(site: AbstractSite) -> LogFactor:
        """The factor of ``site`` (a sample or factor message, perhaps stacked through an
        effect-aware scan)."""
        own = type(site).log_density is not AbstractSite.log_density
        lp = site.log_density() if own else site.log_prob()
        time_axes = site._stacked_axes()
        mask, scale = (site.mask, site.scale) if own else (None, None)
        how = site.infer.get("scan_contraction") if isinstance(site, Sample) else None
        labels = _labels(site, jnp.ndim(lp), time_axes)
        return LogFactor(str(site.name), lp, labels, mask, scale, how)

    def check_summable(self) -> None:
        bad = [(i, d) for i, d in enumerate(self.dims) if d[0] not in SUMMABLE]
        if bad:
            axis, (kind, owner) = bad[0]
            raise ValueError(
                f"Site '{self.name}': its log density has axis {axis} labelled {kind!r} "
                f"(for {owner!r}), which a plain sum cannot reduce: summing would add the "
                "terms of every enumerated value instead of marginalising them. Fix: "
                "contract the factors (the enumeration's log-sum-exp over that dim) "
                "instead of summing them."
            )

    def total(self) -> Array:
        """The sum of the masked, scaled factor (refusing dims it cannot reduce)."""
        self.check_summable()
        if self.mask is None and self.scale is None:
            return jnp.sum(self.log_density)
        # The mask and scale of a stacked site are stacked too: apply them step by step.
        apply = mask_and_scale
        for _ in range(sum(1 for d in self.dims if d[0] == "time")):
            apply = jax.vmap(apply, in_axes=(0, 0, 0, None))
        return jnp.sum(apply(self.log_density, self.mask, self.scale, self.name))


def sum_factors(factors: Iterable[LogFactor]) -> Array:
    """The log joint: the sum of every factor, masked and scaled. Raises on a factor with
    a dim a sum cannot reduce (an enumerated one), naming its site."""
    total = jnp.zeros(())
    for f in factors:
        total = total + f.total()
    return total


class Factors(_Handler):
    """Records the :class:`LogFactor` of every sample and factor site (its state and
    output: a tuple in program order; sites inside an effect-aware scan come out stacked
    along time, with a leading ``"time"`` label)."""

    handles: ClassVar = (AbstractSite,)
    scan_mode: ClassVar[str] = "stack"

    def init_state(self) -> tuple[LogFactor, ...]:
        return ()

    def postprocess(self, msg, state):
        return msg, state + (LogFactor.of(msg),)

    def merge(self, state, inner):
        stacked = tuple(
            LogFactor(
                f.name, f.log_density, (("time", None),) + f.dims, f.mask, f.scale, f.contraction
            )
            for f in inner
        )
        return state + stacked


@overload
def factors(fn: None = None) -> Factors: ...
@overload
def factors(fn: Callable) -> Handled: ...
def factors(fn: Callable | None = None) -> Factors | Handled:
    """Record each site's log-density factor, with its dims labelled (module docstring).

    Example:
        >>> import jax, dists as D
        >>> from effects import plate, run, sample
        >>> from handlers import factors, seed, sum_factors
        >>> def model():
        ...     with plate("n", 3):
        ...         sample("x", D.Normal(0.0, 1.0), obs=jax.numpy.zeros(3))
        >>> _, (fs,) = run(model, factors())()
        >>> fs[0].name, fs[0].dims
        ('x', (('plate', 'n'),))
        >>> round(float(sum_factors(fs)), 4)  # 3 * log N(0 | 0, 1)
        -2.7568
    """
    return wrap(fn, Factors())
