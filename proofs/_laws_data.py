"""Laws of ``block``, ``condition`` and ``substitute``."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

import handlers as H

from ._compare import assert_traces_equal, assert_trees_close, seeded, traced
from ._law import Law
from ._strategies import condition_data, hide_sets, model_specs, substitute_data


def _check_block(spec, data, key):
    _, full, _ = traced(spec, seeded(None, key))
    _, tb, _ = traced(spec, seeded(H.block(hide=sorted(data)), key))
    expect = [n for n in full.names if n not in data]
    if list(tb.names) != expect:
        raise AssertionError(
            f"block(hide={sorted(data)}): outer trace has {list(tb.names)}, expected {expect}"
        )
    for n in expect:
        assert_trees_close(full[n], tb[n], f"site '{n}' outside block")


block_removes_exactly = Law(
    "block_removes_exactly",
    "`seed(k) >> block(hide=S) >> trace()` records exactly the sites of "
    "`seed(k) >> trace()` that are not in S, in the same order and with the same messages.",
    "`block` sets `stop` on the messages of S, so handlers outside it are never visited for "
    "them, and passes every other message on unchanged; `seed`, inside it, still acts on all.",
    _check_block,
    data=hide_sets,
    handlers=("block",),
)


def _check_block_union(spec, data, key):
    h1, h2 = data
    _, t1, _ = traced(spec, seeded(H.block(hide=sorted(h1)) >> H.block(hide=sorted(h2)), key))
    _, t2, _ = traced(spec, seeded(H.block(hide=sorted(h1 | h2)), key))
    assert_traces_equal(t1, t2, "block(S1) >> block(S2) vs block(S1 | S2)")


block_union = Law(
    "block_union",
    "`block(hide=S1) >> block(hide=S2)` hides exactly S1 ∪ S2: it records the same trace as "
    "`block(hide=S1 | S2)`.",
    "A message of S1 is stopped at the inner block and never reaches the outer one; a "
    "message of S2 \\ S1 passes the inner one and is stopped at the outer one; every other "
    "message passes both unchanged.",
    _check_block_union,
    data=lambda spec: st.tuples(hide_sets(spec), hide_sets(spec)),
    handlers=("block",),
)


def _check_condition_obs(spec, data, key):
    _, plain, _ = traced(spec, seeded(None, key))
    _, tc, _ = traced(spec, seeded(H.condition(data=data), key))
    for n in tc.names:
        site = tc[n]
        if n in data:
            if not site.is_observed:
                raise AssertionError(f"conditioned site '{n}' is not marked observed")
            assert_trees_close(site.value, np.asarray(data[n]), f"value of conditioned site '{n}'")
        elif site.get("is_observed") != plain[n].get("is_observed"):
            raise AssertionError(f"site '{n}' changed is_observed without being conditioned")


condition_records_observation = Law(
    "condition_records_observation",
    "Under `condition(D)`, each site n in D is recorded with `is_observed=True` and value "
    "D[n]; every other site keeps its `is_observed` flag.",
    "`condition` replaces the value of the messages it names and marks them observed; the "
    "default interpretation does not sample a message that has a value.",
    _check_condition_obs,
    data=lambda spec: condition_data(spec, min_size=1),
    models=lambda: model_specs(require=("latent",)),
    handlers=("condition",),
)


def _check_substitute_latent(spec, data, key):
    _, plain, _ = traced(spec, seeded(None, key))
    _, ts, _ = traced(spec, seeded(H.substitute(data=data), key))
    if list(plain.names) != list(ts.names):
        raise AssertionError(
            f"substitute changed the sites: {list(plain.names)} vs {list(ts.names)}"
        )
    for n in ts.names:
        same_obs = ts[n].get("is_observed") == plain[n].get("is_observed")
        if type(ts[n]) is not type(plain[n]) or not same_obs:
            raise AssertionError(f"substitute changed the kind or is_observed flag of '{n}'")
        if n in data:
            assert_trees_close(ts[n].value, np.asarray(data[n]), f"value of substituted site '{n}'")


substitute_keeps_latent = Law(
    "substitute_keeps_latent",
    "Under `substitute(D)`, each site n in D has value D[n] and keeps its kind and its "
    "`is_observed` flag (a substituted latent site stays latent); the trace has the same "
    "sites as without it.",
    "`substitute` only replaces `value` on the messages it names; it never sets "
    "`is_observed` or changes the message type.",
    _check_substitute_latent,
    data=lambda spec: substitute_data(spec, min_size=1),
    models=lambda: model_specs(require=("latent",)),
    handlers=("substitute",),
)


def _check_empty(kind):
    make = {"condition": H.condition, "substitute": H.substitute}[kind]

    def check(spec, data, key):
        _, plain, _ = traced(spec, seeded(None, key))
        for h in (make(), make(data={}), make(None, {})):
            _, t, _ = traced(spec, seeded(h, key))
            assert_traces_equal(plain, t, f"{kind} with empty data vs no handler")

    return check


condition_empty_identity = Law(
    "condition_empty_identity",
    "`condition({})` (also `condition()`) is the identity: the run records the same trace as "
    "without it.",
    "With no data, `condition` finds no site name in its data and passes every message on "
    "unchanged.",
    _check_empty("condition"),
    handlers=("condition",),
)

substitute_empty_identity = Law(
    "substitute_empty_identity",
    "`substitute({})` (also `substitute()`) is the identity: the run records the same trace "
    "as without it.",
    "With no data, `substitute` finds no site name in its data and passes every message on "
    "unchanged.",
    _check_empty("substitute"),
    handlers=("substitute",),
)


def _check_merge(kind):
    make = {"condition": H.condition, "substitute": H.substitute}[kind]

    def check(spec, data, key):
        d1, d2 = data
        _, t1, _ = traced(spec, seeded(make(data=d1) >> make(data=d2), key))
        _, t2, _ = traced(spec, seeded(make(data={**d1, **d2}), key))
        assert_traces_equal(t1, t2, f"{kind}(d1) >> {kind}(d2) vs {kind}({{**d1, **d2}})")

    return check


condition_merge_precedence = Law(
    "condition_merge_precedence",
    "`condition(d1) >> condition(d2)` is `condition({**d1, **d2})`: where both name a site, "
    "the outer one (d2) wins.",
    "`process` runs from the innermost handler outwards and `condition` overwrites the value "
    "unconditionally, so the last writer, the outer handler, decides; sites named by only "
    "one of them get that one's value.",
    _check_merge("condition"),
    data=lambda spec: st.tuples(condition_data(spec), condition_data(spec)),
    handlers=("condition",),
)

substitute_merge_precedence = Law(
    "substitute_merge_precedence",
    "`substitute(d1) >> substitute(d2)` is `substitute({**d1, **d2})`: where both name a "
    "site, the outer one (d2) wins.",
    "As for `condition`: `process` runs inner to outer and `substitute` overwrites the "
    "value, so the outer handler's value is the one left.",
    _check_merge("substitute"),
    data=lambda spec: st.tuples(substitute_data(spec), substitute_data(spec)),
    handlers=("substitute",),
)

DATA_LAWS = (
    block_removes_exactly,
    block_union,
    condition_records_observation,
    substitute_keeps_latent,
    condition_empty_identity,
    substitute_empty_identity,
    condition_merge_precedence,
    substitute_merge_precedence,
)
