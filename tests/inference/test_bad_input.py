"""Careless or hostile input gets a clear error (or the right answer), never a silent wrong
answer. One test per finding of the ports issue (item 3)."""

import _thread
import signal
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats as st

import dists as D
from effects import deterministic, factor, plate, sample, scan
from handlers import block, condition, mask, scale, seed, substitute, trace
from inference import (
    MCMC,
    NUTS,
    Predictive,
    init_to_value,
    log_density,
    log_likelihood,
    to_arviz,
)


def two(y=None):
    with plate("N", 2):
        x = sample("x", D.Normal(0.0, 1.0))
        sample("y", D.Normal(x, 1.0), obs=y)


# --- shapes that broadcast past the site -------------------------------------------------


def test_a_mask_that_would_enlarge_the_log_density_is_an_error():
    y = jnp.array([0.3, -0.2])
    good = mask(two, mask=jnp.array([True, False]))
    lp, _ = log_density(good, (y,), {}, {"x": jnp.zeros(2)})
    expected = st.norm.logpdf(0.0) + st.norm.logpdf(0.3)  # only the first x and y count
    np.testing.assert_allclose(lp, expected, rtol=1e-12)
    bad = mask(two, mask=jnp.ones((2, 1), bool))  # (2, 1) with (2,) would give (2, 2)
    with pytest.raises(ValueError, match=r"Site 'x'.*mask has shape \(2, 1\)"):
        log_density(bad, (y,), {}, {"x": jnp.zeros(2)})


def test_a_scale_that_would_enlarge_the_log_density_is_an_error():
    with pytest.raises(ValueError, match=r"scale has shape \(2, 1\)"):
        log_density(scale(two, scale=jnp.ones((2, 1))), (jnp.zeros(2),), {}, {"x": jnp.zeros(2)})


@pytest.mark.parametrize("handler", [substitute, condition])
def test_a_value_that_would_enlarge_the_site_is_an_error(handler):
    with pytest.raises(ValueError, match=r"site 'x' has shape \(2, 1\).*larger than both"):
        trace(seed(handler(two, data={"x": jnp.zeros((2, 1))}), 0)).get_trace()

    # Broadcasting that enlarges only one side stays allowed: an observation with a
    # leading data axis outside any plate, and a scalar value for a batched site.
    def obs_without_plate(y):
        sample("y", D.Normal(0.0, 1.0), obs=y)

    tr = trace(seed(obs_without_plate, 0)).get_trace(jnp.zeros(5))
    np.testing.assert_allclose(tr.log_prob_sum(), 5 * st.norm.logpdf(0.0), rtol=1e-12)
    tr = trace(seed(handler(two, data={"x": jnp.asarray(0.5)}), 0)).get_trace()
    assert tr["x"].value.shape == ()


# --- init_params ------------------------------------------------------------------------


def _nuts(model, **kw):
    kw = {"num_warmup": 20, "num_samples": 20, "progress_bar": False} | kw
    return MCMC(NUTS(model), **kw)


def test_init_params_of_a_wrong_shape_name_the_site():
    m = _nuts(two, num_chains=2)
    with pytest.raises(ValueError, match=r"init_params\['x'\] has shape \(3,\).*\(2,\)"):
        m.run(jax.random.key(0), jnp.zeros(2), init_params={"x": jnp.zeros(3)})
    with pytest.raises(ValueError, match=r"missing \['x'\]"):
        m.run(jax.random.key(0), jnp.zeros(2), init_params={"xx": jnp.zeros(2)})


def test_init_params_shaped_like_the_site_are_shared_by_every_chain():
    # A (2,) value for a plate-2 site with 2 chains: the site's own value, for both chains
    # (not one scalar per chain).
    m = _nuts(two, num_chains=2, num_warmup=0, num_samples=1)
    start = jnp.array([1.5, -2.5])
    margs = m._model_args((jnp.zeros(2),), {})
    potential, spec = m._setup(margs)
    states, template = m._start(potential, spec, jax.random.key(0), margs, {"x": start}, False)
    np.testing.assert_array_equal(np.asarray(states.z.z), np.stack([start, start]))
    per_chain = jnp.array([[1.0, 2.0], [3.0, 4.0]])
    states, _ = m._start(potential, spec, jax.random.key(0), margs, {"x": per_chain}, False)
    np.testing.assert_array_equal(np.asarray(states.z.z), np.asarray(per_chain))


