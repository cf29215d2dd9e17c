"""Tests of the HMC/NUTS kernels, the leapfrog integrator and warm-up adaptation.

Statistical tests run several independent chains with fixed keys and compare with known
answers using the between-chain Monte Carlo standard error.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

from inference import _nuts
from inference._adaptation import (
    FAST_INITIAL,
    FAST_TERMINAL,
    SLOW,
    adapt_final,
    adapt_init,
    adapt_update,
    warmup_schedule,
)
from inference._dual_averaging import dual_averaging_init, dual_averaging_update
from inference._hmc import hmc_init, hmc_kernel
from inference._integrator import (
    IntegratorState,
    counter_key,
    counter_normal,
    counter_split,
    counter_uniform,
    flatten_potential,
    init_integrator_state,
    kinetic_energy,
    leapfrog,
    make_value_and_grad,
    sample_momentum,
    velocity,
)
from inference._nuts import (
    _DIRECTION,
    _MOMENTUM,
    _key_from_row,
    _key_to_row,
    nuts_init,
    nuts_kernel,
)
from inference._step_size import find_reasonable_step_size
from inference._welford import welford_covariance, welford_init, welford_update


def _gaussian(mu, cov):
    prec = jnp.linalg.inv(jnp.asarray(cov))
    mu = jnp.asarray(mu)
    return lambda z: 0.5 * (z - mu) @ prec @ (z - mu)


def _correlated_cov(d):
    scales = np.linspace(0.5, 2.0, d)
    corr = 0.6 ** np.abs(np.subtract.outer(np.arange(d), np.arange(d)))
    return corr * np.outer(scales, scales)


@functools.partial(jax.jit, static_argnums=(0, 1, 2, 3))
def _run_chains(kernel, potential, num_chains, num_draws, key, z0, step_size, imm):
    """Independent chains (vmapped) of a kernel at fixed step size and mass matrix."""

    def chain(key, z):
        state = (nuts_init if kernel is nuts_kernel else hmc_init)(z, potential)

        def step(state, k):
            state, info = kernel(k, state, potential, step_size, imm)
            return state, (state.z, info)

        return jax.lax.scan(step, state, jax.random.split(key, num_draws))[1]

    return jax.vmap(chain)(jax.random.split(key, num_chains), z0)


def _hmc10(key, state, potential, step_size, imm):
    return hmc_kernel(key, state, potential, step_size, imm, num_steps=10)


def _check_moments(draws, mean, cov, n_se=4.0, var_tol=0.1):
    """Means within ``n_se`` between-chain standard errors; variances within ``var_tol``."""
    draws = np.asarray(draws)  # (chains, draws, d)
    chain_means = draws.mean(axis=1)
    se = chain_means.std(axis=0, ddof=1) / np.sqrt(draws.shape[0])
    assert np.all(np.abs(chain_means.mean(axis=0) - mean) < n_se * se + 1e-12), (
        chain_means.mean(axis=0),
        mean,
        se,
    )
    var = draws.reshape(-1, draws.shape[-1]).var(axis=0)
    np.testing.assert_allclose(var, np.diag(cov), rtol=var_tol)


# --- integrator ---------------------------------------------------------------------------


@pytest.mark.parametrize("dense", [False, True])
def test_leapfrog_reversible_and_second_order(dense):
    cov = _correlated_cov(3)
    potential = _gaussian(np.zeros(3), cov)
    vg = make_value_and_grad(potential, jnp.float64)
    imm = jnp.asarray(cov) if dense else jnp.asarray(np.diag(cov))
    z0 = jnp.array([0.3, -1.0, 2.0])
    p0 = sample_momentum(jax.random.key(1), imm, z0)
    start = init_integrator_state(vg, z0, p0, imm)
    energy_0 = start.potential_energy + kinetic_energy(imm, p0)

    def run(state, eps, n):
        return jax.lax.fori_loop(0, n, lambda _, s: leapfrog(vg, s, eps, imm), state)

    end = run(start, 0.1, 25)
    back = run(end, -0.1, 25)  # integrating backwards in time retraces the path
    np.testing.assert_allclose(back.z, z0, atol=1e-10)
    np.testing.assert_allclose(back.p, p0, atol=1e-10)

    def max_error(eps):
        n = int(round(2.0 / eps))
        states = jax.lax.scan(lambda s, _: (leapfrog(vg, s, eps, imm),) * 2, start, None, n)[1]
        energy = states.potential_energy + 0.5 * jnp.sum(states.p * states.v, axis=-1)
        return float(jnp.max(jnp.abs(energy - energy_0)))

    e1, e2 = max_error(0.1), max_error(0.05)
    assert e1 < 0.1
    assert 3.0 < e1 / e2 < 5.0  # halving the step quarters the energy error


def test_leapfrog_with_precomputed_mass_is_the_same_step():
    # The division by a precomputed diagonal mass (for XLA's benefit) changes nothing but
    # rounding: 25 steps each way agree to float64 precision.
    cov = np.diag([0.5, 2.0, 4.0])
    vg = make_value_and_grad(_gaussian(np.zeros(3), cov), jnp.float64)
    imm = jnp.asarray(np.diag(cov))
    start = init_integrator_state(vg, jnp.array([0.3, -1.0, 2.0]), jnp.array([1.0, 0.5, -2.0]), imm)

    @jax.jit
    def run(mass):
        return jax.lax.fori_loop(0, 25, lambda _, s: leapfrog(vg, s, 0.1, imm, mass), start)

    with_mass, without = run(1.0 / imm), run(None)
    for a, b in zip(jax.tree.leaves(with_mass), jax.tree.leaves(without), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_momentum_covariance_is_mass_matrix():
    cov = jnp.asarray(_correlated_cov(3))
    imm = jnp.linalg.inv(cov)  # so that M = cov
    ps = jax.vmap(lambda k: sample_momentum(k, imm, jnp.zeros(3)))(
        jax.random.split(jax.random.key(0), 20000)
    )
    np.testing.assert_allclose(np.cov(np.asarray(ps).T), cov, atol=0.1)
    ckey = counter_key(jax.random.key(3))
    z = counter_normal(ckey, np.arange(20000, dtype=np.uint32), jnp.uint32(5), jnp.float64)
    assert scipy.stats.kstest(np.asarray(z), "norm").pvalue > 1e-3
    u = counter_uniform(ckey, np.arange(20000, dtype=np.uint32), jnp.uint32(6), jnp.float32)
    assert scipy.stats.kstest(np.asarray(u), "uniform").pvalue > 1e-3


@pytest.mark.parametrize("raw", [False, True])
def test_counter_split_matches_jax_split(raw):
    key = jax.random.PRNGKey(11) if raw else jax.random.key(11)
    data = (lambda k: k) if raw else jax.random.key_data
    with jax.threefry_partitionable(False):
        expected = np.asarray(data(jax.random.split(key)))
    first, second = jax.jit(counter_split)(key)
    assert first.dtype == key.dtype and first.shape == key.shape
    np.testing.assert_array_equal(np.stack([data(first), data(second)]), expected)


def test_counter_split_chain_gives_independent_uniforms():
    # Walk a chain of splits as the MCMC driver does; the draws must look i.i.d.
    def body(key, _):
        key, sub = counter_split(key)
        return key, jax.random.uniform(sub)

    _, u = jax.lax.scan(body, jax.random.key(5), length=20000)
    u = np.asarray(u)
    assert scipy.stats.kstest(u, "uniform").pvalue > 1e-3
    # Lag-1 correlation of i.i.d. uniforms has sd 1/sqrt(n) ~ 0.007.
    assert abs(np.corrcoef(u[:-1], u[1:])[0, 1]) < 0.03


@pytest.mark.parametrize("dtype", [jnp.float64, jnp.float32, jnp.float16, jnp.bfloat16])
def test_nuts_key_row_round_trips_in_every_float_dtype(dtype):
    # NUTS keeps its Threefry key in the loop state, a float array of the position's dtype;
    # the words must come back bit for bit, extreme words included.
    rng = np.random.default_rng(0)
    words = np.concatenate(
        [
            rng.integers(0, 2**32, size=(200, 3), dtype=np.uint64),
            np.array([[0, 2**32 - 1, 2**31], [2**24 + 1, 255, 256]], np.uint64),
        ]
    ).astype(np.uint32)
    back = jax.vmap(lambda w: _key_from_row(_key_to_row(w, 16, dtype)))(jnp.asarray(words))
    assert back.dtype == jnp.uint32
    np.testing.assert_array_equal(np.asarray(back), words)


def test_counter_split_other_implementations_fall_back():
    key = jax.random.key(3, impl="rbg")
    first, second = counter_split(key)
    expected = jax.random.split(key)
    np.testing.assert_array_equal(jax.random.key_data(first), jax.random.key_data(expected[0]))
    np.testing.assert_array_equal(jax.random.key_data(second), jax.random.key_data(expected[1]))


def test_flatten_potential_pytree():
    pos = {"a": jnp.zeros(2), "b": jnp.ones(())}
    z, f, unravel = flatten_potential(lambda q: jnp.sum(q["a"] ** 2) + 3.0 * q["b"], pos)
    assert z.shape == (3,)
    np.testing.assert_allclose(jax.grad(f)(jnp.array([1.0, 2.0, 0.0])), [2.0, 4.0, 3.0])
    assert unravel(z)["a"].shape == (2,)


# --- NUTS termination against a recursive reference ----------------------------------------


def _reference_nuts_steps(a_diag, imm, z0, key, step_size, max_depth):
    """Stan's recursive NUTS (>= 2.26 criterion), termination only, in NumPy.

    Uses the kernel's momentum and direction draws, so that both build the same trajectory.
    """
    d = z0.shape[0]
    ckey = counter_key(key)
    eps0 = np.asarray(counter_normal(ckey, np.arange(d, dtype=np.uint32), _MOMENTUM, np.float64))
    p0 = eps0 / np.sqrt(imm)

    def grad(z):
        return a_diag * z

    def energy(z, p):
        return 0.5 * np.sum(a_diag * z * z) + 0.5 * np.sum(imm * p * p)

    h0 = energy(z0, p0)
    count = [0]

    def criterion(v_minus, v_plus, rho):
        return v_plus @ rho > 0 and v_minus @ rho > 0

    def build(depth, z, p, sign):
        """Returns (valid, z, p, rho, p_beg, v_beg, p_end, v_end)."""
        if depth == 0:
            p = p - 0.5 * sign * step_size * grad(z)
            z = z + sign * step_size * imm * p
            p = p - 0.5 * sign * step_size * grad(z)
            count[0] += 1
            h = energy(z, p)
            valid = not (np.isnan(h) or h - h0 > 1000.0)
            return valid, z, p, p.copy(), p, imm * p, p, imm * p
        ok, z, p, rho_i, pb, vb, pie, vie = build(depth - 1, z, p, sign)
        if not ok:
            return False, z, p, None, None, None, None, None
        ok, z, p, rho_f, pfb, vfb, pe, ve = build(depth - 1, z, p, sign)
        if not ok:
            return False, z, p, None, None, None, None, None
        rho = rho_i + rho_f
        persist = criterion(vb, ve, rho)
        persist &= criterion(vb, vfb, rho_i + pfb)
        persist &= criterion(vie, ve, rho_f + pie)
        return persist, z, p, rho, pb, vb, pe, ve

    fwd = bck = (z0, p0, p0, imm * p0)  # z, p, p at the end, v at the end
    rho = p0.copy()
    depth = 0
    while depth < max_depth:
        right = float(counter_uniform(ckey, depth, jnp.uint32(_DIRECTION), np.float64)) < 0.5
        z_s, p_s, p_near, v_near = fwd if right else bck
        ok, z, p, rho_new, p_first, v_first, p_last, v_last = build(
            depth, z_s, p_s, 1.0 if right else -1.0
        )
        if not ok:
            break
        depth += 1
        far = bck if right else fwd
        if right:
            fwd = (z, p, p_last, v_last)
        else:
            bck = (z, p, p_last, v_last)
        v_minus, v_plus = (bck[3], fwd[3])
        total = rho + rho_new
        persist = criterion(v_minus, v_plus, total)
        # Old tree plus the first new point; last old point plus the new subtree.
        persist &= criterion(far[3], v_first, rho + p_first)
        persist &= criterion(v_near, v_last, rho_new + p_near)
        rho = total
        if not persist:
            break
    return count[0], depth


@pytest.fixture(params=["short", "long"])
def leaf_rows(request, monkeypatch):
    """Run NUTS with the leaf laid out for short rows, or for long ones (as from
    ``_nuts._LARGE_D`` dimensions on) at every dimension."""
    if request.param == "long":
        monkeypatch.setattr(_nuts, "_LARGE_D", 1)
    return request.param


def test_nuts_termination_matches_recursive_reference(leaf_rows):
    a_diag = np.array([1.0, 4.0, 0.25])
    imm = np.array([1.0, 0.5, 2.0])
    potential = lambda z: 0.5 * jnp.sum(jnp.asarray(a_diag) * z**2)  # noqa: E731
    kernel = jax.jit(
        lambda key, state, eps: nuts_kernel(key, state, potential, eps, jnp.asarray(imm), 6)
    )
    z0 = np.array([0.5, -1.0, 2.0])
    state = nuts_init(jnp.asarray(z0), potential)
    for i, eps in enumerate([0.05, 0.2, 0.6] * 10):
        key = jax.random.key(i)
        _, info = kernel(key, state, eps)
        ref_steps, ref_depth = _reference_nuts_steps(a_diag, imm, z0, key, eps, 6)
        assert (int(info.num_steps), int(info.tree_depth)) == (ref_steps, ref_depth), (i, eps)


# --- sampling correctness -------------------------------------------------------------------


@pytest.mark.parametrize(
    "kernel,d,dense,step,leaf_rows",
    [
        (nuts_kernel, 5, False, 0.35, "short"),
        (nuts_kernel, 5, False, 0.35, "long"),
        (nuts_kernel, 2, True, 0.5, "short"),
        (nuts_kernel, 2, True, 0.5, "long"),
        (_hmc10, 5, False, 0.25, "short"),  # the leaf layout is NUTS's
    ],
    indirect=["leaf_rows"],
)
def test_samples_correlated_gaussian(kernel, d, dense, step, leaf_rows):
    mean = np.linspace(-1.0, 2.0, d)
    cov = _correlated_cov(d)
    potential = _gaussian(mean, cov)
    imm = jnp.asarray(cov) if dense else jnp.ones(d)
    z0 = jnp.broadcast_to(jnp.asarray(mean), (8, d))
    draws, info = _run_chains(kernel, potential, 8, 1500, jax.random.key(42), z0, step, imm)
    _check_moments(draws[:, 100:], mean, cov)
    assert not bool(jnp.any(info.diverging))


def _normal_normal():
    rng = np.random.default_rng(0)
    y = rng.normal(1.5, 2.0, size=20)
    prior_mu, prior_sd, sigma = 0.0, 3.0, 2.0
    post_var = 1.0 / (1.0 / prior_sd**2 + len(y) / sigma**2)
    post_mean = post_var * (prior_mu / prior_sd**2 + y.sum() / sigma**2)

    def potential(params):
        theta = params["theta"]
        log_prior = -0.5 * ((theta - prior_mu) / prior_sd) ** 2
        log_lik = -0.5 * jnp.sum(((jnp.asarray(y) - theta) / sigma) ** 2)
        return -(log_prior + log_lik)

    return potential, post_mean, post_var


def test_nuts_long_row_leaf_is_the_same_transition_at_high_dimension(monkeypatch):
    # At d = 300 the leaf takes its long-row layout; forced to the short-row one it must
    # make the same trajectories (float64: the dot products differ only in rounding).
    d = 300
    scales = jnp.asarray(np.linspace(0.5, 2.0, d))
    potential = lambda z: 0.5 * jnp.sum((z / scales) ** 2)  # noqa: E731
    z0 = jnp.asarray(np.random.default_rng(3).normal(size=(4, d)))

    def run(potential):  # a new function each time: _run_chains compiles per potential
        return _run_chains(nuts_kernel, potential, 4, 30, jax.random.key(5), z0, 0.3, jnp.ones(d))

    assert d >= _nuts._LARGE_D
    long_draws, long_info = run(lambda z: potential(z))
    monkeypatch.setattr(_nuts, "_LARGE_D", 10**9)
    short_draws, short_info = run(lambda z: potential(z))
    np.testing.assert_array_equal(long_info.num_steps, short_info.num_steps)
    np.testing.assert_allclose(long_draws, short_draws, rtol=1e-12, atol=1e-12)
    assert int(jnp.min(long_info.num_steps)) >= 3  # the U-turn checks did the stopping


def test_nuts_batched_layout_is_the_same_transition_under_vmap():
    # Vectorised chains take the long-row layout (batched=True): the same transitions as
    # the short-row layout, in float64, where only rounding differs.
    d = 4
    potential = _gaussian(np.linspace(-1.0, 2.0, d), _correlated_cov(d))
    z0 = jnp.asarray(np.random.default_rng(4).normal(size=(6, d)))

    @functools.partial(jax.jit, static_argnums=0)
    def run(batched, keys, z0):
        def chain(key, z):
            def step(state, k):
                state, info = nuts_kernel(k, state, potential, 0.4, jnp.ones(d), batched=batched)
                return state, (state.z, info.num_steps)

            return jax.lax.scan(step, nuts_init(z, potential), jax.random.split(key, 40))[1]

        return jax.vmap(chain)(keys, z0)

    keys = jax.random.split(jax.random.key(9), 6)
    (z_long, n_long), (z_short, n_short) = run(True, keys, z0), run(False, keys, z0)
    np.testing.assert_array_equal(n_long, n_short)
    np.testing.assert_allclose(z_long, z_short, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kernel", [nuts_kernel, _hmc10])
def test_normal_normal_posterior(kernel):
    potential, post_mean, post_var = _normal_normal()
    z0, potential_flat, _ = flatten_potential(potential, {"theta": jnp.zeros(())})
    z0 = jnp.broadcast_to(z0, (8, 1))
    step = 0.4 * np.sqrt(post_var)
    draws, _ = _run_chains(
        kernel, potential_flat, 8, 1500, jax.random.key(7), z0, step, jnp.ones(1)
    )
    _check_moments(draws[:, 100:], np.array([post_mean]), np.array([[post_var]]))


def test_nuts_standard_normal_ks():
    potential = lambda z: 0.5 * jnp.sum(z**2)  # noqa: E731
    draws, info = _run_chains(
        nuts_kernel, potential, 4, 2500, jax.random.key(11), jnp.zeros((4, 1)), 0.9, jnp.ones(1)
    )
    thinned = np.asarray(draws)[:, 50::5, 0].ravel()
    assert scipy.stats.kstest(thinned, "norm").pvalue > 1e-3
    assert bool(jnp.all(info.tree_depth <= 10))
    assert bool(jnp.all(info.num_steps <= 2 ** (info.tree_depth + 1) - 1))


# --- divergences and limits -------------------------------------------------------------------


def test_nan_region_is_divergent_and_state_stays_finite():
    # The potential is NaN beyond z = 1.5: trajectories that reach it diverge.
    potential = lambda z: jnp.where(z[0] < 1.5, 0.5 * jnp.sum(z**2), jnp.nan)  # noqa: E731
    draws, info = _run_chains(
        nuts_kernel, potential, 2, 300, jax.random.key(3), jnp.zeros((2, 1)), 0.5, jnp.ones(1)
    )
    assert bool(jnp.any(info.diverging))
    assert bool(jnp.all(jnp.isfinite(draws))) and bool(jnp.all(draws < 1.5))
    assert bool(jnp.all(jnp.isfinite(info.potential_energy)))
    assert bool(jnp.all(jnp.isfinite(info.accept_prob)))


@pytest.mark.parametrize("kernel", [nuts_kernel, _hmc10])
def test_huge_step_size_diverges(kernel):
    potential = lambda z: 0.5 * jnp.sum(z**2)  # noqa: E731
    draws, info = _run_chains(
        kernel, potential, 2, 20, jax.random.key(0), jnp.ones((2, 3)), 1e3, jnp.ones(3)
    )
    assert bool(jnp.all(info.diverging))
    np.testing.assert_allclose(draws, 1.0)  # every proposal rejected
    if kernel is nuts_kernel:
        assert bool(jnp.all(info.num_steps == 1)) and bool(jnp.all(info.tree_depth == 0))


def test_max_tree_depth_respected():
    potential = lambda z: 0.5 * jnp.sum(z**2)  # noqa: E731
    kernel = jax.jit(lambda k, s: nuts_kernel(k, s, potential, 1e-3, jnp.ones(2), 4))
    state = nuts_init(jnp.ones(2), potential)
    for i in range(5):
        state, info = kernel(jax.random.key(i), state)
        # A tiny step never turns: every transition runs to the maximum depth.
        assert int(info.tree_depth) == 4 and int(info.num_steps) == 2**4 - 1


def test_kernel_does_not_retrace():
    traces = []

    def potential(z):
        traces.append(1)
        return 0.5 * jnp.sum(z**2)

    @jax.jit
    def step(key, z):
        state = nuts_init(z, potential)
        return nuts_kernel(key, state, potential, 0.5, jnp.ones(3))

    @jax.jit
    def hmc_step(key, z):
        state = hmc_init(z, potential)
        return hmc_kernel(key, state, potential, 0.5, jnp.ones(3), trajectory_length=2.0)

    for fn in (step, hmc_step):
        fn(jax.random.key(0), jnp.zeros(3))
        n = len(traces)
        fn(jax.random.key(1), jnp.ones(3))
        assert len(traces) == n


def test_bad_arguments_raise():
    potential = lambda z: jnp.sum(z**2)  # noqa: E731
    state = nuts_init(jnp.zeros(2), potential)
    with pytest.raises(ValueError, match="inverse_mass_matrix"):
        nuts_kernel(jax.random.key(0), state, potential, 0.1, jnp.ones(3))
    with pytest.raises(ValueError, match="max_tree_depth"):
        nuts_kernel(jax.random.key(0), state, potential, 0.1, jnp.ones(2), 0)
    with pytest.raises(ValueError, match="num_steps"):
        hmc_kernel(jax.random.key(0), hmc_init(jnp.zeros(2), potential), potential, 0.1, 1.0)


# --- adaptation -------------------------------------------------------------------------------


def test_dual_averaging_converges_to_target():
    # A synthetic acceptance curve: accept(eps) = exp(-eps); the target 0.8 is at -log 0.8.
    def step(state, _):
        accept = jnp.exp(-jnp.exp(state.log_step_size))
        return dual_averaging_update(state, accept, 0.8), None

    state = jax.lax.scan(step, dual_averaging_init(1.0), None, 2000)[0]
    np.testing.assert_allclose(np.exp(float(state.log_step_size_avg)), -np.log(0.8), rtol=0.05)


@pytest.mark.parametrize("dense", [False, True])
def test_welford_matches_numpy(dense):
    x = np.random.default_rng(1).normal(size=(50, 3)) @ np.array(
        [[1.0, 0.5, 0.0], [0.0, 2.0, 0.3], [0.0, 0.0, 0.7]]
    )
    state = welford_init(jnp.zeros(3), dense=dense)
    for row in x:
        state = welford_update(state, jnp.asarray(row))
    np.testing.assert_allclose(state.mean, x.mean(axis=0), rtol=1e-10)
    cov = np.cov(x.T) if dense else x.var(axis=0, ddof=1)
    np.testing.assert_allclose(welford_covariance(state, regularize=False), cov, rtol=1e-10)
    n = 50
    shrunk = (n / (n + 5.0)) * cov + 1e-3 * (5.0 / (n + 5.0)) * (np.eye(3) if dense else 1.0)
    np.testing.assert_allclose(welford_covariance(state), shrunk, rtol=1e-10)


def test_warmup_schedule_matches_stan():
    s = np.asarray(warmup_schedule(1000))
    assert s.shape == (1000, 2)
    assert np.all(s[:75, 0] == FAST_INITIAL) and np.all(s[950:, 0] == FAST_TERMINAL)
    assert np.all(s[75:950, 0] == SLOW)
    ends = np.flatnonzero(s[:, 1]) + 1
    np.testing.assert_array_equal(np.diff(np.concatenate([[75], ends])), [25, 50, 100, 200, 500])
    # Too short for the default buffers: 15% / one slow window / 10%, as in Stan.
    s = np.asarray(warmup_schedule(100))
    assert (s[:, 0] == FAST_INITIAL).sum() == 15 and (s[:, 0] == FAST_TERMINAL).sum() == 10
    np.testing.assert_array_equal(np.flatnonzero(s[:, 1]), [89])
    s = np.asarray(warmup_schedule(10))  # no mass-matrix adaptation at all
    assert np.all(s[:, 0] == FAST_INITIAL) and not s[:, 1].any()
    assert warmup_schedule(0).shape == (0, 2)


def test_warmup_adapts_step_size_and_mass_matrix():
    scales = np.array([0.1, 1.0, 10.0])
    potential = lambda z: 0.5 * jnp.sum((z / jnp.asarray(scales)) ** 2)  # noqa: E731
    num_warmup = 600
    schedule = warmup_schedule(num_warmup)

    @jax.jit
    def warmup(key, z):
        adapt = adapt_init(z, 1.0, potential_fn_flat=potential, key=key)
        state = nuts_init(z, potential)

        def body(carry, xs):
            state, adapt = carry
            t, k = xs
            state, info = nuts_kernel(
                k, state, potential, adapt.step_size, adapt.inverse_mass_matrix
            )
            adapt = adapt_update(t, adapt, state.z, info.accept_prob, schedule)
            return (state, adapt), None

        keys = jax.random.split(key, num_warmup)
        (state, adapt), _ = jax.lax.scan(body, (state, adapt), (jnp.arange(num_warmup), keys))
        adapt = adapt_final(adapt)

        def sample(state, k):
            state, info = nuts_kernel(
                k, state, potential, adapt.step_size, adapt.inverse_mass_matrix
            )
            return state, info.accept_prob

        _, accept = jax.lax.scan(sample, state, jax.random.split(key, 500))
        return adapt, accept

    adapt, accept = warmup(jax.random.key(0), jnp.ones(3))
    # The inverse mass matrix estimates the posterior variances (within sampling error).
    np.testing.assert_allclose(adapt.inverse_mass_matrix, scales**2, rtol=0.35)
    # The averaged step size of dual averaging is a little conservative: as with Stan and
    # NumPyro (0.87-0.93 on this model), the acceptance lands somewhat above the target.
    assert 0.75 < float(accept.mean()) < 0.95


def _reference_step_size(key, potential, z, imm, eps, max_iterations=100):
    """Algorithm 4 of Hoffman & Gelman (2014) as written, one eager step at a time."""
    vg = jax.value_and_grad(potential)
    p = sample_momentum(key, imm, z)
    pe, grad = vg(z)
    start = IntegratorState(z, p, velocity(imm, p), pe, grad)
    energy = float(pe + kinetic_energy(imm, p))

    def log_ratio(e):
        new = leapfrog(vg, start, e, imm)
        delta = energy - float(new.potential_energy + kinetic_energy(imm, new.p))
        return -np.inf if np.isnan(delta) else delta

    eps = float(eps)
    direction = 1.0 if log_ratio(eps) > np.log(0.5) else -1.0
    for _ in range(max_iterations):
        if not direction * log_ratio(eps) > -direction * np.log(2.0):
            break
        eps *= 2.0**direction
    return eps


_PREC = jnp.asarray([[2.0, 0.6, -0.3], [0.6, 1.0, 0.2], [-0.3, 0.2, 0.5]], jnp.float32)


def _bumpy_potential(z):
    return 0.5 * z @ _PREC @ z + jnp.sum(jnp.cosh(0.3 * z))


# Position, metric, step size and key are traced: each metric shape compiles once.
_search = jax.jit(functools.partial(find_reasonable_step_size, potential_fn_flat=_bumpy_potential))


@pytest.mark.parametrize("seed", range(4))
def test_find_reasonable_step_size_follows_algorithm_4(seed):
    # The compiled search (one while loop, one gradient call site) against the algorithm
    # run eagerly, on a correlated non-Gaussian target with a diagonal and a dense metric.
    rng = np.random.default_rng(seed)
    z = jnp.asarray(rng.standard_normal(3), jnp.float32)
    key = jax.random.key(seed)
    diagonal = jnp.asarray(rng.uniform(0.5, 2.0, 3), jnp.float32)
    for imm in (diagonal, jnp.linalg.inv(_PREC)):
        for eps0 in (1e-3, 0.7, 40.0):
            got = float(_search(key, position_flat=z, inverse_mass_matrix=imm, step_size=eps0))
            want = _reference_step_size(key, _bumpy_potential, z, imm, eps0)
            assert got == pytest.approx(want, rel=1e-6), (imm.ndim, eps0)


def test_find_reasonable_step_size_scales_with_posterior():
    for scale in (0.01, 1.0, 100.0):
        potential = lambda z, s=scale: 0.5 * jnp.sum((z / s) ** 2)  # noqa: E731
        eps = find_reasonable_step_size(jax.random.key(0), potential, jnp.zeros(4), jnp.ones(4))
        assert 0.05 * scale < float(eps) < 20.0 * scale
    # Started where the potential is NaN, the step shrinks to a tiny value instead of failing.
    bad = lambda z: jnp.where(jnp.abs(z[0]) < 1e-3, 0.5 * jnp.sum(z**2), jnp.nan)  # noqa: E731
    eps = find_reasonable_step_size(jax.random.key(0), bad, jnp.zeros(2), jnp.ones(2), 1.0)
    assert 0.0 < float(eps) < 1e-2
