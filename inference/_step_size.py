"""The step-size heuristic of Hoffman & Gelman (2014, Algorithm 4).

From ``step_size``, one leapfrog step from the current point with a fresh momentum gives the
Metropolis ratio ``r = exp(H_0 - H_1)``. If ``r > 1/2`` the step size is doubled until ``r``
falls to 1/2 or below, otherwise halved until it rises above 1/2. The result is a reasonable
start for dual averaging.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from ._integrator import (
    IntegratorState,
    _check_inverse_mass_matrix,
    kinetic_energy,
    leapfrog,
    make_value_and_grad,
    sample_momentum,
    velocity,
)


class _Search(NamedTuple):
    """The carry of :func:`find_reasonable_step_size`'s loop."""

    start: IntegratorState  # the start point, evaluated after round 0
    energy: Array  # its Hamiltonian
    eps: Array  # the step size last tried
    log_ratio: Array  # log Metropolis ratio of that step
    direction: Array  # +1 doubling, -1 halving (set in round 1)
    round: Array


def find_reasonable_step_size(
    key: PRNGKeyArray,
    potential_fn_flat: Callable[[Array], ArrayLike],
    position_flat: Float[ArrayLike, " d"],
    inverse_mass_matrix: ArrayLike,
    step_size: ArrayLike = 1.0,
    max_iterations: int = 100,
) -> Float[Array, ""]:
    """Double or halve ``step_size`` until one leapfrog step's acceptance ratio crosses 1/2.

    Args:
        key: PRNG key for the momentum.
        potential_fn_flat: ``potential_fn_flat(z) -> scalar`` on flat vectors.
        position_flat: the point to start from, shape ``(d,)``.
        inverse_mass_matrix: shape ``(d,)`` or ``(d, d)``.
        step_size: the first step size tried.
        max_iterations: static cap on the number of doublings or halvings.

    Returns:
        The step size found, a scalar of the position's dtype. A non-finite energy counts as
        rejection, so the step halves away from regions where the potential is NaN.

    The whole search is one ``lax.while_loop`` with the potential's gradient written once,
    in its body: round 0 is a leapfrog step of size zero from a zero gradient, which only
    evaluates the potential and gradient at the start; round 1 tries ``step_size`` and
    fixes the direction; later rounds double or halve. Compiled inside a sampler, that is
    one copy of the model's gradient instead of three.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> eps = find_reasonable_step_size(
        ...     jax.random.key(0), lambda z: 0.5 * jnp.sum(z**2), jnp.zeros(2), jnp.ones(2)
        ... )
        >>> bool(eps > 0)
        True
    """
    z = jnp.asarray(position_flat)
    if not jnp.issubdtype(z.dtype, jnp.floating):
        z = z.astype(jnp.result_type(float))
    dtype = z.dtype
    imm = jnp.asarray(inverse_mass_matrix, dtype)
    _check_inverse_mass_matrix(imm, z.shape[0])
    vg = make_value_and_grad(potential_fn_flat, dtype)
    p = sample_momentum(key, imm, z)
    zero = jnp.zeros((), dtype)
    # Before round 0 the start point's potential and gradient are unknown; a zero-size step
    # from a zero gradient leaves z and p as they are and evaluates them.
    unknown = IntegratorState(z, p, velocity(imm, p), zero, jnp.zeros_like(z))
    log_half = jnp.log(jnp.asarray(0.5, dtype))
    log_two = jnp.log(jnp.asarray(2.0, dtype))
    eps0 = jnp.asarray(step_size, dtype)

    def keep_going(s: _Search) -> Array:
        # Continue while (ratio) ^ direction > 2 ^ -direction, as in Algorithm 4.
        crossing = s.direction * s.log_ratio > -s.direction * log_two
        finite = (s.eps > jnp.finfo(dtype).tiny) & (s.eps < jnp.finfo(dtype).max / 4)
        return (s.round < 2) | (crossing & finite & (s.round - 2 < max_iterations))

    def step(s: _Search) -> _Search:
        first, second = s.round == 0, s.round == 1
        eps = jnp.where(first, zero, jnp.where(second, eps0, s.eps * jnp.exp2(s.direction)))
        new = leapfrog(vg, s.start, eps, imm)
        energy = new.potential_energy + kinetic_energy(imm, jnp.where(first, s.start.p, new.p))
        delta = s.energy - energy
        log_ratio = jnp.where(jnp.isnan(delta), -jnp.inf, delta)
        direction = jnp.where(log_ratio > log_half, 1.0, -1.0).astype(dtype)
        # Round 0 keeps the start's own momentum (not p - 0 * grad, NaN for an infinite grad).
        evaluated = IntegratorState(
            s.start.z, s.start.p, s.start.v, new.potential_energy, new.z_grad
        )
        return _Search(
            start=jax.tree.map(lambda a, b: jnp.where(first, a, b), evaluated, s.start),
            energy=jnp.where(first, energy, s.energy),
            eps=jnp.where(first, eps0, eps),
            log_ratio=log_ratio,
            direction=jnp.where(second, direction, s.direction),
            round=s.round + 1,
        )

    init = _Search(unknown, zero, eps0, zero, jnp.ones((), dtype), jnp.zeros((), jnp.int32))
    return lax.while_loop(keep_going, step, init).eps
