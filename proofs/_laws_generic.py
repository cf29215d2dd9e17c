"""Laws that every handler should obey, generic over the handler.

Each is a :class:`HandlerLaw`; its checker gets a :class:`HandlerCase` holding the
handler ``h`` and whether ``seed`` sits inside it (``seed(k) >> h >> trace()``) or outside
it (``h >> seed(k) >> trace()``).
"""

from __future__ import annotations

import jax
from hypothesis import strategies as st

import handlers as H
from effects import Pipeline, identity, run

from ._compare import assert_close, assert_traces_equal, assert_trees_close, seeded, traced
from ._law import HandlerLaw
from ._spec import build_model
from ._standard import standard_handlers
from ._strategies import hide_sets, site_values

# Partners that behave the same whether seed is inside or outside them.
_SAFE_PARTNERS = ("condition", "substitute", "scale", "mask", "infer_config")


def _pipe(case, key, inner=None):
    h = case.handler if inner is None else inner
    return seeded(h, key, seed_outside=case.seed_outside)


def _check_determinism(spec, case, key):
    r1 = run(build_model(spec), _pipe(case, key))()
    r2 = run(build_model(spec), _pipe(case, key))()
    assert_trees_close(r1, r2, "two runs with the same key")


handler_seed_determinism = HandlerLaw(
    "handler_seed_determinism",
    "With h in the pipeline, two runs of `seed(k) >> h >> trace()` (or `h >> seed(k) >> "
    "trace()`) with the same key return identical values and outputs.",
    "A run is a pure function of the pipeline (h included) and the key; h may draw "
    "randomness only from keys it is given or obtains through effects (`prng_key`), never "
    "from Python-side state.",
    _check_determinism,
)


def _check_jit(spec, case, key):
    model = build_model(spec)
    pipe = _pipe(case, key)
    eager = run(model, pipe)()
    assert_trees_close(eager, jax.jit(lambda: run(model, pipe)())(), "eager run vs jitted run")
    lp = jax.jit(lambda: run(model, pipe)()[1][-1].log_prob_sum())()
    assert_close(eager[1][-1].log_prob_sum(), lp, "log density eager vs jitted", kind="math")


handler_jit_transparency = HandlerLaw(
    "handler_jit_transparency",
    "With h in the pipeline, running under `jax.jit` gives the same value, outputs and "
    "`log_prob_sum` as running eagerly.",
    "h acts only through its fields and the messages and states it is given, all of which "
    "are traced faithfully; it reads no global state that jit would freeze at trace time.",
    _check_jit,
    cost=0.5,
)


def _check_vmap(spec, case, key):
    model = build_model(spec)
    keys = jax.random.split(key, 2)

    def f(k):
        value, outs = run(model, _pipe(case, k))()
        return value, outs, outs[-1].log_prob_sum()

    batched = jax.vmap(f)(keys)
    for i in range(keys.shape[0]):
        one = jax.tree.map(lambda x: x[i], batched)
        assert_trees_close(one, f(keys[i]), f"vmap over keys vs loop, element {i}")


handler_vmap_transparency = HandlerLaw(
    "handler_vmap_transparency",
    "With h in the pipeline, `jax.vmap` over a batch of keys equals the Python loop of "
    "single runs (values, outputs, log densities).",
    "A run is a pure function of the key, and h keeps no Python state between runs; its "
    "output is a pytree of arrays, so it batches.",
    _check_vmap,
    cost=0.5,
)


