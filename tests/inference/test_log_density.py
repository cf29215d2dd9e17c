"""The potential pipeline (DESIGN rule 6), init strategies and initialize_model."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats as st

import dists as D
from effects import deterministic, plate, sample
from inference import (
    constrain_fn,
    init_to_feasible,
    init_to_mean,
    init_to_median,
    init_to_sample,
    init_to_uniform,
    init_to_value,
    initialize_model,
    log_density,
    potential_energy,
    unconstrain_fn,
)

SIGMA = jnp.array([15.0, 10.0, 16.0, 11.0])
Y = jnp.array([28.0, 8.0, -3.0, 7.0])


def schools(sigma, y=None):
    mu = sample("mu", D.Normal(0.0, 5.0))
    tau = sample("tau", D.HalfCauchy(5.0))
    with plate("J", sigma.shape[0]):
        th = sample("theta_t", D.Normal(0.0, 1.0))
        deterministic("theta", mu + tau * th)
        sample("obs", D.Normal(mu + tau * th, sigma), obs=y)


def _hand_potential(u):
    mu, log_tau, th = float(u["mu"]), float(u["tau"]), np.asarray(u["theta_t"])
    tau = np.exp(log_tau)
    lp = st.norm(0, 5).logpdf(mu) + st.halfcauchy(scale=5).logpdf(tau) + log_tau
    lp += st.norm(0, 1).logpdf(th).sum()
    lp += st.norm(mu + tau * th, np.asarray(SIGMA)).logpdf(np.asarray(Y)).sum()
    return -lp


def test_potential_matches_hand_computation():
    u = {"mu": jnp.asarray(1.3), "tau": jnp.asarray(0.4), "theta_t": jnp.linspace(-1, 1, 4)}
    pe = potential_energy(schools, (SIGMA, Y), {}, u)
    np.testing.assert_allclose(pe, _hand_potential(u), rtol=1e-12)


def test_potential_gradient_matches_finite_differences():
    u = {"mu": jnp.asarray(1.3), "tau": jnp.asarray(0.4), "theta_t": jnp.linspace(-1, 1, 4)}
    g = jax.grad(lambda q: potential_energy(schools, (SIGMA, Y), {}, q))(u)
    eps = 1e-6
    for name in ("mu", "tau"):
        up = dict(u, **{name: u[name] + eps})
        dn = dict(u, **{name: u[name] - eps})
        fd = (_hand_potential(up) - _hand_potential(dn)) / (2 * eps)
        np.testing.assert_allclose(g[name], fd, rtol=1e-6)


def test_log_density_constrained_and_round_trip():
    params = {"mu": jnp.asarray(0.5), "tau": jnp.asarray(2.0), "theta_t": jnp.zeros(4)}
    lp, tr = log_density(schools, (SIGMA, Y), {}, params)
    expected = (
        st.norm(0, 5).logpdf(0.5)
        + st.halfcauchy(scale=5).logpdf(2.0)
        + st.norm(0, 1).logpdf(np.zeros(4)).sum()
        + st.norm(0.5, np.asarray(SIGMA)).logpdf(np.asarray(Y)).sum()
    )
    np.testing.assert_allclose(lp, expected, rtol=1e-12)
    assert tr["obs"].is_observed
    u = unconstrain_fn(schools, (SIGMA, Y), {}, params)
    np.testing.assert_allclose(u["tau"], np.log(2.0), rtol=1e-12)
    back = constrain_fn(schools, (SIGMA, Y), {}, u, return_deterministic=True)
    np.testing.assert_allclose(back["tau"], 2.0, rtol=1e-12)
    np.testing.assert_allclose(back["theta"], 0.5 + 2.0 * np.zeros(4))


def test_subsampled_plate_scales_jacobian_and_likelihood():
    def model(y):
        with plate("N", 6, subsample_size=6):
            s = sample("s", D.LogNormal(0.0, 1.0))
            sample("y", D.Normal(0.0, s), obs=y)

    y = jnp.arange(6.0)
    u = {"s": jnp.linspace(-0.5, 0.5, 6)}
    pe = potential_energy(model, (y,), {}, u)
    s = np.exp(np.asarray(u["s"]))
    lp = st.lognorm(1.0).logpdf(s) + np.asarray(u["s"]) + st.norm(0, s).logpdf(np.asarray(y))
    np.testing.assert_allclose(pe, -lp.sum(), rtol=1e-12)


@pytest.mark.parametrize(
    "strategy",
    [
        init_to_uniform,
        init_to_uniform(radius=0.5),
        init_to_feasible,
        init_to_sample,
        init_to_median,
        init_to_median(num_samples=7),
        init_to_mean,
        init_to_value(values={"mu": 3.0}),
    ],
)
def test_init_strategies_give_finite_points(strategy):
    info = initialize_model(
        jax.random.key(0), schools, init_strategy=strategy, model_args=(SIGMA, Y)
    )
    assert np.isfinite(info.param_info.potential_energy)
    assert set(info.param_info.z) == {"mu", "tau", "theta_t"}
    assert info.param_info.z["theta_t"].shape == (4,)
    np.testing.assert_allclose(
        info.potential_fn(info.param_info.z), info.param_info.potential_energy, rtol=1e-10
    )


def test_init_to_value_and_feasible_values():
    info = initialize_model(
        jax.random.key(0),
        schools,
        init_strategy=init_to_value(values={"mu": 3.0, "tau": 2.0}),
        model_args=(SIGMA, Y),
    )
    np.testing.assert_allclose(info.param_info.z["mu"], 3.0)
    np.testing.assert_allclose(info.param_info.z["tau"], np.log(2.0))
    info = initialize_model(
        jax.random.key(0), schools, init_strategy=init_to_feasible, model_args=(SIGMA, Y)
    )
    np.testing.assert_allclose(info.param_info.z["tau"], 0.0)


def test_init_to_uniform_radius():
    zs = [
        initialize_model(
            jax.random.key(i),
            schools,
            init_strategy=init_to_uniform(radius=0.1),
            model_args=(SIGMA, Y),
        ).param_info.z
        for i in range(3)
    ]
    for z in zs:
        for v in jax.tree.leaves(z):
            assert np.all(np.abs(v) <= 0.1)


def test_error_no_latent_sites():
    def model(y):
        sample("y", D.Normal(0.0, 1.0), obs=y)

    with pytest.raises(ValueError, match="no latent sample sites"):
        initialize_model(jax.random.key(0), model, model_args=(jnp.zeros(2),))


def test_error_failed_init_names_sites():
    def model(y):
        s = sample("s", D.HalfNormal(1.0))
        sample("y", D.Exponential(s), obs=y)

    with pytest.raises(ValueError, match=r"Cannot find valid initial parameters.*\['y'\]"):
        initialize_model(jax.random.key(0), model, model_args=(jnp.array([-1.0]),))


def test_error_discrete_latent_site():
    def model():
        sample("z", D.Bernoulli(probs=0.3))

    with pytest.raises(ValueError, match="'z' is a discrete latent"):
        initialize_model(jax.random.key(0), model)


def test_initialize_model_does_not_recompile_on_new_data():
    from inference import _init

    before = _init._find_valid_jit.cache_size()  # type: ignore[attr-defined]
    for i in range(3):
        initialize_model(jax.random.key(i), schools, model_args=(SIGMA, Y + i))
    after = _init._find_valid_jit.cache_size()  # type: ignore[attr-defined]
    assert after - before <= 1


@pytest.mark.parametrize(
    "factory", [init_to_uniform, init_to_feasible, init_to_sample, init_to_median, init_to_mean]
)
def test_uncalled_factory_equals_its_default_strategy(factory):
    # NumPyro style: init_strategy=init_to_median, without calling it.
    kw = dict(model_args=(SIGMA, Y))
    a = initialize_model(jax.random.key(3), schools, init_strategy=factory, **kw)
    b = initialize_model(jax.random.key(3), schools, init_strategy=factory(), **kw)
    for x, y in zip(jax.tree.leaves(a.param_info.z), jax.tree.leaves(b.param_info.z)):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("bad", ["uniform", 3, lambda site: None])
def test_invalid_init_strategy_is_named(bad):
    with pytest.raises(TypeError, match="init_strategy must be an init strategy"):
        initialize_model(jax.random.key(0), schools, init_strategy=bad, model_args=(SIGMA, Y))
