"""Nesterov dual averaging of the log step size (Hoffman & Gelman 2014, Algorithm 5).

The iterate ``x_t = log(step_size)`` is driven so that the running mean of
``target - accept_prob`` goes to zero; ``x_bar_t``, a polynomially weighted average of the
iterates, is the step size to keep after warm-up. Stan uses the same update with
``gamma = 0.05``, ``t0 = 10``, ``kappa = 0.75`` and ``mu = log(10 * step_size_0)``.
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Int


class DualAveragingState(eqx.Module):
    """State of the dual averaging.

    Attributes:
        log_step_size: the current iterate ``x_t`` (use ``exp`` of it during warm-up).
        log_step_size_avg: the weighted average ``x_bar_t`` (use ``exp`` of it afterwards).
        grad_avg: the running mean ``H_bar_t`` of ``target - accept_prob``.
        count: the number of updates ``t`` since the last restart.
        mu: the point the iterates shrink towards, usually ``log(10 * step_size_0)``.
    """

    log_step_size: Float[Array, ""]
    log_step_size_avg: Float[Array, ""]
    grad_avg: Float[Array, ""]
    count: Int[Array, ""]
    mu: Float[Array, ""]


def dual_averaging_init(step_size: ArrayLike, mu: ArrayLike | None = None) -> DualAveragingState:
    """Start (or restart) dual averaging from ``step_size``.

    Args:
        step_size: the initial step size, a positive scalar.
        mu: the shrinkage target of ``log(step_size)``; defaults to ``log(10 * step_size)``.

    Example:
        >>> s = dual_averaging_init(0.1)
        >>> round(float(s.mu), 4)
        0.0
    """
    eps = jnp.asarray(step_size)
    if not jnp.issubdtype(eps.dtype, jnp.floating):
        eps = eps.astype(jnp.result_type(float))
    log_eps = jnp.log(eps)
    mu = jnp.log(10.0) + log_eps if mu is None else jnp.asarray(mu, log_eps.dtype)
    zero = jnp.zeros((), log_eps.dtype)
    return DualAveragingState(log_eps, zero, zero, jnp.zeros((), jnp.int32), mu)


def dual_averaging_update(
    state: DualAveragingState,
    accept_prob: ArrayLike,
    target_accept_prob: ArrayLike = 0.8,
    gamma: float = 0.05,
    t0: float = 10.0,
    kappa: float = 0.75,
) -> DualAveragingState:
    """One step of dual averaging with the acceptance statistic of the last transition.

    A NaN statistic counts as 0 (a rejected move), so that the step size shrinks.

    Example:
        >>> s = dual_averaging_init(1.0)
        >>> low = dual_averaging_update(s, 0.2, 0.8)  # accepted too little: a smaller step
        >>> high = dual_averaging_update(s, 1.0, 0.8)
        >>> bool(low.log_step_size < high.log_step_size)
        True
    """
    dtype = state.log_step_size.dtype
    accept = jnp.asarray(accept_prob, dtype)
    accept = jnp.where(jnp.isnan(accept), 0.0, jnp.minimum(accept, 1.0))
    t = state.count + 1
    t_f = t.astype(dtype)
    eta = 1.0 / (t_f + t0)
    grad_avg = (1.0 - eta) * state.grad_avg + eta * (
        jnp.asarray(target_accept_prob, dtype) - accept
    )
    x = state.mu - jnp.sqrt(t_f) / gamma * grad_avg
    weight = t_f ** (-kappa)
    x_avg = weight * x + (1.0 - weight) * state.log_step_size_avg
    return DualAveragingState(x, x_avg, grad_avg, t, state.mu)
