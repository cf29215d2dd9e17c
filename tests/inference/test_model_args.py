"""How model arguments enter compiled programs (inference.ModelArgs), everywhere a model is
run: traced JAX arrays, static Python and NumPy values, and the jit_model_args switch."""

import argparse

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dists as D
from effects import plate, sample
from inference import (
    MCMC,
    NUTS,
    ModelArgs,
    Predictive,
    TracedArgumentError,
    _mcmc,
    initialize_model,
    log_likelihood,
    to_arviz,
)

SIGMA = np.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0])
Y = np.array([28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0])


def eight_schools(J, sigma, y=None):
    # NumPyro's model as its users write it: J a Python int.
    mu = sample("mu", D.Normal(0, 5))
    tau = sample("tau", D.HalfCauchy(5))
    with plate("J", J):
        theta = sample("theta", D.Normal(mu, tau))
        sample("obs", D.Normal(theta, sigma), obs=y)


def test_the_rule_per_leaf():
    m = ModelArgs.of((3, 2.5, "s", None, np.ones(2), jnp.zeros(2)), {"k": (1, jnp.ones(1))})
    kinds = [type(a).__name__ for a in m.args]
    assert kinds == ["int", "float", "str", "NoneType", "ndarray", "ArrayImpl"]
    assert len(jax.tree.leaves(m)) == 2  # the two JAX arrays only
    assert [name for _, name in m.traced_paths()] == ["args[5]", "k[1]"]
    # True traces every number; False none.
    assert len(jax.tree.leaves(ModelArgs.of((3, 2.5, np.ones(2)), {}, True))) == 3
    assert len(jax.tree.leaves(ModelArgs.of((jnp.ones(2),), {}, False))) == 0
    with pytest.raises((TypeError, ValueError), match="jit_model_args"):
        ModelArgs.of((), {}, "yes")


def test_static_keys_compare_by_value_and_numpy_bytes():
    a = np.arange(4.0)
    m1, m2 = ModelArgs.of((3, a), {}), ModelArgs.of((3, a.copy()), {})
    assert jax.tree.structure(m1) == jax.tree.structure(m2)
    # Same value, another type: another program (1 and 1.0 and True differ).
    assert jax.tree.structure(ModelArgs.of((1,), {})) != jax.tree.structure(
        ModelArgs.of((1.0,), {})
    )
    changed = a.copy()
    changed[0] = 9.0
    assert jax.tree.structure(ModelArgs.of((3, changed), {})) != jax.tree.structure(m1)
    # The key holds a copy: editing the caller's array afterwards changes nothing.
    a[1] = -1.0
    assert m1.args[1][1] == 1.0
    # An unhashable object (argparse.Namespace) is compared with ==.
    ns1 = argparse.Namespace(n=3, flag=True)
    ns2 = argparse.Namespace(n=3, flag=True)
    assert jax.tree.structure(ModelArgs.of((), {"args": ns1})) == jax.tree.structure(
        ModelArgs.of((), {"args": ns2})
    )


def test_eight_schools_with_an_int_runs_everywhere():
    mcmc = MCMC(NUTS(eight_schools), num_warmup=200, num_samples=200, progress_bar=False)
    mcmc.run(jax.random.key(0), 8, SIGMA, y=Y)
    s = mcmc.get_samples()
    assert s["theta"].shape == (200, 8)
    info = initialize_model(jax.random.key(1), eight_schools, model_args=(8, SIGMA, Y))
    assert info.param_info.z["theta"].shape == (8,)
    pred = Predictive(eight_schools, s)(jax.random.key(2), 8, SIGMA)
    assert pred["obs"].shape == (200, 8)
    ll = log_likelihood(eight_schools, s, 8, SIGMA, y=Y)
    assert ll["obs"].shape == (200, 8)
    idata = to_arviz(mcmc)
    assert idata.log_likelihood["obs"].shape == (1, 200, 8)
    assert idata.observed_data["obs"].shape == (8,)
    np.testing.assert_array_equal(idata.observed_data["obs"], Y)


