"""NumPyro names and keywords that ported scripts use: the functional hmc/fori_collect API,
NUTS/HMC keyword parity, MCMC under jit and vmap, and the module-level settings."""

import os
from importlib import metadata

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dists as D
import effects
from effects import factor, plate, sample
from inference import (
    HMC,
    MCMC,
    NUTS,
    fori_collect,
    hmc,
    initialize_model,
)


def gaussian_potential(z):
    # A correlated 2-d Gaussian: mean (1, -2), sds (1, 2), correlation 0.5.
    cov = jnp.array([[1.0, 1.0], [1.0, 4.0]])
    d = z["x"] - jnp.array([1.0, -2.0])
    return 0.5 * d @ jnp.linalg.solve(cov, d)


def _within(draws, mean, sd, ess_floor=200):
    draws = np.asarray(draws)
    se = np.asarray(sd) / np.sqrt(ess_floor)
    assert np.all(np.abs(draws.mean(0) - mean) < 5 * se), (draws.mean(0), mean)
    assert np.all(np.abs(draws.std(0) - sd) < 0.2 * np.asarray(sd)), (draws.std(0), sd)


@pytest.mark.parametrize("algo", ["NUTS", "HMC"])
def test_functional_hmc_and_fori_collect(algo):
    init_kernel, sample_kernel = hmc(gaussian_potential, algo=algo)
    state = init_kernel(
        {"x": jnp.zeros(2)},
        num_warmup=300,
        trajectory_length=1.5,
        rng_key=jax.random.key(0),
    )
    draws = fori_collect(
        300, 1800, sample_kernel, state, transform=lambda s: s.z["x"], progbar=False
    )
    assert draws.shape == (1500, 2)
    _within(draws, [1.0, -2.0], [1.0, 2.0])
    # return_last_val, thinning, and the state's NumPyro field names.
    thinned, last = fori_collect(
        0,
        10,
        sample_kernel,
        state,
        transform=lambda s: s.z,
        thinning=2,
        return_last_val=True,
        progbar=False,
    )
    assert thinned["x"].shape == (5, 2) and int(last.i) == 10
    assert float(last.adapt_state.step_size) > 0 and last.mean_accept_prob.shape == ()


def test_functional_hmc_from_initialize_model_and_a_potential_generator():
    def model(y):
        mu = sample("mu", D.Normal(0.0, 10.0))
        with plate("N", y.shape[0]):
            sample("y", D.Normal(mu, 1.0), obs=y)

    y = jnp.array([1.0, 2.0, 3.0, 4.0])
    info = initialize_model(jax.random.key(0), model, model_args=(y,), dynamic_args=True)
    init_kernel, sample_kernel = hmc(potential_fn_gen=info.potential_fn, algo="NUTS")
    state = init_kernel(info.param_info, num_warmup=200, model_args=(y,), rng_key=jax.random.key(1))

    def step(s):
        return sample_kernel(s, model_args=(y,))

    mu = fori_collect(200, 1200, step, state, transform=lambda s: s.z["mu"], progbar=False)
    post_var = 1.0 / (4 + 1 / 100)
    _within(mu, 10.0 * post_var, np.sqrt(post_var))


def test_nuts_and_hmc_keywords():
    def model():
        sample("x", D.Normal(0.0, 1.0))

    with pytest.warns(UserWarning, match="ignores trajectory_length"):
        NUTS(model, trajectory_length=2.0)
    NUTS(model, find_heuristic_step_size=True, regularize_mass_matrix=False)
    HMC(model, trajectory_length=1.0, forward_mode_differentiation=True)
    with pytest.raises(NotImplementedError, match="kinetic_fn"):
        NUTS(model, kinetic_fn=lambda imm, r: 0.0)
    with pytest.raises(ValueError, match="dense_mass"):
        NUTS(model, dense_mass=["a"])


def test_forward_mode_differentiation_samples_a_while_loop_density():
    # Reverse mode cannot differentiate a while_loop; forward mode can.
    def model():
        x = sample("x", D.ImproperUniform(D.constraints.real, (), ()))

        def body(c):
            i, acc = c
            return i + 1, acc + x / 4.0

        _, xx = jax.lax.while_loop(lambda c: c[0] < 4, body, (0, 0.0 * x))
        factor("normal", -0.5 * (xx - 3.0) ** 2)

    with pytest.raises(Exception, match="(?i)while_loop|reverse-mode"):
        MCMC(NUTS(model), num_warmup=10, num_samples=10, progress_bar=False).run(jax.random.key(0))
    m = MCMC(
        NUTS(model, forward_mode_differentiation=True),
        num_warmup=300,
        num_samples=1500,
        progress_bar=False,
    )
    m.run(jax.random.key(0))
    _within(m.get_samples()["x"][:, None], [3.0], [1.0])


