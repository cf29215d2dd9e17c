"""Autoguides against exact answers, and their plumbing (plates, Predictive, modules)."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from scipy import optimize

import dists as D
from effects import plate, sample
from handlers import block, seed, trace
from inference import (
    SVI,
    AutoBNAFNormal,
    AutoDelta,
    AutoDiagonalNormal,
    AutoGuideList,
    AutoIAFNormal,
    AutoLaplaceApproximation,
    AutoLowRankMultivariateNormal,
    AutoMultivariateNormal,
    AutoNormal,
    Predictive,
    Trace_ELBO,
    eqx_module,
    init_to_value,
    optim,
    random_eqx_module,
)
from inference.autoguide import AutoNormal as AutoNormalFromModule

from ._models import S0, SIGMA, exact_posterior, normal_data, normal_model


def _fit(guide, model, *args, steps=2500, particles=16, lr=0.05):
    # A decaying step size, so that the last iterate's noise is small.
    sched = optax.exponential_decay(lr, steps, 0.02)
    svi = SVI(model, guide, optax.adam(sched), Trace_ELBO(num_particles=particles))
    return svi.run(jax.random.key(0), steps, *args, progress_bar=False).params


def test_autoguide_module_spelling():
    assert AutoNormalFromModule is AutoNormal


@pytest.mark.parametrize("guide_cls", [AutoNormal, AutoMultivariateNormal])
def test_gaussian_autoguides_reach_the_exact_conjugate_posterior(guide_cls):
    # Tolerances: the posterior mean within 5% of a posterior sd, the sd within 5%.
    x = normal_data(10)
    mean, sd = exact_posterior(x)
    guide = guide_cls(normal_model)
    params = _fit(guide, normal_model, x)
    median = guide.median(params, x)["mu"]
    q = guide.quantiles(params, [0.1587, 0.8413], x)["mu"]  # mean -/+ one sd
    assert abs(float(median) - mean) < 0.05 * sd
    assert abs(float(q[1] - q[0]) / 2 / sd - 1) < 0.05


def test_multivariate_normal_learns_a_correlated_posterior():
    # y_i ~ N(a + b t_i, 1): (a, b) have a correlated Gaussian posterior, known exactly.
    t = jnp.linspace(-1.0, 2.0, 8)
    y = 0.5 + 1.5 * t + jnp.asarray(np.random.default_rng(0).normal(size=8))

    def model(t, y):
        a = sample("a", D.Normal(0.0, 1.0))
        b = sample("b", D.Normal(0.0, 1.0))
        with plate("N", t.shape[0]):
            sample("y", D.Normal(a + b * t, 1.0), obs=y)

    X = np.stack([np.ones(8), np.asarray(t)], 1)
    cov = np.linalg.inv(np.eye(2) + X.T @ X)
    mean = cov @ X.T @ np.asarray(y)
    guide = AutoMultivariateNormal(model)
    post = guide.get_posterior(_fit(guide, model, t, y, steps=3000), t, y)
    sd = np.sqrt(np.diag(cov))
    np.testing.assert_allclose(post.loc, mean, atol=0.05 * sd.min())
    np.testing.assert_allclose(post.covariance_matrix, cov, atol=0.08 * cov[0, 0])
    low = AutoLowRankMultivariateNormal(model, rank=1)
    post = low.get_posterior(_fit(low, model, t, y, steps=3000), t, y)
    np.testing.assert_allclose(post.loc, mean, atol=0.1 * sd.min())


def _laplace_model(x):
    mu = sample("mu", D.Normal(0.0, 1.0))
    sigma = sample("sigma", D.LogNormal(0.0, 1.0))
    with plate("N", x.shape[0]):
        sample("x", D.Normal(mu, sigma), obs=x)


def _analytic_laplace(x):
    """Mode and inverse Hessian of the potential in (mu, t = log sigma), by hand."""
    x = np.asarray(x)
    n = len(x)

    def U(v):
        mu, t = v
        return mu**2 / 2 + t**2 / 2 + n * t + np.sum((x - mu) ** 2) * np.exp(-2 * t) / 2

    mode = optimize.minimize(U, np.zeros(2), method="BFGS", options={"gtol": 1e-12}).x
    mu, t = mode
    r = x - mu
    H = np.array(
        [
            [1 + n * np.exp(-2 * t), 2 * np.sum(r) * np.exp(-2 * t)],
            [2 * np.sum(r) * np.exp(-2 * t), 1 + 2 * np.sum(r**2) * np.exp(-2 * t)],
        ]
    )
    return mode, np.linalg.inv(H)


def test_laplace_approximation_equals_the_analytic_one():
    x = normal_data(12)
    mode, cov = _analytic_laplace(x)
    guide = AutoLaplaceApproximation(_laplace_model)
    # At the exact mode, the posterior is the inverse Hessian there (to float64 precision).
    post = guide.get_posterior({"auto_loc": jnp.asarray(mode)}, x)
    np.testing.assert_allclose(post.covariance_matrix, cov, rtol=1e-8)
    # And SVI finds the mode (a point mass: no sampling noise, plain Adam converges).
    svi = SVI(_laplace_model, guide, optim.Adam(0.02), Trace_ELBO())
    params = svi.run(jax.random.key(0), 3000, x, progress_bar=False).params
    np.testing.assert_allclose(params["auto_loc"], mode, atol=1e-4)
    med = guide.median(params, x)
    assert float(med["sigma"]) == pytest.approx(np.exp(mode[1]), rel=1e-3)


def test_delta_is_the_map_and_diagonal_normal_runs():
    x = normal_data(10)
    mean, _ = exact_posterior(x)  # the Gaussian posterior's mode is its mean
    guide = AutoDelta(normal_model)
    svi = SVI(normal_model, guide, optim.Adam(0.05), Trace_ELBO())
    params = svi.run(jax.random.key(0), 1500, x, progress_bar=False).params
    assert float(params["mu_auto_loc"]) == pytest.approx(mean, abs=1e-3)
    diag = AutoDiagonalNormal(normal_model)
    med = diag.median(_fit(diag, normal_model, x, steps=1500), x)["mu"]
    assert abs(float(med) - mean) < 0.1


def test_auto_normal_keeps_plate_shaped_params_and_takes_subsample_slices():
    # A hierarchical model with a subsampled plate: per-site params have the plate's full
    # size, and each step uses the slice of the subsample.
    y = jnp.asarray(np.random.default_rng(1).normal(size=(20,)) + 3.0)

    def model(y):
        mu = sample("mu", D.Normal(0.0, 5.0))
        with plate("N", 20, subsample_size=5) as idx:
            theta = sample("theta", D.Normal(mu, 1.0))
            sample("y", D.Normal(theta, 0.5), obs=y[idx])

    guide = AutoNormal(model)
    svi = SVI(model, guide, optim.Adam(0.05), Trace_ELBO())
    state = svi.init(jax.random.key(0), y)
    params = svi.get_params(state)
    assert params["theta_auto_loc"].shape == (20,)
    assert params["mu_auto_loc"].shape == ()
    tr = trace(seed(guide, 0)).get_trace(y)
    assert tr["theta"].value.shape == (5,)
    params = _fit(guide, model, y, steps=3000, particles=4)
    # The mean-field optimum for theta_i is (4 y_i + E[mu]) / 5 (posterior sd 0.45): every
    # slice got trained. Tolerance: a quarter of that sd.
    post_mean = (4 * np.asarray(y) + float(params["mu_auto_loc"])) / 5
    np.testing.assert_allclose(params["theta_auto_loc"], post_mean, atol=0.11)


def test_init_loc_fn_is_honoured():
    x = normal_data(4)
    guide = AutoNormal(normal_model, init_loc_fn=init_to_value(values={"mu": 2.5}))
    svi = SVI(normal_model, guide, optim.Adam(0.1), Trace_ELBO())
    assert float(svi.get_params(svi.init(jax.random.key(0), x))["mu_auto_loc"]) == 2.5
    flat = AutoMultivariateNormal(normal_model, init_loc_fn=init_to_value(values={"mu": -1.0}))
    svi = SVI(normal_model, flat, optim.Adam(0.1), Trace_ELBO())
    assert float(svi.get_params(svi.init(jax.random.key(0), x))["auto_loc"][0]) == -1.0


def test_constrained_sites_and_sample_posterior():
    def model():
        sample("s", D.Gamma(3.0, 2.0))
        sample("p", D.Dirichlet(jnp.ones(3)))

    for cls in (AutoNormal, AutoMultivariateNormal):
        guide = cls(model)
        params = (
            SVI(model, guide, optim.Adam(0.05), Trace_ELBO())
            .run(jax.random.key(0), 200, progress_bar=False)
            .params
        )
        draws = guide.sample_posterior(jax.random.key(1), params, sample_shape=(50, 2))
        assert draws["s"].shape == (50, 2) and bool(jnp.all(draws["s"] > 0))
        assert draws["p"].shape == (50, 2, 3)
        np.testing.assert_allclose(draws["p"].sum(-1), 1.0, rtol=1e-10)


@pytest.mark.parametrize("cls", [AutoIAFNormal, AutoBNAFNormal])
def test_flow_guides_fit_a_skewed_posterior_better_than_their_start(cls):
    def model():
        sample("s", D.Gamma(2.0, 1.0))
        sample("a", D.Normal(3.0, 0.2))

    small = {"hidden_dims": (8,)} if cls is AutoIAFNormal else {"hidden_factors": (4,)}
    guide = cls(model, num_flows=1, **small)
    svi = SVI(model, guide, optim.Adam(0.02), Trace_ELBO(num_particles=4))
    result = svi.run(jax.random.key(0), 800, progress_bar=False)
    # The loss is KL(q || p) here (the evidence is 1): from large to small.
    assert float(result.losses[:20].mean()) > 5.0
    assert float(result.losses[-100:].mean()) < 0.3
    draws = guide.sample_posterior(jax.random.key(1), result.params, sample_shape=(4000,))
    assert abs(float(draws["a"].mean()) - 3.0) < 0.05
    assert bool(jnp.all(draws["s"] > 0))
    # The trained flow's posterior (a TransformedDistribution) draws vectors of u.
    post = guide.get_posterior(result.params)
    u = post.sample(jax.random.key(2), (3,))
    assert u.shape == (3, 2) and bool(jnp.all(jnp.isfinite(u)))


def test_guide_list_and_predictive_with_a_guide():
    x = normal_data(10)

    def model(x=None):
        mu = sample("mu", D.Normal(0.5, S0))
        s = sample("s", D.HalfNormal(3.0))
        with plate("N", 10):
            sample("x", D.Normal(mu, s), obs=x)

    guide = AutoGuideList(model)
    # NumPyro's spelling: the blocked parts are seeded inside the block (a block hides
    # its sites from every handler outside it, a seed included).
    guide = guide.append(AutoNormal(block(seed(model, rng_seed=0), hide=["s"])))
    guide = guide.append(AutoDelta(block(seed(model, rng_seed=0), hide=["mu"])))
    params = (
        SVI(model, guide, optim.Adam(0.05), Trace_ELBO())
        .run(jax.random.key(0), 1000, x, progress_bar=False)
        .params
    )
    assert {"mu_auto_loc", "s_auto_loc"} <= set(params)
    assert set(guide.median(params, x)) == {"mu", "s"}
    # Predictive with x left out: the guide guides only mu and s, x comes from the model.
    pred = Predictive(model, guide=guide, params=params, num_samples=300, return_sites=["mu", "x"])
    out = pred(jax.random.key(1))
    assert out["x"].shape == (300, 10)
    assert abs(float(out["x"].mean()) - float(out["mu"].mean())) < 0.5
    with pytest.raises(ValueError, match="num_samples"):
        Predictive(model, guide=guide, params=params)


def test_eqx_module_params_are_optimised():
    # Linear regression whose weights are an Equinox layer's leaves.
    key = jax.random.key(0)
    t = jax.random.normal(key, (50, 2))
    y = t @ jnp.array([1.0, -2.0]) + 0.5

    def model(t, y):
        net = eqx_module("net", eqx.nn.Linear(2, "scalar", key=jax.random.key(1)))
        with plate("N", t.shape[0]):
            sample("y", D.Normal(jax.vmap(net)(t), 0.1), obs=y)

    def guide(t, y):
        pass

    svi = SVI(model, guide, optim.Adam(0.05), Trace_ELBO())
    params = svi.run(jax.random.key(0), 800, t, y, progress_bar=False).params
    np.testing.assert_allclose(jnp.ravel(params["net"].weight), [1.0, -2.0], atol=0.05)
    np.testing.assert_allclose(jnp.ravel(params["net"].bias), [0.5], atol=0.05)
    # Predictive runs the model with the learnt weights (a pytree param), not the initial.
    pred = Predictive(model, params=params, num_samples=2)(jax.random.key(1), t, None)
    np.testing.assert_allclose(pred["y"].mean(0), np.asarray(y), atol=0.4)


def test_random_eqx_module_puts_priors_on_chosen_leaves():
    net = eqx.nn.Linear(3, 2, key=jax.random.key(0))

    def model():
        return random_eqx_module("net", net, {"weight": D.Normal(0.0, 1.0)})

    tr = trace(seed(model, 0)).get_trace()
    assert tr["net.weight"].fn.event_shape == (2, 3)
    assert set(tr["net"].value) == {"bias"}
    with pytest.raises(ValueError, match="does not have"):
        trace(
            seed(lambda: random_eqx_module("n", net, {"wieght": D.Normal(0.0, 1.0)}), 0)
        ).get_trace()
    # A single prior on every leaf: no param site left.
    tr = trace(seed(lambda: random_eqx_module("n", net, D.Normal(0.0, 1.0)), 0)).get_trace()
    assert set(tr) == {"n.weight", "n.bias"}


def test_autoguide_errors():
    def discrete():
        sample("k", D.Bernoulli(probs=0.5))

    with pytest.raises(ValueError, match="discrete"):
        SVI(discrete, AutoNormal(discrete), optim.Adam(0.1), Trace_ELBO()).init(jax.random.key(0))

    def sub(y):
        with plate("N", 10, subsample_size=2):
            sample("t", D.Normal(0.0, 1.0))

    with pytest.raises(ValueError, match="subsampled"):
        SVI(sub, AutoDiagonalNormal(sub), optim.Adam(0.1), Trace_ELBO()).init(jax.random.key(0), 1)
    with pytest.raises(TypeError, match="model"):
        AutoNormal(3)

    _ = SIGMA


def test_bayesian_equinox_layer_learns_the_exact_regression_posterior():
    # A Linear layer with N(0, 1) priors on its weight and bias, and Gaussian noise of known
    # scale: Bayesian linear regression, whose posterior is Gaussian and known exactly.
    # AutoMultivariateNormal contains it; tolerance: 10% of each posterior sd for the means.
    rng = np.random.default_rng(3)
    t = rng.normal(size=(30, 2))
    y = t @ np.array([0.8, -0.4]) + 0.3 + 0.5 * rng.normal(size=30)
    net = eqx.nn.Linear(2, "scalar", key=jax.random.key(0))

    def model(t, y):
        layer = random_eqx_module("net", net, D.Normal(0.0, 1.0))
        with plate("N", t.shape[0]):
            sample("y", D.Normal(jax.vmap(layer)(t), 0.5), obs=y)

    X = np.concatenate([t, np.ones((30, 1))], axis=1)
    cov = np.linalg.inv(np.eye(3) + X.T @ X / 0.25)
    mean = cov @ X.T @ y / 0.25
    guide = AutoMultivariateNormal(model)
    params = _fit(guide, model, jnp.asarray(t), jnp.asarray(y), steps=2500)
    med = guide.median(params, jnp.asarray(t), jnp.asarray(y))
    got = np.concatenate([np.ravel(med["net.weight"]), np.ravel(med["net.bias"])])
    np.testing.assert_allclose(got, mean, atol=0.1 * np.sqrt(np.diag(cov)).min())
