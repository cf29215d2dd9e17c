"""Laws of log densities: ``scale``, ``mask``, plates, subsampling, and ``scan``."""

from __future__ import annotations

import math
from typing import Any

import jax.numpy as jnp
import numpy as np
from hypothesis import strategies as st

import handlers as H

from ._compare import (
    assert_close,
    assert_sites_agree,
    assert_traces_equal,
    assert_trees_close,
    seeded,
    site_lp,
    traced,
)
from ._families import family
from ._law import Law
from ._spec import ModelSpec, build_model
from ._strategies import masks, model_specs, scales

_LP = ("sample", "factor")


@st.composite
def _two_scales(draw, spec):
    a = draw(scales(spec))
    return a, draw(scales(spec, extra_shapes=[np.shape(a)]))


def _check_scale_comp(spec, data, key):
    a, b = data
    _, t1, _ = traced(spec, seeded(H.scale(scale=a) >> H.scale(scale=b), key))
    _, t2, _ = traced(spec, seeded(H.scale(scale=np.multiply(a, b)), key))
    assert_sites_agree(t1, t2, t1.names, "scale(a) >> scale(b) vs scale(a * b)", lp=True)
    assert_close(t1.log_prob_sum(), t2.log_prob_sum(), "total log density", kind="math")


scale_composition = Law(
    "scale_composition",
    "`scale(a) >> scale(b)` and `scale(a * b)` give every site the same value and the same "
    "log density (so the same `log_prob_sum`), for positive a, b (scalars or arrays that "
    "broadcast with the sites' batch shapes).",
    "Each `scale` multiplies the message's scale by its own factor, and a site's log "
    "density is its elementwise log density times the product of the scales; "
    "multiplication is associative and commutative.",
    _check_scale_comp,
    data=_two_scales,
    handlers=("scale",),
)


def _check_scale_linear(spec, data, key):
    _, plain, _ = traced(spec, seeded(None, key))
    _, t, _ = traced(spec, seeded(H.scale(scale=data), key))
    what = "log_prob_sum under scale(a)"
    assert_close(t.log_prob_sum(), data * plain.log_prob_sum(), what, kind="math")
    _, one, _ = traced(spec, seeded(H.scale(scale=1.0), key))
    assert_sites_agree(plain, one, plain.names, "scale(1) vs no handler", lp=True)


scale_linearity = Law(
    "scale_linearity",
    "For a positive scalar a, the `log_prob_sum` under `scale(a)` is a times the "
    "`log_prob_sum` without it; `scale(1.0)` leaves every site's value and log density "
    "unchanged.",
    "`scale(a)` multiplies every sample and factor site's log density by a, and a sum of "
    "terms each multiplied by a is a times the sum.",
    _check_scale_linear,
    data=lambda spec: scales(spec, scalar=True),
    handlers=("scale",),
)


@st.composite
def _two_masks(draw, spec):
    m1 = draw(masks(spec))
    return m1, draw(masks(spec, extra_shapes=[np.shape(m1)]))


def _check_mask_conj(spec, data, key):
    m1, m2 = data
    _, t1, _ = traced(spec, seeded(H.mask(mask=m1) >> H.mask(mask=m2), key))
    _, t2, _ = traced(spec, seeded(H.mask(mask=np.logical_and(m1, m2)), key))
    assert_sites_agree(t1, t2, t1.names, "mask(m1) >> mask(m2) vs mask(m1 & m2)", lp=True)
    _, t3, _ = traced(spec, seeded(H.mask(mask=True) >> H.mask(mask=m1), key))
    _, t4, _ = traced(spec, seeded(H.mask(mask=m1), key))
    assert_sites_agree(t3, t4, t3.names, "mask(True) >> mask(m) vs mask(m)", lp=True)
    _, t5, _ = traced(spec, seeded(H.mask(mask=True), key))
    _, t6, _ = traced(spec, seeded(None, key))
    assert_sites_agree(t5, t6, t5.names, "mask(True) vs no handler", lp=True)


mask_conjunction = Law(
    "mask_conjunction",
    "`mask(m1) >> mask(m2)` and `mask(m1 & m2)` give every site the same value and log "
    "density; `mask(True)` is the identity on values and log densities.",
    "Each `mask` ands its mask into the message's mask, and a site's log density is kept "
    "where the combined mask is true and zero elsewhere; `and` is associative and "
    "commutative with unit True.",
    _check_mask_conj,
    data=_two_masks,
    handlers=("mask",),
)


