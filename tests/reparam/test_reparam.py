"""The ``reparam`` handler and the per-site reparameterisers: what the trace holds, the
values and densities against SciPy, composition with the other handlers, and errors."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats as st

import dists as D
import handlers as H
from effects import plate, run, sample
from inference.reparam import (
    CircularReparam,
    LocScaleReparam,
    ProjectedNormalReparam,
    TransformReparam,
)


def hier(y=None):
    mu = sample("mu", D.Normal(1.0, 2.0))
    tau = sample("tau", D.HalfNormal(2.0))
    with plate("J", 3):
        theta = sample("theta", D.Normal(mu, tau))
        sample("y", D.Normal(theta, 1.0), obs=y)


def _trace(model, seed=0, *args, **kwargs):
    return H.trace(H.seed(model, seed)).get_trace(*args, **kwargs)


@pytest.mark.parametrize("c", [0.0, 0.3, 0.8])
def test_loc_scale_values_and_density_follow_the_formula(c):
    tr = _trace(H.reparam(hier, config={"theta": LocScaleReparam(c)}))
    assert [n for n in tr] == ["mu", "tau", "J", "theta_decentered", "theta", "y"]
    assert tr["theta"].type_name == "deterministic"
    assert [f.name for f in tr["theta"].cond_indep_stack] == ["J"]
    mu, tau = float(tr["mu"].value), float(tr["tau"].value)
    z = np.asarray(tr["theta_decentered"].value)
    # x = loc + scale^(1-c) (z - c loc), with z ~ N(c loc, scale^c).
    np.testing.assert_allclose(tr["theta"].value, mu + tau ** (1 - c) * (z - c * mu), rtol=1e-12)
    lp = np.asarray(tr["theta_decentered"].log_prob())
    np.testing.assert_allclose(lp, st.norm.logpdf(z, c * mu, tau**c), rtol=1e-10)
    # The observed site reads the deterministic value.
    np.testing.assert_allclose(tr["y"].fn.loc, tr["theta"].value)


def test_loc_scale_learnable_centredness_is_a_unit_interval_param():
    tr = _trace(H.reparam(hier, config={"theta": LocScaleReparam()}))
    p = tr["theta_centered"]
    assert p.type_name == "param" and float(p.value) == 0.5
    assert isinstance(p.constraint, type(D.constraints.unit_interval))
    # Substituting c = 1 gives back the centred site's value law: z is then theta itself.
    tr1 = H.trace(
        H.seed(
            H.substitute(
                H.reparam(hier, config={"theta": LocScaleReparam()}), {"theta_centered": 1.0}
            ),
            0,
        )
    ).get_trace()
    np.testing.assert_allclose(tr1["theta"].value, tr1["theta_decentered"].value, rtol=1e-12)


def test_centred_one_leaves_the_site_alone_and_observed_sites_are_left_alone():
    tr = _trace(H.reparam(hier, config={"theta": LocScaleReparam(1.0)}))
    assert tr["theta"].type_name == "sample" and "theta_decentered" not in tr
    y = jnp.array([0.5, -1.0, 2.0])
    tr = _trace(H.reparam(hier, config={"y": LocScaleReparam(0.0)}), 0, y)
    assert tr["y"].type_name == "sample" and tr["y"].is_observed and "y_decentered" not in tr


def test_loc_scale_student_t_keeps_its_shape_parameter():
    def model():
        sample("x", D.StudentT(3.0, 1.0, 2.0))

    tr = _trace(H.reparam(model, config={"x": LocScaleReparam(0.0, shape_params=("df",))}))
    z = float(tr["x_decentered"].value)
    np.testing.assert_allclose(tr["x_decentered"].log_prob(), st.t.logpdf(z, 3.0), rtol=1e-10)
    np.testing.assert_allclose(tr["x"].value, 1.0 + 2.0 * z, rtol=1e-12)


def test_loc_scale_under_to_event_and_nested_plates():
    def model():
        with plate("a", 2, dim=-2):
            with plate("b", 3):
                sample("x", D.Normal(jnp.zeros(4), jnp.arange(1.0, 5.0)).to_event(1))

    tr = _trace(H.reparam(model, config={"x": LocScaleReparam(0.0)}))
    z = tr["x_decentered"]
    assert z.fn.event_shape == (4,) and z.fn.batch_shape == (2, 3)
    np.testing.assert_allclose(tr["x"].value, np.arange(1.0, 5.0) * np.asarray(z.value))


def test_transform_reparam_pushes_the_base_draw_through():
    t = D.ExpTransform()

    def model():
        with plate("n", 2):
            sample(
                "x", D.TransformedDistribution(D.Normal(0.5, 0.7), [D.AffineTransform(1.0, 2.0), t])
            )

    tr = _trace(H.reparam(model, config={"x": TransformReparam()}))
    b = np.asarray(tr["x_base"].value)
    np.testing.assert_allclose(tr["x"].value, np.exp(1.0 + 2.0 * b), rtol=1e-12)
    np.testing.assert_allclose(tr["x_base"].log_prob(), st.norm.logpdf(b, 0.5, 0.7), rtol=1e-10)


def test_circular_reparam_wraps_and_keeps_the_von_mises_density():
    def model():
        sample("phi", D.VonMises(2.5, 3.0))

    rep = H.reparam(model, config={"phi": CircularReparam()})
    u = 2.5 + 4 * math.pi  # two turns past the mode
    tr = H.trace(H.substitute(rep, {"phi_unwrapped": u})).get_trace()
    np.testing.assert_allclose(tr["phi"].value, 2.5, atol=1e-12)
    np.testing.assert_allclose(tr["phi_factor"].log_factor, st.vonmises.logpdf(2.5, 3.0, 2.5))
    assert tr["phi_unwrapped"].log_prob() == 0.0  # the flat unwrapped prior


class _ProjectedNormal(D.Distribution):
    """A user's projected normal: the direction of ``concentration + N(0, I)``."""

    concentration: jax.Array

    def __init__(self, concentration):
        self.concentration = jnp.asarray(concentration)
        super().__init__(
            batch_shape=self.concentration.shape[:-1], event_shape=self.concentration.shape[-1:]
        )

    @property
    def support(self):
        return D.constraints.real_vector

    def sample(self, key, sample_shape=()):
        shape = tuple(sample_shape) + self.batch_shape + self.event_shape
        x = self.concentration + jax.random.normal(key, shape, self.concentration.dtype)
        return x / jnp.linalg.norm(x, axis=-1, keepdims=True)

    def log_prob(self, value):
        raise NotImplementedError