def _three_sites():
    a = sample("a", D.Normal(jnp.zeros(2), 1.0).to_event(1))
    b = sample("b", D.Normal(a[0], 0.5))
    sample("c", D.Normal(0.0, 3.0))
    return b


def test_dense_mass_by_site_groups_is_block_diagonal():
    m = MCMC(
        NUTS(_three_sites, dense_mass=[("a", "b")]),
        num_warmup=300,
        num_samples=100,
        progress_bar=False,
    )
    m.run(jax.random.key(0))
    imm = np.asarray(m.last_state.inverse_mass_matrix[0])
    # The flat layout orders sites by name: a (2), b, c.
    assert imm.shape == (4, 4)
    np.testing.assert_array_equal(imm[3, :3], 0.0)
    np.testing.assert_array_equal(imm[:3, 3], 0.0)
    assert abs(imm[0, 2]) > 0.05  # a[0] and b are correlated (cov 1 against sds 1, 1.1)
    assert imm[3, 3] > 3.0  # c's variance is 9


def test_initial_inverse_mass_matrix_is_used():
    given = np.array([0.5, 2.0, 3.0, 4.0])
    m = MCMC(
        NUTS(_three_sites, inverse_mass_matrix=given, adapt_mass_matrix=False),
        num_warmup=20,
        num_samples=5,
        progress_bar=False,
    )
    m.run(jax.random.key(0))
    np.testing.assert_allclose(np.asarray(m.last_state.inverse_mass_matrix[0]), given)
    block = {("a",): np.array([[2.0, 0.3], [0.3, 1.0]])}
    m = MCMC(
        NUTS(_three_sites, inverse_mass_matrix=block, adapt_mass_matrix=False),
        num_warmup=20,
        num_samples=5,
        progress_bar=False,
    )
    m.run(jax.random.key(0))
    expected = np.eye(4)
    expected[:2, :2] = block[("a",)]
    np.testing.assert_allclose(np.asarray(m.last_state.inverse_mass_matrix[0]), expected)
    with pytest.raises(ValueError, match=r"shape \(3,\).*\(4,\)"):
        MCMC(
            NUTS(_three_sites, inverse_mass_matrix=np.ones(3)),
            num_warmup=5,
            num_samples=5,
            progress_bar=False,
        ).run(jax.random.key(0))


def location(y):
    mu = sample("mu", D.Normal(0.0, 10.0))
    with plate("N", y.shape[0]):
        sample("y", D.Normal(mu, 1.0), obs=y)


def _posterior_mean(key, y):
    m = MCMC(NUTS(location), num_warmup=200, num_samples=400, progress_bar=False)
    m.run(key, y)
    return m.get_samples()["mu"]


def test_mcmc_under_jit_and_vmap():
    y = jnp.arange(5.0)
    ys = jnp.stack([y, y + 10.0])
    draws = jax.vmap(_posterior_mean)(jax.random.split(jax.random.key(0), 2), ys)
    assert draws.shape == (2, 400)
    post_sd = np.sqrt(1.0 / (5 + 1e-2))
    for i, data in enumerate(ys):
        expected = float(data.sum()) / (5 + 1e-2)
        assert abs(float(draws[i].mean()) - expected) < 5 * post_sd / np.sqrt(100)
    one = jax.jit(_posterior_mean)(jax.random.key(1), y)
    assert abs(float(one.mean()) - float(y.sum()) / (5 + 1e-2)) < 5 * post_sd / np.sqrt(100)


def test_module_settings_under_numpyro_names(monkeypatch):
    assert effects.__version__ == metadata.version("effax")
    monkeypatch.setenv(
        "XLA_FLAGS", "--xla_cpu_something=1 --xla_force_host_platform_device_count=2"
    )
    effects.set_host_device_count(4)
    flags = os.environ["XLA_FLAGS"]
    assert "--xla_force_host_platform_device_count=4" in flags and "=2" not in flags
    assert "--xla_cpu_something=1" in flags
    with pytest.raises(ValueError, match="positive int"):
        effects.set_host_device_count(0)
    before = jax.config.jax_platforms
    try:
        effects.set_platform("cpu")
        assert jax.config.jax_platforms == "cpu"
    finally:
        jax.config.update("jax_platforms", before)
    # `import effects as numpyro` scripts reach the sibling packages as attributes.
    import dists
    import handlers
    import inference

    assert effects.handlers is handlers and effects.distributions is dists
    assert effects.infer is inference
    with pytest.raises(AttributeError):
        effects.nonsense  # noqa: B018
