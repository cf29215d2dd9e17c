"""ChEES-HMC: jittered HMC whose trajectory length is tuned from many chains at once.

Hoffman, Radul and Sountsov (2021), "An adaptive MCMC scheme for setting trajectory
lengths in Hamiltonian Monte Carlo" (AISTATS). Every chain runs HMC with the same step
size ``h`` and trajectory length ``T``, jittered: transition ``k`` integrates for
``t_k = u_k T`` with ``u_k`` the ``k``-th point of the base-2 Halton sequence (a
quasi-random sequence even over ``(0, 1)``, the same for every chain), that is
``ceil(t_k / h)`` leapfrog steps.

Warm-up adapts from the ensemble of chains after every transition (:class:`ChEESAdaptation`):

* the step size by dual averaging (Hoffman and Gelman 2014) of the harmonic mean of the
  chains' acceptance probabilities, aimed at 0.651 (the harmonic mean keeps every chain
  from stalling);
* ``log T`` by Adam (``beta1 = 0``, ``beta2 = 0.5``, learning rate 0.025, each update
  clipped to +-0.35) climbing the ChEES criterion, the change in the expected squared
  distance from the ensemble mean, ``E[(|q' - E q'|^2 - |q - E q|^2)^2] / 4``. Its
  gradient with respect to ``log T``, from chain ``i`` with start ``q_i``, proposal
  ``q'_i``, velocity ``v'_i = M^-1 p'_i`` at the proposal and jittered length ``t_i``, is
  ``t_i (|q'_i - mean q'|^2 - |q_i - mean q|^2) (q'_i - mean q') . v'_i``, averaged with
  the acceptance probabilities as weights (divergent chains get none). ``T`` is not tied
  to the step size (a transition takes at least one and at most ``max_steps`` leapfrog
  steps): early in warm-up dual averaging tries step sizes ten times too large, and a
  floor of one step would throw ``T`` past the criterion's first maximum;
* a diagonal inverse mass matrix: each coordinate's variance over the chains. When it
  changes, ``log T`` and the log step size move by ``-mean(log imm_new - log imm_old) / 2``,
  since velocities scale with ``sqrt(imm)``.

At the end of warm-up the step size becomes the dual-averaging average and ``T`` the
running average of the ``log T`` iterates, ``avg_k = (1 - w_k) avg_{k-1} + w_k log T_k``
with ``w_k = k^-0.5`` (so that the early iterates are forgotten); sampling keeps them
fixed, so it is a Markov chain with the target as its invariant distribution.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray, PyTree

from ._dual_averaging import DualAveragingState, dual_averaging_init, dual_averaging_update
from ._integrator import (
    IntegratorState,
    counter_key,
    counter_momentum,
    counter_uniform,
    kinetic_energy,
    leapfrog,
    loop_mass,
    make_value_and_grad,
    velocity,
)
from ._protocol import Adaptation, MCMCKernel, RavelledState, flatten_position
from ._step_size import find_reasonable_step_size

_ACCEPT, _MOMENTUM = range(2)
_MAX_STEPS = 2**12  # cap on the leapfrog steps of one transition
_HALTON_BITS = 24


def halton(index: Int[Array, ""], dtype: Any = jnp.float32) -> Float[Array, ""]:
    """The base-2 Halton (van der Corput) point of ``index + 1``, in ``(0, 1)``: the bits of
    the index reversed after the binary point (0.5, 0.25, 0.75, 0.125, ...).

    Example:
        >>> import jax.numpy as jnp
        >>> [float(halton(jnp.int32(i))) for i in range(4)]
        [0.5, 0.25, 0.75, 0.125]
    """
    n = (jnp.asarray(index) + 1).astype(jnp.uint32)
    out = jnp.zeros((), dtype)
    for bit in range(_HALTON_BITS):
        digit = ((n >> jnp.uint32(bit)) & jnp.uint32(1)).astype(dtype)
        out = out + digit * jnp.asarray(2.0 ** -(bit + 1), dtype)
    return out


class ChEESState(RavelledState):
    """A ChEES-HMC chain: its ravelled position, potential and gradient (see
    :class:`inference.RavelledState`), and ``count``, the transitions made (the index of
    the next Halton jitter)."""

    count: Int[Array, ""]


class ChEESInfo(eqx.Module):
    """What one ChEES-HMC transition reports (the vectors feed the ensemble adaptation).

    Attributes:
        accept_prob: ``min(1, exp(H_0 - H_1))``.
        is_accepted: whether the proposal was accepted.
        diverging: energy error above 1000, or a non-finite energy.
        num_steps: leapfrog steps taken.
        trajectory_length: the jittered integration time ``t``.
        potential_energy: ``U`` at the new state.
        start: the flat position the transition began at.
        proposal: the end of the trajectory (before the accept/reject).
        velocity: ``M^-1 p`` at the end of the trajectory.
    """

    accept_prob: Float[Array, ""]
    is_accepted: Bool[Array, ""]
    diverging: Bool[Array, ""]
    num_steps: Int[Array, ""]
    trajectory_length: Float[Array, ""]
    potential_energy: Float[Array, ""]
    start: Float[Array, " d"]
    proposal: Float[Array, " d"]
    velocity: Float[Array, " d"]


class ChEESParams(eqx.Module):
    """ChEES-HMC's tuning: step size, (unjittered) trajectory length, diagonal inverse
    mass matrix."""

    step_size: Float[Array, ""]
    trajectory_length: Float[Array, ""]
    inverse_mass_matrix: Float[Array, " d"]


class ChEESAdaptState(eqx.Module):
    """The ensemble adaptation's state (one for all chains)."""

    dual_averaging: DualAveragingState
    log_trajectory_length: Float[Array, ""]
    log_trajectory_length_avg: Float[Array, ""]
    adam_m2: Float[Array, ""]
    count: Int[Array, ""]
    step_size: Float[Array, ""]
    inverse_mass_matrix: Float[Array, " d"]