def test_projected_normal_reparam_gives_uniform_directions_at_zero_concentration():
    # Concentration 0: the direction is uniform on the circle, so its angle is U(-pi, pi).
    def model():
        sample("d", _ProjectedNormal(jnp.zeros(2)))

    rep = H.reparam(model, config={"d": ProjectedNormalReparam()})
    keys = jax.random.split(jax.random.key(1), 2000)
    draws = jax.vmap(lambda k: run(rep, H.seed(k) >> H.trace())()[1][1]["d"].value)(keys)
    np.testing.assert_allclose(np.linalg.norm(draws, axis=-1), 1.0, rtol=1e-12)
    angle = np.arctan2(draws[:, 1], draws[:, 0])
    assert st.kstest(angle, st.uniform(-np.pi, 2 * np.pi).cdf).pvalue > 1e-3


def test_config_function_non_centres_every_normal_latent_without_recursing():
    def rule(msg):
        base = H.unwrap(msg.fn)[0]
        return LocScaleReparam(0.0) if isinstance(base, D.Normal) else None

    tr = _trace(H.reparam(hier, config=rule), 0, jnp.zeros(3))
    assert [n for n in tr] == ["mu_decentered", "mu", "tau", "J", "theta_decentered", "theta", "y"]
    assert tr["theta_decentered"].infer["reparam_of"] == "theta"


def test_handler_in_a_pipeline_under_jit_and_vmap_and_as_a_context():
    pipe = H.reparam(config={"theta": LocScaleReparam(0.0)})

    @jax.jit
    def go(key):
        _, (_, _, tr) = run(hier, pipe >> H.seed(key) >> H.trace())()
        return tr["theta"].value, tr["theta_decentered"].value, tr["mu"].value, tr["tau"].value

    th, z, mu, tau = jax.vmap(go)(jax.random.split(jax.random.key(3), 5))
    np.testing.assert_allclose(th, mu[:, None] + tau[:, None] * z, rtol=1e-12)

    def wrapped():
        with H.reparam(config={"theta": LocScaleReparam(0.0)}):
            hier()

    tr = _trace(wrapped)
    assert tr["theta"].type_name == "deterministic" and "theta_decentered" in tr