def _check_mask_false(spec, data, key):
    _, plain, _ = traced(spec, seeded(None, key))
    _, t, _ = traced(spec, seeded(H.mask(mask=False), key))
    lp = t.log_prob_sum()
    assert_close(lp, jnp.zeros((), lp.dtype), "log_prob_sum under mask(False)")
    assert_sites_agree(plain, t, plain.names, "values under mask(False)")


mask_false_zero = Law(
    "mask_false_zero",
    "Under `mask(False)` every site keeps its value and the `log_prob_sum` is exactly 0.",
    "`mask` only changes the mask on the message, never the value; a log density masked by "
    "False is replaced by zero (with `where`, so even -inf or NaN become 0).",
    _check_mask_false,
    handlers=("mask",),
)


@st.composite
def _scale_and_mask(draw, spec):
    a = draw(scales(spec))
    return a, draw(masks(spec, extra_shapes=[np.shape(a)]))


def _check_scale_mask(spec, data, key):
    a, m = data
    _, t1, _ = traced(spec, seeded(H.scale(scale=a) >> H.mask(mask=m), key))
    _, t2, _ = traced(spec, seeded(H.mask(mask=m) >> H.scale(scale=a), key))
    assert_traces_equal(t1, t2, "scale(a) >> mask(m) vs mask(m) >> scale(a)")


scale_mask_commute = Law(
    "scale_mask_commute",
    "`scale(a) >> mask(m)` and `mask(m) >> scale(a)` record the same trace.",
    "`scale` changes only the message's scale and `mask` only its mask, so either order "
    "yields the same message.",
    _check_scale_mask,
    data=_scale_and_mask,
    handlers=("scale", "mask"),
)


def _effective_params(spec: ModelSpec, tr, name: str) -> list:
    s = spec.info[name].site
    fam = family(s.family)
    params = [np.asarray(p, dtype=np.float64) for p in s.params]
    if fam.loc is not None and s.parent is not None:
        i = [p[0] for p in fam.params].index(fam.loc)
        params[i] = params[i] + s.coef * float(np.mean(np.asarray(tr[s.parent].value)))
    return params


def _plate_ratio(spec: ModelSpec, name: str) -> float:
    r = 1.0
    for pname in spec.info[name].site.plates:
        p = spec.plate(pname)
        r *= p.size / p.subsample_size
    return r


def _by_hand(fam_name: str, value: Any, params: list) -> float:
    """Sum, over every element, of the by-hand log density of that one element."""
    fam = family(fam_name)
    value = np.asarray(value, dtype=np.float64)
    ps = [np.broadcast_to(p, value.shape) for p in params]
    return math.fsum(
        fam.reference(float(value[i]), *(float(p[i]) for p in ps)) for i in np.ndindex(value.shape)
    )


def _check_plates(spec, data, key):
    _, tr, _ = traced(spec, seeded(None, key))
    total = []
    for name, inf in spec.info.items():
        s = inf.site
        if s.kind == "sample":
            ref = _by_hand(s.family, tr[name].value, _effective_params(spec, tr, name))
            ref *= _plate_ratio(spec, name)
        elif s.kind == "factor":
            if s.parent is None:
                ref = float(np.sum(s.params[0]))
            else:
                ref = float(-0.5 * s.coef * np.sum(np.square(np.asarray(tr[s.parent].value))))
        else:
            continue
        total.append(ref)
        assert_close(
            site_lp(tr[name]),
            np.float64(ref).astype(site_lp(tr[name]).dtype),
            f"log density of '{name}' vs independent copies",
            kind="math",
        )
    assert_close(
        tr.log_prob_sum(),
        np.float64(math.fsum(total)).astype(tr.log_prob_sum().dtype),
        "log_prob_sum vs the sum of copies",
        kind="math",
    )


plate_broadcasting = Law(
    "plate_broadcasting",
    "For every site (in plates of size N, possibly nested and subsampled to s, with batch, "
    "event and sample shapes), its log density equals the sum, over every element of its "
    "value, of the log density of that single element computed by hand with the "
    "distribution's parameters broadcast to it, times the product of N/s over its plates.",
    "A plate makes N conditionally independent copies: it expands the batch shape, and a "
    "distribution's log density of a batched value is elementwise, so the site's total is a "
    "sum over copies; subsampling multiplies the scale by N/s.",
    _check_plates,
    models=lambda: model_specs(scan=False, families="all", require=("plate",)),
    handlers=("plate",),
)


