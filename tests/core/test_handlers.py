"""Behaviour of the standard handlers, checked against independent computations."""

from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import jaxtyping
import numpy as np
import pytest
from scipy.stats import norm

import dists as D
import effects
import handlers
from effects import (
    Deterministic,
    Effect,
    Handler,
    Param,
    Sample,
    deterministic,
    factor,
    param,
    plate,
    prng_key,
    run,
    sample,
    subsample,
)
from handlers import (
    block,
    condition,
    do,
    infer_config,
    lift,
    mask,
    replay,
    scale,
    scope,
    seed,
    substitute,
    trace,
    uncondition,
)


def two_sites():
    a = sample("a", D.Normal(0.0, 1.0))
    b = sample("b", D.Normal(a, 2.0))
    return a + b


def get_trace(model, *args, pipeline=None, rng_seed=0):
    """Trace of ``model`` run under ``pipeline >> seed >> trace``."""
    pipe = seed(rng_seed=rng_seed) >> trace()
    if pipeline is not None:
        pipe = pipeline >> pipe
    return run(model, pipe)(*args)[1][-1]


# --- seed and trace -------------------------------------------------------------------


def test_trace_records_sites_in_order_with_scipy_log_density():
    value, (_, tr) = run(two_sites, seed(rng_seed=3) >> trace())()
    assert list(tr) == ["a", "b"]
    assert tr["a"].type_name == "sample" and not tr["a"].is_observed
    a, b = float(tr["a"].value), float(tr["b"].value)
    assert np.isclose(float(value), a + b)
    expected = norm.logpdf(a, 0.0, 1.0) + norm.logpdf(b, a, 2.0)
    np.testing.assert_allclose(tr.log_prob_sum(), expected, rtol=1e-12)


def test_seed_is_deterministic_and_keys_differ():
    tr0 = get_trace(two_sites, rng_seed=0)
    tr0b = get_trace(two_sites, rng_seed=0)
    tr0k = run(two_sites, seed(jax.random.key(0)) >> trace())()[1][-1]
    tr1 = get_trace(two_sites, rng_seed=1)
    assert tr0["a"].value == tr0b["a"].value == tr0k["a"].value
    assert tr0["a"].value != tr1["a"].value


def _draw_b(model, pipeline=None):
    return float(get_trace(model, pipeline=pipeline, rng_seed=7)["b"].value)


def test_seed_is_site_addressed():
    """The draw at 'b' is unchanged when other sites are added, removed, reordered,
    conditioned, substituted or blocked (DESIGN rule 3)."""

    def ab():
        sample("a", D.Normal(0.0, 1.0))
        return sample("b", D.Normal(0.0, 1.0))

    def b_only():
        return sample("b", D.Normal(0.0, 1.0))

    def cba():
        sample("c", D.Normal(0.0, 1.0))
        b = sample("b", D.Normal(0.0, 1.0))
        sample("a", D.Normal(0.0, 1.0))
        return b

    ref = _draw_b(ab)
    assert _draw_b(b_only) == ref
    assert _draw_b(cba) == ref
    assert _draw_b(ab, condition(data={"a": 5.0})) == ref
    assert _draw_b(ab, substitute(data={"a": 5.0})) == ref
    # block is outside seed here, so `a` is still drawn but hidden from the trace.
    _, (_, _, tr) = run(ab, seed(rng_seed=7) >> block(hide=["a"]) >> trace())()
    assert list(tr) == ["b"] and float(tr["b"].value) == ref
    # Different sites get different keys.
    assert float(get_trace(ab, rng_seed=7)["a"].value) != ref


def test_prng_key_named_is_site_addressed_and_anonymous_keys_differ():
    def model():
        k1 = prng_key()
        k2 = prng_key()
        kn = prng_key("named")
        return k1, k2, kn

    (k1, k2, kn), _ = run(model, seed(rng_seed=0))()
    assert not np.array_equal(jax.random.key_data(k1), jax.random.key_data(k2))
    expected = handlers.site_key(jax.random.key(0), "named")
    np.testing.assert_array_equal(jax.random.key_data(kn), jax.random.key_data(expected))
    assert run(model, trace())()[0] == (None, None, None)


# --- condition and substitute ---------------------------------------------------------


