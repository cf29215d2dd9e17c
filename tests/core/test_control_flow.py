"""Effect-aware ``scan`` and ``cond`` (cf. NumPyro issues 566, 879 and 1685)."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import norm

import dists as D
from effects import cond, plate, run, sample, scan
from handlers import condition, replay, seed, site_key, substitute, trace

T = 5


def walk(ys=None):
    """A Gaussian random walk observed with noise: an HMM with continuous states."""

    def body(z, y):
        z = sample("z", D.Normal(z, 1.0))
        sample("y", D.Normal(z, 0.5), obs=y)
        return z, z

    _, zs = scan(body, jnp.zeros(()), ys, length=T)
    return zs


def walk_unrolled(ys=None):
    """The same model as a Python loop, with one name per step."""
    z = jnp.zeros(())
    zs = []
    for t in range(T):
        z = sample(f"z_{t}", D.Normal(z, 1.0))
        sample(f"y_{t}", D.Normal(z, 0.5), obs=None if ys is None else ys[t])
        zs.append(z)
    return jnp.stack(zs)


def walk_logpdf(z, y):
    z, y = np.asarray(z), np.asarray(y)
    prev = np.concatenate([[0.0], z[:-1]])
    return norm.logpdf(z, prev, 1.0).sum() + norm.logpdf(y, z, 0.5).sum()


@functools.partial(jax.jit, static_argnums=0)
def _run_jit(model, pipeline, *args):
    value, outputs = run(model, pipeline)(*args)
    return value, outputs[-1], outputs[-1].log_prob_sum()


def traced(model, *args, pipeline=None, rng_seed=0):
    """``(value, trace, log density)`` of ``model`` under ``pipeline >> seed >> trace``.

    Compiled once per model and pipeline structure, so tests stay quick; eager runs are
    compared with compiled ones in ``test_scan_under_jit_matches_eager``."""
    pipe = seed(rng_seed=rng_seed) >> trace()
    if pipeline is not None:
        pipe = pipeline >> pipe
    return _run_jit(model, pipe, *args)


def test_scan_trace_holds_sites_stacked_along_time():
    zs, tr, lp = traced(walk)
    assert list(tr) == ["z", "y"]
    assert tr["z"].value.shape == (T,) and tr["y"].value.shape == (T,)
    np.testing.assert_array_equal(tr["z"].value, zs)
    np.testing.assert_array_equal(tr["z"].indices[0], np.arange(T))
    assert not tr["y"].is_observed
    np.testing.assert_allclose(lp, walk_logpdf(zs, tr["y"].value), rtol=1e-12)
    # Deterministic given the seed, different for another seed.
    np.testing.assert_array_equal(traced(walk)[0], zs)
    assert not np.allclose(traced(walk, rng_seed=1)[0], zs)


def test_each_step_gets_its_own_site_addressed_key():
    def noise():
        def body(c, _):
            return c, sample("e", D.Normal(0.0, 1.0))

        return scan(body, 0.0, None, length=T)[1]

    key = jax.random.key(3)
    es = run(noise, seed(key))()[0]
    assert len(set(np.asarray(es).tolist())) == T
    expected = [D.Normal(0.0, 1.0).sample(site_key(key, "e", (t,))) for t in range(T)]
    np.testing.assert_allclose(es, np.stack(expected), rtol=1e-12)


def test_scan_log_density_equals_unrolled_loop():
    zs, tr, lp = traced(walk)
    ys = tr["y"].value
    data = {f"z_{t}": zs[t] for t in range(T)} | {f"y_{t}": ys[t] for t in range(T)}
    _, (_, tr_unrolled) = run(walk_unrolled, substitute(data=data) >> trace())()
    np.testing.assert_allclose(lp, tr_unrolled.log_prob_sum(), rtol=1e-12)
    # The same with observations passed as scan inputs.
    y_obs = jnp.linspace(-1.0, 1.0, T)
    _, tr, lp = traced(walk, y_obs, pipeline=substitute(data={"z": zs}))
    data = {f"z_{t}": zs[t] for t in range(T)}
    _, (_, tr_unrolled) = run(walk_unrolled, substitute(data=data) >> trace())(y_obs)
    np.testing.assert_allclose(lp, tr_unrolled.log_prob_sum(), rtol=1e-12)
    np.testing.assert_allclose(lp, walk_logpdf(zs, y_obs), rtol=1e-12)


def test_condition_and_substitute_take_time_stacked_values():
    y_obs = jnp.linspace(-1.0, 1.0, T)
    zs, tr, lp = traced(walk, pipeline=condition(data={"y": y_obs}))
    assert tr["y"].is_observed
    np.testing.assert_array_equal(tr["y"].value, y_obs)
    np.testing.assert_allclose(lp, walk_logpdf(zs, y_obs), rtol=1e-12)

    z_fixed = jnp.arange(T, dtype=jnp.float64)
    zs, tr, lp = traced(walk, pipeline=substitute(data={"z": z_fixed}))
    np.testing.assert_array_equal(zs, z_fixed)
    assert not tr["z"].is_observed
    np.testing.assert_array_equal(tr["y"].fn.loc, z_fixed)
    np.testing.assert_allclose(lp, walk_logpdf(z_fixed, tr["y"].value))


def test_replay_of_a_scan_trace():
    zs, tr, lp = traced(walk)
    zs2, tr2, _ = traced(walk, pipeline=replay(trace=tr), rng_seed=9)
    np.testing.assert_array_equal(zs2, zs)
    np.testing.assert_array_equal(tr2["y"].value, tr["y"].value)


def test_nested_scan():
    def model():
        def outer(c, _):
            def inner(c2, _):
                w = sample("w", D.Normal(c2, 1.0))
                return w, w

            c, ws = scan(inner, c, None, length=3)
            return c, ws

        return scan(outer, jnp.zeros(()), None, length=2)[1]

    ws, tr, lp = traced(model)
    assert ws.shape == tr["w"].value.shape == (2, 3)
    outer_idx, inner_idx = tr["w"].indices
    np.testing.assert_array_equal(outer_idx, [[0, 0, 0], [1, 1, 1]])
    np.testing.assert_array_equal(inner_idx, [[0, 1, 2], [0, 1, 2]])
    assert len(set(np.asarray(ws).ravel().tolist())) == 6
    flat = np.asarray(ws).ravel()  # the carry runs through both loops in order
    expected = norm.logpdf(flat, np.concatenate([[0.0], flat[:-1]]), 1.0).sum()
    np.testing.assert_allclose(lp, expected, rtol=1e-12)
    w_obs = jnp.arange(6.0).reshape(2, 3)
    _, tr, lp = traced(model, pipeline=condition(data={"w": w_obs}))
    np.testing.assert_array_equal(tr["w"].value, w_obs)
    flat = np.arange(6.0)
    expected = norm.logpdf(flat, np.concatenate([[0.0], flat[:-1]]), 1.0).sum()
    np.testing.assert_allclose(lp, expected, rtol=1e-12)


def test_scan_inside_plate():
    def model():
        def body(z, _):
            z = sample("z", D.Normal(z, 1.0))
            return z, z

        with plate("chains", 3):
            return scan(body, jnp.zeros(3), None, length=T)[1]

    zs, tr, lp = traced(model)
    assert zs.shape == tr["z"].value.shape == (T, 3)
    assert [f.name for f in tr["z"].cond_indep_stack] == ["chains"]
    z = np.asarray(zs)
    prev = np.concatenate([np.zeros((1, 3)), z[:-1]])
    np.testing.assert_allclose(lp, norm.logpdf(z, prev, 1.0).sum(), rtol=1e-12)


def test_plate_inside_scan_body_with_subsampling():
    def model():
        def body(c, _):
            with plate("p", 4, subsample_size=2) as idx:
                x = sample("x", D.Normal(c, 1.0))
            return c + 1.0, (x, idx)

        return scan(body, jnp.zeros(()), None, length=T)[1]

    (xs, idx), tr, lp = traced(model)
    assert xs.shape == tr["x"].value.shape == (T, 2)
    np.testing.assert_array_equal(tr["p"].value, idx)
    assert tr["p"].value.shape == (T, 2)
    assert len({tuple(r) for r in np.asarray(idx).tolist()}) > 1  # fresh subsample per step
    np.testing.assert_allclose(tr["x"].scale, np.full(T, 2.0))
    loc = np.arange(T, dtype=np.float64)[:, None]
    expected = 2.0 * norm.logpdf(np.asarray(xs), loc, 1.0).sum()
    np.testing.assert_allclose(lp, expected, rtol=1e-12)


def test_scan_under_jit_matches_eager():
    f = jax.jit(lambda k: run(walk, seed(k) >> trace())()[1][-1])
    key = jax.random.key(0)
    tr_jit = f(key)
    tr = run(walk, seed(key) >> trace())()[1][-1]
    np.testing.assert_allclose(tr_jit["z"].value, tr["z"].value, rtol=1e-12)
    np.testing.assert_allclose(tr_jit.log_prob_sum(), tr.log_prob_sum(), rtol=1e-12)


def branchy(flag):
    return cond(
        flag,
        lambda: sample("q", D.Normal(100.0, 1.0)),
        lambda: sample("q", D.Normal(-100.0, 1.0)),
    )


@pytest.mark.parametrize("flag", [True, False])
def test_cond_trace_holds_the_taken_branch(flag):
    v, tr, lp = traced(branchy, jnp.asarray(flag))
    loc = 100.0 if flag else -100.0
    assert abs(float(v) - loc) < 10.0
    assert float(tr["q"].value) == float(v)
    np.testing.assert_allclose(lp, norm.logpdf(float(v), loc, 1.0), rtol=1e-12)
    # `traced` compiles the model, so the predicate is a tracer here; eagerly too:
    v_eager, (_, tr_eager) = run(branchy, seed(rng_seed=0) >> trace())(flag)
    assert float(v_eager) == float(v) == float(tr_eager["q"].value)


def test_cond_branches_with_different_sites_give_a_clear_error():
    def model():
        return cond(
            True,
            lambda: sample("a", D.Normal(0.0, 1.0)),
            lambda: sample("b", D.Normal(0.0, 1.0)),
        )

    with pytest.raises(ValueError, match="branches perform different sites"):
        traced(model)
