"""NeuTraReparam: several instances, each with its own guide, on disjoint groups of sites
of one model, with sites inside plates and observed sites alongside.

The densities are checked against SciPy with the change of variables written out (affine
guides) or with the Jacobian determinant computed by ``jax.jacfwd`` (flows); the
posterior against the exact Gaussian posterior, within Monte Carlo error."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats as st

import dists as D
import handlers as H
from effects import plate, sample
from inference import (
    MCMC,
    NUTS,
    AutoIAFNormal,
    AutoNormal,
    Predictive,
    log_likelihood,
    mcse_mean,
)
from inference.reparam import NeuTraReparam

Y = jnp.array([0.3, -1.2, 2.0])


def model(y=None):
    a = sample("a", D.Normal(0.0, 2.0))
    s = sample("s", D.HalfNormal(1.5))
    with plate("n", 3):
        b = sample("b", D.Normal(a, 1.0))
        sample("y", D.Normal(b, s), obs=y)


def _only(fn, hide):
    """``fn`` with the sites ``hide`` drawn inside and hidden: the model a guide of the
    other sites sees."""
    return H.block(H.seed(fn, rng_seed=0), hide=hide)


def _two_affine_neutras():
    guide_a = AutoNormal(_only(model, hide=["b"]), prefix="ga")
    guide_b = AutoNormal(_only(model, hide=["a", "s"]), prefix="gb")
    params_a = {
        "a_ga_loc": jnp.array(0.4),
        "a_ga_scale": jnp.array(0.7),
        "s_ga_loc": jnp.array(-0.2),
        "s_ga_scale": jnp.array(0.3),
    }
    params_b = {"b_gb_loc": jnp.array([0.1, -0.5, 1.0]), "b_gb_scale": jnp.array([0.5, 0.6, 0.8])}
    return (
        NeuTraReparam(guide_a, params_a, Y),
        NeuTraReparam(guide_b, params_b, Y),
        params_a,
        params_b,
    )


def test_two_neutras_on_disjoint_groups_give_the_change_of_variables_density():
    na, nb, pa, pb = _two_affine_neutras()
    assert na.sites == ("a", "s") and nb.sites == ("b",)
    rep = na.reparam(model, nb)
    za, zb = np.array([0.3, -1.1]), np.array([0.5, -0.2, 1.4])
    given = {"_ga_shared_latent": za, "_gb_shared_latent": zb}
    tr = H.trace(H.substitute(rep, given)).get_trace(Y)
    assert tr["a"].type_name == tr["s"].type_name == tr["b"].type_name == "deterministic"
    assert [f.name for f in tr["b"].cond_indep_stack] == ["n"]
    assert tr["y"].type_name == "sample" and tr["y"].is_observed
    # The change of variables, written out.
    a = 0.4 + 0.7 * za[0]
    us = -0.2 + 0.3 * za[1]
    s = np.exp(us)
    b = np.array([0.1, -0.5, 1.0]) + np.array([0.5, 0.6, 0.8]) * zb
    np.testing.assert_allclose(tr["a"].value, a, rtol=1e-12)
    np.testing.assert_allclose(tr["s"].value, s, rtol=1e-12)
    np.testing.assert_allclose(tr["b"].value, b, rtol=1e-12)
    expected = (
        st.norm.logpdf(a, 0, 2)
        + st.halfnorm.logpdf(s, scale=1.5)
        + us  # log d exp(u)/du
        + st.norm.logpdf(b, a, 1).sum()
        + st.norm.logpdf(np.asarray(Y), b, s).sum()
        + np.log(0.7 * 0.3)
        + np.log([0.5, 0.6, 0.8]).sum()
    )
    np.testing.assert_allclose(tr.log_prob_sum(), expected, rtol=1e-10)


def test_two_neutras_posterior_matches_the_exact_gaussian_posterior():
    # mu ~ N(0, 2); theta_j ~ N(mu, 1) in a plate; y_j ~ N(theta_j, 0.5), observed.
    def gauss(y=None):
        mu = sample("mu", D.Normal(0.0, 2.0))
        with plate("n", 3):
            theta = sample("theta", D.Normal(mu, 1.0))
            sample("y", D.Normal(theta, 0.5), obs=y)

    ga = AutoNormal(_only(gauss, hide=["theta"]), prefix="ga")
    gb = AutoNormal(_only(gauss, hide=["mu"]), prefix="gb")
    na = NeuTraReparam(ga, {"mu_ga_loc": jnp.array(0.2), "mu_ga_scale": jnp.array(0.9)}, Y)
    nb = NeuTraReparam(gb, {"theta_gb_loc": jnp.zeros(3), "theta_gb_scale": jnp.full(3, 0.6)}, Y)
    mcmc = MCMC(NUTS(na.reparam(gauss, nb)), num_warmup=400, num_samples=1500, progress_bar=False)
    mcmc.run(jax.random.key(0), Y)
    draws = mcmc.get_samples()
    assert set(draws) == {"mu", "theta", "_ga_shared_latent", "_gb_shared_latent"}
    # Exact posterior of (mu, theta): Gaussian, by linear algebra.
    prior_cov = 4.0 * np.ones((4, 4)) + np.diag([0.0, 1.0, 1.0, 1.0])
    H_ = np.hstack([np.zeros((3, 1)), np.eye(3)])
    post_cov = np.linalg.inv(np.linalg.inv(prior_cov) + H_.T @ H_ / 0.25)
    post_mean = post_cov @ (H_.T @ np.asarray(Y) / 0.25)
    x = np.column_stack([draws["mu"], draws["theta"]])
    mcse = np.array([float(mcse_mean(x[None, :, i])) for i in range(4)])
    # Four means at z = 4: a false alarm has probability below 3e-4.
    assert np.all(np.abs(x.mean(0) - post_mean) < 4 * mcse), (x.mean(0), post_mean, mcse)
    np.testing.assert_allclose(x.std(0), np.sqrt(np.diag(post_cov)), rtol=0.15)
    # log_likelihood and Predictive read the original sites through the reparameterisers.
    rep = na.reparam(gauss, nb)
    ll = log_likelihood(rep, draws, Y)["y"]
    theta = np.asarray(draws["theta"])
    np.testing.assert_allclose(ll, st.norm.logpdf(np.asarray(Y), theta, 0.5), rtol=1e-10)
    latents = {k: v for k, v in draws.items() if k.startswith("_")}
    pred = Predictive(rep, latents, return_sites=["theta"])(jax.random.key(1))
    np.testing.assert_allclose(pred["theta"], theta, rtol=1e-10)


def _init_params(guide, *args):
    tr = H.trace(H.seed(guide, 0)).get_trace(*args)
    return {n: s.value for n, s in tr.items() if s.type_name == "param"}


def test_neutra_with_two_flows_has_the_jacobian_of_its_map():
    def funnel():
        y = sample("y", D.Normal(0.0, 3.0))
        with plate("n", 2):
            sample("x", D.Normal(0.0, jnp.exp(y / 2)))

    gy = AutoIAFNormal(_only(funnel, hide=["x"]), prefix="fy", num_flows=2, hidden_dims=(4,))
    gx = AutoIAFNormal(_only(funnel, hide=["y"]), prefix="fx", num_flows=1, hidden_dims=(4,))
    ny, nx = NeuTraReparam(gy, _init_params(gy)), NeuTraReparam(gx, _init_params(gx))
    rep = ny.reparam(funnel, nx)

    def run_at(z):
        given = {"_fy_shared_latent": z[:1], "_fx_shared_latent": z[1:]}
        return H.trace(H.substitute(rep, given)).get_trace()

    def values(z):
        tr = run_at(z)
        return jnp.concatenate([tr["y"].value[None], tr["x"].value])

    @jax.jit
    def at(z):
        return values(z), jax.jacfwd(values)(z), run_at(z).log_prob_sum()

    z = jnp.array([0.4, -0.8, 1.3])
    v, jac, lp = (np.asarray(a) for a in at(z))
    log_det = np.linalg.slogdet(jac)[1]
    expected = st.norm.logpdf(v[0], 0, 3) + st.norm.logpdf(v[1:], 0, np.exp(v[0] / 2)).sum()
    np.testing.assert_allclose(lp, expected + log_det, rtol=1e-8)
    # The flows are not the identity: the map moved the point.
    assert not np.allclose(v, np.asarray(z))


def test_neutra_errors_name_the_site():
    na, nb, pa, pb = _two_affine_neutras()
    with pytest.raises(ValueError, match="given site 'b', which it does not cover"):
        H.trace(H.seed(H.reparam(model, config={"a": na, "s": na, "b": na}), 0)).get_trace(Y)

    def b_observed(y=None):
        return H.condition(model, {"b": jnp.zeros(3)})(y)

    with pytest.raises(ValueError, match="site 'b' is observed"):
        H.trace(H.seed(nb.reparam(b_observed), 0)).get_trace(Y)

    def no_s(y=None):
        sample("a", D.Normal(0.0, 2.0))

    with pytest.raises(ValueError, match=r"did not reach.*'ga': \['s'\]"):
        H.trace(H.seed(na.reparam(no_s), 0)).get_trace(Y)

    def wider(y=None):
        a = sample("a", D.Normal(0.0, 2.0))
        with plate("n", 4):
            sample("b", D.Normal(a, 1.0))

    with pytest.raises(ValueError, match="site 'b' has unconstrained shape"):
        H.trace(H.seed(nb.reparam(wider), 0)).get_trace()
    with pytest.raises(ValueError, match="distinct guide prefixes"):
        na.reparam(model, na)
    with pytest.raises(TypeError, match="continuous autoguide"):
        NeuTraReparam(model, {})
    with pytest.raises(ValueError, match="params has none of the AutoNormal's parameters"):
        NeuTraReparam(AutoNormal(model, prefix="other"), pa, Y)


def test_transform_sample_maps_latent_draws_to_site_values():
    na, _, pa, _ = _two_affine_neutras()
    z = jnp.array([[0.3, -1.1], [1.0, 2.0]])
    out = na.transform_sample(z)
    np.testing.assert_allclose(out["a"], 0.4 + 0.7 * z[:, 0], rtol=1e-12)
    np.testing.assert_allclose(out["s"], np.exp(-0.2 + 0.3 * np.asarray(z[:, 1])), rtol=1e-12)


def test_neutra_from_a_gaussian_guide_uses_its_cholesky_map():
    from inference import AutoMultivariateNormal

    guide = AutoMultivariateNormal(model)
    params = _init_params(guide, Y)
    loc = jnp.array([0.2, -0.3, 0.5, 0.1, -0.4])
    tril = jnp.tril(jnp.full((5, 5), 0.1)) + jnp.diag(jnp.array([0.5, 0.4, 0.3, 0.6, 0.7]))
    params.update({"auto_loc": loc, "auto_scale_tril": tril})
    neutra = NeuTraReparam(guide, params, Y)
    assert neutra.sites == ("a", "s", "b")
    z = jnp.array([0.3, -1.0, 0.8, 0.2, -0.5])
    tr = H.trace(H.substitute(neutra.reparam(model), {"_auto_shared_latent": z})).get_trace(Y)
    u = np.asarray(loc + tril @ z)
    a, s, b = u[0], np.exp(u[1]), u[2:]
    np.testing.assert_allclose(tr["s"].value, s, rtol=1e-12)
    expected = (
        st.norm.logpdf(a, 0, 2)
        + st.halfnorm.logpdf(s, scale=1.5)
        + u[1]
        + st.norm.logpdf(b, a, 1).sum()
        + st.norm.logpdf(np.asarray(Y), b, s).sum()
        + np.log(np.diag(np.asarray(tril))).sum()
    )
    np.testing.assert_allclose(tr.log_prob_sum(), expected, rtol=1e-10)
