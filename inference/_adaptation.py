"""Stan's windowed warm-up: step-size dual averaging and mass-matrix estimation.

Warm-up is split into an initial fast window (step size only, 75 iterations by default),
slow windows of 25, 50, 100, ... iterations in which draws also feed a Welford estimate of the
posterior (co)variance, and a terminal fast window (50 iterations). The last slow window is
stretched to end where the terminal window begins. With fewer than 150 warm-up iterations the
windows shrink as in Stan (15% initial, 10% terminal, the rest one slow window); below 20 there
is no mass-matrix adaptation at all.

At the end of each slow window the inverse mass matrix becomes the regularised estimate
``(n / (n + 5)) * cov + 1e-3 * (5 / (n + 5)) * I``, the estimator restarts, and dual averaging
restarts with ``mu = log(10 * step_size)`` (after re-running the step-size heuristic when the
potential is given). The step size during warm-up is the dual-averaging iterate; at the end of
warm-up it becomes the average iterate.

The driver runs, inside its compiled warm-up loop::

    schedule = warmup_schedule(num_warmup)                   # static, once
    state = adapt_init(z, step_size, imm, target_accept_prob, dense_mass)
    for t in range(num_warmup):                              # lax.scan / fori_loop
        kstate, info = nuts_kernel(key_t, kstate, potential, state.step_size,
                                   state.inverse_mass_matrix)
        state = adapt_update(t, state, kstate.z, info.accept_prob, schedule)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, ArrayLike, Float, Int, PRNGKeyArray

from ._dual_averaging import DualAveragingState, dual_averaging_init, dual_averaging_update
from ._integrator import _check_inverse_mass_matrix
from ._protocol import Adaptation, flatten_position
from ._step_size import find_reasonable_step_size
from ._welford import WelfordState, welford_covariance, welford_init, welford_update

FAST_INITIAL = 0
"""Window kind: initial fast window (step size only)."""
SLOW = 1
"""Window kind: slow window (step size and mass matrix)."""
FAST_TERMINAL = 2
"""Window kind: terminal fast window (step size only)."""


class AdaptState(eqx.Module):
    """Warm-up adaptation state. Every field is an array, so the driver can ``jnp.where`` it.

    Attributes:
        step_size: the step size to use for the next transition.
        inverse_mass_matrix: ``(d,)`` (diagonal) or ``(d, d)`` (dense).
        dual_averaging: state of the step-size dual averaging.
        welford: running estimate of the (co)variance in the current slow window.
        target_accept_prob: the acceptance statistic that dual averaging aims for.
    """

    step_size: Float[Array, ""]
    inverse_mass_matrix: Array
    dual_averaging: DualAveragingState
    welford: WelfordState
    target_accept_prob: Float[Array, ""]


def warmup_schedule(
    num_warmup: int, init_buffer: int = 75, term_buffer: int = 50, base_window: int = 25
) -> Int[Array, "num_warmup 2"]:
    """Stan's warm-up windows, one row per warm-up iteration.

    Args:
        num_warmup: number of warm-up iterations (a Python int).
        init_buffer, term_buffer, base_window: Stan's window sizes.

    Returns:
        An int32 array of shape ``(num_warmup, 2)``: column 0 is the window kind
        (:data:`FAST_INITIAL`, :data:`SLOW` or :data:`FAST_TERMINAL`), column 1 is 1 at the
        last iteration of each slow window, where the mass matrix is updated.

    Example:
        >>> s = warmup_schedule(1000)
        >>> [int(t) + 1 for t in s[:, 1].nonzero()[0]]  # ends of the slow windows
        [100, 150, 250, 450, 950]
    """
    return jnp.asarray(warmup_schedule_np(num_warmup, init_buffer, term_buffer, base_window))


def warmup_schedule_np(
    num_warmup: int, init_buffer: int = 75, term_buffer: int = 50, base_window: int = 25
) -> np.ndarray:
    """:func:`warmup_schedule` as a NumPy array (the driver passes it straight into its
    compiled loop, with no device transfer program of its own)."""
    if not isinstance(num_warmup, int) or num_warmup < 0:
        raise ValueError(f"num_warmup must be a Python int >= 0, got {num_warmup!r}.")
    kind = np.zeros(num_warmup, np.int32)
    end = np.zeros(num_warmup, np.int32)
    if num_warmup < 20:
        return np.stack([kind, end], axis=1).reshape(num_warmup, 2)
    if init_buffer + base_window + term_buffer > num_warmup:
        init_buffer = int(0.15 * num_warmup)
        term_buffer = int(0.1 * num_warmup)
        base_window = num_warmup - (init_buffer + term_buffer)
    slow_end = num_warmup - term_buffer  # first iteration of the terminal window
    kind[init_buffer:slow_end] = SLOW
    kind[slow_end:] = FAST_TERMINAL
    size = base_window
    next_end = init_buffer + size - 1
    while next_end < slow_end:
        end[next_end] = 1
        if next_end == slow_end - 1:
            break
        size *= 2
        next_end = next_end + size
        if next_end != slow_end - 1 and next_end + 2 * size >= slow_end:
            next_end = slow_end - 1
    return np.stack([kind, end], axis=1)


def adapt_init(
    position_flat: Float[ArrayLike, " d"],
    step_size: ArrayLike = 1.0,
    inverse_mass_matrix: ArrayLike | None = None,
    target_accept_prob: ArrayLike = 0.8,
    dense_mass: bool = False,
    *,
    potential_fn_flat: Callable[[Array], ArrayLike] | None = None,
    key: PRNGKeyArray | None = None,
) -> AdaptState:
    """Initial adaptation state.

    Args:
        position_flat: the initial flat position, shape ``(d,)`` (sets shapes and dtype).
        step_size: initial step size.
        inverse_mass_matrix: initial inverse mass matrix, ``(d,)`` or ``(d, d)``; ``None``
            gives the identity (dense when ``dense_mass``).
        target_accept_prob: the acceptance statistic to aim for (Stan's ``delta``).
        dense_mass: estimate a dense mass matrix (static).
        potential_fn_flat, key: when both are given, the initial step size is refined with
            :func:`inference._step_size.find_reasonable_step_size`.

    Example:
        >>> import jax.numpy as jnp
        >>> s = adapt_init(jnp.zeros(3), 0.5, dense_mass=True)
        >>> s.inverse_mass_matrix.shape, float(s.step_size)
        ((3, 3), 0.5)
    """
    z = jnp.asarray(position_flat)
    if not jnp.issubdtype(z.dtype, jnp.floating):
        z = z.astype(jnp.result_type(float))
    d = z.shape[0]
    dtype = z.dtype
    if inverse_mass_matrix is None:
        imm = jnp.eye(d, dtype=dtype) if dense_mass else jnp.ones((d,), dtype)
    else:
        imm = jnp.asarray(inverse_mass_matrix, dtype)
        _check_inverse_mass_matrix(imm, d)
        if (imm.ndim == 2) != bool(dense_mass):
            raise ValueError(
                f"dense_mass={dense_mass} but inverse_mass_matrix has shape {imm.shape}; pass "
                "a (d,) vector with dense_mass=False or a (d, d) matrix with dense_mass=True."
            )
    eps = jnp.asarray(step_size, dtype)
    if potential_fn_flat is not None and key is not None:
        eps = find_reasonable_step_size(key, potential_fn_flat, z, imm, eps)
    return AdaptState(
        step_size=eps,
        inverse_mass_matrix=imm,
        dual_averaging=dual_averaging_init(eps),
        welford=welford_init(z, dense=imm.ndim == 2),
        target_accept_prob=jnp.asarray(target_accept_prob, dtype),
    )


def adapt_update(
    t: Int[ArrayLike, ""],
    adapt_state: AdaptState,
    position_flat: Float[ArrayLike, " d"],
    accept_prob: Float[ArrayLike, ""],
    schedule: Int[ArrayLike, "num_warmup 2"],
    *,
    adapt_step_size: bool = True,
    adapt_mass_matrix: bool = True,
    regularize: bool = True,
    potential_fn_flat: Callable[[Array], ArrayLike] | None = None,
    key: PRNGKeyArray | None = None,
) -> AdaptState:
    """Adapt after warm-up iteration ``t`` (0-based), given the new position and statistic.

    Args:
        t: the warm-up iteration just done (may be traced), in ``[0, num_warmup)``.
        adapt_state: the current :class:`AdaptState`.
        position_flat: the position after the transition, shape ``(d,)``.
        accept_prob: the transition's acceptance statistic (``NUTSInfo.accept_prob``).
        schedule: :func:`warmup_schedule` of the warm-up length.
        adapt_step_size, adapt_mass_matrix, regularize: static switches (regularize: Stan's
            shrinkage of the (co)variance estimate towards ``1e-3 * I``).
        potential_fn_flat, key: when both are given, the step-size heuristic is re-run at the
            end of each slow window before dual averaging restarts, as Stan does.

    Returns:
        The new state. Its ``step_size`` is for the next transition; after the last warm-up
        iteration it is the dual-averaging average (see also :func:`adapt_final`).

    Example:
        >>> import jax.numpy as jnp
        >>> sched = warmup_schedule(100)
        >>> s = adapt_init(jnp.zeros(2), 1.0)
        >>> low = adapt_update(0, s, jnp.zeros(2), 0.1, sched)
        >>> high = adapt_update(0, s, jnp.zeros(2), 1.0, sched)
        >>> bool(low.step_size < high.step_size)
        True
    """
    schedule = jnp.asarray(schedule)
    num_warmup = schedule.shape[0]
    if num_warmup == 0:
        return adapt_state
    t = jnp.asarray(t)
    row = schedule[jnp.clip(t, 0, num_warmup - 1)]
    slow = row[0] == SLOW
    window_end = row[1] == 1
    s = adapt_state
    dtype = s.step_size.dtype
    da = s.dual_averaging
    step_size = s.step_size
    if adapt_step_size:
        da = dual_averaging_update(da, accept_prob, s.target_accept_prob)
        step_size = jnp.exp(da.log_step_size).astype(dtype)
    welford = s.welford
    imm = s.inverse_mass_matrix
    if adapt_mass_matrix:
        updated = welford_update(welford, position_flat)
        welford = jax.tree.map(lambda a, b: jnp.where(slow, a, b), updated, welford)
        # A window with fewer than two draws (possible for odd warm-up lengths) keeps the
        # previous matrix rather than a degenerate estimate.
        estimate = welford_covariance(welford, regularize).astype(dtype)
        imm = jnp.where(window_end & (welford.count >= 2), estimate, imm)
        empty = welford_init(s.welford.mean, dense=imm.ndim == 2)
        welford = jax.tree.map(lambda a, b: jnp.where(window_end, a, b), empty, welford)
        if adapt_step_size:
            if potential_fn_flat is not None and key is not None:
                step_size = lax.cond(
                    window_end,
                    lambda: find_reasonable_step_size(
                        key, potential_fn_flat, position_flat, imm, step_size
                    ).astype(dtype),
                    lambda: step_size,
                )
            restarted = dual_averaging_init(step_size)
            da = jax.tree.map(lambda a, b: jnp.where(window_end, a, b), restarted, da)
    if adapt_step_size:
        final = jnp.exp(da.log_step_size_avg).astype(dtype)
        step_size = jnp.where(t >= num_warmup - 1, final, step_size)
    return AdaptState(step_size, imm, da, welford, s.target_accept_prob)


def adapt_final(adapt_state: AdaptState) -> AdaptState:
    """The state for sampling: step size set to the dual-averaging average.

    Idempotent with the last :func:`adapt_update` (which does the same). A state that has not
    been updated since dual averaging (re)started keeps its step size.
    """
    da = adapt_state.dual_averaging
    avg = jnp.exp(da.log_step_size_avg).astype(adapt_state.step_size.dtype)
    step_size = jnp.where(da.count > 0, avg, adapt_state.step_size)
    return eqx.tree_at(lambda s: s.step_size, adapt_state, step_size)


class HMCParams(eqx.Module):
    """The tuning parameters of the gradient-based kernels (HMC, NUTS, and a user's own).

    Attributes:
        step_size: the integrator's step size, a scalar.
        inverse_mass_matrix: ``(d,)`` (diagonal) or ``(d, d)`` (dense).
    """

    step_size: Float[Array, ""]
    inverse_mass_matrix: Array


def _accept_prob(info: Any) -> Array:
    value = info["accept_prob"] if isinstance(info, dict) else getattr(info, "accept_prob", None)
    if value is None:
        raise ValueError(
            f"WindowAdaptation needs the kernel's info to have `accept_prob` (the statistic "
            f"that step-size adaptation targets); found {type(info).__name__} without it."
        )
    return value


class WindowAdaptation(Adaptation):
    """Stan's windowed warm-up as an init/step pair: step size by dual averaging, a
    diagonal or dense mass matrix from the draws of the slow windows (see this module).

    Its parameters are :class:`HMCParams`; it reads ``info.accept_prob`` from the kernel.

    Args:
        num_warmup: the warm-up length (fixes the windows).
        step_size: the initial step size.
        target_accept_prob: what dual averaging aims the acceptance statistic at.
        dense_mass: estimate a dense ``(d, d)`` inverse mass matrix.
        adapt_step_size, adapt_mass_matrix, regularize: Stan's switches.
        find_heuristic_step_size: re-run the step-size heuristic at the start and at each
            window end.
        inverse_mass_matrix: the initial inverse mass matrix (a ``Const``), else identity.
        mass_mask: a ``Const`` 0/1 ``(d, d)`` pattern that the estimate is kept to (dense
            blocks).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from inference import NUTS
        >>> f = lambda z: 0.5 * jnp.sum(z**2)
        >>> kernel, adaptation = NUTS(potential_fn=f), WindowAdaptation(100)
        >>> state = kernel.init(jax.random.key(1), jnp.ones(2), f)
        >>> a = adaptation.init(jax.random.key(0), jnp.ones(2), state, f)
        >>> def step(i, carry):  # one compiled loop, as a driver runs it
        ...     state, a = carry
        ...     key = jax.random.fold_in(jax.random.key(2), i)
        ...     state, info = kernel.step(key, state, f, adaptation.params(a))
        ...     return state, adaptation.step(jax.random.key(0), a, i, state, info, f)
        >>> state, a = jax.lax.fori_loop(0, 100, step, (state, a))
        >>> bool(0.1 < adaptation.params(adaptation.final(a)).step_size < 3.0)
        True
    """

    num_warmup: int = eqx.field(static=True)
    step_size: float = eqx.field(static=True, default=1.0, kw_only=True)
    target_accept_prob: float = eqx.field(static=True, default=0.8, kw_only=True)
    dense_mass: bool = eqx.field(static=True, default=False, kw_only=True)
    adapt_step_size: bool = eqx.field(static=True, default=True, kw_only=True)
    adapt_mass_matrix: bool = eqx.field(static=True, default=True, kw_only=True)
    regularize: bool = eqx.field(static=True, default=True, kw_only=True)
    find_heuristic_step_size: bool = eqx.field(static=True, default=False, kw_only=True)
    inverse_mass_matrix: Any = eqx.field(static=True, default=None, kw_only=True)
    mass_mask: Any = eqx.field(static=True, default=None, kw_only=True)

    def __check_init__(self) -> None:
        if isinstance(self.num_warmup, bool) or not isinstance(self.num_warmup, int):
            raise ValueError(f"num_warmup must be a Python int >= 0, got {self.num_warmup!r}.")
        if self.num_warmup < 0:
            raise ValueError(f"num_warmup must be a Python int >= 0, got {self.num_warmup!r}.")

    def init(
        self, key: PRNGKeyArray, position: Any, state: Any, potential_fn: Callable
    ) -> AdaptState:
        z, potential_flat, _ = flatten_position(position, potential_fn)
        imm = self.inverse_mass_matrix
        imm = None if imm is None else jnp.asarray(imm.value, z.dtype)
        dense = self.dense_mass or (imm is not None and imm.ndim == 2)
        return adapt_init(
            z,
            self.step_size,
            imm,
            self.target_accept_prob,
            dense,
            potential_fn_flat=potential_flat if self.find_heuristic_step_size else None,
            key=key,
        )

    def step(
        self,
        key: PRNGKeyArray,
        adapt_state: AdaptState,
        i: Int[ArrayLike, ""],
        state: Any,
        info: Any,
        potential_fn: Callable,
    ) -> AdaptState:
        z, potential_flat, _ = flatten_position(state.position, potential_fn)
        out = adapt_update(
            i,
            adapt_state,
            z,
            _accept_prob(info),
            warmup_schedule_np(max(self.num_warmup, 1)),
            adapt_step_size=self.adapt_step_size,
            adapt_mass_matrix=self.adapt_mass_matrix,
            regularize=self.regularize,
            potential_fn_flat=potential_flat if self.find_heuristic_step_size else None,
            key=key,
        )
        if self.mass_mask is not None:
            # Sites grouped into dense blocks: the estimate is kept to its blocks.
            mask = jnp.asarray(self.mass_mask.value, z.dtype)
            out = eqx.tree_at(lambda a: a.inverse_mass_matrix, out, out.inverse_mass_matrix * mask)
        return out

    def params(self, adapt_state: AdaptState) -> HMCParams:
        return HMCParams(adapt_state.step_size, adapt_state.inverse_mass_matrix)

    def final(self, adapt_state: AdaptState) -> AdaptState:
        return adapt_final(adapt_state)