def test_condition_marks_observed_substitute_does_not():
    tr_c = get_trace(two_sites, pipeline=condition(data={"a": 0.3}))
    tr_s = get_trace(two_sites, pipeline=substitute(data={"a": 0.3}))
    assert tr_c["a"].is_observed and not tr_s["a"].is_observed
    assert float(tr_c["a"].value) == float(tr_s["a"].value) == 0.3
    # `b` depends on `a` through its distribution, and has the same site-addressed draw.
    assert float(tr_c["b"].fn.loc) == 0.3
    assert float(tr_c["b"].value) == float(tr_s["b"].value)
    b = float(tr_c["b"].value)
    expected = norm.logpdf(0.3, 0.0, 1.0) + norm.logpdf(b, 0.3, 2.0)
    np.testing.assert_allclose(tr_c.log_prob_sum(), expected, rtol=1e-12)
    np.testing.assert_allclose(tr_s.log_prob_sum(), expected, rtol=1e-12)


def test_condition_fn_and_substitute_fn_and_other_site_types():
    def model():
        w = param("w", 1.0)
        a = sample("a", D.Normal(0.0, 1.0))
        d = deterministic("d", a * w)
        return d

    def cond_fn(msg):
        return 2.0 if msg.name == "a" else None

    tr = get_trace(model, pipeline=condition(condition_fn=cond_fn))
    assert tr["a"].is_observed and float(tr["a"].value) == 2.0
    tr = get_trace(model, pipeline=substitute(data={"w": 3.0, "d": -1.0, "a": 0.5}))
    assert float(tr["w"].value) == 3.0
    assert float(tr["d"].value) == -1.0  # a deterministic site can be substituted too
    tr = get_trace(model, pipeline=substitute(substitute_fn=lambda m: 4.0))
    assert float(tr["w"].value) == 4.0 and float(tr["a"].value) == 4.0
    assert not tr["a"].is_observed


# --- block ---------------------------------------------------------------------------


def many_types():
    w = param("w", 1.0)
    a = sample("a", D.Normal(0.0, 1.0))
    b = sample("ab", D.Normal(a, 1.0))
    deterministic("d", a + b + w)
    factor("f", -1.0)


def blocked_names(**kwargs):
    pipe = seed(rng_seed=0) >> block(**kwargs) >> trace()
    return list(run(many_types, pipe)()[1][-1])


def test_block_hide_expose_types_and_fn():
    assert blocked_names(hide=["a"]) == ["w", "ab", "d", "f"]
    assert blocked_names(expose=["a", "f"]) == ["a", "f"]
    assert blocked_names(hide_types=[Param, Deterministic]) == ["a", "ab", "f"]
    assert blocked_names(expose_types=[Sample]) == ["a", "ab"]
    assert blocked_names(hide_fn=lambda m: m.name.startswith("a")) == ["w", "d", "f"]
    assert blocked_names() == []


def test_block_hides_only_from_outer_handlers():
    pipe = trace() >> seed(rng_seed=0) >> block(hide=["a"]) >> trace()
    _, (inner, _, _, outer) = run(many_types, pipe)()
    assert "a" in inner and "a" not in outer
    assert float(inner["a"].value) == float(outer["ab"].fn.loc)


# --- scale and mask ------------------------------------------------------------------


def _lp(model, pipeline=None):
    return float(get_trace(model, pipeline=pipeline).log_prob_sum())


def test_scale_multiplies_log_density():
    base = _lp(two_sites)
    np.testing.assert_allclose(_lp(two_sites, scale(scale=2.5)), 2.5 * base, rtol=1e-12)
    nested = scale(scale=2.0) >> scale(scale=3.0)
    np.testing.assert_allclose(_lp(two_sites, nested), 6.0 * base, rtol=1e-12)

    def with_factor():
        factor("f", -1.5)

    np.testing.assert_allclose(_lp(with_factor, scale(scale=2.0)), -3.0)
    with pytest.raises(ValueError, match="positive"):
        scale(scale=-1.0)


def test_mask_switches_terms_off():
    data = jnp.array([0.5, -1.0, 2.0])
    m = jnp.array([True, False, True])

    def model():
        with plate("data", 3):
            sample("y", D.Normal(0.0, 1.0), obs=data)

    assert _lp(model, mask(mask=False)) == 0.0
    np.testing.assert_allclose(_lp(model, mask(mask=m)), norm.logpdf(data[m]).sum(), rtol=1e-12)
    # mask and scale compose.
    pipe = mask(mask=m) >> scale(scale=0.5)
    np.testing.assert_allclose(_lp(model, pipe), 0.5 * norm.logpdf(data[m]).sum(), rtol=1e-12)


