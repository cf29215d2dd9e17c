"""The step-size heuristic of Hoffman & Gelman (2014, Algorithm 4).

From ``step_size``, one leapfrog step from the current point with a fresh momentum gives the
Metropolis ratio ``r = exp(H_0 - H_1)``. If ``r > 1/2`` the step size is doubled until ``r``
falls to 1/2 or below, otherwise halved until it rises above 1/2. The result is a reasonable
start for dual averaging.
"""

from __future__ import annotations

from collections.abc import Callable

import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from ._integrator import (
    _check_inverse_mass_matrix,
    init_integrator_state,
    kinetic_energy,
    leapfrog,
    make_value_and_grad,
    sample_momentum,
)


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
    point = init_integrator_state(vg, z, p, imm)
    energy_0 = point.potential_energy + kinetic_energy(imm, p)
    log_half = jnp.log(jnp.asarray(0.5, dtype))

    def log_ratio(eps: Array) -> Array:
        new = leapfrog(vg, point, eps, imm)
        delta = energy_0 - (new.potential_energy + kinetic_energy(imm, new.p))
        return jnp.where(jnp.isnan(delta), -jnp.inf, delta)

    eps0 = jnp.asarray(step_size, dtype)
    direction = jnp.where(log_ratio(eps0) > log_half, 1.0, -1.0).astype(dtype)

    def keep_going(carry: tuple[Array, Array, Array]) -> Array:
        eps, ratio, i = carry
        # Continue while (ratio) ^ direction > 2 ^ -direction, as in Algorithm 4.
        crossing = direction * ratio > -direction * jnp.log(jnp.asarray(2.0, dtype))
        finite = (eps > jnp.finfo(dtype).tiny) & (eps < jnp.finfo(dtype).max / 4)
        return crossing & finite & (i < max_iterations)

    def step(carry: tuple[Array, Array, Array]) -> tuple[Array, Array, Array]:
        eps, _, i = carry
        eps = eps * jnp.exp2(direction)
        return eps, log_ratio(eps), i + 1

    eps, _, _ = lax.while_loop(keep_going, step, (eps0, log_ratio(eps0), jnp.zeros((), jnp.int32)))
    return eps
