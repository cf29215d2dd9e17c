"""The MCMC driver: API, chain methods, continuation, compilation, errors."""

import logging
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dists as D
from effects import deterministic, plate, sample
from inference import HMC, MCMC, NUTS, ess_bulk, mcse_mean, potential_energy


def normal_model(y):
    mu = sample("mu", D.Normal(0.0, 10.0))
    deterministic("mu2", 2.0 * mu)
    with plate("N", y.shape[0]):
        sample("y", D.Normal(mu, 1.0), obs=y)


Y = jnp.array([0.3, -0.5, 1.2, 0.8, 0.1])


def _mcmc(**kw):
    opts = dict(num_warmup=100, num_samples=100, progress_bar=False)
    opts.update(kw)
    return MCMC(NUTS(normal_model), **opts)


def test_samples_shapes_extra_fields_and_deterministic():
    m = _mcmc(num_chains=2, chain_method="vectorized")
    m.run(jax.random.key(0), Y)
    s = m.get_samples()
    g = m.get_samples(group_by_chain=True)
    assert s["mu"].shape == (200,) and g["mu"].shape == (2, 100)
    np.testing.assert_allclose(s["mu2"], 2 * s["mu"])
    ex = m.get_extra_fields(group_by_chain=True)
    for f in ("num_steps", "accept_prob", "diverging", "energy", "potential_energy", "tree_depth"):
        assert ex[f].shape == (2, 100), f
    assert ex["diverging"].dtype == bool
    assert ex["num_steps"].dtype == ex["tree_depth"].dtype == jnp.int32
    assert ex["accept_prob"].dtype == ex["potential_energy"].dtype == g["mu"].dtype
    assert np.all(ex["num_steps"] >= 1)
    # Each draw's statistics are stored beside its position: its potential is that of the
    # position (mu is unconstrained, so the potential needs no Jacobian).
    recomputed = jax.vmap(lambda mu: potential_energy(normal_model, (Y,), {}, {"mu": mu}))(
        g["mu"].reshape(-1)
    )
    np.testing.assert_allclose(ex["potential_energy"].reshape(-1), recomputed, rtol=1e-5, atol=1e-5)
    # tree_depth is Stan's treedepth__: a last subtree that turns or diverges is not counted.
    assert np.all(ex["num_steps"] <= 2 ** (ex["tree_depth"] + 1) - 1)


def test_posterior_is_right():
    # Conjugate: mu | y ~ N(sum(y) / (n + 1/100), 1 / (n + 1/100)).
    m = _mcmc(num_warmup=300, num_samples=1000, num_chains=2, chain_method="vectorized")
    m.run(jax.random.key(1), Y)
    draws = np.asarray(m.get_samples(group_by_chain=True)["mu"])
    prec = Y.shape[0] + 1e-2
    mean, sd = float(Y.sum()) / prec, 1 / np.sqrt(prec)
    assert abs(draws.mean() - mean) < 4 * float(mcse_mean(draws))
    assert abs(draws.std() / sd - 1) < 0.1
    assert float(ess_bulk(draws)) > 300


def test_thinning():
    m = _mcmc(num_samples=100, thinning=3)
    m.run(jax.random.key(0), Y)
    assert m.get_samples()["mu"].shape == (34,)


@pytest.mark.parametrize("method", ["sequential", "vectorized", "parallel"])
def test_chain_methods_agree_in_distribution(method):
    assert jax.local_device_count() >= 2
    m = _mcmc(num_chains=2, chain_method=method, num_samples=300)
    m.run(jax.random.key(2), Y)
    draws = np.asarray(m.get_samples(group_by_chain=True)["mu"])
    assert draws.shape == (2, 300)
    assert not np.allclose(draws[0], draws[1])  # chains are independent
    prec = Y.shape[0] + 1e-2
    assert abs(draws.mean() - float(Y.sum()) / prec) < 4 * float(mcse_mean(draws))


def test_vectorized_chains_match_sequential_ones():
    # Vectorised chains run the same transitions as sequential ones (float64; the vmapped
    # NUTS leaf has its own layout, so only rounding may differ).
    draws = {}
    for method in ("sequential", "vectorized"):
        m = _mcmc(num_chains=3, chain_method=method, num_warmup=30, num_samples=30)
        m.run(jax.random.key(4), Y, extra_fields=("num_steps",))
        draws[method] = (
            m.get_samples(group_by_chain=True)["mu"],
            m.get_extra_fields()["num_steps"],
        )
    np.testing.assert_array_equal(draws["vectorized"][1], draws["sequential"][1])
    np.testing.assert_allclose(draws["vectorized"][0], draws["sequential"][0], rtol=1e-10)