# --- plate ---------------------------------------------------------------------------


def test_plate_broadcasts_batch_shape():
    def model():
        with plate("a", 3):
            x = sample("x", D.Normal(0.0, 1.0))
            with plate("b", 4):
                y = sample("y", D.Normal(0.0, 1.0))
        with plate("c", 2, dim=-2):
            z = sample("z", D.Normal(0.0, 1.0))
        return x, y, z

    (x, y, z), (_, tr) = run(model, seed(rng_seed=0) >> trace())()
    assert x.shape == (3,) and y.shape == (4, 3) and z.shape == (2, 1)
    assert tr["y"].fn.batch_shape == (4, 3)
    # Nested plates get dims -1 and -2 (outermost first); the stack is innermost first.
    assert [(f.name, f.dim, f.size) for f in tr["y"].cond_indep_stack] == [
        ("b", -2, 4),
        ("a", -1, 3),
    ]
    assert [(f.name, f.dim) for f in tr["x"].cond_indep_stack] == [("a", -1)]
    assert tr["a"].type_name == "plate" and tr["a"].dim == -1 and tr["b"].dim == -2
    expected = norm.logpdf(x).sum() + norm.logpdf(y).sum() + norm.logpdf(z).sum()
    np.testing.assert_allclose(tr.log_prob_sum(), expected, rtol=1e-12)


def test_plate_subsampling_indices_scale_and_subsample():
    N, s = 10, 4
    y = jnp.arange(N, dtype=jnp.float64) / 3.0
    X = jnp.stack([jnp.arange(N), -jnp.arange(N)], axis=-1).astype(jnp.float64)

    def model():
        with plate("data", N, subsample_size=s) as idx:
            ys = subsample(y, event_dim=0)
            xs = subsample(X, event_dim=1)
            sample("obs", D.Normal(0.0, 1.0), obs=ys)
        return idx, ys, xs

    (idx, ys, xs), (_, tr) = run(model, seed(rng_seed=0) >> trace())()
    idx_np = np.asarray(idx)
    assert idx.shape == (s,)
    assert len(set(idx_np.tolist())) == s and idx_np.min() >= 0 and idx_np.max() < N
    np.testing.assert_array_equal(ys, y[idx])
    np.testing.assert_array_equal(xs, X[idx])
    assert float(tr["obs"].scale) == N / s
    expected = N / s * norm.logpdf(np.asarray(y)[idx_np]).sum()
    np.testing.assert_allclose(tr.log_prob_sum(), expected, rtol=1e-12)
    other = run(model, seed(rng_seed=1))()[0][0]
    assert not np.array_equal(other, idx)

    # Without subsampling, `subsample` is the identity and there is no scale.
    def full():
        with plate("data", N):
            return subsample(y, event_dim=0)

    np.testing.assert_array_equal(run(full, trace())()[0], y)


# --- scope ---------------------------------------------------------------------------


def submodel():
    with plate("data", 2):
        x = sample("x", D.Normal(0.0, 1.0))
    deterministic("d", x.sum())
    return x


def test_scope_prefixes_and_nested_scopes_compose():
    tr = trace(seed(scope(submodel, prefix="s"), rng_seed=0)).get_trace()
    assert list(tr) == ["s/data", "s/x", "s/d"]
    assert tr["s/x"].cond_indep_stack[0].name == "s/data"
    tr = trace(seed(scope(scope(submodel, prefix="inner"), prefix="outer"), 0)).get_trace()
    assert list(tr) == ["outer/inner/data", "outer/inner/x", "outer/inner/d"]
    pipe = scope(prefix="inner") >> scope(prefix="outer") >> seed(rng_seed=0) >> trace()
    assert list(run(submodel, pipe)()[1][-1]) == list(tr)
    tr = trace(seed(scope(submodel, prefix="p", divider="."), 0)).get_trace()
    assert list(tr) == ["p.data", "p.x", "p.d"]


def test_scope_hide_types():
    tr = trace(seed(scope(submodel, prefix="s", hide_types=["plate"]), 0)).get_trace()
    assert list(tr) == ["data", "s/x", "s/d"]
    assert tr["s/x"].cond_indep_stack[0].name == "data"
    tr = trace(seed(scope(submodel, prefix="s", hide_types=[Deterministic]), 0)).get_trace()
    assert list(tr) == ["s/data", "s/x", "d"]


