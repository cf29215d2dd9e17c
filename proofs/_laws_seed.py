"""Laws of ``seed``: determinism and site-addressed randomness."""

from __future__ import annotations

from hypothesis import strategies as st

import handlers as H
from effects import Sample

from ._compare import assert_sites_agree, assert_trees_close, seeded, traced
from ._law import Law
from ._spec import build_model
from ._strategies import condition_data, model_specs, site_values


def _check_determinism(spec, data, key):
    v1, t1, _ = traced(spec, seeded(None, key))
    v2, t2, _ = traced(build_model(spec), seeded(None, key))
    assert_trees_close((v1, t1), (v2, t2), "two runs with the same key")


seed_determinism = Law(
    "seed_determinism",
    "For every model and key k, two runs under `seed(k) >> trace()` (even of two separately "
    "built copies of the model) return identical values and record identical traces: the "
    "same sites, values, keys and log densities.",
    "A handler is an immutable value and the runner is a pure function of the pipeline and "
    "the model's arguments; the only source of randomness is the key, and each site's key "
    "is a function of k and the site's address.",
    _check_determinism,
    handlers=("seed", "trace"),
)


def _sample_keys_agree(a, b, names, what):
    for n in names:
        if isinstance(a[n], Sample):
            assert_sites_agree(a, b, [n], what, fields=("key",))


def _check_addressing_condition(spec, data, key):
    _, ta, _ = traced(spec, seeded(None, key))
    _, tb, _ = traced(spec, seeded(H.condition(data=data), key))
    others = [n for n in ta.names if n not in data]
    _sample_keys_agree(ta, tb, others, "key of a site after conditioning another")
    fixed = [n for n in others if n not in spec.descendants(data)]
    assert_sites_agree(ta, tb, fixed, "value of an unrelated site after conditioning another")


seed_site_addressing_condition = Law(
    "seed_site_addressing_condition",
    "Under `seed(k)`, conditioning sites D does not change the key of any other site, nor the "
    "value of any site that does not depend on D (by data flow).",
    "`seed` derives a site's key from k and the site's name and scan step only "
    "(`site_key`), never from a counter in program order; a site's value is a function of "
    "its key and its distribution, which changes only through data flow from D.",
    _check_addressing_condition,
    data=lambda spec: condition_data(spec, min_size=1),
    models=lambda: model_specs(require=("latent",)),
    handlers=("seed", "condition"),
)


@st.composite
def _hidden_with_values(draw, spec):
    names = spec.names(("sample",))
    hide = draw(st.lists(st.sampled_from(names), min_size=1, unique=True))
    return {n: draw(site_values(spec, n)) for n in hide}


def _check_addressing_block(spec, data, key):
    sub = H.substitute(data=data)
    _, ta, _ = traced(spec, sub >> H.seed(key) >> H.trace())
    _, tb, _ = traced(spec, sub >> H.block(hide=sorted(data)) >> H.seed(key) >> H.trace())
    expect = [n for n in ta.names if n not in data]
    if list(tb.names) != expect:
        raise AssertionError(f"blocked sites reached seed/trace: {list(tb.names)} vs {expect}")
    for n in expect:
        assert_trees_close(ta[n], tb[n], f"site '{n}' when other sites never reach seed")


seed_site_addressing_block = Law(
    "seed_site_addressing_block",
    "If sites S get their values from an inner `substitute` and are hidden from `seed` by "
    "`block(hide=S)`, every other site records the same message (value, key, log density) "
    "as when S reach `seed`.",
    "The key of a site depends only on k and its own address, so whether other sites reach "
    "`seed` (and in which order) cannot change it; the values of S are the substituted ones "
    "in both runs, so no data flow differs.",
    _check_addressing_block,
    data=_hidden_with_values,
    models=lambda: model_specs(require=("latent",)),
    handlers=("seed", "block", "substitute"),
)


def _check_addressing_removal(spec, data, key):
    reduced = spec.without(data)
    _, ta, _ = traced(spec, seeded(None, key))
    _, tb, _ = traced(reduced, seeded(None, key))
    missing = [n for n in tb.names if n not in ta]
    if missing:
        raise AssertionError(f"removing '{data}' created sites {missing}")
    _sample_keys_agree(ta, tb, tb.names, f"key of a site after removing '{data}'")
    fixed = [n for n in tb.names if n not in spec.descendants([data])]
    assert_sites_agree(ta, tb, fixed, f"value of an unrelated site after removing '{data}'")


seed_site_addressing_removal = Law(
    "seed_site_addressing_removal",
    "Under `seed(k)`, deleting a site r from the model leaves the key of every other site "
    "unchanged, and the value of every site that does not depend on r.",
    "Keys are functions of the site's own address, so they do not shift when a site earlier "
    "in program order disappears (as they would if keys were split in program order).",
    _check_addressing_removal,
    data=lambda spec: st.sampled_from(spec.names(("sample",), in_scan=False)),
    models=lambda: model_specs(require=("latent",)),
    handlers=("seed",),
)

SEED_LAWS = (
    seed_determinism,
    seed_site_addressing_condition,
    seed_site_addressing_block,
    seed_site_addressing_removal,
)
