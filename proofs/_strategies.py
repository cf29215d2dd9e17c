"""Hypothesis strategies: random models (:class:`ModelSpec`) and random handler data.

The model strategy :func:`model_specs` draws tiny models (no dimension above 4) with
sample sites of the available families, plates (nested, possibly subsampled), observed
sites, params, factors, deterministic sites and an effect-aware ``scan`` block. The data
strategies draw values that fit a given spec: condition/substitute dicts with values of
the right shapes drawn from each site's support, positive scales, masks broadcastable to
every site's batch shape, hide sets and disjoint site subsets, keys.
"""

from __future__ import annotations

import dataclasses
import functools
import random
from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np
from hypothesis import assume, strategies as st
from hypothesis.extra import numpy as hnp

from ._families import Family, available_families, family
from ._spec import ModelSpec, PlateSpec, ScanSpec, SiteSpec, build_model

__all__ = [
    "ModelSpec",
    "PlateSpec",
    "ScanSpec",
    "SiteSpec",
    "build_model",
    "condition_data",
    "disjoint_subsets",
    "hide_sets",
    "keys",
    "masks",
    "model_specs",
    "scales",
    "seeds",
    "site_values",
    "substitute_data",
]

#: Families used by default: those whose samplers compile quickly (Gamma and Poisson
#: sample with loops, which make every eager run with a new shape slow to compile).
DEFAULT_FAMILIES = ("Normal", "Exponential", "LogNormal", "Bernoulli")

REQUIREMENTS = (
    "latent",
    "latent_normal",
    "observed",
    "plate",
    "subsample",
    "scan",
    "param",
    "factor",
    "deterministic",
)


def _grid(lo: float, hi: float) -> list[float]:
    vals = [round(lo + 0.1 * k, 10) for k in range(int(round((hi - lo) / 0.1)) + 1)]
    # Simplest values first, so that shrinking moves towards them.
    mid = round((lo + hi) / 2, 1)
    return sorted(vals, key=lambda v: (abs(v - mid), v))


_SUPPORT_GRID = {
    "real": (np.float64, _grid(-2.0, 2.0)),
    "positive": (np.float64, _grid(0.1, 3.0)),
    "binary": (np.int64, [0, 1]),
    "count": (np.int64, [0, 1, 2, 3, 4]),
}


def support_values(support: str, shape: tuple[int, ...]) -> st.SearchStrategy:
    """Arrays of ``shape`` with values on a grid inside ``support``."""
    dtype, grid = _SUPPORT_GRID[support]
    return hnp.arrays(dtype, shape, elements=st.sampled_from(grid))


def _param_values(fam: Family, shape: tuple[int, ...]) -> st.SearchStrategy:
    return st.tuples(
        *(
            hnp.arrays(np.float64, shape, elements=st.sampled_from(_grid(lo, hi)))
            for _, lo, hi in fam.params
        )
    )


def seeds() -> st.SearchStrategy[int]:
    """Integer seeds for ``jax.random.key``."""
    return st.integers(0, 2**31 - 1)


def keys() -> st.SearchStrategy:
    """PRNG keys."""
    return seeds().map(jax.random.key)


# --- models ---------------------------------------------------------------------------
@st.composite
def _plates(draw, n_min: int, n_max: int, subsample: bool, need_sub: bool) -> tuple:
    n = draw(st.integers(n_min, n_max))
    out = []
    for i in range(n):
        # Few distinct sizes: every new shape costs an XLA compile of each eager op.
        size = draw(st.sampled_from([2, 3, 4] if (need_sub and i == 0) else [2, 3, 1, 4]))
        sub = size
        if subsample and size > 1 and ((need_sub and i == 0) or draw(st.booleans())):
            sub = draw(st.integers(1, size - 1))
        out.append(PlateSpec(f"p{i}", size, sub, -(i + 1)))
    return tuple(out)


def _plate_param_shape(plates: Sequence[PlateSpec]) -> tuple[int, ...]:
    rank = max(-p.dim for p in plates)
    shape = [1] * rank
    for p in plates:
        shape[rank + p.dim] = 1 if p.subsampled else p.size
    return tuple(shape)


