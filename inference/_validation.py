"""Checks of a model's data and parameters that run inside compiled programs.

Inside ``jit`` a distribution built from traced values cannot raise a Python error at
construction, and an observation outside its support often gives a finite, wrong log
density (``Bernoulli`` at ``1.5``). So the programs that start a sampler compute, from the
trace at the initial point, one flag per check (is each site's observed value inside the
support; is each parameter of its distribution inside its constraint), and the driver
raises afterwards with an error that names the site, the family and the parameter.

A distribution built with ``validate_args=False`` explicitly is not checked.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
from jaxtyping import Array

from effects import (
    Sample,
    distribution_layers,
    observed_violations,
    opted_out_of_validation,
)


def family_name(fn: Any) -> str:
    """The name of a distribution's family, through the shape wrappers (``expand``,
    ``to_event``, ``mask``): ``Bernoulli``, not ``ExpandedDistribution``."""
    return type(distribution_layers(fn)[-1]).__name__


def _constraint_ok(constraint: Any, value: Any) -> Array | None:
    if type(constraint).__name__ == "_Dependent":
        return None
    try:
        return jnp.asarray(constraint(value))
    except Exception:  # a constraint that cannot be evaluated on this value: not checked
        return None


def site_checks(tr: Any) -> dict[tuple[str, str], Array]:
    """Flags computed from a trace: ``(site, what) -> number of violations``.

    ``what`` is ``"obs"`` for the observed value's support, or a parameter name of the
    site's distribution (or of a distribution it wraps).
    """
    out: dict[tuple[str, str], Array] = {}
    for name, site in tr.items():
        if not isinstance(site, Sample) or site.value is None:
            continue
        if opted_out_of_validation(site.fn):
            continue
        count = observed_violations(site)
        if count is not None:
            out[(name, "obs")] = count
        for layer in distribution_layers(site.fn):
            stored = layer.get_args() if hasattr(layer, "get_args") else vars(layer)
            for pname, constraint in getattr(layer, "arg_constraints", {}).items():
                value = stored.get(pname)
                if value is None:
                    continue
                ok = _constraint_ok(constraint, value)
                if ok is not None:
                    out[(name, pname)] = jnp.sum(~ok)
    return out


def violation_message(tr: Any, name: str, what: str, count: Any = None) -> str:
    """The error for check ``(name, what)`` of :func:`site_checks` (``count``: how many
    entries fail, when known)."""
    site = tr[name]
    family = family_name(site.fn)
    n = "" if count is None else f"{int(count)} "
    if what == "obs":
        return (
            f"Site '{name}': {n}observed value(s) lie outside the support "
            f"{site.fn.support!r} of its {family} distribution. Fix: check the data passed "
            "as obs= (or conditioned on this site), or choose a distribution whose support "
            "contains them."
        )
    layers = distribution_layers(site.fn)
    layer = next(f for f in layers if what in getattr(f, "arg_constraints", {}))
    return (
        f"Site '{name}': parameter `{what}` of its {family} distribution violates the "
        f"constraint {layer.arg_constraints[what]!r} ({n}entries, at the initial point). "
        f"Fix: make the model compute a valid `{what}` (check its priors, transforms and "
        "data), or build the distribution with validate_args=False to skip this check."
    )


def raise_violations(tr: Any, counts: dict[tuple[str, str], Any]) -> None:
    """Raise ``ValueError`` for the first nonzero count of :func:`site_checks`."""
    for (name, what), count in counts.items():
        if int(count) != 0:
            raise ValueError(violation_message(tr, name, what, count))
