"""SVI's driver: init/update/run, state as a pytree, no recompiles, optimisers, errors."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import dists as D
from effects import param, plate, sample
from inference import SVI, SVIRunResult, SVIState, Trace_ELBO, optim

from ._models import exact_posterior, normal_data, normal_guide, normal_model


def _svi(lr=0.05, loss=None):
    return SVI(normal_model, normal_guide, optim.Adam(lr), loss or Trace_ELBO())


def test_hand_written_guide_reaches_the_exact_posterior():
    # The guide family contains the posterior, so the ELBO's optimum is exact. A decaying
    # step size and 16 particles make the final iterate's noise small: tolerances are 5%
    # of a posterior sd for the mean and 5% for the sd (float64).
    x = normal_data(10)
    mean, sd = exact_posterior(x)
    sched = optax.exponential_decay(0.05, 3000, 0.02)
    svi = SVI(normal_model, normal_guide, optax.adam(sched), Trace_ELBO(num_particles=16))
    result = svi.run(jax.random.key(0), 3000, x, progress_bar=False)
    assert isinstance(result, SVIRunResult)
    assert result.losses.shape == (3000,)
    assert abs(float(result.params["m"]) - mean) < 0.05 * sd
    assert abs(float(result.params["s"]) / sd - 1) < 0.05


def test_init_update_are_pure_and_the_state_is_a_pytree():
    x = normal_data(5)
    svi = _svi()
    state = svi.init(jax.random.key(1), x)
    assert isinstance(state, SVIState)
    s1, loss1 = svi.update(state, x)
    s2, loss2 = svi.update(state, x)  # the same input gives the same output
    assert float(loss1) == float(loss2)
    assert jax.tree.all(jax.tree.map(lambda a, b: bool(jnp.all(a == b)), s1.params, s2.params))
    # Through jit and lax.scan as a value.
    steps = jax.jit(lambda st: jax.lax.scan(lambda c, _: svi.update(c, x), st, None, length=3))
    st3, losses = steps(state)
    assert losses.shape == (3,)
    # get_params constrains: s is positive, held as log s.
    assert float(svi.get_params(state)["s"]) == pytest.approx(1.0)
    assert float(state.params["s"]) == pytest.approx(0.0)


def test_run_continues_from_a_state_and_matches_update_steps():
    x = normal_data(5)
    svi = _svi()
    state = svi.init(jax.random.key(2), x)
    by_hand = state
    hand_losses = []
    for _ in range(4):
        by_hand, loss = svi.update(by_hand, x)
        hand_losses.append(float(loss))
    result = svi.run(None, 4, x, progress_bar=False, init_state=state)
    np.testing.assert_allclose(np.asarray(result.losses), hand_losses, rtol=1e-10)
    np.testing.assert_allclose(result.params["m"], svi.get_params(by_hand)["m"], rtol=1e-10)


def test_second_run_with_new_data_does_not_trace_again():
    calls = []

    def model(x):
        calls.append(1)
        normal_model(x)

    svi = SVI(model, normal_guide, optim.Adam(0.01), Trace_ELBO())
    svi.run(jax.random.key(0), 20, normal_data(6, seed=1), progress_bar=False)
    first = len(calls)
    assert first > 0
    svi.run(jax.random.key(1), 20, normal_data(6, seed=2), progress_bar=False)
    svi.update(svi.init(jax.random.key(2), normal_data(6, seed=3)), normal_data(6, seed=4))
    after_update = len(calls)
    svi.update(svi.init(jax.random.key(3), normal_data(6, seed=5)), normal_data(6, seed=6))
    assert len(calls) == after_update  # update and init: compiled once
    svi.run(jax.random.key(4), 20, normal_data(6, seed=7), progress_bar=False)
    assert len(calls) == after_update  # run: compiled once


def test_numpy_data_is_static_as_in_mcmc():
    calls = []

    def model(x):
        calls.append(1)
        normal_model(jnp.asarray(x))

    def guide(x):
        normal_guide(x)

    svi = SVI(model, guide, optim.Adam(0.01), Trace_ELBO())
    x = np.asarray(normal_data(4))
    svi.run(jax.random.key(0), 5, x, progress_bar=False)
    n = len(calls)
    svi.run(jax.random.key(0), 5, x.copy(), progress_bar=False)  # same bytes: no new trace
    assert len(calls) == n
    svi.run(jax.random.key(0), 5, x + 1.0, progress_bar=False)  # new constant: traced again
    assert len(calls) > n


def test_progress_bar_runs_inside_the_loop(capsys):
    pytest.importorskip("tqdm")
    x = normal_data(4)
    result = _svi().run(jax.random.key(0), 30, x, progress_bar=True)
    assert result.losses.shape == (30,)
    assert "SVI" in capsys.readouterr().err


def test_stable_update_drops_non_finite_steps():
    def model():
        sample("z", D.Normal(0.0, 1.0))

    def guide():
        # A loc that makes the guide's log density overflow: every step is non-finite.
        m = param("m", 1e200)
        sample("z", D.Normal(m * m, 1.0))

    svi = SVI(model, guide, optim.Adam(0.1), Trace_ELBO())
    state = svi.init(jax.random.key(0))
    new, loss = svi.stable_update(state)
    assert not np.isfinite(float(loss))
    assert float(new.params["m"]) == float(state.params["m"])
    result = svi.run(jax.random.key(0), 3, progress_bar=False, stable_update=True)
    assert float(result.params["m"]) == 1e200


@pytest.mark.parametrize(
    "opt",
    [
        optim.ClippedAdam(0.05),
        optim.Momentum(0.01),
        optax.chain(optax.clip(1.0), optax.adamw(0.05)),
    ],
)
def test_every_optimiser_decreases_the_loss(opt):
    x = normal_data(10)
    svi = SVI(normal_model, normal_guide, opt, Trace_ELBO(num_particles=8))
    losses = svi.run(jax.random.key(0), 300, x, progress_bar=False).losses
    assert float(jnp.mean(losses[-30:])) < float(jnp.mean(losses[:30]))


def test_optim_names_are_optax_transformations():
    for opt in (optim.Adam(0.1), optim.SGD(0.1), optim.RMSProp(0.1), optim.Adagrad(0.1)):
        assert isinstance(opt, optax.GradientTransformation)
    import effects as numpyro  # a ported script's `numpyro.optim`

    assert numpyro.optim.Adam is optim.Adam


def test_model_params_are_learnt_too():
    # A param in the model (maximum likelihood for sigma) beside the guide's.
    x = normal_data(200)

    def model(x):
        mu = sample("mu", D.Normal(0.0, 10.0))
        s = param("sigma", 1.0, constraint=D.constraints.positive)
        with plate("N", x.shape[0]):
            sample("x", D.Normal(mu, s), obs=x)

    def guide(x):
        sample("mu", D.Normal(param("m", 0.0), param("s", 0.1, constraint=D.constraints.positive)))

    svi = SVI(model, guide, optim.Adam(0.05), Trace_ELBO(num_particles=4))
    params = svi.run(jax.random.key(0), 1500, x, progress_bar=False).params
    assert abs(float(params["sigma"]) - float(jnp.std(x))) < 0.1


# ---------------------------------------------------------------- errors


def test_errors_for_bad_input():
    x = normal_data(4)
    svi = _svi()
    with pytest.raises(TypeError, match="PRNG key"):
        svi.init(x)
    with pytest.raises(TypeError, match="PRNG key"):
        svi.run(0, 10, x, progress_bar=False)
    with pytest.raises(TypeError, match="SVIState"):
        svi.update({"m": 1.0}, x)
    with pytest.raises(TypeError, match="optax"):
        SVI(normal_model, normal_guide, "adam", Trace_ELBO())
    with pytest.raises(TypeError, match="ELBO"):
        SVI(normal_model, normal_guide, optim.Adam(0.1), "elbo")
    with pytest.raises(ValueError, match="at least 1"):
        svi.run(jax.random.key(0), 0, x, progress_bar=False)
    with pytest.raises(ValueError, match="num_particles"):
        Trace_ELBO(num_particles=0)


def test_guide_missing_a_latent_site_is_named():
    def model():
        sample("a", D.Normal(0.0, 1.0))
        sample("b", D.Normal(0.0, 1.0))

    def guide():
        sample("a", D.Normal(param("m", 0.0), 1.0))

    svi = SVI(model, guide, optim.Adam(0.1), Trace_ELBO())
    with pytest.raises(ValueError, match=r"\['b'\] are not sampled by the guide"):
        svi.init(jax.random.key(0))
    with pytest.raises(ValueError, match=r"\['b'\] are not sampled by the guide"):
        Trace_ELBO().loss(jax.random.key(0), {"m": 0.0}, model, guide)


def test_guide_site_unknown_to_the_model_is_named():
    def model():
        sample("a", D.Normal(0.0, 1.0))

    def guide():
        sample("a", D.Normal(param("m", 0.0), 1.0))
        sample("typo", D.Normal(0.0, 1.0))

    svi = SVI(model, guide, optim.Adam(0.1), Trace_ELBO())
    with pytest.raises(ValueError, match=r"\['typo'\] that the model does not have"):
        svi.run(jax.random.key(0), 2, progress_bar=False)

    def aux_guide():
        sample("a", D.Normal(param("m", 0.0), 1.0))
        sample("helper", D.Normal(0.0, 1.0), infer={"is_auxiliary": True})

    SVI(model, aux_guide, optim.Adam(0.1), Trace_ELBO()).run(
        jax.random.key(0), 2, progress_bar=False
    )


def test_no_params_is_an_error():
    def model():
        sample("a", D.Normal(0.0, 1.0))

    def guide():
        sample("a", D.Normal(0.0, 1.0))

    with pytest.raises(ValueError, match="nothing to optimise"):
        SVI(model, guide, optim.Adam(0.1), Trace_ELBO()).init(jax.random.key(0))


def test_observed_site_in_the_guide_is_refused():
    x = normal_data(3)

    def guide(x):
        normal_guide(x)
        sample("x", D.Normal(0.0, 1.0).expand([3]))

    svi = SVI(normal_model, guide, optim.Adam(0.1), Trace_ELBO())
    with pytest.raises(ValueError, match="observed in the model"):
        svi.run(jax.random.key(0), 2, x, progress_bar=False)
