"""Subclassing ``Distribution`` the way NumPyro users do: unannotated attributes assigned
in ``__init__``, ``super().__init__(batch_shape=..., event_shape=...)``, and class
attributes ``arg_constraints``, ``support`` and ``reparametrized_params``.
"""

from __future__ import annotations

import dataclasses
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats as ss
from jax import lax

import dists as D
from dists import constraints
from dists.util import promote_shapes


@pytest.fixture(autouse=True)
def _allow_rank_promotion():
    # The distributions below are user code, written as NumPyro users write theirs: they
    # combine a value of shape sample_shape + batch_shape with batch-shaped parameters by
    # implicit rank promotion, which JAX allows by default. Only this user code relies on
    # it; the library itself must not (the rest of tests/dists runs with it refused).
    with jax.numpy_rank_promotion("allow"):
        yield


class MyNormal(D.Distribution):
    # As a NumPyro user writes it (the brief's example), unchanged.
    support = constraints.real
    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    reparametrized_params = ["loc", "scale"]

    def __init__(self, loc, scale, validate_args=None):
        self.loc, self.scale = promote_shapes(loc, scale)
        batch_shape = lax.broadcast_shapes(jnp.shape(loc), jnp.shape(scale))
        super().__init__(batch_shape=batch_shape, event_shape=(), validate_args=validate_args)

    def sample(self, key, sample_shape=()):
        eps = jax.random.normal(key, shape=sample_shape + self.batch_shape + self.event_shape)
        return self.loc + eps * self.scale

    def log_prob(self, value):
        normalize_term = jnp.log(jnp.sqrt(2 * jnp.pi) * self.scale)
        value_scaled = (value - self.loc) / self.scale
        return -0.5 * value_scaled**2 - normalize_term


class MyDiagNormal(D.Distribution):
    """A subclass with a vector event: independent normals over the last dim."""

    support = constraints.real_vector
    arg_constraints = {"loc": constraints.real_vector, "scale": constraints.positive_vector}
    reparametrized_params = ["loc", "scale"]

    def __init__(self, loc, scale, *, validate_args=None):
        event_shape = jnp.shape(loc)[-1:]
        batch_shape = lax.broadcast_shapes(jnp.shape(loc)[:-1], jnp.shape(scale)[:-1])
        self.loc = jnp.broadcast_to(loc, batch_shape + event_shape)
        self.scale = jnp.broadcast_to(scale, batch_shape + event_shape)
        self.name = "diag"  # static configuration
        super().__init__(
            batch_shape=batch_shape, event_shape=event_shape, validate_args=validate_args
        )

    def sample(self, key, sample_shape=()):
        return self.loc + self.scale * jax.random.normal(key, self.shape(sample_shape))

    def log_prob(self, value):
        z = (value - self.loc) / self.scale
        return jnp.sum(-0.5 * z**2 - jnp.log(self.scale) - 0.5 * math.log(2 * math.pi), -1)


LOC = jnp.array([-1.0, 0.0, 2.0])
SCALE = jnp.array([0.5, 1.0, 3.0])


def test_builds_with_numpyro_shapes_and_flags():
    d = MyNormal(LOC, SCALE)
    assert d.batch_shape == (3,) and d.event_shape == () and d.event_dim == 0
    assert d.shape((4, 2)) == (4, 2, 3)
    assert d.has_rsample and d.reparametrized_params == ["loc", "scale"]
    assert d.support is constraints.real and not d.validate_args
    np.testing.assert_array_equal(d.loc, LOC)
    assert set(d.get_args()) == {"loc", "scale"}
    # Python scalars: NumPyro's promote_shapes keeps them; the batch shape is ().
    s = MyNormal(0.0, 1.0)
    assert s.batch_shape == () and s.loc == 0.0


def test_log_prob_matches_scipy():
    d = MyNormal(LOC, SCALE)
    x = jnp.array([[0.3, -2.0, 5.0], [1.0, 1.0, 1.0]])
    np.testing.assert_allclose(d.log_prob(x), ss.norm(LOC, SCALE).logpdf(x), rtol=1e-12)