def test_init_params_at_a_nan_point_names_the_site():
    m = _nuts(two)
    with pytest.raises(ValueError, match=r"init_params.*non-finite log density: \['x', 'y'\]"):
        m.run(jax.random.key(0), jnp.zeros(2), init_params={"x": jnp.array([0.0, jnp.nan])})


def test_a_start_where_only_the_gradient_is_not_finite_names_the_site():
    def model():
        x = sample("x", D.Normal(0.0, 1.0))
        factor("kink", jnp.sqrt(jnp.abs(x)))  # finite at 0, infinite slope there

    m = _nuts(model)
    with pytest.raises(ValueError, match=r"non-finite gradient.*\['x'\]"):
        m.run(jax.random.key(0), init_params={"x": jnp.asarray(0.0)})
    with pytest.raises(ValueError, match=r"log density has a non-finite gradient: \['kink'\]"):
        m.run(jax.random.key(0), init_params={"x": jnp.asarray(0.0)})


# --- missing latent sites ----------------------------------------------------------------


def test_log_likelihood_with_a_missing_latent_site_is_an_error():
    def model(y=None):
        a = sample("a", D.Normal(0.0, 1.0))
        b = sample("b", D.Normal(0.0, 1.0))
        sample("y", D.Normal(a + b, 1.0), obs=y)

    with pytest.raises(ValueError, match=r"no draws of the latent site\(s\) \['b'\]"):
        log_likelihood(model, {"a": jnp.zeros(3)}, y=jnp.asarray(0.0))


def test_predictive_draws_a_missing_latent_site_afresh_in_every_row():
    def model():
        a = sample("a", D.Normal(0.0, 1.0))
        sample("b", D.Normal(a, 1.0))

    out = Predictive(model, {"a": jnp.zeros(200)})(jax.random.key(0))
    b = np.asarray(out["b"])
    assert len(np.unique(b)) == 200  # not one fixed draw repeated
    assert abs(b.mean()) < 5 / np.sqrt(200) and 0.7 < b.std() < 1.3


# --- ArviZ export ------------------------------------------------------------------------


def test_to_arviz_keeps_a_site_named_like_a_dimension():
    def model():
        with plate("J", 3):
            sample("theta", D.Normal(0.0, 1.0))
        sample("theta_dim_0", D.Normal(0.0, 1.0))

    m = _nuts(model)
    m.run(jax.random.key(0))
    idata = to_arviz(m)
    assert set(idata.posterior.data_vars) == {"theta", "theta_dim_0"}
    np.testing.assert_array_equal(
        idata.posterior["theta_dim_0"].values[0], np.asarray(m.get_samples()["theta_dim_0"])
    )


def test_to_arviz_names_dims_after_the_plates():
    # As arviz.from_numpyro: a plate names the batch dim it indexes, in every group; event
    # dims and dims under no plate keep {site}_dim_{i}; given dims win.
    def model(y=None):
        with plate("J", 3):
            theta = sample("theta", D.Normal(0.0, 1.0))
            sample("w", D.Normal(jnp.zeros(2), 1.0).to_event(1))
            with plate("N", 2, dim=-2):
                sample("y", D.Normal(theta, 1.0), obs=y)
        sample("theta2", D.Normal(jnp.zeros(4), 1.0))

    m = _nuts(model)
    m.run(jax.random.key(0), y=jnp.zeros((2, 3)))
    idata = to_arviz(m)
    assert idata.posterior["theta"].dims == ("chain", "draw", "J")
    assert idata.posterior["w"].dims == ("chain", "draw", "J", "w_dim_1")
    assert idata.posterior["theta2"].dims == ("chain", "draw", "theta2_dim_0")
    assert idata.observed_data["y"].dims == ("N", "J")
    assert idata.log_likelihood["y"].dims == ("chain", "draw", "N", "J")
    assert to_arviz(m, dims={"theta": ["school"]}).posterior["theta"].dims[2] == "school"