@st.composite
def _sample_site(
    draw,
    name: str,
    fams: tuple[Family, ...],
    plates: tuple[PlateSpec, ...],
    parents: tuple[str, ...],
    *,
    in_scan: int | None = None,
    force_plate: bool = False,
    observed: bool | None = None,
    fam: Family | None = None,
) -> SiteSpec:
    fam = fam if fam is not None else draw(st.sampled_from(fams))
    site_plates: tuple[PlateSpec, ...] = ()
    if in_scan is not None:
        # A subsampled plate entered at every scan step draws a subsample per step, which
        # a trace cannot record under the same name as the plate's use outside the scan.
        plates = tuple(p for p in plates if not p.subsampled)
    if plates:
        choices = [(plates[0],)] if force_plate else [()] + [(p,) for p in plates]
        if len(plates) > 1:
            choices.append(tuple(plates))
        site_plates = draw(st.sampled_from(choices))
    event_ndims = 0
    if site_plates:
        pshape = draw(st.sampled_from([(), _plate_param_shape(site_plates)]))
    else:
        rank = draw(st.integers(0, 1 if in_scan is not None else 2))
        pshape = tuple(draw(st.sampled_from([2, 3, 1])) for _ in range(rank))
        event_ndims = draw(st.integers(0, rank))
    sample_shape = draw(st.sampled_from([(), (2,)]))
    params = draw(_param_values(fam, pshape))
    parent = None
    if fam.loc is not None and parents:
        parent = draw(st.one_of(st.none(), st.sampled_from(parents)))
    coef = draw(st.sampled_from([0.5, -0.3, 1.0]))
    site = SiteSpec(
        name,
        "sample",
        fam.name,
        tuple(params),
        event_ndims,
        sample_shape,
        tuple(p.name for p in site_plates),
        None,
        parent,
        coef,
    )
    obs = draw(st.booleans()) if observed is None else observed
    if obs:
        spec = ModelSpec(plates, (site,))
        shape = spec.info[name].obs_shape
        if in_scan is not None:
            shape = (in_scan,) + shape
        value = draw(support_values(fam.support, shape))
        site = dataclasses.replace(site, obs=value)
    return site


@st.composite
def _other_site(draw, name: str, kind: str, parents: tuple[str, ...]) -> SiteSpec:
    shape = draw(st.sampled_from([(), (2,)]))
    const = draw(hnp.arrays(np.float64, shape, elements=st.sampled_from(_grid(-1.0, 1.0))))
    parent = None
    if kind != "param" and parents:
        parent = draw(st.one_of(st.none(), st.sampled_from(parents)))
    coef = draw(st.sampled_from([0.5, 1.0]))
    return SiteSpec(name, kind, "Normal", (const,), parent=parent, coef=coef)


def _has_normal(fams: tuple[Family, ...]) -> Family:
    for f in fams:
        if f.name == "Normal":
            return f
    return family("Normal")


@st.composite
def _scan_block(
    draw,
    plates: tuple[PlateSpec, ...],
    fams: tuple[Family, ...],
    parents: tuple[str, ...],
    kinds: tuple[str, ...],
    observed: bool,
) -> ScanSpec:
    length = draw(st.integers(1, 3))
    n = draw(st.integers(1, 2))
    body: list[SiteSpec] = []
    local = list(parents)
    for j in range(n):
        kind = draw(st.sampled_from(["sample"] + [k for k in kinds if k != "param"]))
        name = f"z{j}"
        if kind == "sample" or j == 0:
            s = draw(
                _sample_site(
                    name,
                    fams,
                    plates,
                    tuple(local),
                    in_scan=length,
                    observed=None if observed else False,
                )
            )
        else:
            s = draw(_other_site(name, kind, tuple(local)))
        body.append(s)
        if s.kind != "factor":
            local.append(name)
    init = draw(st.sampled_from([0.0, 0.5]))
    carry_coef = draw(st.sampled_from([0.5, 0.0, -0.5]))
    return ScanSpec("scan0", length, init, carry_coef, tuple(body))


def keeps_global_random(fn: Callable) -> Callable:
    """Restore Python's global ``random`` state after ``fn`` draws. Run-time type checkers
    (beartype, under the test suite's import hook) draw from it while the library builds
    a model, and hypothesis forbids strategies that change it."""

    @functools.wraps(fn)
    def guarded(draw: Any, *args: Any, **kwargs: Any) -> Any:
        state = random.getstate()
        try:
            return fn(draw, *args, **kwargs)
        finally:
            random.setstate(state)

    return guarded