def _poisson(c):
    r = sample("r", D.Gamma(2.0, 1.0))
    with plate("N", c.shape[0]):
        sample("c", D.Poisson(r), obs=c)


def test_vectorized_chains_on_integer_data_also_under_vmap():
    # Vectorised chains, and an outer vmap over datasets, on a model whose traced data are
    # integers. (A custom vmap rule for the leaf loop once failed here: it took only the
    # floating-point values the potential closes over as its arguments.)
    counts = jnp.array([[3, 1, 4, 1, 5], [5, 3, 6, 3, 7]], dtype=jnp.int32)

    def fit(c, method):
        m = MCMC(
            NUTS(_poisson),
            num_warmup=20,
            num_samples=20,
            num_chains=2,
            chain_method=method,
            progress_bar=False,
        )
        m.run(jax.random.key(1), c)
        return m.get_samples()["r"]

    sequential = np.stack([np.asarray(fit(c, "sequential")) for c in counts])
    np.testing.assert_allclose(np.asarray(fit(counts[0], "vectorized")), sequential[0], rtol=1e-10)
    batched = jax.vmap(lambda c: fit(c, "vectorized"))(counts)
    np.testing.assert_allclose(np.asarray(batched), sequential, rtol=1e-10)


def test_parallel_falls_back_with_warning():
    m = _mcmc(num_chains=jax.local_device_count() + 1, chain_method="parallel", num_samples=20)
    with pytest.warns(UserWarning, match="running the chains sequentially"):
        m.run(jax.random.key(0), Y)
    assert m.get_samples(group_by_chain=True)["mu"].shape[0] == jax.local_device_count() + 1


def test_run_again_warms_up_again_unless_asked_to_continue():
    m = _mcmc()
    m.run(jax.random.key(0), Y)
    first = m.last_state
    draws = np.asarray(m.get_samples()["mu"])
    # A second run warms up afresh (NumPyro's rule): the same key gives the same draws.
    m.run(jax.random.key(0), Y)
    np.testing.assert_array_equal(np.asarray(m.get_samples()["mu"]), draws)
    # Continuing is asked for by setting post_warmup_state, NumPyro's spelling: the adapted
    # step size and mass matrix are kept.
    m.post_warmup_state = m.last_state
    m.run(m.post_warmup_state.rng_key[0], Y)
    assert m.get_samples()["mu"].shape == (100,)
    np.testing.assert_allclose(np.asarray(m.last_state.step_size), np.asarray(first.step_size))
    np.testing.assert_allclose(
        np.asarray(m.last_state.inverse_mass_matrix), np.asarray(first.inverse_mass_matrix)
    )


def test_continuing_runs_take_the_new_key():
    m = _mcmc()  # the settings other tests compile, so the loop is usually compiled already
    m.warmup(jax.random.key(0), Y)
    warm = m.post_warmup_state
    draws = {}
    for name, key in (
        ("a", jax.random.key(1)),
        ("a again", jax.random.key(1)),
        ("b", jax.random.key(2)),
    ):
        m.post_warmup_state = warm
        m.run(key, Y)
        draws[name] = np.asarray(m.get_samples()["mu"])
    np.testing.assert_array_equal(draws["a"], draws["a again"])
    assert not np.array_equal(draws["a"], draws["b"])
    # A raw uint32 key (NumPyro's PRNGKey) continues a chain started with a typed key.
    m.post_warmup_state = warm
    m.run(jax.random.PRNGKey(1), Y)
    np.testing.assert_array_equal(np.asarray(m.get_samples()["mu"]), draws["a"])


@pytest.mark.parametrize("num_chains", [1, 3])
def test_initial_state_carries_the_potential_and_gradient_at_its_point(num_chains):
    # The driver builds each chain's state from the potential and gradient found while
    # initialising, without evaluating them again: they must be those of the point itself.
    from inference import potential_energy

    m = _mcmc(num_chains=num_chains)
    # The start program alone (MCMC._start), without compiling a sampling loop.
    margs = m._model_args((Y,), {})
    potential, spec = m._setup(margs)
    states, _ = m._start(potential, spec, jax.random.key(4), margs, None, False)
    st = states.z
    assert st.z.shape == (num_chains, 1)
    for c in range(num_chains):
        pe, grad = jax.value_and_grad(
            lambda mu: potential_energy(normal_model, (Y,), {}, {"mu": mu})
        )(st.z[c, 0])
        np.testing.assert_allclose(float(st.potential_energy[c]), float(pe), rtol=1e-6)
        np.testing.assert_allclose(float(st.z_grad[c, 0]), float(grad), rtol=1e-5)
    # Chains start at different points.
    assert len(np.unique(np.asarray(st.z[:, 0]))) == num_chains


