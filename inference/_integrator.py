"""Velocity Verlet (leapfrog) integration on a flat position vector, with a mass matrix.

Every kernel in ``inference`` works on a flat 1-D position ``z``: a pytree of unconstrained
arrays is ravelled once (:func:`flatten_potential`) so that the inner loops do plain vector
arithmetic. The mass matrix ``M`` enters only through its inverse:

* diagonal: ``inverse_mass_matrix`` has shape ``(d,)`` and ``M^{-1} p = imm * p``;
* dense: ``inverse_mass_matrix`` has shape ``(d, d)`` and ``M^{-1} p = imm @ p``.

The kinetic energy is ``K(p) = p . M^{-1} p / 2``, and momenta are drawn from ``N(0, M)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.flatten_util import ravel_pytree
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray, PyTree

PotentialFn = Callable[[Array], Array]
PotentialAndGradFn = Callable[[Array], tuple[Array, Array]]


class IntegratorState(eqx.Module):
    """A point of phase space, with what the leapfrog step reuses.

    Attributes:
        z: position, shape ``(d,)``.
        p: momentum, shape ``(d,)``.
        v: velocity ``M^{-1} p``, shape ``(d,)`` (kept so that it is computed once).
        potential_energy: ``U(z)``, a scalar.
        z_grad: ``grad U(z)``, shape ``(d,)``.
    """

    z: Float[Array, " d"]
    p: Float[Array, " d"]
    v: Float[Array, " d"]
    potential_energy: Float[Array, ""]
    z_grad: Float[Array, " d"]


class ChainPosition(eqx.Module):
    """Where a chain is: a flat position with its potential and gradient.

    Attributes:
        z: flat unconstrained position, shape ``(d,)``.
        potential_energy: ``U(z)``, a scalar.
        z_grad: ``grad U(z)``, shape ``(d,)``.
    """

    z: Float[Array, " d"]
    potential_energy: Float[Array, ""]
    z_grad: Float[Array, " d"]


def _check_inverse_mass_matrix(inverse_mass_matrix: Array, d: int) -> None:
    shape = tuple(inverse_mass_matrix.shape)
    if shape not in ((d,), (d, d)):
        raise ValueError(
            f"inverse_mass_matrix must have shape ({d},) (diagonal) or ({d}, {d}) (dense) "
            f"for a position of size {d}; got shape {shape}. Pass a vector for a diagonal "
            "mass matrix or a square matrix for a dense one."
        )


def velocity(inverse_mass_matrix: ArrayLike, p: Float[ArrayLike, " d"]) -> Float[Array, " d"]:
    """Return ``M^{-1} p`` for a diagonal ``(d,)`` or dense ``(d, d)`` inverse mass matrix.

    Example:
        >>> import jax.numpy as jnp
        >>> velocity(jnp.array([2.0, 0.5]), jnp.array([1.0, 1.0]))
        Array([2. , 0.5], dtype=float32)
    """
    imm = jnp.asarray(inverse_mass_matrix)
    p = jnp.asarray(p)
    if imm.ndim == 1:
        return imm * p
    return imm @ p


def kinetic_energy(inverse_mass_matrix: ArrayLike, p: Float[ArrayLike, " d"]) -> Float[Array, ""]:
    """Return ``p . M^{-1} p / 2``.

    Example:
        >>> import jax.numpy as jnp
        >>> kinetic_energy(jnp.ones(3), jnp.array([1.0, 2.0, 2.0]))
        Array(4.5, dtype=float32)
    """
    p = jnp.asarray(p)
    return 0.5 * jnp.dot(p, velocity(inverse_mass_matrix, p))


def momentum_factor(inverse_mass_matrix: ArrayLike) -> Array:
    """A factor ``F`` with which ``F`` applied to ``N(0, I)`` noise gives ``N(0, M)`` momenta.

    Diagonal: ``1 / sqrt(imm)``. Dense: the lower Cholesky factor ``L`` of ``M^{-1}``; the
    momentum is then ``L^{-T} eps`` (see :func:`sample_momentum`). Computing this once per
    transition (not per leapfrog step) keeps the O(d^3) factorisation out of the inner loop.
    """
    imm = jnp.asarray(inverse_mass_matrix)
    if imm.ndim == 1:
        return jax.lax.rsqrt(imm)
    return jnp.linalg.cholesky(imm)


def sample_momentum(
    key: PRNGKeyArray, inverse_mass_matrix: ArrayLike, z: Float[ArrayLike, " d"]
) -> Float[Array, " d"]:
    """Draw a momentum ``p ~ N(0, M)`` shaped and typed like the position ``z``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> sample_momentum(jax.random.key(0), jnp.ones(3), jnp.zeros(3)).shape
        (3,)
    """
    z = jnp.asarray(z)
    imm = jnp.asarray(inverse_mass_matrix, dtype=z.dtype)
    return momentum_from_normal(imm, jax.random.normal(key, z.shape, z.dtype))


def momentum_from_normal(inverse_mass_matrix: Array, eps: Float[Array, " d"]) -> Array:
    """The momentum ``p ~ N(0, M)`` made from standard normal draws ``eps``.

    Example:
        >>> import jax.numpy as jnp
        >>> momentum_from_normal(jnp.array([4.0, 1.0]), jnp.ones(2))
        Array([0.5, 1. ], dtype=float32)
    """
    factor = momentum_factor(inverse_mass_matrix)
    if inverse_mass_matrix.ndim == 1:
        return factor * eps
    # M = (L L^T)^{-1} = L^{-T} L^{-1}, so p = L^{-T} eps has covariance M.
    return jax.scipy.linalg.solve_triangular(factor, eps, lower=True, trans="T")


_ROTATIONS = (13, 15, 26, 6, 17, 29, 16, 24)


def counter_key(key: PRNGKeyArray) -> Array:
    """The Threefry key schedule ``(k0, k1, k0 ^ k1 ^ C)`` of a PRNG key, as ``uint32[3]``.

    With it, :func:`counter_uniform` and :func:`counter_normal` give ``jax.random.bits`` of
    a threefry ``key`` at chosen counters. Keys of other implementations are folded to two
    words first.
    """
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        key = jax.random.key_data(key)
    words = jnp.ravel(key).astype(jnp.uint32)
    k0, k1 = words[0], words[1]
    for extra in range(2, words.shape[0]):
        if extra % 2 == 0:
            k0 = k0 ^ words[extra]
        else:
            k1 = k1 ^ words[extra]
    return jnp.stack([k0, k1, k0 ^ k1 ^ jnp.uint32(0x1BD11BDA)])


def counter_split(key: PRNGKeyArray) -> tuple[PRNGKeyArray, PRNGKeyArray]:
    """Split a PRNG key in two with the unrolled Threefry.

    The keys are those of ``jax.random.split(key)`` with ``jax_threefry_partitionable`` off:
    the two output words of the Threefry blocks at counters ``(0, 2)`` and ``(1, 3)``. JAX
    runs its own as a rolled loop on CPU, with copies of the rotation constants; this fuses
    into one small kernel, which matters inside a sampler's per-draw loop. Returns keys of the
    same kind as ``key`` (typed, or raw ``uint32[2]``); keys of another implementation than
    threefry are split by ``jax.random.split``.

    Example:
        >>> import jax
        >>> a, b = counter_split(jax.random.key(0))
        >>> bool((jax.random.key_data(a) != jax.random.key_data(b)).any())
        True
    """
    typed = jnp.issubdtype(key.dtype, jax.dtypes.prng_key)
    impl = jax.random.key_impl(key) if typed else None
    raw_threefry = not typed and key.shape == (2,) and key.dtype == jnp.uint32
    if not (raw_threefry or (typed and str(impl) == "threefry2x32" and key.shape == ())):
        first, second = jax.random.split(key)
        return first, second
    counters = jnp.arange(4, dtype=jnp.uint32)
    # Both keys in one small kernel: without the barrier XLA copies the Threefry into every
    # kernel that reads a word of either key (in a sampler's draw, some ten of them), and
    # XLA:CPU hands a loop body's kernels to its thread pool when more than 8 are ready at once.
    words = lax.optimization_barrier(
        jnp.stack(_threefry2x32(counter_key(key), counters[:2], counters[2:]))
    )
    x0, x1 = words[0], words[1]
    if typed:
        return jax.random.wrap_key_data(x0, impl=impl), jax.random.wrap_key_data(x1, impl=impl)
    return x0, x1


def _threefry2x32(ckey: Array, c0: Array, c1: Array) -> tuple[Array, Array]:
    """Threefry-2x32 with 20 rounds (Salmon et al., 2011) of the counter ``(c0, c1)``.

    JAX lowers its own threefry on CPU as a rolled loop, which costs more than a leapfrog step
    of a small model; this unrolled version fuses into the kernel that uses it.
    """
    ks = (ckey[0], ckey[1], ckey[2])
    x0 = c0.astype(jnp.uint32) + ks[0]
    x1 = c1.astype(jnp.uint32) + ks[1]
    for i in range(5):
        for r in _ROTATIONS[4 * (i % 2) : 4 * (i % 2) + 4]:
            x0 = x0 + x1
            x1 = ((x1 << jnp.uint32(r)) | (x1 >> jnp.uint32(32 - r))) ^ x0
        x0 = x0 + ks[(i + 1) % 3]
        x1 = x1 + ks[(i + 2) % 3] + jnp.uint32(i + 1)
    return x0, x1


def counter_uniform(ckey: Array, c0: ArrayLike, c1: ArrayLike, dtype: Any) -> Array:
    """A uniform draw on ``[0, 1)`` keyed by ``ckey`` (:func:`counter_key`) and ``(c0, c1)``.

    Distinct counters give independent draws. Uses 24 random bits for float32 and 53 for
    float64. ``c0`` may be an array, giving one draw per element.
    """
    x0, x1 = _threefry2x32(ckey, jnp.asarray(c0), jnp.asarray(c1))
    if jnp.finfo(dtype).nmant <= 23:
        return (x0 >> jnp.uint32(8)).astype(dtype) * jnp.asarray(2.0**-24, dtype)
    hi = (x0 >> jnp.uint32(5)).astype(dtype)
    lo = (x1 >> jnp.uint32(6)).astype(dtype)
    return (hi * 2.0**26 + lo) * jnp.asarray(2.0**-53, dtype)


def counter_normal(ckey: Array, c0: ArrayLike, c1: ArrayLike, dtype: Any) -> Array:
    """A standard normal draw keyed like :func:`counter_uniform` (Box-Muller).

    Uses the counters ``(c0, 2 c1)`` and ``(c0, 2 c1 + 1)``. Box-Muller keeps each exp/log in
    a single chain, so the whole draw is one fused kernel.
    """
    c1 = jnp.asarray(c1).astype(jnp.uint32) * jnp.uint32(2)
    u1 = 1.0 - counter_uniform(ckey, c0, c1, dtype)  # in (0, 1]
    u2 = counter_uniform(ckey, c0, c1 + jnp.uint32(1), dtype)
    return jnp.sqrt(-2.0 * jnp.log(u1)) * jnp.cos((2.0 * math.pi) * u2)


def counter_momentum(ckey: Array, c1: int, inverse_mass_matrix: Array, dtype: Any) -> Array:
    """A momentum ``p ~ N(0, M)`` from the standard normals at counters ``(i, c1)``,
    ``i < d`` (:func:`counter_normal`): the draw a transition starts from.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> ckey = counter_key(jax.random.key(0))
        >>> counter_momentum(ckey, 3, jnp.ones(4), jnp.float32).shape
        (4,)
    """
    d = inverse_mass_matrix.shape[0]
    eps = counter_normal(ckey, np.arange(d, dtype=np.uint32), jnp.uint32(c1), dtype)
    return momentum_from_normal(inverse_mass_matrix, eps)


def loop_mass(inverse_mass_matrix: Array) -> Array | None:
    """The ``mass`` argument of :func:`drift`: ``1 / inverse_mass_matrix`` when diagonal.

    Compute it before the leapfrog loop, so that XLA cannot fold the division in
    :func:`drift` back into a product. ``None`` for a dense matrix.
    """
    return 1.0 / inverse_mass_matrix if inverse_mass_matrix.ndim == 1 else None


def drift(
    z: Array,
    p: Array,
    step_size: ArrayLike,
    inverse_mass_matrix: ArrayLike,
    mass: ArrayLike | None = None,
) -> Array:
    """The position update ``z + step_size * M^{-1} p`` of a leapfrog step.

    Inside a leapfrog loop, pass ``mass = loop_mass(inverse_mass_matrix)``, computed once
    outside the loop: the update then divides by it. XLA copies a cheap elementwise
    producer into every kernel that reads its value, but not a division, so the new ``z`` is
    computed once rather than inside each of the model's first kernels. Copied, those
    kernels all become ready together at the start of the step, and more than 8 ready kernels
    make XLA:CPU hand part of the step to its thread pool (see :mod:`inference._nuts`).
    """
    if mass is None:
        return z + step_size * velocity(inverse_mass_matrix, p)
    return z + step_size * (p / mass)


def leapfrog(
    potential_and_grad: PotentialAndGradFn,
    state: IntegratorState,
    step_size: ArrayLike,
    inverse_mass_matrix: ArrayLike,
    mass: ArrayLike | None = None,
) -> IntegratorState:
    """One velocity Verlet step: half kick, drift, one potential evaluation, half kick.

    The potential is evaluated exactly once, through ``potential_and_grad(z) -> (U, dU/dz)``
    (typically ``jax.value_and_grad(potential_fn)``). A negative ``step_size`` integrates
    backwards in time. ``mass``: optional, see :func:`drift`.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> vg = jax.value_and_grad(lambda z: 0.5 * jnp.sum(z**2))
        >>> s = init_integrator_state(vg, jnp.ones(2), jnp.zeros(2), jnp.ones(2))
        >>> leapfrog(vg, s, 0.1, jnp.ones(2)).z
        Array([0.995, 0.995], dtype=float32)
    """
    half = 0.5 * step_size
    p_half = state.p - half * state.z_grad
    z = drift(state.z, p_half, step_size, inverse_mass_matrix, mass)
    potential_energy, z_grad = potential_and_grad(z)
    p = p_half - half * z_grad
    return IntegratorState(z, p, velocity(inverse_mass_matrix, p), potential_energy, z_grad)


def init_integrator_state(
    potential_and_grad: PotentialAndGradFn,
    z: Float[ArrayLike, " d"],
    p: Float[ArrayLike, " d"],
    inverse_mass_matrix: ArrayLike,
) -> IntegratorState:
    """Evaluate the potential and gradient at ``z`` and pack a phase-space point."""
    z = jnp.asarray(z)
    p = jnp.asarray(p)
    potential_energy, z_grad = potential_and_grad(z)
    return IntegratorState(z, p, velocity(inverse_mass_matrix, p), potential_energy, z_grad)


def make_value_and_grad(
    potential_fn_flat: Callable[[Array], ArrayLike], dtype: Any
) -> PotentialAndGradFn:
    """``jax.value_and_grad`` of a flat potential, with outputs cast to ``dtype``.

    The cast keeps the loop carries of a fixed dtype when a float32 position meets a potential
    that computes in float64 (or the reverse).
    """
    vg = jax.value_and_grad(potential_fn_flat)

    def potential_and_grad(z: Array) -> tuple[Array, Array]:
        return cast_value_and_grad(*vg(z), dtype)

    return potential_and_grad


def cast_value_and_grad(value: ArrayLike, grad: ArrayLike, dtype: Any) -> tuple[Array, Array]:
    """A potential's value (as a scalar) and flat gradient in the position's ``dtype``."""
    return jnp.asarray(value, dtype).reshape(()), jnp.asarray(grad, dtype)


def evaluate_position(
    position_flat: Float[ArrayLike, " d"], potential_fn_flat: Callable[[Array], ArrayLike]
) -> tuple[Float[Array, " d"], Float[Array, ""], Float[Array, " d"]]:
    """Check a flat starting position and evaluate the potential and its gradient there.

    Returns ``(z, U(z), grad U(z))`` with ``z`` a floating 1-D array (an integer position is
    cast to the default float type). This is how every kernel starts a chain.
    """
    z = jnp.asarray(position_flat)
    if z.ndim != 1:
        raise ValueError(
            f"position_flat must be a 1-D vector, got shape {z.shape}; ravel a pytree "
            "position with inference._integrator.flatten_potential first."
        )
    if not jnp.issubdtype(z.dtype, jnp.floating):
        z = z.astype(jnp.result_type(float))
    potential_energy, z_grad = make_value_and_grad(potential_fn_flat, z.dtype)(z)
    return z, potential_energy, z_grad


def flatten_potential(
    potential_fn: Callable[[PyTree], ArrayLike], position: PyTree
) -> tuple[Float[Array, " d"], PotentialFn, Callable[[Array], PyTree]]:
    """Ravel a pytree potential once into a potential of a flat vector.

    Args:
        potential_fn: ``potential_fn(z) -> scalar`` where ``z`` is a pytree of arrays (for
            example a dict from site name to unconstrained value).
        position: an example position with the structure, shapes and dtypes of ``z``.

    Returns:
        ``(z_flat, potential_fn_flat, unravel)``: the flat position of shape ``(d,)``, the
        potential of a flat vector, and the function mapping a flat vector back to a pytree.

    Example:
        >>> import jax.numpy as jnp
        >>> pos = {"a": jnp.zeros(2), "b": jnp.ones(())}
        >>> z, f, unravel = flatten_potential(lambda q: jnp.sum(q["a"]) + q["b"], pos)
        >>> z.shape, f(z)
        ((3,), Array(1., dtype=float32))
    """
    z_flat, unravel = ravel_pytree(position)

    def potential_fn_flat(z: Array) -> Array:
        return jnp.asarray(potential_fn(unravel(z)))

    return z_flat, potential_fn_flat, unravel
