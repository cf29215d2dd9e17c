"""The model spec: one abstract run says what a model has."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dists as D
from effects import deterministic, factor, param, plate, sample
from inference import model_spec
from inference._init import prototype_trace, unconstrained_shapes
from inference._model_args import ModelArgs


def model(x, y=None):
    scale = param("scale", jnp.ones(()), constraint=D.constraints.positive)
    w = sample("w", D.Normal(0.0, scale).expand([x.shape[1]]).to_event(1))
    simplex = sample("p", D.Dirichlet(jnp.ones(3)))
    with plate("groups", 2, dim=-2):
        with plate("N", x.shape[0]):
            z = sample("z", D.Bernoulli(0.5))
            sample("y", D.Normal(x @ w, 1.0), obs=y)
    deterministic("wsum", jnp.sum(w))
    factor("penalty", -jnp.sum(simplex**2))
    return z


def test_roles_shapes_plates_and_discreteness():
    x = np.zeros((4, 3))
    spec = model_spec(model, x, y=np.zeros((2, 4)))
    assert list(spec.latent) == ["w", "p", "z"]
    assert list(spec.observed) == ["y"] and list(spec.params) == ["scale"]
    assert list(spec.deterministic) == ["wsum"]
    assert [s.name for s in spec.sites if s.role == "factor"] == ["penalty"]
    w, p, z = spec.latent.values()
    assert (w.shape, w.event_dim, w.unconstrained_shape, w.family) == ((3,), 1, (3,), "Normal")
    assert (p.shape, p.unconstrained_shape, p.support) == ((3,), (2,), "Simplex")
    assert z.is_discrete and z.family == "Bernoulli" and z.unconstrained_shape is None
    assert list(spec.discrete_latent) == ["z"]
    assert [(q.name, q.dim, q.size) for q in z.plates] == [("N", -1, 4), ("groups", -2, 2)]
    assert spec.max_plate_nesting == 2
    assert spec.size == 5  # w (3) and p (2): the continuous latent sites
    assert "z: latent Bernoulli (2, 4) [N@-1, groups@-2]" in spec.summary()


def test_ravel_matches_what_mcmc_holds_and_refuses_bad_input():
    x = np.zeros((4, 3))
    spec = model_spec(model, x, y=np.zeros((2, 4)))
    u = {"w": jnp.arange(3.0), "p": jnp.array([0.5, -0.5])}
    flat = spec.ravel(u)
    np.testing.assert_array_equal(flat, jax.flatten_util.ravel_pytree(u)[0])
    np.testing.assert_array_equal(spec.unravel(flat)["w"], u["w"])
    with pytest.raises(ValueError, match=r"no value for the latent site\(s\) \['p'\]"):
        spec.ravel({"w": jnp.zeros(3)})
    with pytest.raises(ValueError, match="site 'w' has unconstrained shape \\(3,\\)"):
        spec.ravel({"w": jnp.zeros(2), "p": jnp.zeros(2)})
    with pytest.raises(ValueError, match=r"expected a vector of shape \(5,\)"):
        spec.unravel(jnp.zeros(4))


def test_the_init_path_reads_its_shapes_from_the_spec():
    def continuous(x):
        sample("w", D.Normal(0.0, 1.0).expand([x.shape[1]]).to_event(1))
        sample("s", D.LogNormal(0.0, 1.0))
        sample("L", D.LKJCholesky(3, 1.0))

    margs = ModelArgs.of((np.zeros((4, 2)),), {})
    shapes = unconstrained_shapes(prototype_trace(jax.random.key(0), continuous, margs))
    assert shapes == {"w": (2,), "s": (), "L": (3,)}


def test_the_spec_is_static_and_hashable():
    x = np.zeros((4, 3))
    a, b = model_spec(model, x), model_spec(model, x)
    assert hash(a) == hash(b) and a == b
    assert jax.tree.leaves(a) == []
