"""Random-walk Metropolis, built for many chains run together.

A transition proposes ``z' = z + step_size * scale * eps`` with ``eps ~ N(0, I)`` and
``scale`` a per-coordinate proposal scale, and accepts with probability
``min(1, exp(U(z) - U(z')))``. All its randomness is an unrolled counter-based Threefry of
the transition's key (as in HMC and NUTS), so a step is a handful of fused kernels: under
``vmap`` over 10^5 chains it costs little more than the potential itself.

Warm-up tunes the step size by Robbins-Monro on its logarithm,
``log h_{t+1} = log h_t + (t + 1)^(-0.6) (a_t - target)``, towards the acceptance rate
that is optimal for random-walk proposals: 0.44 in one dimension and 0.234 in many
(Roberts, Gelman and Gilks 1997; Roberts and Rosenthal 2001). ``RandomWalk(...,
ensemble=True)`` pools the chains instead: ``a_t`` is their mean acceptance, and ``scale``
becomes the standard deviation of each coordinate over the chains, re-estimated at every
warm-up iteration (many chains give a good estimate at once). The tuned values stay fixed
while sampling, so the sampling phase is a Markov chain with the target as its invariant
distribution.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, PRNGKeyArray, PyTree

from ._integrator import counter_key, counter_normal, counter_uniform
from ._protocol import Adaptation, MCMCKernel, flatten_position

# Counter words of a transition: the proposal's normals use words 0 and 1, the
# acceptance draw word 2.
_PROPOSAL, _ACCEPT = 0, 2


class RWMState(eqx.Module):
    """A random-walk chain: its position and the potential there."""

    position: PyTree
    potential_energy: Float[Array, ""]


class RWMInfo(eqx.Module):
    """What one random-walk transition reports.

    Attributes:
        accept_prob: ``min(1, exp(U(z) - U(z')))`` (0 when ``U(z')`` is NaN).
        is_accepted: whether the proposal was accepted.
        potential_energy: ``U`` at the new state.
    """

    accept_prob: Float[Array, ""]
    is_accepted: Bool[Array, ""]
    potential_energy: Float[Array, ""]


class RWMParams(eqx.Module):
    """Random-walk tuning: ``step_size`` (scalar) times ``scale`` (per coordinate, on
    the ravelled position) is the proposal's standard deviation."""

    step_size: Float[Array, ""]
    scale: Float[Array, " d"]


class ScaleAdaptState(eqx.Module):
    """Robbins-Monro state: the log step size, the per-coordinate scale, updates done."""

    log_step_size: Float[Array, ""]
    scale: Float[Array, " d"]
    count: Array


def _flat_dtype(position: PyTree) -> Any:
    z, _, _ = flatten_position(position, lambda x: x)
    return z


class _ScaleAdaptation(Adaptation):
    """Robbins-Monro tuning of a random walk's step size: what both kinds share."""

    num_warmup: eqx.AbstractVar[int]
    step_size: eqx.AbstractVar[float]
    target_accept_prob: eqx.AbstractVar[float]
    adapt: eqx.AbstractVar[bool]
    decay: eqx.AbstractVar[float]

    def _next_log_step(self, adapt_state: ScaleAdaptState, accept: Array) -> Array:
        t = (adapt_state.count + 1).astype(adapt_state.log_step_size.dtype)
        gain = t ** jnp.asarray(-self.decay, t.dtype)
        return adapt_state.log_step_size + gain * (accept - self.target_accept_prob)

    def params(self, adapt_state: ScaleAdaptState) -> RWMParams:
        return RWMParams(jnp.exp(adapt_state.log_step_size), adapt_state.scale)

    def final(self, adapt_state: ScaleAdaptState) -> ScaleAdaptState:
        return adapt_state


class RobbinsMonro(_ScaleAdaptation):
    """Per-chain Robbins-Monro tuning of a random walk's step size (see this module).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> a = RobbinsMonro(100, step_size=1.0, target_accept_prob=0.44)
        >>> s = a.init(jax.random.key(0), jnp.zeros(1), None, None)
        >>> info = RWMInfo(jnp.array(0.0), jnp.array(False), jnp.array(0.0))
        >>> s = a.step(None, s, 0, None, info, None)
        >>> bool(a.params(s).step_size < 1.0)  # nothing accepted: a smaller step
        True
    """

    num_warmup: int = eqx.field(static=True)
    step_size: float = eqx.field(static=True, kw_only=True, default=1.0)
    target_accept_prob: float = eqx.field(static=True, kw_only=True, default=0.234)
    adapt: bool = eqx.field(static=True, kw_only=True, default=True)
    decay: float = eqx.field(static=True, kw_only=True, default=0.6)

    def init(self, key, position, state, potential_fn) -> ScaleAdaptState:
        z = _flat_dtype(position)
        return ScaleAdaptState(
            jnp.log(jnp.asarray(self.step_size, z.dtype)),
            jnp.ones(z.shape, z.dtype),
            jnp.zeros((), jnp.int32),
        )

    def step(self, key, adapt_state, i, state, info, potential_fn) -> ScaleAdaptState:
        if not self.adapt:
            return adapt_state
        accept = jnp.nan_to_num(jnp.asarray(info.accept_prob, adapt_state.log_step_size.dtype))
        log_h = self._next_log_step(adapt_state, accept)
        return ScaleAdaptState(log_h, adapt_state.scale, adapt_state.count + 1)


class EnsembleRobbinsMonro(_ScaleAdaptation):
    """Robbins-Monro on the chains' mean acceptance, with each coordinate's proposal
    scale set to its standard deviation over the chains (see this module)."""

    ensemble: ClassVar[bool] = True
    num_warmup: int = eqx.field(static=True)
    step_size: float = eqx.field(static=True, kw_only=True, default=1.0)
    target_accept_prob: float = eqx.field(static=True, kw_only=True, default=0.234)
    adapt: bool = eqx.field(static=True, kw_only=True, default=True)
    decay: float = eqx.field(static=True, kw_only=True, default=0.6)

    def init(self, key, position, state, potential_fn) -> ScaleAdaptState:
        z = jax.vmap(_flat_dtype)(position)  # (chains, d)
        return ScaleAdaptState(
            jnp.log(jnp.asarray(self.step_size, z.dtype)),
            _ensemble_scale(z),
            jnp.zeros((), jnp.int32),
        )

    def step(self, key, adapt_state, i, state, info, potential_fn) -> ScaleAdaptState:
        if not self.adapt:
            return adapt_state
        dtype = adapt_state.log_step_size.dtype
        accept = jnp.mean(jnp.nan_to_num(jnp.asarray(info.accept_prob, dtype)))
        log_h = self._next_log_step(adapt_state, accept)
        z = jax.vmap(_flat_dtype)(state.position)
        return ScaleAdaptState(log_h, _ensemble_scale(z), adapt_state.count + 1)


def _ensemble_scale(z: Array) -> Array:
    """Each coordinate's standard deviation over the chains (1 where it is 0 or there is
    one chain)."""
    if z.shape[0] < 2:
        return jnp.ones(z.shape[1:], z.dtype)
    sd = jnp.std(z, axis=0, ddof=1)
    return jnp.where(jnp.isfinite(sd) & (sd > 0), sd, jnp.ones_like(sd))


def _check_positive(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"RandomWalk: {name} must be a positive number, got {value!r}.")
    return float(value)


class RandomWalk(MCMCKernel):
    """Random-walk Metropolis with a Gaussian proposal, tuned in warm-up or given.

    Args:
        model, potential_fn: what to sample (exactly one), as for ``NUTS``.
        step_size: the proposal's standard deviation (times the per-coordinate scale);
            the initial value when ``adapt_step_size``.
        adapt_step_size: tune the step size during warm-up (Robbins-Monro).
        target_accept_prob: the acceptance rate to tune towards; by default 0.44 in one
            dimension and 0.234 in more.
        ensemble: tune one step size from all chains' mean acceptance, and scale each
            coordinate by its spread over the chains (needs ``chain_method="vectorized"``).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from inference import MCMC
        >>> kernel = RandomWalk(potential_fn=lambda p: 0.5 * jnp.sum(p["z"] ** 2))
        >>> mcmc = MCMC(kernel, num_warmup=200, num_samples=200, num_chains=4,
        ...             chain_method="vectorized", progress_bar=False)
        >>> mcmc.run(jax.random.key(0), init_params={"z": jnp.zeros((4, 2))})
        >>> mcmc.get_samples(group_by_chain=True)["z"].shape
        (4, 200, 2)
    """

    step_size: float = eqx.field(static=True, kw_only=True, default=1.0)
    adapt_step_size: bool = eqx.field(static=True, kw_only=True, default=True)
    target_accept_prob: float | None = eqx.field(static=True, kw_only=True, default=None)
    ensemble: bool = eqx.field(static=True, kw_only=True, default=False)

    info_fields: ClassVar[tuple[str, ...] | None] = ("accept_prob", "is_accepted")

    def __check_init__(self) -> None:
        _check_positive("step_size", self.step_size)
        t = self.target_accept_prob
        if t is not None and not (isinstance(t, (int, float)) and 0.0 < float(t) < 1.0):
            raise ValueError(
                f"RandomWalk: target_accept_prob must be a number strictly between 0 and 1 "
                f"(or None for 0.44 / 0.234), got {t!r}."
            )

    def init(self, key: PRNGKeyArray, position: PyTree, potential_fn: Callable) -> RWMState:
        z, potential_flat, _ = flatten_position(position, potential_fn)
        return RWMState(position, jnp.asarray(potential_flat(z), z.dtype).reshape(()))

    def step(
        self, key: PRNGKeyArray, state: RWMState, potential_fn: Callable, params: RWMParams
    ) -> tuple[RWMState, RWMInfo]:
        z, potential_flat, spec = flatten_position(state.position, potential_fn)
        dtype = z.dtype
        ckey = counter_key(key)
        eps = counter_normal(ckey, np.arange(z.shape[0], dtype=np.uint32), _PROPOSAL, dtype)
        proposal = z + jnp.asarray(params.step_size, dtype) * params.scale.astype(dtype) * eps
        u_new = jnp.asarray(potential_flat(proposal), dtype).reshape(())
        log_ratio = state.potential_energy - u_new
        accept_prob = jnp.where(jnp.isnan(log_ratio), 0.0, jnp.exp(jnp.minimum(log_ratio, 0.0)))
        u = counter_uniform(ckey, jnp.zeros((), jnp.uint32), jnp.uint32(_ACCEPT), dtype)
        accepted = u < accept_prob
        z_new = jnp.where(accepted, proposal, z)
        pe = jnp.where(accepted, u_new, state.potential_energy)
        position = z_new if spec is None else spec.unravel(z_new)
        return RWMState(position, pe), RWMInfo(accept_prob.astype(dtype), accepted, pe)

    def adaptation(self, position: PyTree, num_warmup: int) -> Adaptation:
        d = _flat_dtype(position).shape[0]
        target = self.target_accept_prob
        if target is None:
            target = 0.44 if d == 1 else 0.234
        cls = EnsembleRobbinsMonro if self.ensemble else RobbinsMonro
        return cls(
            num_warmup,
            step_size=self.step_size,
            target_accept_prob=float(target),
            adapt=self.adapt_step_size,
        )