def _flat(position: PyTree) -> Array:
    return flatten_position(position, lambda x: x)[0]


def _ensemble_variance(z: Array) -> Array:
    """Each coordinate's variance over the chains, shrunk towards ``1e-3`` as Stan
    shrinks its windowed estimate (with the number of chains as the number of draws)."""
    n = z.shape[0]
    if n < 2:
        return jnp.ones(z.shape[1:], z.dtype)
    var = jnp.var(z, axis=0, ddof=1)
    var = (n / (n + 5.0)) * var + 1e-3 * (5.0 / (n + 5.0))
    return jnp.where(jnp.isfinite(var) & (var > 0), var, jnp.ones_like(var))


class ChEESAdaptation(Adaptation):
    """Ensemble warm-up of ChEES-HMC (see this module): step size, trajectory length and
    a diagonal mass matrix, from all chains after each transition.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> f = lambda z: 0.5 * jnp.sum(z**2)
        >>> a = ChEESAdaptation(step_size=0.5)
        >>> s = a.init(jax.random.key(0), jnp.zeros((8, 2)), None, f)
        >>> a.params(s).inverse_mass_matrix.shape
        (2,)
    """

    ensemble: ClassVar[bool] = True
    step_size: float = eqx.field(static=True, kw_only=True, default=1.0)
    target_accept_prob: float = eqx.field(static=True, kw_only=True, default=0.651)
    learning_rate: float = eqx.field(static=True, kw_only=True, default=0.025)
    beta2: float = eqx.field(static=True, kw_only=True, default=0.5)
    decay: float = eqx.field(static=True, kw_only=True, default=0.5)
    max_steps: int = eqx.field(static=True, kw_only=True, default=1000)
    adapt_mass_matrix: bool = eqx.field(static=True, kw_only=True, default=True)
    find_step_size: bool = eqx.field(static=True, kw_only=True, default=True)

    def init(self, key, position, state, potential_fn) -> ChEESAdaptState:
        z = jax.vmap(_flat)(position)  # (chains, d)
        dtype = z.dtype
        imm = _ensemble_variance(z) if self.adapt_mass_matrix else jnp.ones(z.shape[1:], dtype)
        eps = jnp.asarray(self.step_size, dtype)
        if self.find_step_size and potential_fn is not None:
            _, potential_flat, _ = flatten_position(
                jax.tree.map(lambda x: x[0], position), potential_fn
            )
            eps = find_reasonable_step_size(key, potential_flat, z[0], imm, eps).astype(dtype)
        zero = jnp.zeros((), dtype)
        return ChEESAdaptState(
            dual_averaging_init(eps),
            jnp.log(eps),  # start at one leapfrog step; Adam grows it
            jnp.log(eps),
            zero,
            jnp.zeros((), jnp.int32),
            eps,
            imm,
        )

    def step(self, key, adapt_state, i, state, info, potential_fn) -> ChEESAdaptState:
        s = adapt_state
        dtype = s.step_size.dtype
        accept = jnp.nan_to_num(jnp.asarray(info.accept_prob, dtype))
        ok = ~info.diverging & jnp.all(jnp.isfinite(info.proposal), axis=-1)
        # Step size: dual averaging of the harmonic mean acceptance over the chains.
        inv = jnp.where(ok, 1.0 / jnp.maximum(accept, 1e-10), 0.0)
        n_ok = jnp.sum(ok.astype(dtype))
        harmonic = jnp.where(n_ok > 0, n_ok / jnp.maximum(jnp.sum(inv), 1e-10), 0.0)
        da = dual_averaging_update(s.dual_averaging, harmonic, self.target_accept_prob)
        step_size = jnp.exp(da.log_step_size).astype(dtype)
        # Trajectory length: Adam ascent of the ChEES criterion in log T.
        w = jnp.where(ok, accept, 0.0)
        proposal = jnp.where(ok[:, None], info.proposal, 0.0)
        w_sum = jnp.sum(w)
        prop_mean = jnp.sum(w[:, None] * proposal, axis=0) / jnp.maximum(w_sum, 1e-10)
        start_mean = jnp.mean(info.start, axis=0)
        pc = proposal - prop_mean[None]
        sc = info.start - start_mean[None]
        per_chain = (
            info.trajectory_length
            * (jnp.sum(pc**2, axis=-1) - jnp.sum(sc**2, axis=-1))
            * jnp.sum(pc * jnp.where(ok[:, None], info.velocity, 0.0), axis=-1)
        )
        grad = jnp.sum(w * per_chain) / jnp.maximum(w_sum, 1e-10)
        count = s.count + 1
        k = count.astype(dtype)
        m2 = self.beta2 * s.adam_m2 + (1.0 - self.beta2) * grad**2
        m2_hat = m2 / (1.0 - jnp.asarray(self.beta2, dtype) ** k)
        update = self.learning_rate * grad / (jnp.sqrt(m2_hat) + 1e-8)
        update = jnp.clip(update, -0.35, 0.35)
        log_t = s.log_trajectory_length + update
        finite = jnp.isfinite(log_t) & (w_sum > 0)
        log_t = jnp.where(finite, log_t, s.log_trajectory_length)
        m2 = jnp.where(finite, m2, s.adam_m2)
        # The running average that warm-up ends with: recent iterates weigh more.
        weight = k ** jnp.asarray(-self.decay, dtype)
        log_t_avg = (1.0 - weight) * s.log_trajectory_length_avg + weight * log_t
        imm = s.inverse_mass_matrix
        if self.adapt_mass_matrix:
            imm = _ensemble_variance(jax.vmap(lambda c: _flat(c.position))(state)).astype(dtype)
            # Velocities scale with sqrt(imm): keep the time units (T, and the step size in
            # dual averaging) in step with the new matrix, so that a matrix that grows
            # from a narrow start does not leave T far too long.
            shift = -0.5 * jnp.mean(jnp.log(imm) - jnp.log(s.inverse_mass_matrix))
            shift = jnp.where(jnp.isfinite(shift), shift, 0.0)
            log_t, log_t_avg = log_t + shift, log_t_avg + shift
            da = DualAveragingState(
                da.log_step_size + shift,
                da.log_step_size_avg + shift,
                da.grad_avg,
                da.count,
                da.mu + shift,
            )
            step_size = jnp.exp(da.log_step_size).astype(dtype)
        return ChEESAdaptState(da, log_t, log_t_avg, m2, count, step_size, imm)

    def params(self, adapt_state: ChEESAdaptState) -> ChEESParams:
        return ChEESParams(
            adapt_state.step_size,
            jnp.exp(adapt_state.log_trajectory_length),
            adapt_state.inverse_mass_matrix,
        )

    def final(self, adapt_state: ChEESAdaptState) -> ChEESAdaptState:
        s = adapt_state
        da = s.dual_averaging
        dtype = s.step_size.dtype
        step_size = jnp.where(
            da.count > 0, jnp.exp(da.log_step_size_avg).astype(dtype), s.step_size
        )
        log_t = jnp.where(s.count > 0, s.log_trajectory_length_avg, s.log_trajectory_length)
        return ChEESAdaptState(
            da,
            log_t,
            s.log_trajectory_length_avg,
            s.adam_m2,
            s.count,
            step_size,
            s.inverse_mass_matrix,
        )