def _check_pytree(spec, case, key):
    h = case.handler
    leaves, treedef = jax.tree.flatten(h)
    again = jax.tree.unflatten(treedef, leaves)
    if type(again) is not type(h) or jax.tree.structure(again) != treedef:
        raise AssertionError(f"unflatten(flatten(h)) is not the same kind of handler: {again}")
    assert_trees_close(h, again, "handler round trip")
    model = build_model(spec)
    p1 = _pipe(case, key)
    p_again = jax.tree.unflatten(*reversed(jax.tree.flatten(p1)))
    what = "run under the round-tripped pipeline"
    assert_trees_close(run(model, p1)(), run(model, p_again)(), what)
    count = []

    def f(p):
        count.append(1)
        return run(model, p)()

    jf = jax.jit(f)
    assert_trees_close(jf(p1), run(model, p1)(), "pipeline as a jit argument vs eager")
    p2 = _pipe(case, jax.random.fold_in(key, 1))
    assert_trees_close(jf(p2), run(model, p2)(), "second call with a new key vs eager")
    if len(count) != 1:
        raise AssertionError(f"a new key retraced the jitted run ({len(count)} traces)")


handler_pytree_roundtrip = HandlerLaw(
    "handler_pytree_roundtrip",
    "h, and any pipeline holding it, survive `jax.tree.unflatten(*flatten)` unchanged in type, "
    "structure, leaves and behaviour; passed to a jitted function as an argument, the "
    "pipeline gives the eager results, and a new key does not trigger a retrace.",
    "h is an `eqx.Module` whose data are leaves and whose configuration is static and "
    "hashable; jit caches on the treedef and leaf shapes.",
    _check_pytree,
    cost=0.5,
)


def _partners(spec, case):
    one = standard_handlers(spec, _SAFE_PARTNERS)
    return st.tuples(one, one)


def _check_assoc(spec, case, key):
    a, c = case.extra
    h = case.handler
    left, right = (a >> h) >> c, a >> (h >> c)
    if len(left) != len(right) or any(x is not y for x, y in zip(left.handlers, right.handlers)):
        raise AssertionError(
            f"(a >> h) >> c and a >> (h >> c) hold different handlers: {left} vs {right}"
        )
    r1 = run(build_model(spec), _pipe(case, key, left))()
    r2 = run(build_model(spec), _pipe(case, key, right))()
    assert_trees_close(r1, r2, "runs under (a >> h) >> c and a >> (h >> c)")


handler_composition_associativity = HandlerLaw(
    "handler_composition_associativity",
    "For standard handlers a and c, `(a >> h) >> c` and `a >> (h >> c)` are the same "
    "pipeline and a model runs identically under both.",
    "`>>` concatenates handler tuples; h's own `>>` (inherited from `Handler`) must not "
    "change that.",
    _check_assoc,
    data=_partners,
)


def _check_identity(spec, case, key):
    h = case.handler
    ref = Pipeline.of(h)
    for p, label in ((identity() >> h, "identity() >> h"), (h >> identity(), "h >> identity()")):
        if not isinstance(p, Pipeline) or len(p) != len(ref) or p.handlers[0] is not h:
            raise AssertionError(f"{label} is not the pipeline of h: {p}")
    r1 = run(build_model(spec), _pipe(case, key))()
    r2 = run(build_model(spec), _pipe(case, key, identity() >> h >> identity()))()
    assert_trees_close(r1, r2, "runs under h and identity() >> h >> identity()")


handler_composition_identity = HandlerLaw(
    "handler_composition_identity",
    "`identity() >> h`, `h >> identity()` and h are the same pipeline, and run identically.",
    "`identity()` is the empty handler tuple, the unit of concatenation.",
    _check_identity,
)


@st.composite
def _disjoint_partner(draw, spec, case):
    touched = case.touched or frozenset()
    kind = draw(st.sampled_from(("condition", "substitute", "block")))
    if kind == "block":
        names = spec.names() + spec.used_plates
        if case.seed_outside:
            names = spec.names(("param", "factor", "deterministic"))
            names += spec.names(("sample",), latent=False)
        hide = draw(hide_sets(spec, names=[n for n in names if n not in touched]))
        return H.block(hide=sorted(hide))
    kinds = ("sample",) if kind == "condition" else ("sample", "param", "deterministic")
    names = [n for n in spec.names(kinds) if n not in touched]
    chosen = draw(st.lists(st.sampled_from(names), unique=True)) if names else []
    d = {n: draw(site_values(spec, n)) for n in chosen}
    return H.condition(data=d) if kind == "condition" else H.substitute(data=d)