def test_no_valid_initial_point_names_the_site_and_keeps_results():
    def model(y):
        scale = sample("scale", D.HalfNormal(1.0))
        sample("y", D.Exponential(scale), obs=y)

    m = MCMC(NUTS(model), num_warmup=20, num_samples=20, num_chains=2, progress_bar=False)
    m.run(jax.random.key(0), jnp.array([0.5, 1.5]))
    before = np.asarray(m.get_samples()["scale"])
    m.post_warmup_state = None
    with pytest.raises(ValueError, match=r"after 100 tries.*\['y'\]"):
        m.run(jax.random.key(1), jnp.array([0.5, -1.0]))  # -1 is outside the support
    np.testing.assert_array_equal(np.asarray(m.get_samples()["scale"]), before)


def test_model_structure_errors_come_from_the_driver_too():
    # The driver checks the latent sites while tracing its start program.
    def observed_only(y):
        sample("y", D.Normal(0.0, 1.0), obs=y)

    def discrete(y):
        sample("z", D.Bernoulli(probs=0.3))
        sample("y", D.Normal(0.0, 1.0), obs=y)

    for model, match in (
        (observed_only, "no latent sample sites"),
        (discrete, "'z' is a discrete"),
    ):
        m = MCMC(NUTS(model), num_warmup=10, num_samples=10, progress_bar=False)
        for _ in range(2):  # and again: a failed trace caches nothing
            with pytest.raises(ValueError, match=match):
                m.run(jax.random.key(0), Y)


class _CompileCounter(logging.Handler):
    def __init__(self):
        super().__init__()
        self.compiled = []

    def emit(self, record):
        msg = record.getMessage()
        if msg.startswith("Compiling"):
            self.compiled.append(msg.split(" with ")[0])

    @property
    def count(self):
        return len(self.compiled)


def _count_compiles(fn):
    counter = _CompileCounter()
    logger = logging.getLogger("jax")
    logger.addHandler(counter)
    try:
        with jax.log_compiles(True), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fn()
    finally:
        logger.removeHandler(counter)
    return counter.compiled


def test_second_run_with_new_data_does_not_recompile():
    m = _mcmc(num_warmup=50, num_samples=50)
    first = _count_compiles(lambda: m.run(jax.random.key(0), Y))
    assert len(first) > 0  # the counter does see compilations
    m2 = _mcmc(num_warmup=50, num_samples=50)
    y1, y2, k1, k2 = Y + 1.0, Y - 1.0, jax.random.key(1), jax.random.key(2)
    # Same model and settings, new data of the same shape, a fresh driver: nothing compiles.
    assert _count_compiles(lambda: m2.run(k1, y1)) == []
    # Continuing from the last state with new data: nothing compiles either.
    assert _count_compiles(lambda: m2.run(k2, y2)) == []


def test_failed_run_keeps_previous_results():
    m = _mcmc(num_samples=30)
    m.run(jax.random.key(0), Y)
    before = np.asarray(m.get_samples()["mu"])
    with pytest.raises(ValueError, match="site 'y'"):
        m.run(jax.random.key(1), jnp.zeros((5, 3)))  # does not broadcast with the plate
    np.testing.assert_array_equal(np.asarray(m.get_samples()["mu"]), before)


def test_nan_potential_is_a_divergence_not_a_crash():
    def model():
        x = sample("x", D.Normal(0.0, 1.0))
        # log density NaN for x > 1.5
        from effects import factor

        factor("bad", jnp.where(x > 1.5, jnp.nan, 0.0))

    m = MCMC(NUTS(model), num_warmup=100, num_samples=200, progress_bar=False)
    m.run(jax.random.key(0))
    x = np.asarray(m.get_samples()["x"])
    assert np.all(np.isfinite(x))
    assert np.all(x <= 1.5)
    assert m.get_extra_fields()["diverging"].sum() > 0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(num_samples=0), "num_samples"),
        (dict(num_samples=-3), "num_samples"),
        (dict(num_chains=0), "num_chains"),
        (dict(thinning=0), "thinning"),
        (dict(chain_method="threads"), "chain_method"),
    ],
)
def test_invalid_driver_arguments(kwargs, match):
    opts = dict(num_warmup=10, num_samples=10)
    opts.update(kwargs)
    with pytest.raises((ValueError, TypeError), match=match):
        MCMC(NUTS(normal_model), **opts)