class ChEES(MCMCKernel):
    """ChEES-HMC (Hoffman, Radul and Sountsov 2021): jittered HMC for many chains, its
    step size, trajectory length and diagonal mass matrix tuned from all chains together
    during warm-up (needs ``chain_method="vectorized"`` with several chains).

    Args:
        model, potential_fn: what to sample (exactly one), as for ``NUTS``.
        step_size: the initial step size (refined by the step-size heuristic).
        target_accept_prob: for the harmonic-mean acceptance (0.651).
        max_steps: the most leapfrog steps a trajectory length may ask for.
        learning_rate: Adam's, for ``log T``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from inference import MCMC
        >>> kernel = ChEES(potential_fn=lambda p: 0.5 * jnp.sum(p["z"] ** 2))
        >>> mcmc = MCMC(kernel, num_warmup=100, num_samples=100, num_chains=16,
        ...             chain_method="vectorized", progress_bar=False)
        >>> mcmc.run(jax.random.key(0), init_params={"z": jnp.zeros((16, 2))})
        >>> mcmc.get_samples(group_by_chain=True)["z"].shape
        (16, 100, 2)
    """

    step_size: float = eqx.field(static=True, kw_only=True, default=1.0)
    target_accept_prob: float = eqx.field(static=True, kw_only=True, default=0.651)
    max_steps: int = eqx.field(static=True, kw_only=True, default=1000)
    learning_rate: float = eqx.field(static=True, kw_only=True, default=0.025)
    adapt_mass_matrix: bool = eqx.field(static=True, kw_only=True, default=True)
    max_delta_energy: float = eqx.field(static=True, kw_only=True, default=1000.0)

    info_fields: ClassVar[tuple[str, ...] | None] = (
        "accept_prob",
        "diverging",
        "num_steps",
        "trajectory_length",
        "potential_energy",
    )

    def __check_init__(self) -> None:
        if not (isinstance(self.step_size, (int, float)) and self.step_size > 0):
            raise ValueError(f"ChEES: step_size must be a positive number, got {self.step_size!r}.")
        t = self.target_accept_prob
        if not (isinstance(t, (int, float)) and 0.0 < t < 1.0):
            raise ValueError(f"ChEES: target_accept_prob must be in (0, 1), got {t!r}.")
        if not (isinstance(self.max_steps, int) and 1 <= self.max_steps <= _MAX_STEPS):
            raise ValueError(
                f"ChEES: max_steps must be an int in 1..{_MAX_STEPS}, got {self.max_steps!r}."
            )

    def init(self, key: PRNGKeyArray, position: PyTree, potential_fn: Callable) -> ChEESState:
        z, potential_flat, spec = flatten_position(position, potential_fn)
        pe, grad = make_value_and_grad(potential_flat, z.dtype)(z)
        return ChEESState(z, pe, grad, jnp.zeros((), jnp.int32), spec=spec)

    def step(
        self, key: PRNGKeyArray, state: ChEESState, potential_fn: Callable, params: ChEESParams
    ) -> tuple[ChEESState, ChEESInfo]:
        spec = state.spec
        potential_flat = potential_fn if spec is None else spec.flat_potential(potential_fn)
        z = state.z
        dtype = z.dtype
        vg = make_value_and_grad(potential_flat, dtype)
        imm = jnp.asarray(params.inverse_mass_matrix, dtype)
        eps = jnp.asarray(params.step_size, dtype)
        t = halton(state.count, dtype) * jnp.asarray(params.trajectory_length, dtype)
        steps = jnp.ceil(t / eps)
        n = jnp.clip(jnp.nan_to_num(steps, nan=1.0), 1, self.max_steps).astype(jnp.int32)
        ckey = counter_key(key)
        p = counter_momentum(ckey, _MOMENTUM, imm, dtype)
        start = IntegratorState(z, p, velocity(imm, p), state.potential_energy, state.z_grad)
        energy_0 = state.potential_energy + kinetic_energy(imm, p)
        mass = loop_mass(imm)
        end = lax.fori_loop(0, n, lambda _, s: leapfrog(vg, s, eps, imm, mass), start)
        energy = end.potential_energy + 0.5 * jnp.dot(end.p, end.v)
        delta = jnp.where(jnp.isfinite(energy), energy - energy_0, jnp.inf)
        accept_prob = jnp.minimum(jnp.exp(-delta), 1.0)
        u = counter_uniform(ckey, jnp.zeros((), jnp.int32), jnp.uint32(_ACCEPT), dtype)
        accepted = u < accept_prob
        new = ChEESState(
            jnp.where(accepted, end.z, z),
            jnp.where(accepted, end.potential_energy, state.potential_energy),
            jnp.where(accepted, end.z_grad, state.z_grad),
            state.count + 1,
            spec=spec,
        )
        info = ChEESInfo(
            accept_prob=accept_prob,
            is_accepted=accepted,
            diverging=delta > jnp.asarray(self.max_delta_energy, dtype),
            num_steps=n,
            trajectory_length=n.astype(dtype) * eps,
            potential_energy=new.potential_energy,
            start=z,
            proposal=end.z,
            velocity=end.v,
        )
        return new, info

    def adaptation(self, position: PyTree, num_warmup: int) -> ChEESAdaptation:
        return ChEESAdaptation(
            step_size=self.step_size,
            target_accept_prob=self.target_accept_prob,
            learning_rate=self.learning_rate,
            max_steps=self.max_steps,
            adapt_mass_matrix=self.adapt_mass_matrix,
        )