def test_sampling_shapes_and_moments():
    d = MyNormal(LOC, SCALE)
    assert d.sample(jax.random.key(0)).shape == (3,)
    x = d.rsample(jax.random.key(1), (20000,))
    assert x.shape == (20000, 3)
    # Sample means within 5 Monte Carlo standard errors of the truth.
    se = SCALE / math.sqrt(20000)
    assert bool(jnp.all(jnp.abs(x.mean(0) - LOC) < 5 * se))


def test_is_a_pytree_whose_leaves_are_the_parameters():
    d = MyNormal(LOC, SCALE)
    leaves, treedef = jax.tree.flatten(d)
    assert len(leaves) == 2
    np.testing.assert_array_equal(leaves[0], LOC)
    np.testing.assert_array_equal(leaves[1], SCALE)
    again = jax.tree.unflatten(treedef, leaves)
    assert isinstance(again, MyNormal) and again.batch_shape == (3,)
    assert jax.tree.structure(jax.tree.map(lambda x: x, d)) == treedef
    # Equinox's filtering sees the same structure.
    dynamic, static = eqx.partition(d, eqx.is_array)
    np.testing.assert_array_equal(eqx.combine(dynamic, static).scale, SCALE)


def test_jit_compiles_once():
    traces = []

    @jax.jit
    def f(d, x):
        traces.append(1)
        return d.log_prob(x)

    x = jnp.array([0.1, 0.2, 0.3])
    d1, d2 = MyNormal(LOC, SCALE), MyNormal(LOC + 1, SCALE * 2)
    np.testing.assert_allclose(f(d1, x), d1.log_prob(x), rtol=1e-12)
    np.testing.assert_allclose(f(d2, x), d2.log_prob(x), rtol=1e-12)
    assert len(traces) == 1
    # A Python-float scale is a parameter (in arg_constraints): a leaf, so no retrace.
    g = jax.jit(lambda d: d.log_prob(0.5))
    np.testing.assert_allclose(g(MyNormal(0.0, 2.0)), ss.norm(0, 2).logpdf(0.5), rtol=1e-12)
    np.testing.assert_allclose(g(MyNormal(1.0, 3.0)), ss.norm(1, 3).logpdf(0.5), rtol=1e-12)
    assert g._cache_size() == 1


def test_vmap_over_parameters():
    # Built inside vmap: each member has batch_shape () and samples its own shape.
    draws = jax.vmap(lambda loc, scale, k: MyNormal(loc, scale).sample(k, (5,)))(
        LOC, SCALE, jax.random.split(jax.random.key(0), 3)
    )
    assert draws.shape == (3, 5)
    # A batched distribution mapped as a pytree: log_prob per member.
    lp = jax.vmap(lambda d: d.log_prob(0.5))(MyNormal(LOC, SCALE))
    np.testing.assert_allclose(lp, ss.norm(LOC, SCALE).logpdf(0.5), rtol=1e-12)


def test_grad_with_respect_to_parameters():
    x = 1.5
    # With respect to a parameter the distribution is built from.
    g = jax.grad(lambda s: MyNormal(0.0, s).log_prob(x))(2.0)
    np.testing.assert_allclose(g, x**2 / 2.0**3 - 1 / 2.0, rtol=1e-12)
    # With respect to the distribution itself: a MyNormal of gradients.
    gd = jax.grad(lambda d: jnp.sum(d.log_prob(x)))(MyNormal(LOC, SCALE))
    assert isinstance(gd, MyNormal)
    np.testing.assert_allclose(gd.loc, (x - LOC) / SCALE**2, rtol=1e-12)
    np.testing.assert_allclose(gd.scale, (x - LOC) ** 2 / SCALE**3 - 1 / SCALE, rtol=1e-12)
    # Reparameterised draws carry gradients to the parameters.
    dmean = jax.grad(lambda m: MyNormal(m, 1.0).rsample(jax.random.key(0), (100,)).mean())(0.0)
    np.testing.assert_allclose(dmean, 1.0, rtol=1e-12)