def test_scope_lets_a_submodel_be_reused():
    def sub():
        return sample("x", D.Normal(0.0, 1.0))

    def model():
        return scope(sub, prefix="first")(), scope(sub, prefix="second")()

    (a, b), (_, tr) = run(model, seed(rng_seed=0) >> trace())()
    assert list(tr) == ["first/x", "second/x"] and a != b

    def clash():
        return sub(), sub()

    with pytest.raises(ValueError, match="Site 'x' appears twice"):
        run(clash, seed(rng_seed=0) >> trace())()


# --- lift ----------------------------------------------------------------------------


def param_model():
    w = param("w", jnp.array(0.5))
    b = param("b", 1.0)
    return sample("y", D.Normal(w + b, 1.0), obs=2.0)


def test_lift_turns_params_into_sample_sites():
    prior = D.Normal(0.0, 3.0)
    tr = trace(seed(lift(param_model, prior=prior), rng_seed=0)).get_trace()
    assert tr["w"].type_name == "sample" and tr["b"].type_name == "sample"
    assert not tr["w"].is_observed
    w, b = float(tr["w"].value), float(tr["b"].value)
    assert w != 0.5 and w != b
    assert float(tr["y"].fn.loc) == w + b
    expected = norm.logpdf(w, 0, 3) + norm.logpdf(b, 0, 3) + norm.logpdf(2.0, w + b, 1.0)
    np.testing.assert_allclose(tr.log_prob_sum(), expected, rtol=1e-12)


def test_lift_dict_prior_leaves_other_params_alone_and_composes():
    tr = trace(seed(lift(param_model, prior={"w": D.Normal(0.0, 3.0)}), 0)).get_trace()
    assert tr["w"].type_name == "sample" and tr["b"].type_name == "param"
    assert float(tr["b"].value) == 1.0
    # An outer substitute gives the lifted site a value; its prior density counts.
    pipe = lift(prior=D.Normal(0.0, 3.0)) >> substitute(data={"w": 0.1, "b": 0.2}) >> trace()
    _, (_, _, tr) = run(param_model, pipe)()
    expected = norm.logpdf(0.1, 0, 3) + norm.logpdf(0.2, 0, 3) + norm.logpdf(2.0, 0.3, 1.0)
    np.testing.assert_allclose(tr.log_prob_sum(), expected, rtol=1e-12)


def test_lift_draws_follow_the_prior():
    prior = D.Normal(1.0, 3.0)
    keys = jax.random.split(jax.random.key(11), 2000)

    def draw(k):
        return run(param_model, lift(prior=prior) >> seed(k) >> trace())()[1][-1]["w"].value

    draws = jax.jit(jax.vmap(draw))(keys)
    assert abs(float(draws.mean()) - 1.0) < 4 * 3.0 / np.sqrt(2000)
    assert abs(float(draws.std()) - 3.0) < 4 * 3.0 / np.sqrt(2 * 2000)


# --- do ------------------------------------------------------------------------------


def causal():
    z = sample("z", D.Normal(0.0, 1.0))
    y = sample("y", D.Normal(z, 1.0))
    return z, y


def test_do_gives_model_the_intervention_and_samples_a_fresh_site():
    (z, y), (_, _, tr) = run(causal, do(data={"z": 3.0}) >> seed(rng_seed=0) >> trace())()
    z_plain = float(get_trace(causal)["z"].value)
    assert float(z) == 3.0
    # The outer trace sees an ordinary latent `z`, drawn as without the intervention.
    assert float(tr["z"].value) == z_plain != 3.0
    assert not tr["z"].is_observed and "z__CF" not in tr
    assert float(tr["y"].fn.loc) == 3.0  # downstream sites see the intervened value
    expected = norm.logpdf(z_plain, 0, 1) + norm.logpdf(float(y), 3.0, 1.0)
    np.testing.assert_allclose(tr.log_prob_sum(), expected, rtol=1e-12)


def test_do_inner_handlers_see_the_counterfactual_site():
    pipe = trace() >> do(data={"z": 3.0}) >> condition(data={"z": 0.5}) >> seed(0) >> trace()
    (z, _), (inner, _, _, _, outer) = run(causal, pipe)()
    assert float(z) == 3.0
    assert "z__CF" in inner and "z" not in inner
    assert inner["z__CF"].is_observed and float(inner["z__CF"].value) == 3.0
    # An outer condition acts on the fresh site, not on the intervention.
    assert outer["z"].is_observed and float(outer["z"].value) == 0.5
    # NumPyro style.
    z2, _ = seed(do(causal, data={"z": -1.0}), rng_seed=0)()
    assert float(z2) == -1.0