def test_seed_trace_condition_and_substitute_see_the_new_sites():
    rep = H.reparam(hier, config={"theta": LocScaleReparam(0.0)})
    z = jnp.array([1.0, 2.0, 3.0])
    tr = H.trace(H.seed(H.condition(rep, {"theta_decentered": z}), 0)).get_trace()
    assert tr["theta_decentered"].is_observed
    np.testing.assert_allclose(tr["theta"].value, tr["mu"].value + tr["tau"].value * z)
    tr2 = H.trace(H.seed(H.substitute(rep, {"theta_decentered": z}), 0)).get_trace()
    assert not tr2["theta_decentered"].is_observed
    np.testing.assert_allclose(tr2["theta"].value, tr["theta"].value)


def test_errors_name_the_site():
    def gamma():
        sample("g", D.Gamma(2.0, 1.0))

    with pytest.raises(ValueError, match="LocScaleReparam at site 'g'.*location-scale"):
        _trace(H.reparam(gamma, config={"g": LocScaleReparam(0.0)}))
    with pytest.raises(ValueError, match="TransformReparam at site 'g'.*not a Transformed"):
        _trace(H.reparam(gamma, config={"g": TransformReparam()}))
    with pytest.raises(ValueError, match="CircularReparam at site 'g'"):
        _trace(H.reparam(gamma, config={"g": CircularReparam()}))
    with pytest.raises(ValueError, match="ProjectedNormalReparam at site 'g'"):
        _trace(H.reparam(gamma, config={"g": ProjectedNormalReparam()}))
    with pytest.raises(ValueError, match=r"centered must lie in \[0, 1\]"):
        LocScaleReparam(1.5)
    with pytest.raises(TypeError, match="site 'g'.*not a reparameteriser"):
        H.reparam(gamma, config={"g": D.Normal(0.0, 1.0)})
    with pytest.raises(TypeError, match="no config given"):
        H.reparam(gamma)
    with pytest.warns(UserWarning, match=r"reparam: data name site\(s\) \['h'\]"):
        _trace(H.reparam(gamma, config={"h": LocScaleReparam(0.0)}))
    with pytest.raises(ValueError, match=r"\['h'\]"):
        _trace(H.reparam(gamma, config={"h": LocScaleReparam(0.0)}, on_unknown="error"))


def test_loc_scale_inside_an_effect_aware_scan():
    from effects import scan

    def model():
        def step(carry, t):
            x = sample("x", D.Normal(carry, 0.5))
            return x, x

        return scan(step, 0.0, jnp.arange(4))

    rep = H.reparam(model, config={"x": LocScaleReparam(0.0)})
    tr = _trace(rep)
    z = np.asarray(tr["x_decentered"].value)
    assert z.shape == (4,) and tr["x"].type_name == "deterministic"
    # x_t = x_{t-1} + 0.5 z_t: a random walk of the non-centred noise.
    np.testing.assert_allclose(tr["x"].value, np.cumsum(0.5 * z), rtol=1e-12)


def test_learnable_centredness_lifted_to_a_latent_site():
    rep = H.reparam(hier, config={"theta": LocScaleReparam()})
    lifted = H.lift(rep, prior={"theta_centered": D.Uniform(0.0, 1.0)})
    tr = _trace(lifted, 4)
    c = float(tr["theta_centered"].value)
    assert tr["theta_centered"].type_name == "sample" and 0.0 < c < 1.0
    mu, tau = float(tr["mu"].value), float(tr["tau"].value)
    z = np.asarray(tr["theta_decentered"].value)
    np.testing.assert_allclose(tr["theta"].value, mu + tau ** (1 - c) * (z - c * mu), rtol=1e-10)
    np.testing.assert_allclose(
        tr["theta_decentered"].log_prob(), st.norm.logpdf(z, c * mu, tau**c), rtol=1e-10
    )