def test_expand_to_event_and_mask():
    d = MyNormal(LOC, SCALE)
    e = d.expand((2, 3))
    assert e.batch_shape == (2, 3) and e.sample(jax.random.key(0), (4,)).shape == (4, 2, 3)
    x = jnp.array([0.1, 0.2, 0.3])
    np.testing.assert_allclose(e.log_prob(x), jnp.broadcast_to(d.log_prob(x), (2, 3)))
    i = d.to_event(1)
    assert i.batch_shape == () and i.event_shape == (3,)
    np.testing.assert_allclose(i.log_prob(x), ss.norm(LOC, SCALE).logpdf(x).sum(), rtol=1e-12)
    m = d.mask(jnp.array([True, False, True]))
    np.testing.assert_allclose(m.log_prob(x)[1], 0.0)
    # The wrappers are pytrees around the subclass, through jit too.
    np.testing.assert_allclose(jax.jit(lambda i: i.log_prob(x))(i), i.log_prob(x), rtol=1e-12)


def test_default_validation_applies_to_arg_constraints():
    with pytest.raises(ValueError, match=r"MyNormal: parameter `scale` .*Positive.*scale=-1\.0"):
        MyNormal(0.0, -1.0)
    # Traced: not checked by default, at no cost.
    assert bool(jnp.isnan(jax.jit(lambda s: MyNormal(0.0, s).log_prob(0.0))(-1.0)))
    # validate_args=False: nothing is checked.
    MyNormal(0.0, -1.0, validate_args=False)
    # validate_args=True under jit: a run-time error.
    run = jax.jit(lambda s: MyNormal(0.0, s, validate_args=True).log_prob(0.0))
    with pytest.raises(Exception, match="`scale`"):
        jax.block_until_ready(run(-1.0))
    assert MyNormal(0.0, 1.0, validate_args=True).validate_args


def test_frozen_after_init():
    d = MyNormal(LOC, SCALE)
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.loc = LOC
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.other = 1.0
    with pytest.raises(AttributeError, match="no attribute 'other'"):
        d.other  # noqa: B018


def test_assigning_a_class_attribute_name_raises_a_clear_error():
    class Shadow(D.Distribution):
        def __init__(self, low):
            self.low = low
            self.support = constraints.greater_than(low)
            super().__init__()

        def sample(self, key, sample_shape=()):
            raise NotImplementedError

        def log_prob(self, value):
            return jnp.zeros(jnp.shape(value))

    with pytest.raises(TypeError, match=r"Shadow: cannot assign `self.support`.*property"):
        Shadow(0.0)


def test_vector_event_subclass():
    loc = jnp.array([[0.0, 1.0], [2.0, -1.0], [0.5, 0.5]])
    scale = jnp.array([1.0, 2.0])
    d = MyDiagNormal(loc, scale)
    assert d.batch_shape == (3,) and d.event_shape == (2,) and d.event_dim == 1
    assert d.has_rsample and d.name == "diag"
    x = jnp.array([0.3, -0.4])
    expected = [ss.multivariate_normal(loc[i], np.diag(scale**2)).logpdf(x) for i in range(3)]
    np.testing.assert_allclose(d.log_prob(x), expected, rtol=1e-12)
    assert d.sample(jax.random.key(0), (4,)).shape == (4, 3, 2)
    e = d.expand((5, 3))
    assert e.sample(jax.random.key(1)).shape == (5, 3, 2) and e.log_prob(x).shape == (5, 3)
    i = d.to_event(1)
    assert i.event_shape == (3, 2)
    np.testing.assert_allclose(i.log_prob(x), np.sum(expected), rtol=1e-12)
    # The string is static configuration (in the tree structure), the arrays are leaves.
    assert len(jax.tree.leaves(d)) == 2
    out = jax.jit(lambda d: d.log_prob(x))(d)
    np.testing.assert_allclose(out, expected, rtol=1e-12)
    # The vector constraint of arg_constraints is checked by default.
    with pytest.raises(ValueError, match=r"`scale`.*Independent\(Positive, 1\)"):
        MyDiagNormal(loc, jnp.array([1.0, -2.0]))


