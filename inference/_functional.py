"""NumPyro's functional sampling API: ``hmc(potential_fn)`` and ``fori_collect``.

``init_kernel, sample_kernel = hmc(potential_fn, algo="NUTS")`` gives a pair of pure
functions: ``init_kernel(init_params, num_warmup, ...)`` returns a
:class:`HMCSamplerState`, and ``sample_kernel(state)`` makes one transition, adapting the
step size and mass matrix while ``state.i < num_warmup`` (Stan's windows). Unlike NumPyro's,
the configuration is not captured by mutating the closure: it travels in the state, as a
static field, so ``sample_kernel`` is a pure function of the state. ``fori_collect`` runs a
body function in one compiled loop and collects a transform of its values.

Example:
    >>> import jax, jax.numpy as jnp
    >>> init_kernel, sample_kernel = hmc(lambda z: 0.5 * jnp.sum(z["x"] ** 2), algo="NUTS")
    >>> state = init_kernel({"x": jnp.zeros(2)}, num_warmup=50, rng_key=jax.random.key(0))
    >>> draws = fori_collect(50, 150, sample_kernel, state, transform=lambda s: s.z["x"],
    ...                      progbar=False)
    >>> draws.shape
    (100, 2)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from jaxtyping import Array

from ._adaptation import AdaptState, adapt_init, adapt_update, warmup_schedule_np
from ._integrator import counter_split
from ._kernels import HMC, NUTS, _Kernel, forward_mode


class HMCSamplerState(eqx.Module):
    """The state of ``hmc``'s sampler, with NumPyro's field names.

    ``z`` is the position as the pytree given to ``init_kernel``; ``adapt_state`` holds the
    step size and inverse mass matrix; ``config`` (static) the sampler's options.
    """

    i: Array
    z: Any
    z_grad: Any
    potential_energy: Array
    energy: Array
    num_steps: Array
    accept_prob: Array
    mean_accept_prob: Array
    diverging: Array
    adapt_state: AdaptState
    rng_key: Array
    schedule: Array
    config: _Kernel = eqx.field(static=True)
    potential_fn: Callable | None = eqx.field(static=True, default=None)
    potential_fn_gen: Callable | None = eqx.field(static=True, default=None)


def _placeholder(z: Any) -> Array:
    raise AssertionError("unreachable: the sampler calls the state's potential")


def _potential(state_or_fns: Any, model_args: tuple, model_kwargs: dict | None) -> Callable:
    fn, gen = state_or_fns
    return fn if gen is None else gen(*model_args, **(model_kwargs or {}))


def hmc(
    potential_fn: Callable | None = None,
    potential_fn_gen: Callable | None = None,
    kinetic_fn: Callable | None = None,
    algo: str = "NUTS",
) -> tuple[Callable, Callable]:
    """``(init_kernel, sample_kernel)`` for HMC or NUTS on ``potential_fn`` (a function of a
    pytree position), or on ``potential_fn_gen(*model_args, **model_kwargs)``.

    NumPyro's signature and keyword arguments (see the module docstring).
    """
    if algo not in ("HMC", "NUTS"):
        raise ValueError(f"hmc: algo must be 'HMC' or 'NUTS', got {algo!r}.")
    if (potential_fn is None) == (potential_fn_gen is None):
        raise ValueError("hmc: pass exactly one of potential_fn or potential_fn_gen.")
    if kinetic_fn is not None:
        raise NotImplementedError(
            "hmc: a custom kinetic_fn is not supported; the kinetic energy is p . M^-1 p / 2."
        )

    def init_kernel(
        init_params: Any,
        num_warmup: int,
        step_size: float = 1.0,
        inverse_mass_matrix: Any = None,
        adapt_step_size: bool = True,
        adapt_mass_matrix: bool = True,
        dense_mass: bool = False,
        target_accept_prob: float = 0.8,
        *,
        num_steps: int | None = None,
        trajectory_length: float = 2 * math.pi,
        max_tree_depth: int = 10,
        find_heuristic_step_size: bool = False,
        forward_mode_differentiation: bool = False,
        regularize_mass_matrix: bool = True,
        model_args: tuple = (),
        model_kwargs: dict | None = None,
        rng_key: Any = None,
    ) -> HMCSamplerState:
        if rng_key is None:
            raise ValueError(
                "hmc init_kernel: pass rng_key (e.g. rng_key=jax.random.key(0)); there is "
                "no default key, so that two chains never share one by accident."
            )
        if isinstance(num_warmup, bool) or not isinstance(num_warmup, int) or num_warmup < 0:
            raise ValueError(
                f"hmc init_kernel: num_warmup must be an int >= 0, got {num_warmup!r}."
            )
        options: dict[str, Any] = dict(
            potential_fn=_placeholder,  # the kernel's options only; see HMCSamplerState
            step_size=step_size,
            adapt_step_size=adapt_step_size,
            adapt_mass_matrix=adapt_mass_matrix,
            dense_mass=dense_mass,
            target_accept_prob=target_accept_prob,
            find_heuristic_step_size=find_heuristic_step_size,
            forward_mode_differentiation=forward_mode_differentiation,
            regularize_mass_matrix=regularize_mass_matrix,
            inverse_mass_matrix=inverse_mass_matrix,
        )
        if algo == "NUTS":
            config: _Kernel = NUTS(max_tree_depth=max_tree_depth, **options)
        else:
            config = HMC(num_steps=num_steps, trajectory_length=trajectory_length, **options)
        z = init_params.z if hasattr(init_params, "z_grad") else init_params
        pot = _potential((potential_fn, potential_fn_gen), model_args, model_kwargs)
        if forward_mode_differentiation:
            pot = forward_mode(pot)
        z_flat, unravel = ravel_pytree(z)
        potential_flat = lambda zf: pot(unravel(zf))
        kstate = config.init_state(z_flat, potential_flat)
        imm = config.initial_inverse_mass_matrix(z, kstate.z.dtype)
        key, key_adapt = jax.random.split(rng_key)
        adapt = adapt_init(
            kstate.z,
            config.step_size,
            imm,
            config.target_accept_prob,
            imm.ndim == 2,
            potential_fn_flat=potential_flat if find_heuristic_step_size else None,
            key=key_adapt,
        )
        zero = jnp.zeros((), kstate.z.dtype)
        return HMCSamplerState(
            i=jnp.zeros((), jnp.int32),
            z=unravel(kstate.z),
            z_grad=unravel(kstate.z_grad),
            potential_energy=kstate.potential_energy,
            energy=kstate.potential_energy,
            num_steps=jnp.zeros((), jnp.int32),
            accept_prob=zero,
            mean_accept_prob=zero,
            diverging=jnp.zeros((), bool),
            adapt_state=adapt,
            rng_key=key,
            schedule=jnp.asarray(warmup_schedule_np(num_warmup)),
            config=config,
            potential_fn=potential_fn,
            potential_fn_gen=potential_fn_gen,
        )

    def sample_kernel(
        state: HMCSamplerState, model_args: tuple = (), model_kwargs: dict | None = None
    ) -> HMCSamplerState:
        config = state.config
        pot = _potential((state.potential_fn, state.potential_fn_gen), model_args, model_kwargs)
        if config.forward_mode_differentiation:
            pot = forward_mode(pot)
        z_flat, unravel = ravel_pytree(state.z)
        grad_flat, _ = ravel_pytree(state.z_grad)
        potential_flat = lambda zf: pot(unravel(zf))
        kstate = config.state_at(z_flat, state.potential_energy, grad_flat)
        key, sub = counter_split(state.rng_key)
        adapt = state.adapt_state
        kstate, info = config.transition_stats(
            sub, kstate, potential_flat, adapt.step_size, adapt.inverse_mass_matrix
        )
        num_warmup = state.schedule.shape[0]
        adapting = state.i < num_warmup
        adapt = jax.lax.cond(
            adapting,
            lambda: adapt_update(
                state.i,
                adapt,
                kstate.z,
                info["accept_prob"],
                state.schedule,
                adapt_step_size=config.adapt_step_size,
                adapt_mass_matrix=config.adapt_mass_matrix,
                regularize=config.regularize_mass_matrix,
                potential_fn_flat=potential_flat if config.find_heuristic_step_size else None,
                key=sub,
            ),
            lambda: adapt,
        )
        # The running mean restarts when sampling begins, as in NumPyro.
        n = jnp.where(adapting, state.i, state.i - num_warmup).astype(kstate.z.dtype) + 1
        accept = info["accept_prob"].astype(kstate.z.dtype)
        mean_accept = jnp.where(
            n == 1, accept, state.mean_accept_prob + (accept - state.mean_accept_prob) / n
        )
        return eqx.tree_at(
            lambda s: (
                s.i,
                s.z,
                s.z_grad,
                s.potential_energy,
                s.energy,
                s.num_steps,
                s.accept_prob,
                s.mean_accept_prob,
                s.diverging,
                s.adapt_state,
                s.rng_key,
            ),
            state,
            (
                state.i + 1,
                unravel(kstate.z),
                unravel(kstate.z_grad),
                kstate.potential_energy,
                info["energy"].astype(kstate.z.dtype),
                info["num_steps"].astype(jnp.int32),
                accept,
                mean_accept,
                info["diverging"].astype(bool),
                adapt,
                key,
            ),
        )

    return init_kernel, sample_kernel


def fori_collect(
    lower: int,
    upper: int,
    body_fun: Callable,
    init_val: Any,
    transform: Callable = lambda x: x,
    progbar: bool = True,
    return_last_val: bool = False,
    collection_size: int | None = None,
    thinning: int = 1,
    **progbar_opts: Any,
) -> Any:
    """Run ``val = body_fun(val)`` ``upper`` times in one compiled loop and collect
    ``transform(val)`` for iterations ``lower..upper-1`` (every ``thinning``-th), stacked on
    a leading axis. NumPyro's signature; the progress bar is fed from inside the loop.

    Returns the collection, and the last value too with ``return_last_val``.
    """
    for name, value in (("lower", lower), ("upper", upper), ("thinning", thinning)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"fori_collect: {name} must be an int, got {value!r}.")
    if not 0 <= lower <= upper:
        raise ValueError(f"fori_collect: need 0 <= lower <= upper, got {lower}, {upper}.")
    if thinning < 1:
        raise ValueError(f"fori_collect: thinning must be >= 1, got {thinning}.")
    kept = (upper - lower) // thinning
    size = kept if collection_size is None else int(collection_size)
    if size < kept:
        raise ValueError(f"fori_collect: collection_size={size} is below the {kept} values kept.")
    start = lower + (upper - lower) % thinning
    desc = progbar_opts.pop("progbar_desc", "sample")
    progress = None
    if progbar:
        from ._mcmc import _Progress

        progress = _Progress(1)

    @jax.jit
    def loop(val):
        proto = jax.eval_shape(transform, val)
        buf = jax.tree.map(lambda s: jnp.zeros((size + 1,) + s.shape, s.dtype), proto)
        tick = max(upper // 50, 1)

        def body(i, carry):
            val, buf = carry
            val = body_fun(val)
            j = (i - start) // thinning
            keep = (i >= start) & ((i - start) % thinning == 0)
            row = jnp.where(keep, j, size)
            out = transform(val)
            buf = jax.tree.map(
                lambda b, x: jax.lax.dynamic_update_index_in_dim(b, x, row, 0), buf, out
            )
            if progress is not None:
                jax.lax.cond(
                    (i % tick == 0) | (i == upper - 1),
                    lambda: jax.debug.callback(progress.update, 0, i + 1, upper, False),
                    lambda: None,
                )
            return val, buf

        val, buf = jax.lax.fori_loop(0, upper, body, (val, buf))
        return val, jax.tree.map(lambda b: b[:size], buf)

    if progress is not None:
        progress.start(upper, desc)
    try:
        last, collection = loop(init_val)
        jax.block_until_ready(collection)
    finally:
        if progress is not None:
            progress.close()
    return (collection, last) if return_last_val else collection
