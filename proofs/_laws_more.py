"""Laws of ``replay``, ``scope``, ``uncondition``, ``lift``, ``do`` and ``infer_config``."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from hypothesis import strategies as st

import handlers as H
from effects import Param, Sample

from ._compare import (
    assert_close,
    assert_sites_agree,
    assert_traces_equal,
    assert_trees_close,
    seeded,
    site_lp,
    traced,
)
from ._law import Law
from ._standard import configs, prior_dists, priors
from ._strategies import condition_data, model_specs, seeds, substitute_data


def _check_replay(spec, data, key):
    seed2, outside = data
    v0, tr0, _ = traced(spec, seeded(None, key))
    pipe = seeded(H.replay(trace=tr0), jax.random.key(seed2), seed_outside=outside)
    v1, tr1, _ = traced(spec, pipe)
    if list(tr0.names) != list(tr1.names):
        raise AssertionError(f"replay changed the sites: {list(tr0.names)} vs {list(tr1.names)}")
    what = "replayed run vs the recorded trace"
    assert_sites_agree(tr0, tr1, tr0.names, what, fields=("value", "is_observed"), lp=True)
    assert_trees_close(v0, v1, "model value, replayed run vs recorded run")


replay_reproduces = Law(
    "replay_reproduces",
    "Replaying a trace tr of a model, `replay(trace=tr)` under any other key (seed inside or "
    "outside it), reproduces every value of tr (latent sites, plates' subsample indices, and "
    "so every downstream site), every log density and the model's value.",
    "`replay` gives each latent sample site and plate the value recorded in tr before the "
    "default interpretation could sample it; observed sites keep their data; everything "
    "else is a deterministic function of those values.",
    _check_replay,
    data=lambda spec: st.tuples(seeds(), st.booleans()),
    handlers=("replay",),
)


@st.composite
def _scope_data(draw, spec):
    prefix = draw(st.sampled_from(["a", "outer", "m1"]))
    divider = draw(st.sampled_from(["/", ".", "::"]))
    return prefix, divider, draw(substitute_data(spec))


def _check_scope(spec, data, key):
    prefix, divider, values = data

    def ren(n):
        return f"{prefix}{divider}{n}"

    sc = H.scope(prefix=prefix, divider=divider)
    _, plain, _ = traced(spec, seeded(None, key))
    _, ts, _ = traced(spec, seeded(sc, key))
    if list(ts.names) != [ren(n) for n in plain.names]:
        raise AssertionError(f"scope names: {list(ts.names)} vs {[ren(n) for n in plain.names]}")
    for n in plain.names:
        a, b = plain[n], ts[ren(n)]
        if type(a) is not type(b):
            raise AssertionError(f"scope changed the type of '{n}'")
        assert_trees_close(a.value, b.value, f"value of '{n}' under scope")
        stack_a = [ren(f.name) for f in a.get("cond_indep_stack", ())]
        stack_b = [f.name for f in b.get("cond_indep_stack", ())]
        if stack_a != stack_b:
            raise AssertionError(f"plates recorded on '{n}' under scope: {stack_b} vs {stack_a}")
        if isinstance(a, Sample):
            assert_close(site_lp(a), site_lp(b), f"log density of '{n}' under scope")
    assert_close(plain.log_prob_sum(), ts.log_prob_sum(), "log_prob_sum under scope")
    _, t1, _ = traced(spec, H.seed(key) >> H.substitute(data=values) >> sc >> H.trace())
    renamed = {ren(n): v for n, v in values.items()}
    _, t2, _ = traced(spec, H.seed(key) >> sc >> H.substitute(data=renamed) >> H.trace())
    assert_traces_equal(t1, t2, "substitute(D) >> scope vs scope >> substitute(renamed D)")


scope_renames = Law(
    "scope_renames",
    "With `seed` inside it, `scope(prefix, divider)` records every site n as "
    "`prefix + divider + n` (and the plates on each site likewise), in the same order, with "
    "the same values and log densities. Substituting D inside the scope equals substituting "
    "the renamed D outside it.",
    "`scope` only rewrites the name of each message (and the names of the plates on it) in "
    "`process`; handlers inside it see the original names, handlers outside it the new ones.",
    _check_scope,
    data=_scope_data,
    handlers=("scope",),
)


def _check_uncondition(spec, data, key):
    _, ta, _ = traced(spec, H.condition(data=data) >> H.uncondition() >> H.seed(key) >> H.trace())
    _, tb, _ = traced(spec, H.uncondition() >> H.seed(key) >> H.trace())
    if list(ta.names) != list(tb.names):
        raise AssertionError(f"sites differ: {list(ta.names)} vs {list(tb.names)}")
    model_obs = set(spec.names(("sample",), latent=False))
    for n in ta.names:
        cases = (
            (ta, "condition >> uncondition", model_obs | set(data)),
            (tb, "uncondition", model_obs),
        )
        for t, label, was in cases:
            if isinstance(t[n], Sample):
                if t[n].is_observed:
                    raise AssertionError(f"site '{n}' is still observed under {label}")
                if bool(t[n].infer.get("was_observed", False)) != (n in was):
                    raise AssertionError(
                        f"infer['was_observed'] of '{n}' under {label}: {dict(t[n].infer)}"
                    )
    what = "condition(D) >> uncondition() vs uncondition()"
    assert_sites_agree(ta, tb, ta.names, what, fields=("value", "key"), lp=True)


uncondition_condition = Law(
    "uncondition_condition",
    "With `seed` outside, `condition(D) >> uncondition()` makes every sample site latent and "
    "gives it the same value, key and log density as `uncondition()` alone (D is forgotten); "
    "a site's `infer['was_observed']` is True exactly when it was observed on its way in "
    "(by the model or by D).",
    "`uncondition` drops the value of every observed message and marks it latent, so the "
    "outer `seed` gives it its site-addressed key and the default interpretation samples "
    "it, exactly as for a site that was never observed.",
    _check_uncondition,
    data=condition_data,
    handlers=("uncondition", "condition"),
)


def _check_lift(spec, data, key):
    prior = prior_dists(data)
    _, ta, _ = traced(spec, H.lift(prior=prior) >> H.seed(key) >> H.trace())
    extra = 0.0
    for w in spec.names(("param",)):
        site = ta[w]
        if w not in prior:
            if not isinstance(site, Param):
                raise AssertionError(f"param '{w}' without a prior became {type(site).__name__}")
            continue
        if not isinstance(site, Sample) or site.is_observed:
            raise AssertionError(f"lifted param '{w}' is not a latent sample site: {site}")
        expect = prior[w].sample(H.site_key(key, w))
        assert_trees_close(site.value, expect, f"value of lifted '{w}' vs a draw from its prior")
        lp = jnp.sum(prior[w].log_prob(site.value))
        assert_close(site_lp(site), lp, f"log density of lifted '{w}' vs its prior's")
        extra = extra + lp
    lifted = {w: ta[w].value for w in prior}
    _, tb, _ = traced(spec, H.substitute(data=lifted) >> H.seed(key) >> H.trace())
    others = [n for n in tb.names if n not in prior]
    assert_sites_agree(ta, tb, others, "other sites, lifted vs params substituted", lp=True)
    what = "log_prob_sum: lifted = unlifted + priors"
    assert_close(ta.log_prob_sum(), tb.log_prob_sum() + extra, what, kind="math")


lift_prior = Law(
    "lift_prior",
    "With `seed` outside, `lift(prior=P)` turns each param site w in P into a latent sample "
    "site whose value is the draw from P[w] with w's site key and whose log density is "
    "P[w]'s; the other sites are as in the unlifted model with w substituted by that value, "
    "and the `log_prob_sum` is the unlifted one plus the priors' log densities.",
    "`lift` replaces the `Param` message by a `Sample` message of the same name with the "
    "prior as its distribution, which `seed` keys by name and the default interpretation "
    "samples; params carry no log density, so the prior's is the only term added.",
    _check_lift,
    data=lambda spec: priors(spec, min_size=1),
    models=lambda: model_specs(require=("param",)),
    handlers=("lift",),
)


def _sample_with(site):
    def draw(fn, key):
        return fn.sample(key, tuple(site.sample_shape))

    f = draw
    for _ in range(jnp.ndim(site.indices[0]) if site.indices else 0):
        f = jax.vmap(f)
    return f(site.fn, site.key)


def _check_do(spec, data, key):
    vd, td, _ = traced(spec, H.do(data=data) >> H.seed(key) >> H.trace())
    vc, tc, _ = traced(spec, H.condition(data=data) >> H.seed(key) >> H.trace())
    _, t0, _ = traced(spec, seeded(None, key))
    if list(td.names) != list(tc.names):
        raise AssertionError(f"sites under do vs condition: {list(td.names)} vs {list(tc.names)}")
    assert_trees_close(vd, vc, "model value under do(D) vs condition(D)")
    others = [n for n in td.names if n not in data]
    fields = ("value", "is_observed")
    assert_sites_agree(td, tc, others, "do(D) vs condition(D)", fields=fields, lp=True)
    for z in data:
        observed = spec.info[z].site.observed
        if td[z].is_observed != observed:
            raise AssertionError(
                f"intervened site '{z}' recorded with is_observed={td[z].is_observed}"
            )
        if observed:
            what = f"observed intervened site '{z}' keeps its data"
            assert_trees_close(td[z].value, t0[z].value, what)
        else:
            assert_sites_agree(td, t0, [z], f"key of intervened site '{z}'", fields=("key",))
            what = f"intervened site '{z}' is a fresh draw"
            assert_trees_close(td[z].value, _sample_with(td[z]), what)


do_intervention = Law(
    "do_intervention",
    "With `seed` outside, under `do(D)` the model continues with the intervened values (its "
    "value, and every site not in D, are as under `condition(D)`), while each z in D is "
    "recorded by outer handlers as an ordinary site: latent and freshly drawn with its own "
    "site key (or holding its data if the model observes it); the `__CF` copies never reach "
    "outer handlers.",
    "`do` lets the message of z travel outwards unchanged, so outer handlers sample and "
    "record it as usual, and only on its way back to the model turns it into the observed "
    "site `z__CF` holding the intervention; downstream sites therefore see the same values "
    "as under `condition(D)`.",
    _check_do,
    data=lambda spec: condition_data(spec, min_size=1),
    models=lambda: model_specs(require=("latent",)),
    handlers=("do",),
)


def _check_infer_config(spec, data, key):
    _, ta, _ = traced(spec, seeded(H.infer_config(config_fn=data), key))
    _, tb, _ = traced(spec, seeded(None, key))
    if list(ta.names) != list(tb.names):
        raise AssertionError("infer_config changed the sites")
    fields = ("value", "is_observed", "key")
    assert_sites_agree(ta, tb, ta.names, "infer_config vs none", fields=fields, lp=True)
    for n in ta.names:
        if isinstance(ta[n], Sample):
            expect = {**dict(tb[n].infer), **(data(tb[n]) or {})}
            if dict(ta[n].infer) != expect:
                raise AssertionError(f"infer of '{n}': {dict(ta[n].infer)} vs {expect}")


infer_config_only_infer = Law(
    "infer_config_only_infer",
    "`infer_config(config_fn)` merges `config_fn(msg)` into each sample site's `infer` and "
    "changes nothing else: values, keys, `is_observed` and log densities are as without it.",
    "`infer_config` only replaces the static `infer` field of the message; no handler or "
    "default interpretation among those in the pipeline reads it.",
    _check_infer_config,
    data=configs,
    handlers=("infer_config",),
)

MORE_LAWS = (
    replay_reproduces,
    scope_renames,
    uncondition_condition,
    lift_prior,
    do_intervention,
    infer_config_only_infer,
)
