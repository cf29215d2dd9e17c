"""Tests of the wrapper distributions: Delta, Unit, ImproperUniform, mixtures and
TransformedDistribution."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special as sp
import scipy.stats as ss
from hypothesis import given, settings, strategies as st

import dists as D
from dists import constraints


def _check_moments(x, mean, var):
    """Sample mean and variance within 5 Monte Carlo standard errors."""
    x = np.asarray(x, float)
    n = x.shape[0]
    np.testing.assert_array_less(np.abs(x.mean(0) - mean), 5 * np.sqrt(var / n) + 1e-12)
    m4 = np.mean((x - x.mean(0)) ** 4, axis=0)
    se_var = np.sqrt(np.maximum(m4 - x.var(0) ** 2, 0) / n)
    np.testing.assert_array_less(np.abs(x.var(0) - var), 5 * se_var + 1e-12)


# --------------------------------------------------------------------------------------
# Delta, Unit, ImproperUniform
# --------------------------------------------------------------------------------------


def test_delta():
    d = D.Delta(np.array([1.0, 2.0]), log_density=np.array([0.5, -1.0]))
    assert d.batch_shape == (2,) and d.event_shape == ()
    np.testing.assert_allclose(d.log_prob(np.array([1.0, 2.0])), [0.5, -1.0])
    np.testing.assert_allclose(d.log_prob(np.array([1.0, 3.0])), [0.5, -np.inf])
    np.testing.assert_allclose(d.sample(jax.random.key(0), (3,)), np.tile([1.0, 2.0], (3, 1)))
    np.testing.assert_allclose(d.mean, [1.0, 2.0])
    np.testing.assert_allclose(d.variance, [0.0, 0.0])
    v = np.arange(6.0).reshape(2, 3)
    e = D.Delta(v, 1.5, event_dim=1)
    assert e.batch_shape == (2,) and e.event_shape == (3,)
    x = v.copy()
    x[1, 2] = 9.0
    np.testing.assert_allclose(e.log_prob(x), [1.5, -np.inf])
    assert e.sample(jax.random.key(0), (4,)).shape == (4, 2, 3)
    assert e.support.event_dim == 1
    with pytest.raises(ValueError, match="event_dim"):
        D.Delta(1.0, event_dim=1)
    # Reparameterised in v.
    g = jax.grad(lambda v: D.Delta(v).rsample(jax.random.key(0)) ** 2)(3.0)
    np.testing.assert_allclose(g, 6.0)


def test_unit():
    u = D.Unit(np.array([0.5, -2.0]))
    assert u.batch_shape == (2,) and u.event_shape == (0,)
    s = u.sample(jax.random.key(0), (3,))
    assert s.shape == (3, 2, 0)
    np.testing.assert_allclose(u.log_prob(s), np.tile([0.5, -2.0], (3, 1)))
    np.testing.assert_allclose(u.log_prob(jnp.empty((2, 0))), [0.5, -2.0])
    np.testing.assert_allclose(D.Unit(1.25).log_prob(jnp.empty((0,))), 1.25)


def test_improper_uniform():
    d = D.ImproperUniform(constraints.positive, (2,), ())
    assert d.batch_shape == (2,) and d.event_shape == ()
    assert d.support is constraints.positive
    lp = d.log_prob(np.ones((5, 2)))
    assert lp.shape == (5, 2)
    np.testing.assert_array_equal(lp, 0.0)
    with pytest.raises(NotImplementedError, match="cannot be sampled"):
        d.sample(jax.random.key(0))
    v = D.ImproperUniform(constraints.real_vector, (), (3,))
    assert v.event_shape == (3,)
    assert v.log_prob(np.zeros((4, 3))).shape == (4,)
    with pytest.raises(ValueError, match="event_shape"):
        D.ImproperUniform(constraints.simplex, (), ())
    checked = D.ImproperUniform(constraints.positive, (), (), validate_args=True)
    with pytest.raises(ValueError, match="outside the support"):
        checked.log_prob(-1.0)


# --------------------------------------------------------------------------------------
# Mixtures
# --------------------------------------------------------------------------------------


@settings(deadline=None)
@given(
    w=st.lists(st.floats(0.05, 1.0), min_size=3, max_size=3),
    locs=st.lists(st.floats(-3.0, 3.0), min_size=3, max_size=3),
    scales=st.lists(st.floats(0.3, 3.0), min_size=3, max_size=3),
    x=st.lists(st.floats(-6.0, 6.0), min_size=4, max_size=4),
)
def test_mixture_same_family_by_hand(w, locs, scales, x):
    w = np.asarray(w) / np.sum(w)
    locs, scales, x = np.asarray(locs), np.asarray(scales), np.asarray(x)
    d = D.MixtureSameFamily(D.Categorical(probs=w), D.Normal(locs, scales))
    assert d.batch_shape == () and d.event_shape == ()
    comp = ss.norm(locs, scales).logpdf(x[:, None])
    expected = sp.logsumexp(comp + np.log(w), axis=-1)
    np.testing.assert_allclose(d.log_prob(x), expected, rtol=1e-9)
    np.testing.assert_allclose(d.cdf(x), (w * ss.norm(locs, scales).cdf(x[:, None])).sum(-1))
    mean = (w * locs).sum()
    np.testing.assert_allclose(d.mean, mean, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(d.variance, (w * (scales**2 + locs**2)).sum() - mean**2)


def test_mixture_same_family_batched_and_sampled():
    w = np.array([[0.2, 0.8], [0.6, 0.4]])
    locs = np.array([[-2.0, 1.0], [0.0, 4.0]])
    d = D.MixtureSameFamily(D.Categorical(probs=w), D.Normal(locs, 0.5))
    assert d.batch_shape == (2,)
    x = d.sample(jax.random.key(0), (20000,))
    assert x.shape == (20000, 2)
    _check_moments(x, np.asarray(d.mean), np.asarray(d.variance))
    lp = d.log_prob(x[:3])
    expected = sp.logsumexp(ss.norm(locs, 0.5).logpdf(x[:3, :, None]) + np.log(w), -1)
    np.testing.assert_allclose(lp, expected, rtol=1e-9)
    # Mixing batch broader than the component batch.
    d2 = D.MixtureSameFamily(D.Categorical(probs=w), D.Normal(np.array([-1.0, 1.0]), 1.0))
    assert d2.batch_shape == (2,)
    assert d2.sample(jax.random.key(1), (5,)).shape == (5, 2)


def test_mixture_same_family_multivariate_components():
    w = np.array([0.3, 0.7])
    locs = np.array([[0.0, 0.0], [2.0, -1.0]])
    tril = np.array([[1.0, 0.0], [0.5, 0.8]])
    comp = D.MultivariateNormal(locs, scale_tril=tril)
    d = D.MixtureSameFamily(D.Categorical(probs=w), comp)
    assert d.batch_shape == () and d.event_shape == (2,)
    x = np.array([[0.1, -0.2], [1.5, 0.3], [3.0, -2.0]])
    cov = tril @ tril.T
    comps = np.stack([ss.multivariate_normal(m, cov).logpdf(x) for m in locs], -1)
    np.testing.assert_allclose(d.log_prob(x), sp.logsumexp(comps + np.log(w), -1), rtol=1e-9)
    s = d.sample(jax.random.key(2), (20000,))
    assert s.shape == (20000, 2)
    _check_moments(s, np.asarray(d.mean), np.asarray(d.variance))


def test_mixture_general_by_hand():
    w = np.array([0.3, 0.5, 0.2])
    comps = [
        D.Normal(0.0, 1.0),
        D.TransformedDistribution(D.Normal(0.5, 0.4), D.ExpTransform()),
        D.Normal(np.array([-3.0, 3.0]), 2.0),
    ]
    mix = D.Mixture(D.Categorical(probs=w), comps)
    assert D.Mixture is D.MixtureGeneral
    assert mix.batch_shape == (2,) and mix.event_shape == ()
    x = np.array([[0.5, 1.2], [2.0, -0.3]])
    parts = np.stack(
        [
            np.broadcast_to(ss.norm(0, 1).logpdf(x), x.shape),
            ss.lognorm(0.4, scale=math.exp(0.5)).logpdf(x),
            ss.norm([-3.0, 3.0], 2.0).logpdf(x),
        ],
        -1,
    )
    with np.errstate(divide="ignore"):
        expected = sp.logsumexp(parts + np.log(w), -1)
    np.testing.assert_allclose(mix.log_prob(x), expected, rtol=1e-9)
    s = mix.sample(jax.random.key(3), (20000,))
    assert s.shape == (20000, 2)
    lognormal_mean = math.exp(0.5 + 0.4**2 / 2)
    lognormal_var = (math.exp(0.4**2) - 1) * math.exp(1 + 0.4**2)
    means = np.array([[0.0, lognormal_mean, -3.0], [0.0, lognormal_mean, 3.0]])
    variances = np.array([[1.0, lognormal_var, 4.0], [1.0, lognormal_var, 4.0]])
    mean = (w * means).sum(-1)
    var = (w * (variances + means**2)).sum(-1) - mean**2
    _check_moments(s, mean, var)


def test_mixture_general_discrete():
    w = np.array([0.4, 0.6])
    mix = D.MixtureGeneral(D.Categorical(probs=w), [D.Poisson(2.0), D.NegativeBinomial2(5.0, 2.0)])
    assert mix.is_discrete
    x = np.arange(6)
    expected = np.log(w[0] * ss.poisson(2.0).pmf(x) + w[1] * ss.nbinom(2.0, 2 / 7).pmf(x))
    np.testing.assert_allclose(mix.log_prob(x), expected, rtol=1e-9)
    np.testing.assert_allclose(mix.mean, 0.4 * 2.0 + 0.6 * 5.0)
    cdf = 0.4 * ss.poisson(2.0).cdf(3) + 0.6 * ss.nbinom(2.0, 2 / 7).cdf(3)
    np.testing.assert_allclose(mix.cdf(3), cdf)


def test_mixture_errors():
    with pytest.raises(TypeError, match="Categorical"):
        D.MixtureSameFamily(D.Normal(0.0, 1.0), D.Normal(np.zeros(2), 1.0))
    with pytest.raises(ValueError, match="rightmost batch dim"):
        D.MixtureSameFamily(D.Categorical(probs=np.full(3, 1 / 3)), D.Normal(np.zeros(2), 1.0))
    with pytest.raises(ValueError, match="2 component distributions"):
        D.Mixture(D.Categorical(probs=np.full(3, 1 / 3)), [D.Normal(), D.Normal()])
    with pytest.raises(ValueError, match="event shapes"):
        D.Mixture(
            D.Categorical(probs=np.full(2, 0.5)),
            [D.Normal(), D.MultivariateNormal(np.zeros(2), scale_tril=np.eye(2))],
        )
    with pytest.raises(TypeError, match="MixtureSameFamily"):
        D.Mixture(D.Categorical(probs=np.full(2, 0.5)), D.Normal(np.zeros(2), 1.0))


# --------------------------------------------------------------------------------------
# TransformedDistribution
# --------------------------------------------------------------------------------------


@settings(deadline=None)
@given(
    mu=st.floats(-1.0, 1.0),
    sigma=st.floats(0.2, 2.0),
    x=st.lists(st.floats(0.05, 10.0), min_size=3, max_size=3),
)
def test_lognormal_via_exp_transform(mu, sigma, x):
    d = D.TransformedDistribution(D.Normal(mu, sigma), D.ExpTransform())
    assert d.support == constraints.positive and d.has_rsample
    x = np.asarray(x)
    np.testing.assert_allclose(
        d.log_prob(x), ss.lognorm(sigma, scale=math.exp(mu)).logpdf(x), rtol=1e-9
    )


def test_lognormal_sampling():
    d = D.TransformedDistribution(D.Normal(np.array([0.0, 0.5]), 0.3), [D.ExpTransform()])
    x = d.sample(jax.random.key(4), (20000,))
    assert x.shape == (20000, 2) and d.batch_shape == (2,)
    mu, s = np.array([0.0, 0.5]), 0.3
    _check_moments(x, np.exp(mu + s**2 / 2), (np.exp(s**2) - 1) * np.exp(2 * mu + s**2))
    y, inter = d.sample_with_intermediates(jax.random.key(4), (3,))
    assert y.shape == (3, 2) and len(inter) == 1


def test_transformed_event_dims():
    # A transform whose domain has event_dim 1 turns a base batch dim into an event dim.
    base = D.Normal(np.zeros(3), 1.0)
    t = D.StickBreakingTransform()
    d = D.TransformedDistribution(base, t)
    assert d.batch_shape == () and d.event_shape == (4,)
    assert d.support.event_dim == 1
    y = d.sample(jax.random.key(5), (2,))
    assert y.shape == (2, 4)
    x = t.inv(y)
    expected = base.log_prob(x).sum(-1) - t.log_abs_det_jacobian(x, y)
    np.testing.assert_allclose(d.log_prob(y), expected, rtol=1e-10)
    # An elementwise transform after a vector base sums its log-det over the event.
    mvn = D.MultivariateNormal(np.zeros(2), scale_tril=np.eye(2))
    d2 = D.TransformedDistribution(mvn, [D.ExpTransform(), D.AffineTransform(1.0, 2.0)])
    assert d2.event_shape == (2,) and d2.batch_shape == ()
    y = np.array([[1.5, 3.0], [2.0, 1.2]])
    x = np.log((y - 1.0) / 2.0)
    expected = mvn.log_prob(x) - np.sum(x + math.log(2.0), -1)
    np.testing.assert_allclose(d2.log_prob(y), expected, rtol=1e-10)
    assert d2.support.event_dim == 1
    # Batched transform parameters broadcast the base batch.
    d3 = D.TransformedDistribution(D.Normal(0.0, 1.0), D.AffineTransform(np.zeros(3), 2.0))
    assert d3.batch_shape == (3,)
    assert d3.sample(jax.random.key(0), (2,)).shape == (2, 3)
    np.testing.assert_allclose(d3.log_prob(np.ones(3)), ss.norm(0, 2).logpdf(np.ones(3)))
    # Nested transformed distributions flatten.
    d4 = D.TransformedDistribution(d, D.AffineTransform(0.0, 2.0, constraints.real_vector))
    assert len(d4.transforms) == 2 and d4.base_dist is d.base_dist


def test_transformed_validation_and_errors():
    d = D.TransformedDistribution(D.Normal(0.0, 1.0), D.ExpTransform(), validate_args=True)
    with pytest.raises(ValueError, match="outside the support"):
        d.log_prob(-1.0)
    with pytest.raises(TypeError, match="Transform"):
        D.TransformedDistribution(D.Normal(0.0, 1.0), [lambda x: x])
    with pytest.raises(ValueError, match="event dims"):
        D.TransformedDistribution(D.Normal(0.0, 1.0), D.StickBreakingTransform())


# --------------------------------------------------------------------------------------
# jit, vmap and shape wrappers
# --------------------------------------------------------------------------------------


def test_jit_vmap_and_shape_wrappers():
    w = jnp.array([0.3, 0.7])
    locs = jnp.array([[-1.0, 1.0], [0.0, 2.0], [1.0, 3.0]])
    x = jnp.array(0.4)

    def lp(loc):
        return D.MixtureSameFamily(D.Categorical(probs=w), D.Normal(loc, 1.0)).log_prob(x)

    batched = D.MixtureSameFamily(D.Categorical(probs=w), D.Normal(locs, 1.0))
    np.testing.assert_allclose(jax.vmap(lp)(locs), batched.log_prob(x), rtol=1e-12)
    np.testing.assert_allclose(jax.jit(lambda d, v: d.log_prob(v))(batched, x), batched.log_prob(x))
    t = D.TransformedDistribution(D.Normal(jnp.zeros(3), 1.0), D.ExpTransform())
    np.testing.assert_allclose(
        jax.jit(lambda d, v: d.log_prob(v))(t, jnp.ones(3)), t.log_prob(jnp.ones(3))
    )
    delta = D.Delta(jnp.array([1.0, 2.0]))
    out = jax.vmap(lambda d: d.log_prob(2.0))(delta)
    np.testing.assert_allclose(out, [-np.inf, 0.0])
    e = batched.expand((4, 3))
    assert e.batch_shape == (4, 3)
    np.testing.assert_allclose(e.log_prob(x), jnp.broadcast_to(batched.log_prob(x), (4, 3)))
    ind = batched.to_event(1)
    np.testing.assert_allclose(ind.log_prob(jnp.zeros(3)), batched.log_prob(jnp.zeros(3)).sum())
    m = batched.mask(jnp.array([True, False, True]))
    np.testing.assert_allclose(m.log_prob(x)[1], 0.0)
    u = D.Unit(jnp.zeros(3)).to_event(1)
    assert u.log_prob(jnp.empty((3, 0))).shape == ()


@pytest.mark.parametrize(
    "wrap",
    [
        lambda d: d,
        lambda d: d.to_event(1),
        lambda d: d.expand((2, 3)).to_event(1),
        lambda d: d.mask(jnp.array([True, False, True])),
    ],
    ids=["bare", "to_event", "expand_to_event", "mask"],
)
def test_a_point_mass_draws_with_no_seed_through_its_wrappers(wrap):
    # A Delta's draw is its value, so its site needs no key, however it is wrapped (as in
    # NumPyro, where a guide of point masses runs unseeded). Other families still refuse.
    from effects import sample
    from handlers import run, trace

    v = jnp.array([0.5, -1.0, 2.0])

    def model():
        return sample("x", wrap(D.Delta(v)))

    out, (tr,) = run(model, trace())()
    np.testing.assert_array_equal(out, jnp.broadcast_to(v, out.shape))
    assert tr["x"].value.shape == wrap(D.Delta(v)).shape()
    with pytest.raises(ValueError, match="needs a PRNG key"):
        run(lambda: sample("y", wrap(D.Normal(v, 1.0))), trace())()