@st.composite
@keeps_global_random
def model_specs(
    draw,
    *,
    max_sites: int = 4,
    plates: bool = True,
    subsample: bool = True,
    scan: bool = True,
    params: bool = True,
    factors: bool = True,
    deterministics: bool = True,
    observed: bool = True,
    families: Sequence[str] | str | None = None,
    require: Sequence[str] = (),
) -> ModelSpec:
    """Random tiny models.

    Args:
        max_sites: the most top-level sites beyond those that ``require`` adds.
        plates, subsample, scan, params, factors, deterministics, observed: allow these
            features.
        families: names of the families sample sites may use, or ``"all"`` for every
            available family (default: :data:`DEFAULT_FAMILIES`, those that are quick to
            sample eagerly).
        require: features the model must have, from ``"latent"``, ``"latent_normal"``,
            ``"observed"``, ``"plate"``, ``"subsample"``, ``"scan"``, ``"param"``,
            ``"factor"``, ``"deterministic"``.

    Example:
        >>> from hypothesis import given, settings
        >>> @given(model_specs(require=("plate",)))
        ... @settings(max_examples=5, derandomize=True)
        ... def test(spec):
        ...     assert spec.used_plates
        >>> test()
    """
    unknown = set(require) - set(REQUIREMENTS)
    if unknown:
        raise ValueError(
            f"model_specs: unknown requirements {sorted(unknown)}; use {REQUIREMENTS}."
        )
    fams = available_families()
    if families is None:
        fams = tuple(f for f in fams if f.name in DEFAULT_FAMILIES)
    elif families != "all":
        fams = tuple(f for f in fams if f.name in families) or (family("Normal"),)
    need_plate = "plate" in require or "subsample" in require
    pls = ()
    if plates or need_plate:
        pls = draw(
            _plates(
                1 if need_plate else 0,
                2 if plates else 1,
                subsample or "subsample" in require,
                "subsample" in require,
            )
        )
    kinds = ["sample"]
    kinds += ["param"] if params else []
    kinds += ["factor"] if factors else []
    kinds += ["deterministic"] if deterministics else []

    # Forced sites first, then random ones.
    requests: list[dict[str, Any]] = []
    if "latent_normal" in require:
        requests.append({"kind": "sample", "observed": False, "fam": _has_normal(fams)})
    if "latent" in require:
        requests.append({"kind": "sample", "observed": False})
    if "observed" in require:
        requests.append({"kind": "sample", "observed": True})
    if need_plate:
        requests.append(
            {
                "kind": "sample",
                "force_plate": True,
                "observed": True if "subsample" in require else None,
            }
        )
    for k in ("param", "factor", "deterministic"):
        if k in require:
            requests.append({"kind": k})
    n_free = draw(st.integers(0 if requests else 1, max_sites))
    for _ in range(n_free):
        requests.append({"kind": draw(st.sampled_from(kinds))})
    # Eager effect-aware scans compile their loop on every run, so they are drawn rarely
    # (one model in eight) unless required; shrinking moves towards no scan.
    has_scan = "scan" in require or (scan and draw(st.integers(0, 7)) == 7)
    scan_at = draw(st.integers(0, len(requests))) if has_scan else -1

    items: list[SiteSpec | ScanSpec] = []
    parents: list[str] = []
    prefix = {"sample": "x", "param": "w", "factor": "f", "deterministic": "d"}
    for i, req in enumerate(requests + [None]):
        if i == scan_at:
            items.append(draw(_scan_block(pls, fams, tuple(parents), tuple(kinds), observed)))
        if req is None:
            break
        kind = req["kind"]
        name = f"{prefix[kind]}{i}"
        if kind == "sample":
            obs = req.get("observed")
            if obs is None and not observed:
                obs = False
            s = draw(
                _sample_site(
                    name,
                    fams,
                    pls,
                    tuple(parents),
                    force_plate=req.get("force_plate", False),
                    observed=obs,
                    fam=req.get("fam"),
                )
            )
        else:
            s = draw(_other_site(name, kind, tuple(parents)))
        items.append(s)
        if kind != "factor":
            parents.append(name)
    return ModelSpec(pls, tuple(items))


# --- handler data ---------------------------------------------------------------------
def site_values(spec: ModelSpec, name: str) -> st.SearchStrategy:
    """Values for site ``name`` of the shape it has in a trace, inside its support."""
    inf = spec.info[name]
    if inf.site.kind == "sample":
        return support_values(family(inf.site.family).support, inf.value_shape)
    return support_values("real", inf.value_shape)


@st.composite
def _site_data(draw, spec: ModelSpec, names: Sequence[str], min_size: int, max_size: int | None):
    names = list(names)
    if len(names) < min_size:
        raise ValueError(f"Need at least {min_size} sites, the model has {names}.")
    chosen = []
    if names:
        pick = st.lists(st.sampled_from(names), min_size=min_size, max_size=max_size, unique=True)
        chosen = draw(pick)
    order = {n: i for i, n in enumerate(names)}
    return {n: draw(site_values(spec, n)) for n in sorted(chosen, key=order.__getitem__)}


def condition_data(
    spec: ModelSpec,
    *,
    names: Sequence[str] | None = None,
    min_size: int = 0,
    max_size: int | None = None,
    latent_only: bool = False,
) -> st.SearchStrategy[dict]:
    """Dicts from a subset of the sample sites (or of ``names``) to values in their
    supports, of the shapes they have in a trace (stacked along time inside a scan)."""
    if names is None:
        names = spec.names(("sample",), latent=True if latent_only else None)
    return _site_data(spec, names, min_size, max_size)