def _check_commute(spec, case, key):
    h, p = case.handler, case.extra
    _, t1, _ = traced(spec, _pipe(case, key, h >> p))
    _, t2, _ = traced(spec, _pipe(case, key, p >> h))
    kind = type(p).__name__
    assert_traces_equal(t1, t2, f"h >> {kind} vs {kind} >> h, on sites h does not touch")


handler_disjoint_commutation = HandlerLaw(
    "handler_disjoint_commutation",
    "If h declares the sites it touches, then h commutes with `condition`, `substitute` and "
    "`block` acting only on other sites: `h >> p` and `p >> h` record the same trace.",
    "h changes only the messages of the sites it touches and p only those of its own sites, "
    "and neither's state depends on the other's sites; so each message is changed by at "
    "most one of them and the order does not matter.",
    _check_commute,
    data=_disjoint_partner,
    needs="touches",
)


def _check_idempotent(spec, case, key):
    h = case.handler
    v1, t1, _ = traced(spec, _pipe(case, key))
    v2, t2, _ = traced(spec, _pipe(case, key, h >> h))
    assert_trees_close(v1, v2, "model value under h vs h >> h")
    assert_traces_equal(t1, t2, "h vs h >> h")


handler_idempotence = HandlerLaw(
    "handler_idempotence",
    "If h declares itself idempotent, `h >> h` records the same trace and returns the same "
    "value as h.",
    "A handler that only acts on messages it has not yet acted on (or whose action is a "
    "projection) has nothing left to do the second time.",
    _check_idempotent,
    needs="idempotent",
)


def _check_shield(spec, case, key):
    model = build_model(spec)
    h = case.handler
    value, outs = run(model, H.seed(key) >> H.block() >> h >> H.trace())()
    if len(outs[-1]) != 0:
        raise AssertionError(f"sites leaked past block(): {list(outs[-1].names)}")
    plain, _ = run(model, H.seed(key))()
    assert_trees_close(value, plain, "model value with h outside block() vs no h")
    _, (empty,) = run(lambda: None, h)()
    assert_trees_close(outs[-2], empty, "h's output when it sees no message vs on an empty model")


handler_block_shields = HandlerLaw(
    "handler_block_shields",
    "Outside `block()` (which hides everything) h sees no message: "
    "`seed(k) >> block() >> h >> trace()` records nothing, returns the model's value under "
    "`seed(k)` alone, and h's output is its output on an empty model.",
    "`block()` stops every message before any outer handler is visited, so h's `process`, "
    "`postprocess` and state are never touched.",
    _check_shield,
)


def _check_wrapping(spec, case, key):
    model = build_model(spec)
    h = case.handler
    if case.seed_outside:
        wrapped = H.seed(h(model), rng_seed=key)
    else:
        wrapped = h(H.seed(model, rng_seed=key))
    v1, t1 = H.trace(wrapped).run()
    v2, t2, _ = traced(model, _pipe(case, key))
    assert_trees_close(v1, v2, "model value, NumPyro-style wrapping vs pipeline")
    assert_traces_equal(t1, t2, "NumPyro-style wrapping vs pipeline")


handler_wrapping = HandlerLaw(
    "handler_wrapping",
    "Wrapping NumPyro style, `trace(h(seed(model, k)))` (or `trace(seed(h(model), k))`), runs "
    "the model as the pipeline `seed(k) >> h >> trace()` (or `h >> seed(k) >> trace()`).",
    "`h(fn)` runs fn with h pushed outside the handlers in force, so nesting wrappers builds "
    "the same frame as the pipeline.",
    _check_wrapping,
)

GENERIC_LAWS = (
    handler_seed_determinism,
    handler_jit_transparency,
    handler_vmap_transparency,
    handler_pytree_roundtrip,
    handler_composition_associativity,
    handler_composition_identity,
    handler_disjoint_commutation,
    handler_idempotence,
    handler_block_shields,
    handler_wrapping,
)
