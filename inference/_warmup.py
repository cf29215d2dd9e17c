"""Warm-up adaptation following Stan's schedule.

The warm-up is split into an initial fast window (step size only), a series of slow
windows whose sizes double (step size and mass matrix), and a terminal fast window (step
size only). At the end of each slow window the inverse mass matrix is set from a Welford
estimate of the draws' covariance (regularised towards the identity, as Stan does), the
estimator is reset, and step-size dual averaging restarts. After warm-up the step size is
the dual-averaging average.

The schedule is computed once in Python as boolean arrays indexed by iteration, so the
compiled loop only indexes them.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike

# Dual-averaging constants (Hoffman & Gelman 2014; Stan's defaults).
_GAMMA = 0.05
_T0 = 10.0
_KAPPA = 0.75


class DualAveragingState(eqx.Module):
    """Nesterov dual averaging of ``log(step_size)``."""

    log_step: Array  # current iterate x_t
    log_step_avg: Array  # averaged iterate
    h_bar: Array  # running mean of (target - accept)
    mu: Array  # shrinkage point, log(10 * initial step size)
    t: Array  # iteration count since the last restart


def dual_averaging_init(step_size: ArrayLike) -> DualAveragingState:
    log_step = jnp.log(jnp.asarray(step_size))
    z = jnp.zeros_like(log_step)
    return DualAveragingState(log_step, z, z, jnp.log(10.0) + log_step, jnp.zeros((), jnp.int32))


def dual_averaging_update(
    state: DualAveragingState, accept_prob: ArrayLike, target: ArrayLike
) -> DualAveragingState:
    t = state.t + 1
    tf = t.astype(state.h_bar.dtype)
    # A NaN acceptance (e.g. from a divergent first step) counts as zero acceptance.
    accept = jnp.where(jnp.isfinite(accept_prob), accept_prob, 0.0)
    w = 1.0 / (tf + _T0)
    h_bar = (1.0 - w) * state.h_bar + w * (target - accept)
    log_step = state.mu - jnp.sqrt(tf) / _GAMMA * h_bar
    eta = tf ** (-_KAPPA)
    log_step_avg = eta * log_step + (1.0 - eta) * state.log_step_avg
    return DualAveragingState(log_step, log_step_avg, h_bar, state.mu, t)


class WelfordState(eqx.Module):
    """Running mean and (co)variance of the position, diagonal or dense."""

    mean: Array
    m2: Array
    n: Array


def welford_init(d: int, dense: bool, dtype) -> WelfordState:
    m2 = jnp.zeros((d, d) if dense else (d,), dtype)
    return WelfordState(jnp.zeros(d, dtype), m2, jnp.zeros((), dtype))


def welford_update(state: WelfordState, x: Array) -> WelfordState:
    n = state.n + 1
    delta = x - state.mean
    mean = state.mean + delta / n
    delta2 = x - mean
    if state.m2.ndim == 2:
        m2 = state.m2 + jnp.outer(delta, delta2)
    else:
        m2 = state.m2 + delta * delta2
    return WelfordState(mean, m2, n)


def welford_covariance(state: WelfordState, regularize: bool = True) -> Array:
    """Sample (co)variance; with ``regularize``, shrunk towards 1e-3·I as Stan does."""
    n = state.n
    cov = state.m2 / jnp.maximum(n - 1.0, 1.0)
    if regularize:
        shrink = n / (n + 5.0)
        jitter = 1e-3 * 5.0 / (n + 5.0)
        if cov.ndim == 2:
            cov = shrink * cov + jitter * jnp.eye(cov.shape[0], dtype=cov.dtype)
        else:
            cov = shrink * cov + jitter
    return cov


class WarmupSchedule(eqx.Module):
    """Per-iteration flags: accumulate the mass-matrix estimate; end of a slow window."""

    in_slow: Array
    window_end: Array


def warmup_schedule(
    num_warmup: int, init_buffer: int = 75, term_buffer: int = 50, base_window: int = 25
) -> WarmupSchedule:
    """Stan's windows: fast ``init_buffer``, doubling slow windows, fast ``term_buffer``.

    For short warm-ups (fewer than ``init + term + base`` iterations) the buffers shrink
    to 15% and 10% of the warm-up, as Stan does.

    Example:
        >>> s = warmup_schedule(1000)
        >>> [int(i) + 1 for i in np.flatnonzero(np.asarray(s.window_end))]
        [100, 150, 250, 450, 950]
    """
    n = max(int(num_warmup), 1)
    in_slow = np.zeros(n, bool)
    window_end = np.zeros(n, bool)
    if num_warmup >= 20:
        if init_buffer + base_window + term_buffer > num_warmup:
            init_buffer = int(0.15 * num_warmup)
            term_buffer = int(0.1 * num_warmup)
            base_window = num_warmup - (init_buffer + term_buffer)
        start = init_buffer
        size = base_window
        last = num_warmup - term_buffer
        while start < last:
            end = start + size
            # Stretch this window to the terminal buffer if the next one would not fit.
            if end + 2 * size > last:
                end = last
            in_slow[start:end] = True
            window_end[end - 1] = True
            start = end
            size *= 2
    return WarmupSchedule(jnp.asarray(in_slow), jnp.asarray(window_end))


class AdaptState(eqx.Module):
    """Adaptation state: the current step size and inverse mass matrix, and the estimators."""

    step_size: Array
    inverse_mass_matrix: Array
    da: DualAveragingState
    welford: WelfordState
    target_accept_prob: Array


def find_reasonable_step_size(
    key: Array,
    z: Array,
    potential_fn_flat: Callable[[Array], Array],
    step_size: ArrayLike,
    inverse_mass_matrix: Array,
    max_iters: int = 100,
) -> Array:
    """Hoffman & Gelman's heuristic: double or halve the step size until the one-step
    acceptance probability crosses 1/2."""
    vg = jax.value_and_grad(potential_fn_flat)
    u0, g0 = vg(z)
    imm = inverse_mass_matrix
    if imm.ndim == 1:
        p = jax.random.normal(key, z.shape, z.dtype) / jnp.sqrt(imm)
        kin = lambda q: 0.5 * jnp.sum(q * q * imm)
        vel = lambda q: imm * q
    else:
        chol = jnp.linalg.cholesky(jnp.linalg.inv(imm))
        p = chol @ jax.random.normal(key, z.shape, z.dtype)
        kin = lambda q: 0.5 * q @ (imm @ q)
        vel = lambda q: imm @ q
    h0 = u0 + kin(p)

    def log_accept(eps):
        p_half = p - 0.5 * eps * g0
        z1 = z + eps * vel(p_half)
        u1, g1 = vg(z1)
        p1 = p_half - 0.5 * eps * g1
        d = h0 - (u1 + kin(p1))
        return jnp.where(jnp.isfinite(d), d, -jnp.inf)

    eps0 = jnp.asarray(step_size, z.dtype)
    direction = jnp.where(log_accept(eps0) > math.log(0.5), 1.0, -1.0).astype(z.dtype)

    def cond(c):
        eps, i, done = c
        return (~done) & (i < max_iters)

    def body(c):
        eps, i, _ = c
        new = eps * (2.0**direction)
        la = log_accept(new)
        crossed = jnp.where(direction > 0, la < math.log(0.5), la > math.log(0.5))
        return jnp.where(crossed & (direction > 0), eps, new), i + 1, crossed

    eps, _, _ = jax.lax.while_loop(cond, body, (eps0, 0, jnp.asarray(False)))
    return eps


def adapt_init(
    z_flat: Array,
    step_size: ArrayLike,
    inverse_mass_matrix: Array,
    *,
    target_accept_prob: float,
    dense_mass: bool,
    potential_fn_flat: Callable | None = None,
    key: Array | None = None,
) -> AdaptState:
    """Start adaptation at ``step_size`` (optionally improved by the heuristic)."""
    dtype = z_flat.dtype
    step = jnp.asarray(step_size, dtype)
    if potential_fn_flat is not None:
        step = find_reasonable_step_size(key, z_flat, potential_fn_flat, step, inverse_mass_matrix)
    d = z_flat.shape[0]
    return AdaptState(
        step,
        jnp.asarray(inverse_mass_matrix, dtype),
        dual_averaging_init(step),
        welford_init(d, dense_mass, dtype),
        jnp.asarray(target_accept_prob, dtype),
    )


def adapt_update(
    state: AdaptState,
    t: Array,
    z_flat: Array,
    accept_prob: Array,
    schedule: WarmupSchedule,
    *,
    adapt_step_size: bool = True,
    adapt_mass_matrix: bool = True,
    regularize: bool = True,
) -> AdaptState:
    """One warm-up iteration ``t`` (0-based) after a transition that ended at ``z_flat``."""
    n = schedule.in_slow.shape[0]
    ti = jnp.clip(t, 0, n - 1)
    in_slow = schedule.in_slow[ti]
    window_end = schedule.window_end[ti]
    dtype = state.step_size.dtype

    da = state.da
    step = state.step_size
    if adapt_step_size:
        da = dual_averaging_update(da, jnp.asarray(accept_prob, dtype), state.target_accept_prob)
        step = jnp.exp(da.log_step)

    welford = state.welford
    imm = state.inverse_mass_matrix
    if adapt_mass_matrix:
        updated = welford_update(welford, z_flat)
        welford = jax.tree.map(lambda a, b: jnp.where(in_slow, a, b), updated, welford)
        new_imm = welford_covariance(welford, regularize)
        imm = jnp.where(window_end, new_imm, imm)
        fresh = welford_init(z_flat.shape[0], imm.ndim == 2, dtype)
        welford = jax.tree.map(lambda a, b: jnp.where(window_end, a, b), fresh, welford)
        if adapt_step_size:
            # Restart dual averaging around the current step size for the new metric.
            restart = dual_averaging_init(step)
            da = jax.tree.map(lambda a, b: jnp.where(window_end, a, b), restart, da)
    return AdaptState(step, imm, da, welford, state.target_accept_prob)


def adapt_final(state: AdaptState) -> AdaptState:
    """End of warm-up: use the averaged step size from dual averaging."""
    avg = jnp.exp(state.da.log_step_avg)
    step = jnp.where(state.da.t > 0, avg, state.step_size)
    return eqx.tree_at(lambda s: s.step_size, state, step)
