"""The ELBOs against closed forms, with Monte Carlo error bounds."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dists as D
from effects import param, plate, sample
from inference import RenyiELBO, Trace_ELBO, TraceGraph_ELBO, TraceMeanField_ELBO
from inference._elbo import get_traces

from ._models import closed_form_elbo, log_evidence, normal_data, normal_guide, normal_model


def _particles(loss, key, params, model, guide, *args):
    fn = jax.jit(lambda k, p, a: loss.particles(k, p, model, guide, a, {})[0])
    return np.asarray(fn(key, params, args))


def _losses(loss, n, params, model, guide, *args):
    """``n`` independent estimates of the loss, compiled once and vmapped over keys."""
    fn = jax.jit(jax.vmap(lambda k: loss.loss(k, params, model, guide, *args)))
    return np.asarray(fn(jax.random.split(jax.random.key(0), n)))


def test_trace_elbo_is_unbiased_for_the_closed_form():
    x = normal_data(8)
    params = {"m": 0.7, "s": 0.4}
    exact = closed_form_elbo(x, **params)
    draws = _particles(
        Trace_ELBO(num_particles=4000), jax.random.key(0), params, normal_model, normal_guide, x
    )
    se = draws.std() / np.sqrt(len(draws))
    assert abs(draws.mean() - exact) < 4 * se
    # The loss is minus the particles' mean.
    loss = Trace_ELBO(num_particles=4000).loss(
        jax.random.key(0), params, normal_model, normal_guide, x
    )
    assert float(loss) == pytest.approx(-draws.mean(), rel=1e-10)


def test_elbo_of_the_exact_posterior_is_the_log_evidence():
    from ._models import exact_posterior

    x = normal_data(8)
    m, s = exact_posterior(x)
    loss = Trace_ELBO(num_particles=3).loss(
        jax.random.key(0), {"m": m, "s": s}, normal_model, normal_guide, x
    )
    # log p(x, z) - log q(z) = log p(x) for every z: no Monte Carlo error at all.
    assert -float(loss) == pytest.approx(log_evidence(x), rel=1e-9)


def test_subsampled_plate_is_scaled_to_an_unbiased_estimate():
    x = normal_data(12)
    params = {"m": 0.7, "s": 0.4}

    def model(x):
        mu = sample("mu", D.Normal(0.5, 2.0))
        with plate("N", x.shape[0], subsample_size=3) as idx:
            sample("x", D.Normal(mu, 1.5), obs=x[idx])

    draws = _particles(
        Trace_ELBO(num_particles=6000), jax.random.key(1), params, model, normal_guide, x
    )
    se = draws.std() / np.sqrt(len(draws))
    assert abs(draws.mean() - closed_form_elbo(x, **params)) < 4 * se


def test_mean_field_kl_equals_monte_carlo_kl():
    # With no data the ELBO is -KL(q || p): TraceMeanField computes it in closed form,
    # Trace_ELBO estimates it; they agree within the Monte Carlo error.
    def model():
        sample("a", D.Normal(jnp.zeros(3), 2.0).to_event(1))
        with plate("P", 2):
            sample("b", D.Gamma(2.0, 3.0))

    def guide():
        sample("a", D.Normal(param("m", jnp.array([0.3, -1.0, 2.0])), 0.5).to_event(1))
        with plate("P", 2):
            sample("b", D.Gamma(param("c", jnp.array([1.5, 4.0])), 2.0))

    params = {"m": jnp.array([0.3, -1.0, 2.0]), "c": jnp.array([1.5, 4.0])}
    runs = _losses(TraceMeanField_ELBO(), 2, params, model, guide)
    analytic = float(runs[0])
    assert runs[0] == runs[1]  # no sampling left in it
    kl = (
        D.kl_divergence(D.Normal(params["m"], 0.5), D.Normal(0.0, 2.0)).sum()
        + D.kl_divergence(D.Gamma(params["c"], 2.0), D.Gamma(2.0, 3.0)).sum()
    )
    assert analytic == pytest.approx(float(kl), rel=1e-10)
    draws = -_particles(Trace_ELBO(num_particles=20000), jax.random.key(1), params, model, guide)
    se = draws.std() / np.sqrt(len(draws))
    assert abs(draws.mean() - analytic) < 4 * se


def test_mean_field_falls_back_to_monte_carlo_and_keeps_the_likelihood():
    x = normal_data(6)
    params = {"m": 0.7, "s": 0.4}
    # One particle each, the KL exact and the likelihood Monte Carlo: compare with the
    # closed form within the likelihood term's spread.
    draws = -_losses(TraceMeanField_ELBO(), 400, params, normal_model, normal_guide, x)
    assert abs(draws.mean() - closed_form_elbo(x, **params)) < 4 * draws.std() / np.sqrt(400)


def test_renyi_bound_lies_between_elbo_and_evidence_and_is_exact_at_the_posterior():
    from ._models import exact_posterior

    x = normal_data(6)
    m, s = exact_posterior(x)
    exact = {"m": m, "s": s}
    for alpha in (0.0, 0.5, 2.0):
        loss = RenyiELBO(alpha=alpha, num_particles=5)
        assert -float(loss.loss(jax.random.key(0), exact, normal_model, normal_guide, x)) == (
            pytest.approx(log_evidence(x), rel=1e-9)
        )
    off = {"m": m + 0.5, "s": 2 * s}
    iwae = -_losses(RenyiELBO(0.0, num_particles=50), 20, off, normal_model, normal_guide, x).mean()
    assert closed_form_elbo(x, **off) < iwae < log_evidence(x)
    with pytest.raises(ValueError, match="alpha = 1"):
        RenyiELBO(alpha=1.0)


def test_vectorised_and_sequential_particles_agree():
    x = normal_data(5)
    params = {"m": 0.1, "s": 0.9}
    a = Trace_ELBO(num_particles=7).loss(jax.random.key(3), params, normal_model, normal_guide, x)
    b = Trace_ELBO(num_particles=7, vectorize_particles=False).loss(
        jax.random.key(3), params, normal_model, normal_guide, x
    )
    assert float(a) == pytest.approx(float(b), rel=1e-12)


# ---------------------------------------------------------------- discrete latent sites

N_DISCRETE = 3
Y = jnp.array([1.8, -2.5, 0.3])


def mixture_model(y):
    with plate("N", y.shape[0]):
        z = sample("z", D.Bernoulli(probs=0.3))
        sample("y", D.Normal(jnp.where(z == 1, 2.0, -2.0), 1.0), obs=y)


def mixture_guide(y):
    p = param("p", jnp.full(y.shape, 0.5), constraint=D.constraints.unit_interval)
    with plate("N", y.shape[0]):
        sample("z", D.Bernoulli(probs=p))


def _exact_mixture_elbo(logits, y):
    # ELBO summed over both values of each z_i (the model and guide factorise over i).
    q1 = jax.nn.sigmoid(logits)
    total = jnp.zeros(())
    for z, qz in ((1.0, q1), (0.0, 1 - q1)):
        lp = D.Bernoulli(probs=0.3).log_prob(z) + D.Normal(
            jnp.where(z == 1, 2.0, -2.0), 1.0
        ).log_prob(y)
        total = total + jnp.sum(qz * (lp - jnp.log(qz)))
    return total


def _grads(loss, logits, n_keys):
    def one(k):
        return jax.grad(
            lambda u: loss.loss(k, {"p": jax.nn.sigmoid(u)}, mixture_model, mixture_guide, Y)
        )(logits)

    return np.asarray(jax.jit(jax.vmap(one))(jax.random.split(jax.random.key(0), n_keys)))


def test_tracegraph_gradient_has_the_score_function_mean_and_lower_variance():
    logits = jnp.array([0.4, -0.3, 1.0])
    exact = -np.asarray(jax.grad(_exact_mixture_elbo)(logits, Y))  # gradient of the loss
    n = 4000
    plain = _grads(Trace_ELBO(num_particles=2), logits, n)
    graph = _grads(TraceGraph_ELBO(num_particles=2), logits, n)
    for g in (plain, graph):
        se = g.std(0) / np.sqrt(n)
        assert np.all(np.abs(g.mean(0) - exact) < 4.5 * se), (g.mean(0), exact, se)
    # Plate-local costs and the leave-one-out baseline: a much smaller variance.
    assert np.all(graph.var(0) < 0.5 * plain.var(0)), (graph.var(0), plain.var(0))


def test_tracegraph_value_is_the_elbo():
    params = {"p": jnp.array([0.2, 0.6, 0.9])}
    a = TraceGraph_ELBO(num_particles=4).loss(
        jax.random.key(0), params, mixture_model, mixture_guide, Y
    )
    b = Trace_ELBO(num_particles=4).loss(jax.random.key(0), params, mixture_model, mixture_guide, Y)
    assert float(a) == pytest.approx(float(b), rel=1e-12)


def test_renyi_refuses_discrete_guide_sites():
    with pytest.raises(ValueError, match="not reparameterisable"):
        RenyiELBO(0.5).loss(
            jax.random.key(0), {"p": jnp.full((3,), 0.5)}, mixture_model, mixture_guide, Y
        )


def test_get_traces_replays_the_guide_into_the_model():
    x = normal_data(4)
    model_tr, guide_tr = get_traces(
        jax.random.key(0), {"m": 0.2, "s": 1.0}, normal_model, normal_guide, (x,), {}
    )
    assert float(model_tr["mu"].value) == float(guide_tr["mu"].value)
    assert float(guide_tr["m"].value) == 0.2


def test_one_particle_is_a_batch_of_one():
    # With num_particles=1 the particle runs unbatched (a smaller program); it uses the
    # same key as a vmap over jax.random.split(key, 1), so the loss and its gradient are
    # those of that batch of one (a score-function site included).
    y = jnp.array([1.5, -2.2, 0.3])
    params = {"p": jnp.array([0.2, 0.6, 0.5])}
    for elbo in (Trace_ELBO(), TraceGraph_ELBO()):

        def batched(p, key, elbo=elbo):
            keys = jax.random.split(key, 1)
            out = jax.vmap(lambda k: elbo.particle(k, p, mixture_model, mixture_guide, (y,), {}))(
                keys
            )
            return out

        key = jax.random.key(3)
        ours = elbo.particles(key, params, mixture_model, mixture_guide, (y,), {})
        theirs = batched(params, key)
        for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(theirs)):
            np.testing.assert_allclose(a, b, rtol=1e-12)

    def ours_loss(p):
        return Trace_ELBO().loss(jax.random.key(3), {"p": p}, mixture_model, mixture_guide, y)

    def batched_loss(p):
        elbo, sur = jax.vmap(
            lambda k: Trace_ELBO().particle(k, {"p": p}, mixture_model, mixture_guide, (y,), {})
        )(jax.random.split(jax.random.key(3), 1))
        return -(jnp.mean(elbo) + jnp.mean(sur))

    np.testing.assert_allclose(
        jax.grad(ours_loss)(params["p"]), jax.grad(batched_loss)(params["p"]), rtol=1e-12
    )