def test_static_attribute_shapes_the_program_under_jit():
    class Steps(D.Distribution):
        arg_constraints = {"scale": constraints.positive}

        def __init__(self, scale, num_steps):
            self.scale = scale
            self.num_steps = num_steps  # an int: static, usable as a shape under jit
            super().__init__(event_shape=(num_steps,))

        def sample(self, key, sample_shape=()):
            eps = jax.random.normal(key, sample_shape + (self.num_steps,))
            return jnp.cumsum(self.scale * eps, -1)

        def log_prob(self, value):
            steps = jnp.diff(value, axis=-1, prepend=0.0)
            return jnp.sum(ss_norm_logpdf(steps, self.scale), -1)

    d = Steps(2.0, 4)
    draws = jax.jit(lambda d, k: d.sample(k, (3,)))(d, jax.random.key(0))
    assert draws.shape == (3, 4)
    assert len(jax.tree.leaves(d)) == 1


def ss_norm_logpdf(x, scale):
    return -0.5 * (x / scale) ** 2 - jnp.log(scale) - 0.5 * math.log(2 * math.pi)


def test_annotated_fields_work_too():
    class Annotated(D.Distribution):
        arg_constraints = {"rate": constraints.positive}
        support = constraints.positive
        rate: jax.Array

        def __init__(self, rate, *, validate_args=None):
            self.rate = jnp.asarray(rate)
            self.label = "mixed"  # unannotated, beside an annotated field
            super().__init__(batch_shape=jnp.shape(rate), validate_args=validate_args)

        def sample(self, key, sample_shape=()):
            return jax.random.exponential(key, self.shape(sample_shape)) / self.rate

        def log_prob(self, value):
            return jnp.log(self.rate) - self.rate * value

    d = Annotated(jnp.array([1.0, 2.0]))
    assert d.batch_shape == (2,) and d.label == "mixed"
    np.testing.assert_allclose(d.log_prob(1.0), ss.expon(scale=[1.0, 0.5]).logpdf(1.0))
    with pytest.raises(ValueError, match="`rate`"):
        Annotated(-1.0)


def test_existing_families_keep_deriving_their_shapes():
    d = D.Normal(jnp.zeros((2, 1)), jnp.ones(3))
    assert d.batch_shape == (2, 3)
    assert d._batch_shape is None and d._event_shape is None
    # A family's batch shape follows its parameters, also inside vmap.
    seen = []
    jax.vmap(lambda d: seen.append(d.batch_shape) or d.loc)(D.Normal(jnp.zeros(3), 1.0))
    assert seen == [()]


def test_annotated_class_configuration_stays_class_level():
    # NumPyro's own base annotates these; a subclass that does the same (even with a
    # mutable default) keeps them as class attributes, not dataclass fields.
    class Typed(D.Distribution):
        arg_constraints: dict = {"rate": constraints.positive}
        support: constraints.Constraint = constraints.positive
        reparametrized_params: list = ["rate"]

        def __init__(self, rate):
            self.rate = rate
            super().__init__(batch_shape=jnp.shape(rate))

        def sample(self, key, sample_shape=()):
            return jax.random.exponential(key, self.shape(sample_shape)) / self.rate

        def log_prob(self, value):
            return jnp.log(self.rate) - self.rate * value

    d = Typed(jnp.array([1.0, 3.0]))
    assert d.has_rsample and d.support is constraints.positive
    assert [f.name for f in dataclasses.fields(Typed)] == [
        f.name for f in dataclasses.fields(D.Distribution)
    ]
    assert len(jax.tree.leaves(d)) == 1


def test_copy_and_tree_at():
    import copy
    import pickle

    d = MyNormal(LOC, SCALE)
    for c in (copy.deepcopy(d), pickle.loads(pickle.dumps(d))):
        np.testing.assert_array_equal(c.scale, SCALE)
        assert c.batch_shape == (3,)
    e = eqx.tree_at(lambda d: d.loc, d, LOC + 1)
    np.testing.assert_array_equal(e.loc, LOC + 1)
    np.testing.assert_array_equal(d.loc, LOC)