def _check_subsample(spec, data, key):
    _, tr, _ = traced(spec, seeded(None, key))
    for name in spec.names(("sample",), latent=False):
        s = spec.info[name].site
        if not any(spec.plate(p).subsampled for p in s.plates):
            continue
        selected = np.asarray(s.obs)
        for pname in s.plates:
            p = spec.plate(pname)
            if not p.subsampled:
                continue
            idx = np.asarray(tr[pname].value)
            if idx.shape != (p.subsample_size,) or len(set(idx.tolist())) != len(idx):
                raise AssertionError(
                    f"plate '{pname}' indices {idx}: not {p.subsample_size} distinct"
                )
            if idx.min() < 0 or idx.max() >= p.size:
                raise AssertionError(f"plate '{pname}' indices {idx} outside 0..{p.size - 1}")
            selected = np.take(selected, idx, axis=selected.ndim + p.dim)
        assert_trees_close(tr[name].value, jnp.asarray(selected), f"subsampled data at '{name}'")
        params = _effective_params(spec, tr, name)
        ref = _plate_ratio(spec, name) * _by_hand(s.family, selected, params)
        assert_close(
            site_lp(tr[name]),
            np.float64(ref).astype(site_lp(tr[name]).dtype),
            f"log density of '{name}' vs (N/s) * sum over the subsample",
            kind="math",
        )


subsample_scaling = Law(
    "subsample_scaling",
    "For an observed site in a plate of size N subsampled to s, the recorded value is the "
    "full data taken at the plate's indices (s distinct indices in 0..N-1), and its log "
    "density equals (N/s) times the sum of the by-hand log densities of the data at those "
    "indices.",
    "`subsample` selects the plate's indices along the plate's dim, and the plate multiplies "
    "the scale by N/s, making the subsampled sum an unbiased estimate of the full sum.",
    _check_subsample,
    models=lambda: model_specs(scan=False, families="all", require=("subsample",)),
    handlers=("plate", "subsample"),
)


def _check_scan(spec, data, key):
    a, m = data
    _, tr0, _ = traced(spec, seeded(None, key))
    values = {n: tr0[n].value for n in spec.names(("sample",), latent=True)}
    outer = H.scale(scale=a) >> H.mask(mask=m) >> H.trace()
    vs, ts, _ = traced(spec, H.seed(key) >> H.substitute(data=values) >> outer)
    unrolled = build_model(spec, unroll_scans=True)
    per_step = H.substitute(data=spec.unroll_data(values))
    vu, tu, _ = traced(unrolled, H.seed(key) >> per_step >> outer)
    assert_trees_close(vs, vu, "model value, scan vs unrolled loop", kind="math")
    what = "log_prob_sum, scan vs unrolled loop"
    assert_close(ts.log_prob_sum(), tu.log_prob_sum(), what, kind="math")
    for name, inf in spec.info.items():
        steps = spec.unrolled_names(name)
        if inf.site.kind != "factor":
            expect = tu[name].value if inf.scan is None else jnp.stack([tu[n].value for n in steps])
            what = f"value of '{name}', scan vs unrolled"
            assert_trees_close(ts[name].value, expect, what, kind="math")
        if inf.site.kind in _LP:
            total = sum(site_lp(tu[n]) for n in steps)
            what = f"log density of '{name}', scan vs unrolled"
            assert_close(site_lp(ts[name]), total, what, kind="math")
            if ts[name].get("is_observed") != tu[steps[0]].get("is_observed"):
                raise AssertionError(f"is_observed of '{name}' differs between scan and unrolled")


@st.composite
def _scan_weights(draw, spec):
    a = draw(scales(spec))
    return a, draw(masks(spec, extra_shapes=[np.shape(a)]))


scan_unrolled = Law(
    "scan_unrolled",
    "A model with an effect-aware `scan` and the same model with the scan unrolled into a "
    "Python loop (step t's sites named `name@t`), given the same latent values (time-stacked "
    "for the scan, per step for the loop) and run under `scale(a) >> mask(m)`, return the "
    "same value and `log_prob_sum`; each scan site's trace value is the stack of the "
    "per-step values and its log density the sum of theirs.",
    "The effect-aware scan runs the body with the handlers in force at each step, stacks "
    "each step's trace along time and threads carried state; the unrolled loop does the "
    "same in Python. Substituting the values removes the only difference, the keys (a site's "
    "key depends on its name).",
    _check_scan,
    data=_scan_weights,
    models=lambda: model_specs(require=("scan",)),
    handlers=("scan", "substitute", "scale", "mask"),
    cost=0.5,
)

DENSITY_LAWS = (
    scale_composition,
    scale_linearity,
    mask_conjunction,
    mask_false_zero,
    scale_mask_commute,
    plate_broadcasting,
    subsample_scaling,
    scan_unrolled,
)
