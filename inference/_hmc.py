"""Hamiltonian Monte Carlo with a fixed number of leapfrog steps (or trajectory length).

Each transition draws a momentum ``p ~ N(0, M)``, integrates ``num_steps`` leapfrog steps
(``ceil(trajectory_length / step_size)`` when a length is given) and accepts the end point
with probability ``min(1, exp(H_0 - H_1))``.
"""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, ArrayLike, Bool, Float, Int, PRNGKeyArray

from ._integrator import (
    IntegratorState,
    _check_inverse_mass_matrix,
    counter_key,
    counter_momentum,
    counter_uniform,
    evaluate_position,
    kinetic_energy,
    leapfrog,
    loop_mass,
    make_value_and_grad,
    velocity,
)
from ._protocol import RavelledState

_MAX_STEPS = 2**16  # cap on the steps a trajectory length asks for (tiny step sizes)
# Counter words that keep the acceptance draw and the momentum of a transition apart (a normal
# draw with word w uses the uniform words 2w and 2w + 1, so the momentum takes 2 and 3).
_ACCEPT, _MOMENTUM = range(2)


class HMCState(RavelledState):
    """The state of an HMC chain (see :class:`inference.RavelledState`)."""


class HMCInfo(eqx.Module):
    """What one HMC transition reports.

    Attributes:
        num_steps: leapfrog steps taken.
        accept_prob: ``min(1, exp(H_0 - H_1))`` (0 when the energy is not finite).
        is_accepted: whether the proposal was accepted.
        diverging: energy error above ``max_delta_energy``, or a non-finite energy.
        energy: Hamiltonian at the new state (with the momentum of the trajectory).
        potential_energy: ``U`` at the new state.
    """

    num_steps: Int[Array, ""]
    accept_prob: Float[Array, ""]
    is_accepted: Bool[Array, ""]
    diverging: Bool[Array, ""]
    energy: Float[Array, ""]
    potential_energy: Float[Array, ""]


def hmc_init(
    position_flat: Float[ArrayLike, " d"],
    potential_fn_flat: Callable[[Array], ArrayLike],
    step_size: ArrayLike | None = None,
    inverse_mass_matrix: ArrayLike | None = None,
) -> HMCState:
    """Start an HMC chain at ``position_flat`` (a flat vector of shape ``(d,)``).

    ``step_size`` and ``inverse_mass_matrix`` are accepted for symmetry with
    :func:`hmc_kernel`; the state does not depend on them.

    Example:
        >>> import jax.numpy as jnp
        >>> hmc_init(jnp.ones(2), lambda z: 0.5 * jnp.sum(z**2)).potential_energy
        Array(1., dtype=float32)
    """
    del step_size, inverse_mass_matrix
    return HMCState(*evaluate_position(position_flat, potential_fn_flat))


def hmc_kernel(
    key: PRNGKeyArray,
    state: HMCState,
    potential_fn_flat: Callable[[Array], ArrayLike],
    step_size: ArrayLike,
    inverse_mass_matrix: ArrayLike,
    num_steps: int | None = None,
    trajectory_length: ArrayLike | None = None,
    max_delta_energy: ArrayLike = 1000.0,
) -> tuple[HMCState, HMCInfo]:
    """One HMC transition with a Metropolis correction.

    Args:
        key: PRNG key.
        state: current :class:`HMCState`.
        potential_fn_flat: ``potential_fn_flat(z) -> scalar`` on flat vectors, evaluated once
            per leapfrog step through ``jax.value_and_grad``.
        step_size: leapfrog step size.
        inverse_mass_matrix: shape ``(d,)`` (diagonal) or ``(d, d)`` (dense).
        num_steps: a static number of leapfrog steps; it takes precedence over
        trajectory_length: the integration time, giving ``max(1, ceil(length / step_size))``
            steps (capped at 2^16; a traced value is fine). Give at least one of the two.
        max_delta_energy: an energy error above this is reported as a divergence.

    Returns:
        ``(new_state, info)`` with ``info`` an :class:`HMCInfo`. A proposal with a non-finite
        energy is rejected, so the state stays finite.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> f = lambda z: 0.5 * jnp.sum(z**2)
        >>> s = hmc_init(jnp.zeros(2), f)
        >>> s, info = hmc_kernel(jax.random.key(0), s, f, 0.1, jnp.ones(2), num_steps=10)
        >>> int(info.num_steps)
        10
    """
    if num_steps is None and trajectory_length is None:
        raise ValueError(
            "hmc_kernel needs num_steps (a static int) or trajectory_length; got neither."
        )
    z = state.z
    dtype = z.dtype
    imm = jnp.asarray(inverse_mass_matrix, dtype)
    _check_inverse_mass_matrix(imm, z.shape[0])
    step_size = jnp.asarray(step_size, dtype)
    vg = make_value_and_grad(potential_fn_flat, dtype)
    if num_steps is not None:
        if not isinstance(num_steps, int) or num_steps < 1:
            raise ValueError(f"num_steps must be a Python int >= 1, got {num_steps!r}.")
        n = jnp.asarray(num_steps, jnp.int32)
    else:
        steps = jnp.ceil(jnp.asarray(trajectory_length, dtype) / step_size)
        n = jnp.clip(jnp.nan_to_num(steps, nan=1.0), 1, _MAX_STEPS).astype(jnp.int32)

    # All randomness of the transition is Threefry of the key on distinct counters, unrolled
    # (JAX runs its own as a rolled loop on CPU, three of them per draw here).
    ckey = counter_key(key)
    p = counter_momentum(ckey, _MOMENTUM, imm, dtype)
    start = IntegratorState(z, p, velocity(imm, p), state.potential_energy, state.z_grad)
    energy_0 = state.potential_energy + kinetic_energy(imm, p)
    mass = loop_mass(imm)

    def step(_, s: IntegratorState) -> IntegratorState:
        return leapfrog(vg, s, step_size, imm, mass)

    end = lax.fori_loop(0, num_steps if num_steps is not None else n, step, start)
    energy = end.potential_energy + 0.5 * jnp.dot(end.p, end.v)
    delta = jnp.where(jnp.isfinite(energy), energy - energy_0, jnp.inf)
    accept_prob = jnp.minimum(jnp.exp(-delta), 1.0)
    u = counter_uniform(ckey, jnp.zeros((), jnp.int32), jnp.uint32(_ACCEPT), dtype)
    accepted = u < accept_prob
    new_state = HMCState(
        jnp.where(accepted, end.z, z),
        jnp.where(accepted, end.potential_energy, state.potential_energy),
        jnp.where(accepted, end.z_grad, state.z_grad),
    )
    info = HMCInfo(
        num_steps=n,
        accept_prob=accept_prob,
        is_accepted=accepted,
        diverging=delta > jnp.asarray(max_delta_energy, dtype),
        energy=jnp.where(accepted, energy, energy_0),
        potential_energy=new_state.potential_energy,
    )
    return new_state, info