def test_to_arviz_refuses_predictive_draws_of_another_batch():
    m = _nuts(two, num_chains=2)
    m.run(jax.random.key(0), jnp.zeros(2))
    good = Predictive(two, m.get_samples())(jax.random.key(1))
    idata = to_arviz(m, posterior_predictive=good)
    assert idata.posterior_predictive["y"].shape == (2, 20, 2)
    np.testing.assert_array_equal(idata.posterior_predictive["y"].values[1], good["y"][20:])
    with pytest.raises(ValueError, match=r"posterior_predictive\['y'\] has shape \(30, 2\)"):
        to_arviz(m, posterior_predictive={"y": np.zeros((30, 2))})


# --- effects inside plain JAX control flow ----------------------------------------------


def test_sample_inside_a_plain_lax_scan_points_to_effects_scan():
    def model():
        def step(c, _):
            return c, sample("x", D.Normal(0.0, 1.0))

        jax.lax.scan(step, 0.0, None, length=3)

    with pytest.raises(TypeError, match="effects.scan"):
        trace(seed(model, 0)).get_trace()

    def fixed():
        def step(c, _):
            return c, sample("x", D.Normal(0.0, 1.0))

        return scan(step, 0.0, None, length=3)

    x = trace(seed(fixed, 0)).get_trace()["x"].value
    assert len(np.unique(np.asarray(x))) == 3  # each step its own noise


# --- parameters and observations outside their constraints --------------------------------


def test_an_observation_outside_the_support_is_an_error_under_mcmc():
    def model(y):
        p = sample("p", D.Beta(1.0, 1.0))
        with plate("N", y.shape[0]):
            sample("obs", D.Bernoulli(probs=p), obs=y)

    m = _nuts(model)
    with pytest.raises(ValueError, match=r"Site 'obs'.*outside the support.*Bernoulli"):
        m.run(jax.random.key(0), jnp.array([0.0, 1.5, 1.0]))
    m.run(jax.random.key(0), jnp.array([0.0, 1.0, 1.0]))  # valid data run


def test_a_parameter_outside_its_constraint_under_jit_names_the_site():
    def model(s):
        x = sample("x", D.Normal(0.0, 1.0))
        sample("y", D.Beta(s, 2.0), obs=0.5 + 0.0 * x)

    m = _nuts(model)
    with pytest.raises(ValueError, match=r"Site 'y'.*`concentration1`.*Beta"):
        m.run(jax.random.key(0), jnp.asarray(-1.0))  # traced, so no eager check can see it


def test_eager_observation_outside_the_support_is_an_error():
    def model():
        sample("coin", D.Bernoulli(probs=0.5), obs=1.5)

    with pytest.raises(ValueError, match=r"site 'coin'.*support"):
        trace(seed(model, 0)).get_trace()


# --- misspelled names, bad handler data ----------------------------------------------------


def test_block_with_unknown_names_warns():
    with pytest.warns(UserWarning, match=r"expose=\['nope'\]"):
        trace(block(seed(two, 0), expose=["nope"])).get_trace()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        trace(block(seed(two, 0), hide=["x"])).get_trace()


def test_init_to_value_with_a_misspelled_name_is_an_error():
    m = MCMC(
        NUTS(two, init_strategy=init_to_value(values={"xx": jnp.zeros(2)})),
        num_warmup=5,
        num_samples=5,
        progress_bar=False,
    )
    with pytest.raises(ValueError, match=r"init_to_value.*\['xx'\].*latent sites: \['x'\]"):
        m.run(jax.random.key(0), jnp.zeros(2))


def test_scale_must_be_finite_and_seed_must_be_a_key():
    with pytest.raises(ValueError, match="positive and finite"):
        scale(two, scale=float("inf"))
    with pytest.raises(ValueError, match="positive and finite"):
        scale(two, scale=jnp.nan)
    with pytest.raises(TypeError, match=r"rng_seed must be an int or a PRNG key, got str '0'"):
        seed(two, "0")


def test_plate_takes_numpy_ints_and_deterministic_takes_pytrees():
    def model():
        with plate("N", np.int64(4)):
            x = sample("x", D.Normal(0.0, 1.0))
        deterministic("stats", {"mean": jnp.mean(x), "both": (x[0], x[1])})

    tr = trace(seed(model, 0)).get_trace()
    assert tr["x"].value.shape == (4,)
    assert set(tr["stats"].value) == {"both", "mean"}
    m = _nuts(model)
    m.run(jax.random.key(0))
    assert m.get_samples()["stats"]["mean"].shape == (20,)


