"""Whether a sample site's observed value lies in its distribution's support.

Shared by the eager check that ``sample`` makes on concrete observations and by the checks
that the samplers' start programs compute under ``jit`` (``inference._validation``). The
distribution is used through its public ``support`` and the masks it carries, so this
module needs nothing from ``dists``.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

_WRAPPERS = ("ExpandedDistribution", "Independent", "MaskedDistribution")


def distribution_layers(fn: Any) -> list[Any]:
    """``fn`` and the distributions it wraps (``expand``, ``to_event``, ``mask``)."""
    out = [fn]
    while type(fn).__name__ in _WRAPPERS and hasattr(fn, "base_dist"):
        fn = fn.base_dist
        out.append(fn)
    return out


def opted_out_of_validation(fn: Any) -> bool:
    """Whether some layer of ``fn`` was built with ``validate_args=False`` explicitly."""
    return any(
        getattr(f, "_validate_explicit", False) and not getattr(f, "_validate", True)
        for f in distribution_layers(fn)
    )


def _site_mask(site: Any) -> Any:
    out = site.mask
    for f in distribution_layers(site.fn):
        m = getattr(f, "_mask", None)
        if m is not None:
            out = m if out is None else (out & m)
    return out


def observed_violations(site: Any) -> Any:
    """The number of entries of an observed ``site``'s value outside its support (where
    its masks are on), or ``None`` when there is nothing to check (not observed, a
    support that depends on parameters, an imputed site, a distribution built with
    ``validate_args=False``)."""
    if not site.is_observed or site.value is None or site.obs_mask is not None:
        return None
    if opted_out_of_validation(site.fn):
        return None
    support = getattr(site.fn, "support", None)
    if support is None or type(support).__name__ == "_Dependent":
        return None
    try:
        ok = jnp.asarray(support(site.value))
    except Exception:  # a support that cannot be evaluated on this value: not checked
        return None
    mask = _site_mask(site)
    if mask is not None:
        try:
            ok = ok | ~jnp.broadcast_to(mask, jnp.broadcast_shapes(jnp.shape(mask), ok.shape))
        except ValueError:
            pass
    return jnp.sum(~ok)


def check_observed_eagerly(site: Any) -> None:
    """Raise ``ValueError`` when a concrete observation lies outside the support."""
    leaves = jax.tree.leaves((site.value, site.fn, site.mask))
    if any(isinstance(x, jax.core.Tracer) for x in leaves):
        return  # under jit: the samplers' start programs check it (inference._validation)
    count = observed_violations(site)
    if count is not None and int(count) > 0:
        family = type(distribution_layers(site.fn)[-1]).__name__
        raise ValueError(
            f"Sample site '{site.name}': {int(count)} observed value(s) lie outside the "
            f"support {site.fn.support!r} of its {family} "
            "distribution. Fix: check the data passed as obs= (or conditioned on this "
            "site), choose a distribution whose support contains them, or build the "
            "distribution with validate_args=False to skip this check."
        )
