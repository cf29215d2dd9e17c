"""Warm-up adaptation against a reference written from Stan's rules, one iteration at a time.

The reference is plain Python and NumPy in float64, eager, with nothing shared with
``inference._adaptation``: Stan's windows (75 / 25, 50, ... / 50), dual averaging with
``gamma = 0.05``, ``t0 = 10``, ``kappa = 0.75``, restarted at every slow window's end from the
last iterate with ``mu = log(10 * step_size)``, the (co)variance of that window's draws only,
shrunk as ``(n / (n + 5)) cov + 1e-3 (5 / (n + 5)) I``, and the averaged step size after the
last warm-up iteration. This is also NumPyro's ``warmup_adapter`` with its default
``find_heuristic_step_size=False`` (the two agreed to rounding on the horseshoe benchmark's
investigation, see ``benchmarks/README.md``). Effax's ``adapt_update`` is fed the same
positions and acceptance statistics and must follow it at every iteration.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from inference._adaptation import adapt_init, adapt_update, warmup_schedule


def _windows(num_warmup, init_buffer=75, term_buffer=50, base_window=25):
    """The first slow iteration and the last iteration of each slow window (0-based), by
    Stan's ``compute_next_window``."""
    if num_warmup < 20:
        return num_warmup, []
    if init_buffer + base_window + term_buffer > num_warmup:
        init_buffer = int(0.15 * num_warmup)
        term_buffer = int(0.1 * num_warmup)
        base_window = num_warmup - (init_buffer + term_buffer)
    last = num_warmup - term_buffer - 1  # the last slow iteration
    end, size, ends = init_buffer + base_window - 1, base_window, []
    while True:
        ends.append(end)
        if end == last:
            return init_buffer, ends
        size *= 2
        end += size
        # A window that would leave less than a whole next one is stretched to the buffer.
        if end != last and end + 2 * size >= last + 1:
            end = last


def _reference_warmup(zs, accepts, step_size, target, dense):
    """Step size and inverse mass matrix in force after each iteration."""
    num_warmup, d = zs.shape
    slow_start, ends = _windows(num_warmup)
    slow_end = ends[-1] if ends else -1
    imm = np.eye(d) if dense else np.ones(d)
    mu, x, x_avg, h_avg, t = math.log(10 * step_size), math.log(step_size), 0.0, 0.0, 0
    window = []
    out = []
    for i in range(num_warmup):
        t += 1
        eta = 1.0 / (t + 10.0)
        h_avg = (1.0 - eta) * h_avg + eta * (target - min(accepts[i], 1.0))
        x = mu - math.sqrt(t) / 0.05 * h_avg
        w = t**-0.75
        x_avg = w * x + (1.0 - w) * x_avg
        eps = math.exp(x)
        if slow_start <= i <= slow_end:
            window.append(zs[i])
        if i in ends:
            n = len(window)
            a = np.asarray(window)
            cov = np.cov(a.T, ddof=1) if dense else a.var(axis=0, ddof=1)
            imm = (n / (n + 5.0)) * cov + 1e-3 * (5.0 / (n + 5.0)) * (np.eye(d) if dense else 1.0)
            window = []
            mu, x, x_avg, h_avg, t = math.log(10 * eps), math.log(eps), 0.0, 0.0, 0
        if i == num_warmup - 1:
            eps = math.exp(x_avg)
        out.append((eps, imm))
    return out


@pytest.mark.parametrize(
    ("num_warmup", "dense"), [(1000, False), (1000, True), (160, False), (120, False)]
)
def test_adapt_update_follows_stan_reference(num_warmup, dense):
    d = 3
    rng = np.random.default_rng(7)
    zs = rng.normal(size=(num_warmup, d)) * np.array([0.05, 1.0, 8.0]) + np.array([1.0, 0.0, -2])
    accepts = rng.uniform(0.55, 1.0, num_warmup)
    schedule = warmup_schedule(num_warmup)
    imm0 = jnp.eye(d) if dense else jnp.ones(d)

    @jax.jit
    def effax(zs, accepts):
        def body(state, xs):
            t, z, a = xs
            state = adapt_update(t, state, z, a, schedule)
            return state, (state.step_size, state.inverse_mass_matrix)

        init = adapt_init(jnp.zeros(d), 1.0, imm0, 0.8, dense)
        return jax.lax.scan(body, init, (jnp.arange(num_warmup), zs, accepts))[1]

    step_sizes, imms = effax(jnp.asarray(zs), jnp.asarray(accepts))
    reference = _reference_warmup(zs, accepts, 1.0, 0.8, dense)
    np.testing.assert_allclose(np.asarray(step_sizes), [r[0] for r in reference], rtol=1e-10)
    np.testing.assert_allclose(np.asarray(imms), np.stack([r[1] for r in reference]), rtol=1e-10)
    # The windows are Stan's: the matrix changes exactly at their ends.
    changed = np.flatnonzero(np.any(np.diff(np.asarray(imms).reshape(num_warmup, -1), axis=0), 1))
    np.testing.assert_array_equal(changed + 1, _windows(num_warmup)[1])