def substitute_data(
    spec: ModelSpec,
    *,
    names: Sequence[str] | None = None,
    min_size: int = 0,
    max_size: int | None = None,
    kinds: tuple[str, ...] = ("sample", "param", "deterministic"),
    latent_only: bool = False,
) -> st.SearchStrategy[dict]:
    """Like :func:`condition_data`, over sample, param and deterministic sites."""
    if names is None:
        names = [n for n in spec.names(kinds) if not (latent_only and spec.info[n].site.observed)]
    return _site_data(spec, names, min_size, max_size)


def _lp_shapes(spec: ModelSpec | None) -> list[tuple[int, ...]]:
    if spec is None:
        return []
    return [inf.lp_shape for inf in spec.info.values() if inf.site.kind in ("sample", "factor")]


@st.composite
def broadcast_shapes(draw, shapes: Sequence[tuple[int, ...]], max_rank: int = 2) -> tuple[int, ...]:
    """Shapes that broadcast with every shape in ``shapes``."""
    rank = draw(st.integers(0, max_rank))
    out: list[int] = []
    for k in range(1, rank + 1):
        sizes = {s[-k] for s in shapes if len(s) >= k and s[-k] != 1}
        allowed = [1] if len(sizes) > 1 else [1, *sizes] if sizes else [1, 2, 3]
        out.insert(0, draw(st.sampled_from(allowed)))
    return tuple(out)


@st.composite
def shapes_within(draw, shapes: Sequence[tuple[int, ...]], max_rank: int = 2) -> tuple[int, ...]:
    """Shapes that broadcast *into* every shape in ``shapes`` without enlarging it: each
    dim is 1, or the size that every shape has there. (A mask or scale must not enlarge a
    site's log density, which would count its terms more than once.)"""
    rank = draw(st.integers(0, max_rank))
    out: list[int] = []
    for k in range(1, rank + 1):
        sizes = {s[-k] if len(s) >= k else None for s in shapes}
        allowed = [1] if None in sizes or len(sizes) != 1 else sorted({1, *sizes})
        if not shapes:
            allowed = [1, 2, 3]
        out.insert(0, draw(st.sampled_from(allowed)))
    return tuple(out)


@st.composite
def scales(
    draw,
    spec: ModelSpec | None = None,
    *,
    scalar: bool = False,
    extra_shapes: Sequence[tuple[int, ...]] = (),
) -> Any:
    """Positive scales: a float, or an array that broadcasts into every site's log-density
    shape (:func:`shapes_within`; ``extra_shapes``, the shapes of other scales or masks in
    the pipeline, then broadcast with it too)."""
    grid = [1.0, 2.0, 0.5, 0.25, 3.0, 1.5]
    if scalar or draw(st.booleans()):
        return draw(st.sampled_from(grid))
    shape = draw(shapes_within(_lp_shapes(spec) or [tuple(s) for s in extra_shapes]))
    return draw(hnp.arrays(np.float64, shape, elements=st.sampled_from(grid)))


@st.composite
def masks(
    draw,
    spec: ModelSpec | None = None,
    *,
    scalar: bool = False,
    extra_shapes: Sequence[tuple[int, ...]] = (),
) -> Any:
    """Boolean masks: a bool, or a bool array that broadcasts into every site's log-density
    shape (as for :func:`scales`)."""
    if scalar or draw(st.booleans()):
        return draw(st.booleans())
    shape = draw(shapes_within(_lp_shapes(spec) or [tuple(s) for s in extra_shapes]))
    return draw(hnp.arrays(np.bool_, shape))


def hide_sets(
    spec: ModelSpec, *, names: Sequence[str] | None = None, min_size: int = 0
) -> st.SearchStrategy[frozenset]:
    """Sets of site names (and used plate names) to hide with ``block``."""
    if names is None:
        names = spec.names() + spec.used_plates
    names = list(names)
    if not names:
        return st.just(frozenset())
    return st.frozensets(st.sampled_from(names), min_size=min(min_size, len(names)))


@st.composite
def disjoint_subsets(
    draw, names: Sequence[str], n: int = 2, *, min_size: int = 0
) -> tuple[frozenset, ...]:
    """``n`` pairwise disjoint subsets of ``names``."""
    names = list(names)
    labels = draw(st.lists(st.integers(-1, n - 1), min_size=len(names), max_size=len(names)))
    out = tuple(frozenset(nm for nm, lab in zip(names, labels) if lab == i) for i in range(n))
    assume(not any(len(s) < min_size for s in out))
    return out
