"""Laws of composition: associativity, identity, NumPyro-style nesting, commutation of
handlers on disjoint sites, and where ``trace`` sits."""

from __future__ import annotations

from hypothesis import strategies as st

import handlers as H
from effects import Pipeline, identity

from ._compare import assert_traces_equal, assert_trees_close, seeded, traced
from ._law import Law
from ._spec import build_model
from ._standard import pipelines, scalar_pipelines, standard_handlers
from ._strategies import disjoint_subsets, site_values


def _handler_or_pipeline(spec):
    return st.one_of(standard_handlers(spec), scalar_pipelines(spec))


def _parts(spec):
    return st.tuples(*(_handler_or_pipeline(spec) for _ in range(3)))


def _same_handlers(p, q, what):
    if not (isinstance(p, Pipeline) and isinstance(q, Pipeline)):
        raise AssertionError(f"{what}: not pipelines: {type(p).__name__}, {type(q).__name__}")
    if len(p) != len(q) or any(x is not y for x, y in zip(p.handlers, q.handlers)):
        raise AssertionError(f"{what}: the pipelines hold different handlers: {p} vs {q}")
    assert_trees_close(p, q, what)


def _check_assoc(spec, data, key):
    a, b, c = data
    left, right = (a >> b) >> c, a >> (b >> c)
    _same_handlers(left, right, "(a >> b) >> c vs a >> (b >> c)")
    _, t1, _ = traced(spec, seeded(left, key))
    _, t2, _ = traced(spec, seeded(right, key))
    assert_traces_equal(t1, t2, "runs under (a >> b) >> c and a >> (b >> c)")


composition_associativity = Law(
    "composition_associativity",
    "For handlers or pipelines a, b, c: `(a >> b) >> c` and `a >> (b >> c)` are the same "
    "pipeline (the same handlers in the same order, equal as pytrees) and a model runs "
    "identically under both.",
    "`>>` concatenates the tuples of handlers (innermost first), and tuple concatenation is "
    "associative; the runner only sees the flat tuple.",
    _check_assoc,
    data=_parts,
    handlers=("condition", "substitute", "scale", "mask", "block", "replay", "scope", "do"),
)


def _check_identity(spec, data, key):
    a = data[0]
    ref = Pipeline.of(a)
    _same_handlers(identity() >> a, ref, "identity() >> a vs a")
    _same_handlers(a >> identity(), ref, "a >> identity() vs a")
    _same_handlers(identity() >> identity(), Pipeline(()), "identity() >> identity()")
    _, t1, _ = traced(spec, seeded(ref, key))
    _, t2, _ = traced(spec, H.seed(key) >> identity() >> a >> identity() >> H.trace())
    assert_traces_equal(t1, t2, "runs under a and identity() >> a >> identity()")
    _, t3, _ = traced(spec, seeded(identity(), key))
    _, t4, _ = traced(spec, seeded(None, key))
    assert_traces_equal(t3, t4, "run under identity() vs no handler")


composition_identity = Law(
    "composition_identity",
    "`identity() >> a`, `a >> identity()` and `a` are the same pipeline, and running under "
    "`identity()` changes nothing.",
    "`identity()` is the empty tuple of handlers, the unit of tuple concatenation; a message "
    "that meets no handler gets its default interpretation, as with no pipeline at all.",
    _check_identity,
    data=_parts,
)


@st.composite
def _handler_list(draw, spec):
    n = draw(st.integers(1, 3))
    return [draw(standard_handlers(spec)) for _ in range(n)]


def _check_wrapping(spec, data, key):
    model = build_model(spec)
    wrapped = H.seed(model, rng_seed=key)
    for h in data:
        wrapped = h(wrapped)
    v1, t1 = H.trace(wrapped).run()
    pipe = H.seed(key)
    for h in data:
        pipe = pipe >> h
    v2, t2, _ = traced(model, pipe >> H.trace())
    assert_trees_close(v1, v2, "model value, nested wrappers vs pipeline")
    assert_traces_equal(t1, t2, "nested wrappers vs pipeline")