# --- uncondition ---------------------------------------------------------------------


def observed_model(y):
    mu = sample("mu", D.Normal(0.0, 1.0))
    with plate("data", 3):
        return sample("y", D.Normal(mu, 1.0), obs=y)


def test_uncondition_samples_observed_sites():
    y_obs = jnp.array([10.0, 11.0, 12.0])
    tr = trace(seed(uncondition(observed_model), rng_seed=0)).get_trace(y_obs)
    assert not tr["y"].is_observed and tr["y"].infer["was_observed"] is True
    assert not np.allclose(tr["y"].value, y_obs)
    # It is drawn exactly as from the prior (site-addressed seed).
    prior = trace(seed(observed_model, rng_seed=0)).get_trace(None)
    np.testing.assert_array_equal(tr["y"].value, prior["y"].value)
    mu, y = float(tr["mu"].value), np.asarray(tr["y"].value)
    expected = norm.logpdf(mu) + norm.logpdf(y, mu, 1.0).sum()
    np.testing.assert_allclose(tr.log_prob_sum(), expected, rtol=1e-12)
    # Outside `condition`, it undoes the conditioning.
    pipe = condition(data={"mu": 1.0}) >> uncondition() >> seed(rng_seed=0) >> trace()
    tr = run(observed_model, pipe)(y_obs)[1][-1]
    assert not tr["mu"].is_observed and float(tr["mu"].value) != 1.0


# --- replay --------------------------------------------------------------------------


def guide():
    sample("mu", D.Normal(5.0, 0.1))


def test_replay_takes_latent_values_from_a_trace():
    y_obs = jnp.array([4.0, 5.0, 6.0])
    g = trace(seed(guide, rng_seed=0)).get_trace()
    mu = float(g["mu"].value)
    tr = trace(seed(replay(observed_model, trace=g), rng_seed=1)).get_trace(y_obs)
    assert float(tr["mu"].value) == mu
    np.testing.assert_array_equal(tr["y"].value, y_obs)
    expected = norm.logpdf(mu) + norm.logpdf(y_obs, mu, 1.0).sum()
    np.testing.assert_allclose(tr.log_prob_sum(), expected, rtol=1e-12)
    # Replaying the model's own trace under another seed reproduces it, observed sites kept.
    own = trace(seed(observed_model, rng_seed=2)).get_trace(None)
    again = trace(seed(replay(observed_model, own), rng_seed=3)).get_trace(y_obs)
    assert float(again["mu"].value) == float(own["mu"].value)
    np.testing.assert_array_equal(again["y"].value, y_obs)


def test_replay_plate_subsample_and_infer():
    def model():
        with plate("data", 10, subsample_size=3) as idx:
            sample("x", D.Normal(0.0, 1.0), infer={"k": 1})
        return idx

    tr = trace(seed(model, rng_seed=0)).get_trace()
    idx, tr2 = run(model, replay(trace=tr) >> seed(rng_seed=5) >> trace())()
    np.testing.assert_array_equal(idx, tr["data"].value)
    np.testing.assert_array_equal(tr2[-1]["x"].value, tr["x"].value)
    assert tr2[-1]["x"].infer == {"k": 1}


def test_replay_rejects_an_observed_site_in_the_trace():
    g = trace(seed(condition(guide, data={"mu": 1.0}), rng_seed=0)).get_trace()
    with pytest.raises(ValueError, match="site 'mu'"):
        seed(replay(observed_model, g), rng_seed=0)(None)


# --- infer_config --------------------------------------------------------------------


def test_infer_config_merges_into_infer():
    def model():
        sample("z1", D.Normal(0.0, 1.0), infer={"foo": 1})
        sample("x", D.Normal(0.0, 1.0))
        param("p", 1.0)

    def config_fn(msg):
        return {"enumerate": "parallel"} if msg.name.startswith("z") else None

    tr = trace(seed(infer_config(model, config_fn), rng_seed=0)).get_trace()
    assert tr["z1"].infer == {"foo": 1, "enumerate": "parallel"}
    assert tr["x"].infer == {}