def test_condition_shorter_than_scan_samples_the_steps_past_the_data():
    # NumPyro's forecasting pattern (holt_winters): data for the first T steps of a scan of
    # T + future steps. The future steps are drawn, not copies of the last value.
    def model(T, future):
        level = sample("level", D.Normal(0.0, 1.0))

        def step(carry, t):
            y = sample("y", D.Normal(carry, 1.0))
            return y, y

        with condition(data={"y": jnp.arange(T, dtype=float)}):
            _, ys = scan(step, level, jnp.arange(T + future))
        return ys

    T, future = 4, 3
    out = Predictive(model, {"level": jnp.zeros(500)})(jax.random.key(0), T, future)
    ys = np.asarray(out["y"])
    assert ys.shape == (500, T + future)
    np.testing.assert_array_equal(ys[:, :T], np.broadcast_to(np.arange(T), (500, T)))
    # Step T is N(y_{T-1}, 1) = N(3, 1); step T + 1 is N(y_T, 1), so var 2 around 3.
    assert abs(ys[:, T].mean() - 3.0) < 5 / np.sqrt(500)
    assert 0.8 < ys[:, T].std() < 1.2 and 1.2 < ys[:, T + 1].std() < 1.65
    # The sampled steps are not observations: the log density counts only the data.
    tr = trace(seed(model, 0)).get_trace(T, future)
    lp = np.asarray(tr["y"].log_prob())
    assert np.all(lp[T:] == 0.0) and np.all(lp[:T] != 0.0)


def test_a_latent_site_with_an_empty_sample_shape():
    def model():
        sample("empty", D.Normal(0.0, 1.0), sample_shape=(0,))
        sample("x", D.Normal(0.0, 1.0))

    m = _nuts(model)
    m.run(jax.random.key(0))
    assert m.get_samples()["empty"].shape == (20, 0)
    assert m.get_samples(group_by_chain=True)["empty"].shape == (1, 20, 0)


def test_the_discrete_latent_error_names_the_family():
    def model():
        with plate("N", 3):
            sample("z", D.Bernoulli(probs=0.3))

    with pytest.raises(
        ValueError,
        match=r"'z' is a discrete latent variable \(Bernoulli\).*config_enumerate",
    ):
        _nuts(model).run(jax.random.key(0))


# --- Ctrl-C ------------------------------------------------------------------------------


def test_ctrl_c_with_the_progress_bar_raises_keyboard_interrupt(monkeypatch, capsys):
    from inference import _mcmc

    def model():
        sample("x", D.Normal(0.0, 1.0))

    m = MCMC(NUTS(model), num_warmup=10, num_samples=10, progress_bar=True)
    m.run(jax.random.key(0))
    before = np.asarray(m.get_samples()["x"])
    sampling_updates = []
    original = _mcmc._Progress.update

    def update(self, chain_id, i, n, adapting):
        if not bool(adapting):
            sampling_updates.append(int(i))
            if len(sampling_updates) == 3:
                _thread.interrupt_main()  # as Ctrl-C does, while the compiled loop runs
        return original(self, chain_id, i, n, adapting)

    monkeypatch.setattr(_mcmc._Progress, "update", update)
    m.num_samples = 400_000
    # Ctrl-C as a user's process sees it: Python's own SIGINT handler in force (a library
    # run earlier in this test process may have left another one).
    old_handler = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            m.run(jax.random.key(1))
    finally:
        signal.signal(signal.SIGINT, old_handler)
    assert "400000/400000" not in capsys.readouterr().err  # stopped early
    assert max(sampling_updates) < 400_000
    # The object is usable: its results are untouched and a new run works.
    np.testing.assert_array_equal(np.asarray(m.get_samples()["x"]), before)
    monkeypatch.setattr(_mcmc._Progress, "update", original)
    m.num_samples = 10
    m.run(jax.random.key(2))
    assert m.get_samples()["x"].shape == (10,)