wrapping_equals_pipeline = Law(
    "wrapping_equals_pipeline",
    "Wrapping NumPyro style, `trace(hn(...h1(seed(model, k))))`, runs the model exactly as "
    "the pipeline `seed(k) >> h1 >> ... >> hn >> trace()`.",
    "Calling a wrapped model runs the inner function with the wrapper's handler pushed "
    "outside the handlers already in force, so the innermost wrapper ends up innermost: the "
    "frame is the same tuple of handlers as the pipeline's.",
    _check_wrapping,
    data=_handler_list,
)


_KINDS = ("condition", "substitute", "block")


def _make(kind, spec, names, draw):
    if kind == "block":
        return H.block(hide=sorted(names))
    kinds = ("sample",) if kind == "condition" else ("sample", "param", "deterministic")
    allowed = spec.names(kinds)
    d = {n: draw(site_values(spec, n)) for n in sorted(names) if n in allowed}
    if kind == "condition":
        return H.condition(data=d)
    return H.substitute(data=d)


@st.composite
def _disjoint_pair(draw, spec):
    s1, s2 = draw(disjoint_subsets(spec.names() + spec.used_plates))
    k1, k2 = draw(st.sampled_from(_KINDS)), draw(st.sampled_from(_KINDS))
    return _make(k1, spec, s1, draw), _make(k2, spec, s2, draw)


def _check_commute(spec, data, key):
    x, y = data
    _, t1, _ = traced(spec, seeded(x >> y, key))
    _, t2, _ = traced(spec, seeded(y >> x, key))
    assert_traces_equal(t1, t2, "x >> y vs y >> x on disjoint sites")


disjoint_commutation = Law(
    "disjoint_commutation",
    "Handlers among `condition`, `substitute` and `block` whose data name disjoint sets of "
    "sites commute: `seed(k) >> x >> y >> trace()` and `seed(k) >> y >> x >> trace()` record "
    "the same trace.",
    "Each of them changes only the messages of the sites it names and passes every other "
    "message on unchanged, and their states record only their own sites; so for every "
    "message at most one of them acts, and the order in which they are met does not matter.",
    _check_commute,
    data=_disjoint_pair,
    handlers=("condition", "substitute", "block"),
)


def _check_trace_idem(spec, data, key):
    _, _, outs = traced(spec, seeded(data, key) >> H.trace())
    inner, outer = outs[-2], outs[-1]
    assert_traces_equal(inner, outer, "trace() >> trace(): inner vs outer trace")
    _, single, _ = traced(spec, seeded(data, key))
    assert_traces_equal(single, outer, "trace() >> trace() vs a single trace()")


trace_idempotence = Law(
    "trace_idempotence",
    "`trace() >> trace()` records the same sites, in the same order, with the same messages, "
    "in both traces, and the same as one `trace()`.",
    "`trace` records each message in `postprocess` and returns it unchanged, so the outer "
    "trace sees exactly what the inner one saw.",
    _check_trace_idem,
    data=pipelines,
    handlers=("trace",),
)

_POSITION_KINDS = ("condition", "substitute", "scale", "mask", "replay", "scope", "infer_config")


def _partner(spec):
    return standard_handlers(spec, _POSITION_KINDS, scalar=False)


def _check_trace_position(spec, data, key):
    _, outside, _ = traced(spec, H.seed(key) >> data >> H.trace())
    _, _, outs = traced(spec, H.seed(key) >> H.trace() >> data >> H.trace())
    assert_traces_equal(outside, outs[1], "trace outside vs inside the handler")


trace_position_invariance = Law(
    "trace_position_invariance",
    "For h among `condition`, `substitute`, `scale`, `mask`, `replay`, `scope` and "
    "`infer_config`, a trace inside h (`seed(k) >> trace() >> h`) records the same sites, "
    "in the same order, with the same messages, as a trace outside it "
    "(`seed(k) >> h >> trace()`).",
    "These handlers act in `process`, which runs for every handler before the default "
    "interpretation; `trace` records in `postprocess`, after it. So wherever the trace sits, "
    "it records the final message.",
    _check_trace_position,
    data=_partner,
    handlers=("trace",) + _POSITION_KINDS,
)

COMPOSITION_LAWS = (
    composition_associativity,
    composition_identity,
    wrapping_equals_pipeline,
    disjoint_commutation,
    trace_idempotence,
    trace_position_invariance,
)