# --- typed handlers ------------------------------------------------------------------


HANDLER_CLASSES = [
    handlers.Block,
    handlers.Condition,
    handlers.Substitute,
    handlers.Mask,
    handlers.Scale,
    handlers.Seed,
    handlers.TraceHandler,
    handlers.Replay,
    handlers.Scope,
    handlers.Lift,
    handlers.Do,
    handlers.Uncondition,
    handlers.InferConfig,
    effects.PlateHandler,
]


@pytest.mark.parametrize("cls", HANDLER_CLASSES, ids=lambda c: c.__name__)
def test_each_handler_declares_the_effects_it_handles(cls):
    assert isinstance(cls.handles, tuple) and cls.handles
    assert all(isinstance(t, type) and issubclass(t, Effect) for t in cls.handles)
    assert cls.scan_mode in ("carry", "stack")


class Spy(Handler):
    """Records the type and name of every message it is shown."""

    handles: ClassVar = (Effect,)
    only: tuple = eqx.field(static=True, default=(Effect,))

    def init_state(self):
        return ()

    def process(self, msg, state):
        assert isinstance(msg, self.only)
        return msg, state + ((type(msg).__name__, getattr(msg, "name", None)),)


class ParamSpy(Spy):
    handles: ClassVar = (Param,)


def test_handler_sees_only_declared_message_types():
    seen_all = run(many_types, seed(rng_seed=0) >> Spy())()[1][-1]
    assert {t for t, _ in seen_all} == {"Sample", "Param", "Deterministic", "Factor"}
    seen = run(many_types, ParamSpy(only=(Param,)) >> seed(rng_seed=0))()[1][0]
    assert seen == (("Param", "w"),)
    # The standard handlers agree with their declarations: condition never sees a param, so
    # data naming one is reported as unknown.
    with pytest.warns(UserWarning, match=r"\['w'\]"):
        run(many_types, condition(data={"w": 2.0}) >> seed(rng_seed=0))()


def test_public_signatures_are_type_checked():
    with pytest.raises(jaxtyping.TypeCheckError, match="name"):
        effects.sample(123, D.Normal(0.0, 1.0))
    with pytest.raises((jaxtyping.TypeCheckError, ValueError), match="size"):
        plate("p", 3.5)
    with pytest.raises(jaxtyping.TypeCheckError, match="value"):
        effects.deterministic("d", "not an array")
    with pytest.raises(TypeError):
        scope(two_sites, prefix=3)


# --- the runner is re-entrant -------------------------------------------------------


class Decenter(Handler):
    """A toy reparameteriser: it draws ``x`` as ``loc + scale * x_decentered`` by
    performing a new sample site from inside ``process``."""

    handles: ClassVar = (Sample,)

    def process(self, msg, state):
        if msg.name != "x" or msg.value is not None:
            return msg, state
        raw = sample("x_decentered", D.Normal(0.0, 1.0))
        return msg.replace(value=msg.fn.loc + msg.fn.scale * raw), state


def test_handler_may_perform_effects_and_their_state_is_kept():
    def model():
        return sample("x", D.Normal(2.0, 3.0))

    x, (_, _, tr) = run(model, Decenter() >> seed(rng_seed=0) >> trace())()
    assert list(tr) == ["x_decentered", "x"]
    raw = float(tr["x_decentered"].value)
    np.testing.assert_allclose(float(x), 2.0 + 3.0 * raw, rtol=1e-12)
    expected = norm.logpdf(raw) + norm.logpdf(float(x), 2.0, 3.0)
    np.testing.assert_allclose(tr.log_prob_sum(), expected, rtol=1e-12)


def test_do_pairs_each_message_with_its_postprocess_under_nested_effects():
    def model():
        return sample("x", D.Normal(2.0, 3.0))

    # Decenter performs `x_decentered` while the intervened `x` is in flight through do.
    pipe = trace() >> do(data={"x": 7.0}) >> Decenter() >> seed(rng_seed=0) >> trace()
    x, (inner, _, _, _, outer) = run(model, pipe)()
    assert float(x) == 7.0
    assert list(inner) == ["x_decentered", "x__CF"] and float(inner["x__CF"].value) == 7.0
    assert list(outer) == ["x_decentered", "x"]
    raw = float(outer["x_decentered"].value)
    np.testing.assert_allclose(float(outer["x"].value), 2.0 + 3.0 * raw, rtol=1e-12)
