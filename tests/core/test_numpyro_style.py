"""NumPyro-style usage keeps working, so that ported models and scripts run unchanged."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import norm

import dists as D
from effects import current_frame, plate, sample
from handlers import (
    block,
    condition,
    do,
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

X = jnp.array([-1.0, 0.0, 2.0])


def model(x, y=None):
    a = sample("a", D.Normal(0.0, 1.0))
    with plate("data", x.shape[0]):
        return sample("y", D.Normal(a * x, 1.0), obs=y)


def test_trace_of_seed_get_trace():
    tr = trace(seed(model, 0)).get_trace(X)
    assert list(tr) == ["a", "data", "y"]
    assert tr["a"]["type"] == "sample" and tr["data"]["type"] == "plate"
    assert tr["y"]["value"].shape == (3,) and not tr["y"]["is_observed"]
    a, y = float(tr["a"]["value"]), np.asarray(tr["y"]["value"])
    expected = norm.logpdf(a) + norm.logpdf(y, a * np.asarray(X), 1.0).sum()
    np.testing.assert_allclose(tr.log_prob_sum(), expected, rtol=1e-12)
    # An int seed, a key passed positionally and a key by keyword agree.
    tr_key = trace(seed(model, jax.random.key(0))).get_trace(X)
    tr_kw = trace(seed(model, rng_seed=jax.random.key(0))).get_trace(X)
    assert float(tr_key["a"]["value"]) == float(tr_kw["a"]["value"]) == a
    # The wrapped model is called like the model itself.
    np.testing.assert_array_equal(seed(model, rng_seed=0)(X), y)


def test_dict_style_site_access():
    tr = trace(seed(model, rng_seed=0)).get_trace(X, y=jnp.ones(3))
    site = tr["y"]
    assert site["type"] == "sample" and site["name"] == "y" and site["is_observed"]
    assert "value" in site and "fn" in site and "type" in site and "nonsense" not in site
    assert site.get("infer") == {} and site.get("nonsense", 5) == 5
    assert site["fn"].batch_shape == (3,)
    assert site["cond_indep_stack"][0].name == "data"
    with pytest.raises(KeyError):
        site["nonsense"]
    with pytest.raises(KeyError, match="No site named 'b'"):
        tr["b"]
    names = [name for name, s in tr.items() if s["type"] == "sample" and not s["is_observed"]]
    assert names == ["a"]


def test_condition_and_substitute_wrap_a_model():
    y = jnp.array([0.5, 0.1, -2.0])
    tr = trace(seed(condition(model, {"a": 0.7}), 0)).get_trace(X)
    assert tr["a"]["is_observed"] and float(tr["a"]["value"]) == 0.7
    tr = trace(seed(condition(model, data={"y": y}), 0)).get_trace(X)
    assert tr["y"]["is_observed"]
    np.testing.assert_array_equal(tr["y"]["value"], y)
    tr = trace(substitute(seed(model, 0), {"a": 0.7})).get_trace(X)
    assert not tr["a"]["is_observed"] and float(tr["a"]["value"]) == 0.7
    np.testing.assert_allclose(tr["y"]["fn"].mean, 0.7 * X)


def test_other_handlers_wrap_a_model():
    base = float(trace(seed(model, 0)).get_trace(X).log_prob_sum())
    scaled = trace(seed(scale(model, 2.0), 0)).get_trace(X)
    np.testing.assert_allclose(scaled.log_prob_sum(), 2 * base, rtol=1e-12)
    masked = trace(seed(mask(model, mask=False), 0)).get_trace(X)
    assert float(masked.log_prob_sum()) == 0.0
    assert list(trace(block(seed(model, 0), hide=["a"])).get_trace(X)) == ["data", "y"]
    assert list(trace(seed(scope(model, "m"), 0)).get_trace(X)) == ["m/a", "m/data", "m/y"]
    assert float(seed(do(model, {"a": 0.0}), 0)(X)[0]) != float(seed(model, 0)(X)[0])
    tr0 = trace(seed(model, 0)).get_trace(X)
    np.testing.assert_array_equal(
        trace(seed(replay(model, tr0), 1)).get_trace(X)["y"]["value"], tr0["y"]["value"]
    )
    tr = trace(seed(uncondition(model), 0)).get_trace(X, jnp.ones(3))
    assert not tr["y"]["is_observed"]
    np.testing.assert_array_equal(tr["y"]["value"], tr0["y"]["value"])

    def with_param():
        from effects import param

        return param("p", 1.0)

    assert trace(seed(lift(with_param, D.Normal(0.0, 1.0)), 0)).get_trace()["p"]["type"] == "sample"


def test_seed_context_manager():
    with seed(rng_seed=0):
        a = sample("a", D.Normal(0.0, 1.0))
        b = sample("b", D.Normal(0.0, 1.0))
    assert current_frame() is None

    # The same draws as the wrapped form (site-addressed keys).
    def two():
        return sample("a", D.Normal(0.0, 1.0)), sample("b", D.Normal(0.0, 1.0))

    a2, b2 = seed(two, rng_seed=0)()
    assert float(a) == float(a2) and float(b) == float(b2) and float(a) != float(b)


def test_nested_context_managers_and_models_inside():
    with seed(rng_seed=0):
        with condition(data={"a": 2.0}):
            a = sample("a", D.Normal(0.0, 1.0))
            y = model(X)  # a model called inside the with-blocks sees both handlers
        tr = trace(model).get_trace(X)  # a run inside sees the handlers outside it
    assert float(a) == 2.0
    # The inner run is outside `condition`, so its `a` is drawn; both `y` draws use the
    # same site-addressed noise around their means.
    a_drawn = float(tr["a"]["value"])
    assert not tr["a"]["is_observed"] and a_drawn != 2.0
    np.testing.assert_allclose(y - 2.0 * X, tr["y"]["value"] - a_drawn * X, rtol=1e-12)
    assert current_frame() is None


def test_context_managers_check_unknown_names_and_nesting():
    with pytest.warns(UserWarning, match="typo"):
        with condition(data={"typo": 1.0}):
            pass
    outer, inner = seed(rng_seed=0), seed(rng_seed=1)
    with pytest.raises(RuntimeError, match="not the innermost"):
        outer.__enter__()
        inner.__enter__()
        outer.__exit__(None, None, None)
    inner.__exit__(None, None, None)
    outer.__exit__(None, None, None)
    assert current_frame() is None
    # An exception inside the block still removes the handler.
    with pytest.raises(ZeroDivisionError):
        with seed(rng_seed=0):
            1 / 0
    assert current_frame() is None


def test_trace_as_a_context_manager_is_refused_with_the_fix():
    with pytest.raises(TypeError, match=r"cannot be used as a context manager.*get_trace"):
        with trace():
            pass
    assert current_frame() is None