def test_numpy_calls_on_numpy_data():
    def model(group, y=None):
        n_groups = len(np.unique(group))  # NumPy on the data, as NumPyro users write
        with plate("groups", n_groups):
            alpha = sample("alpha", D.Normal(0.0, 1.0))
        with plate("N", int(group.shape[0])):
            sample("y", D.Normal(alpha[group], 1.0), obs=y)

    group = np.array([0, 0, 1, 2, 2, 2])
    y = np.array([0.5, 0.3, -1.0, 2.0, 2.2, 1.8])
    mcmc = MCMC(NUTS(model), num_warmup=100, num_samples=100, progress_bar=False)
    mcmc.run(jax.random.key(0), group, y=y)
    assert mcmc.get_samples()["alpha"].shape == (100, 3)
    assert Predictive(model, num_samples=4)(jax.random.key(1), group)["y"].shape == (4, 6)


def test_new_jax_array_data_of_the_same_shape_does_not_recompile():
    def model(x, y=None):
        w = sample("w", D.Normal(0.0, 1.0))
        with plate("N", x.shape[0]):
            sample("y", D.Normal(w * x, 1.0), obs=y)

    x = jnp.linspace(-1.0, 1.0, 5)
    mcmc = MCMC(NUTS(model), num_warmup=20, num_samples=20, progress_bar=False)
    mcmc.run(jax.random.key(0), x, y=2.0 * x)
    loops = _mcmc._loop_single._cached._cache_size()
    starts = _mcmc._start_chains.cache_size()
    for k in range(2):
        mcmc.run(jax.random.key(k + 1), x + 1.0, y=-x)
    assert _mcmc._loop_single._cached._cache_size() == loops
    assert _mcmc._start_chains.cache_size() == starts
    # NumPy data are constants: new values compile again.
    mcmc.run(jax.random.key(3), np.asarray(x), y=np.asarray(x))
    mcmc.run(jax.random.key(3), np.asarray(x) + 1.0, y=np.asarray(x))
    assert _mcmc._start_chains.cache_size() == starts + 2


def test_jit_model_args_false_makes_jax_arrays_constants():
    def model(x):
        sample("w", D.Normal(jnp.sum(x), 1.0))

    m = MCMC(NUTS(model), num_warmup=10, num_samples=10, progress_bar=False, jit_model_args=False)
    m.run(jax.random.key(0), jnp.ones(2))
    before = _mcmc._start_chains.cache_size()
    m.run(jax.random.key(0), jnp.zeros(2))
    assert _mcmc._start_chains.cache_size() == before + 1


def test_a_traced_argument_used_as_a_size_is_named():
    def model(n):
        with plate("N", int(n)):
            sample("x", D.Normal(0.0, 1.0))

    mcmc = MCMC(NUTS(model), num_warmup=10, num_samples=10, progress_bar=False)
    with pytest.raises(TracedArgumentError, match=r"argument `n`.*Python number"):
        mcmc.run(jax.random.key(0), jnp.asarray(3))
    mcmc.run(jax.random.key(0), 3)  # the fix works
    with pytest.raises(TracedArgumentError, match="`n`"):
        Predictive(model, num_samples=2)(jax.random.key(0), jnp.asarray(3))
    # jit_model_args=True traces Python numbers too (NumPyro's meaning).
    traced = MCMC(
        NUTS(eight_schools), num_warmup=10, num_samples=10, progress_bar=False, jit_model_args=True
    )
    with pytest.raises(TracedArgumentError, match="`J`"):
        traced.run(jax.random.key(0), 8, SIGMA, y=Y)


def test_keyword_holding_an_argparse_namespace():
    def model(data, args=None):
        with plate("N", args.num_points):
            sample("x", D.Normal(0.0, args.scale), obs=data)
        sample("z", D.Normal(0.0, 1.0))

    ns = argparse.Namespace(num_points=3, scale=2.0)
    mcmc = MCMC(NUTS(model), num_warmup=20, num_samples=20, progress_bar=False)
    mcmc.run(jax.random.key(0), jnp.zeros(3), args=ns)
    assert mcmc.get_samples()["z"].shape == (20,)