@pytest.mark.parametrize("prob", [0.0, 1.0, 1.5, -0.2])
def test_invalid_target_accept_prob(prob):
    with pytest.raises(ValueError, match="target_accept_prob"):
        NUTS(normal_model, target_accept_prob=prob)


@pytest.mark.parametrize(
    "kernel, kwargs, match",
    [
        ("NUTS", dict(step_size=0.0), "step_size"),
        ("NUTS", dict(step_size=True), "step_size"),
        ("NUTS", dict(max_tree_depth=0), "max_tree_depth"),
        ("NUTS", dict(max_tree_depth=2.5), "max_tree_depth"),
        ("HMC", dict(num_steps=0), "num_steps"),
        ("HMC", dict(trajectory_length=-1.0), "trajectory_length"),
    ],
)
def test_invalid_kernel_arguments_name_the_argument(kernel, kwargs, match):
    cls = {"NUTS": NUTS, "HMC": HMC}[kernel]
    with pytest.raises(ValueError, match=f"{match} must be"):
        cls(normal_model, **kwargs)


def test_kernel_needs_exactly_one_of_model_or_potential():
    with pytest.raises(ValueError, match="exactly one of `model` or `potential_fn`"):
        NUTS()
    with pytest.raises(ValueError, match="exactly one of `model` or `potential_fn`"):
        HMC(normal_model, potential_fn=lambda z: 0.0)
    # Our own check, or the runtime type checker the test suite installs: both name it.
    with pytest.raises(TypeError, match="model"):
        NUTS(3)
    with pytest.raises(TypeError, match="positional"):
        NUTS(normal_model, None, 0.5)  # options are keyword-only, as in NumPyro's docs


def test_hmc_extra_fields_have_no_tree_depth():
    mcmc = MCMC(HMC(normal_model, num_steps=3), num_warmup=5, num_samples=5, progress_bar=False)
    mcmc.run(jax.random.key(0), Y)
    extra = mcmc.get_extra_fields()
    assert set(extra) == {"num_steps", "accept_prob", "diverging", "energy", "potential_energy"}
    assert np.all(np.asarray(extra["num_steps"]) == 3)


def test_get_samples_before_run():
    with pytest.raises(RuntimeError, match="call mcmc.run"):
        _mcmc().get_samples()


def test_progress_bar_runs_from_inside_the_loop(capsys):
    m = _mcmc(num_warmup=20, num_samples=20, progress_bar=True)
    m.run(jax.random.key(0), Y)
    err = capsys.readouterr().err
    assert "warmup" in err and "sample" in err and "20/20" in err


def test_potential_fn_mode():
    def potential(z):
        return 0.5 * jnp.sum((z["x"] - 3.0) ** 2)

    m = MCMC(NUTS(potential_fn=potential), num_warmup=200, num_samples=500, progress_bar=False)
    with pytest.raises(ValueError, match="init_params"):
        m.run(jax.random.key(0))
    m.run(jax.random.key(0), init_params={"x": jnp.zeros(2)})
    x = np.asarray(m.get_samples(group_by_chain=True)["x"])
    assert x.shape == (1, 500, 2)
    assert np.all(np.abs(x.mean((0, 1)) - 3.0) < 4 * mcse_mean(x))


def test_dense_mass_matrix_adapts_to_correlation():
    cov = jnp.array([[1.0, 0.95], [0.95, 1.0]])

    def model():
        sample("x", D.MultivariateNormal(jnp.zeros(2), covariance_matrix=cov))

    m = MCMC(NUTS(model, dense_mass=True), num_warmup=300, num_samples=300, progress_bar=False)
    m.run(jax.random.key(0))
    imm = np.asarray(m.last_state.inverse_mass_matrix)[0]
    assert imm.shape == (2, 2)
    corr = imm[0, 1] / np.sqrt(imm[0, 0] * imm[1, 1])
    assert corr > 0.8
