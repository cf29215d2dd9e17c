"""The ``MCMC`` driver: warm-up and sampling, each one compiled loop.

One jitted loop function serves both phases: a ``lax.fori_loop`` whose trip count and
"adapting" flag are traced values, writing draws into a buffer of static size. So a run
with ``num_warmup == num_samples`` compiles the sampler once, and there is no per-step
Python dispatch. The progress bar is fed from inside the loop with ``jax.debug.callback``.

What recompiles. The model's arguments are split by :class:`inference.ModelArgs`: JAX
arrays are traced (a second ``run`` with new JAX-array data of the same shapes and dtypes
compiles nothing); NumPy arrays, Python scalars, strings, ``None`` and other objects are
constants of the program (a new value compiles again). ``MCMC(..., jit_model_args=True)``
traces every number, ``jit_model_args=False`` none.

Warm-up and continuing. ``run`` warms up from a fresh initial point, unless
``post_warmup_state`` is set, as in NumPyro: ``warmup()`` sets it, or set it yourself to
continue a chain (``mcmc.post_warmup_state = mcmc.last_state``; ``None`` warms up again).
Continuing evaluates the potential and its gradient afresh at the carried point under the
call's arguments, so a chain never runs on a stale energy; the step size and mass matrix
adapted before are kept, so continue only with data like those they were adapted on.

The driver object holds results between calls (it is the friendly wrapper around the pure
kernels); results are replaced only when a run completes, so a failed or interrupted run
leaves the previous results intact.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import warnings
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from jaxtyping import Array

from ._init import (
    MAX_INIT_TRIES,
    ConstrainFn,
    PotentialFn,
    checked_spec,
    describe_nonfinite,
    find_initial_point,
    prototype_trace,
    raise_no_valid_init,
)
from ._integrator import counter_split, flatten_potential
from ._jit import run_once_jit
from ._kernels import _Kernel, forward_mode
from ._model_args import ModelArgs, explain_traced_args, is_traced
from ._model_spec import ModelSpec
from ._protocol import Adaptation, FlatSpec, MCMCKernel, flatten_position, scalar_info
from ._streaming import Moments, combine_moments
from ._summary import print_summary as _print_summary
from ._validation import raise_violations, violation_message

CHAIN_METHODS = ("sequential", "vectorized", "parallel")
_MAX_BARS = 16  # more chains than this share one progress bar


class _ModelSetup(NamedTuple):
    """A model's spec and the prototype trace it was read from (one abstract run), with
    what they were built for: the model and its arguments' structure and shapes."""

    spec: ModelSpec
    trace: Any
    model: Callable
    args_key: Any

    def fits(self, model: Callable, args_key: Any) -> bool:
        return model is self.model and args_key == self.args_key


def _args_key(margs: ModelArgs) -> Any:
    """What a spec depends on in the arguments: their structure and static values (the
    treedef), and the traced leaves' shapes and dtypes."""
    leaves, treedef = jax.tree.flatten(margs)
    return treedef, tuple((jnp.shape(x), jnp.result_type(x)) for x in leaves)


_Setup = _ModelSetup | None  # None: a potential_fn kernel, with no model


class _StreamTransform(eqx.Module):
    """A flat position to the ravelled values a streaming run keeps moments of."""

    constrain: Any  # ConstrainFn, a postprocess_fn, or None
    spec: FlatSpec | None = eqx.field(static=True)

    def structured(self, z: Array) -> Any:
        position = z if self.spec is None else self.spec.unravel(z)
        return position if self.constrain is None else self.constrain(position)

    def __call__(self, z: Array) -> Array:
        return ravel_pytree(self.structured(z))[0]


class _StreamMoments(eqx.Module):
    """A streaming run's per-chain running moments of its (ravelled) rows."""

    count: Array  # (chains,)
    mean: Array  # (chains, width)
    m2: Array  # (chains, width)
    unravel: Callable = eqx.field(static=True)


class ChainState(eqx.Module):
    """Everything a chain needs to continue: kernel state, adaptation state, key."""

    z: Any  # kernel state (for HMC/NUTS: flat position, potential, gradient)
    adapt: Any  # the adaptation's state (for HMC/NUTS: an AdaptState)
    rng_key: Array

    @property
    def step_size(self) -> Array:
        return self.adapt.step_size

    @property
    def inverse_mass_matrix(self) -> Array:
        return self.adapt.inverse_mass_matrix


class _Program(eqx.Module):
    """The static description of the compiled loop (part of the jit cache key)."""

    # Not static: the kernel holds the model, which may hold arrays (conditioned data).
    kernel: MCMCKernel
    adaptation: Adaptation = eqx.field(static=True)
    num_collect: int = eqx.field(static=True)
    thinning: int = eqx.field(static=True)
    progress: Any = eqx.field(static=True)
    # Keep running moments of the draws (per chain) instead of the draws themselves.
    stream: bool = eqx.field(static=True, default=False)


def _init_chain(
    kernel: MCMCKernel, potential: Callable, z: Any, rng_key: Array, evaluated: Any = None
) -> Any:
    """A chain's kernel state at unconstrained ``z``. ``evaluated``: the potential and
    gradient already known there (a ``ParamInfo``), so that an HMC-family kernel does not
    compute (and compile) them again."""
    z_flat, potential_flat, _ = flatten_potential(potential, z)
    if evaluated is not None and isinstance(kernel, _Kernel):
        grad_flat, _ = ravel_pytree(evaluated.z_grad)
        return kernel.state_at(z_flat, evaluated.potential_energy, grad_flat)
    return kernel.init(rng_key, z_flat, potential_flat)


def _state_ok(kstate: Any, potential_flat: Callable) -> Array:
    """Whether the potential (and its gradient, where the state holds one) is finite at
    the state's position."""
    pe = getattr(kstate, "potential_energy", None)
    if pe is None:
        pe = potential_flat(kstate.position)
    ok = jnp.all(jnp.isfinite(jnp.asarray(pe)))
    grad = getattr(kstate, "z_grad", None)
    if grad is not None:
        ok = ok & jnp.all(jnp.isfinite(grad))
    return ok


def _with_adaptation(adaptation: Adaptation, potential, template, kstates, keys) -> ChainState:
    """Chain states (with a chain axis) for kernel states ``kstates``, each starting the
    adaptation with its chain's key; an ensemble adaptation starts once from all chains
    and every chain holds a copy."""
    _, potential_flat, _ = flatten_potential(potential, template)
    if adaptation.ensemble:
        positions = jax.vmap(lambda s: s.position)(kstates)
        adapt = adaptation.init(keys[0], positions, kstates, potential_flat)
        n = keys.shape[0]
        adapt = jax.tree.map(lambda x: jnp.broadcast_to(x, (n,) + jnp.shape(x)), adapt)
    else:
        adapt = _map_chains(
            lambda s, k: adaptation.init(k, s.position, s, potential_flat), kstates, keys
        )
    return ChainState(kstates, adapt, keys)


_with_adaptation_jit = run_once_jit(_with_adaptation)


def _row_of(program: _Program, kstate: Any, info: Any, row_dtype: Any, transform: Any):
    """A draw as one row: the position (mapped by ``transform`` when streaming), then the
    kept statistics."""
    stats = scalar_info(program.kernel, info)
    z = kstate.position
    if transform is not None:
        z = transform(z)
    parts = [jnp.ravel(z).astype(row_dtype)]
    if stats:
        parts.append(jnp.stack([v.astype(row_dtype) for v in stats.values()]))
    return jnp.concatenate(parts), {k: v.dtype for k, v in stats.items()}


def _welford_row(acc: tuple, row: Array, write: Array) -> tuple:
    """Running (count, mean, sum of squared deviations) of the rows, updated if ``write``."""
    count, mean, m2 = acc
    n = count + 1
    delta = row - mean
    new_mean = mean + delta / n.astype(row.dtype)
    new_m2 = m2 + delta * (row - new_mean)
    return (
        jnp.where(write, n, count),
        jnp.where(write, new_mean, mean),
        jnp.where(write, new_m2, m2),
    )


def _one_chain_loop(
    program: _Program,
    potential,
    template,
    state: ChainState,
    n_iter,
    adapting,
    collect,
    chain_id,
    transform=None,
):
    """``n_iter`` transitions of one chain, adapting when ``adapting`` (a traced flag, one
    for all chains), writing the first ``collect`` kept draws into the buffer (a traced
    count, at most ``program.num_collect``)."""
    kernel, adaptation = program.kernel, program.adaptation
    template_flat, potential_flat, _ = flatten_potential(potential, template)
    d, dtype = template_flat.shape[0], template_flat.dtype
    # One spare row at the end takes the draws that are not kept (warm-up, thinning), so
    # that every iteration writes its row without reading the old one.
    n_rows = program.num_collect + 1
    # A draw is one row: the position, then the statistics (exact in at least float32: counts
    # stay below 2^24). One write per draw instead of one per field keeps the draw's kernels
    # ready at once below XLA:CPU's threshold for handing them to its thread pool.
    row_dtype = dtype if jnp.finfo(dtype).bits >= 32 else jnp.dtype(jnp.float32)
    stat_dtypes: dict[str, Any] = {}  # filled while the loop body is traced
    width = _row_width(
        program,
        d,
        transform,
        lambda: jax.eval_shape(
            lambda st: _row_of(
                program,
                *kernel.step(st.rng_key, st.z, potential_flat, adaptation.params(st.adapt)),
                row_dtype,
                transform,
            )[0],
            state,
        ),
    )
    if program.stream:
        zeros = jnp.zeros((width,), row_dtype)
        buf: Any = (jnp.zeros((), jnp.int32), zeros, zeros)
    else:
        buf = jnp.zeros((n_rows, width), row_dtype)
    tick = jnp.maximum(n_iter // 50, 1)

    def body(i, carry):
        st, buf = carry
        key, sub = counter_split(st.rng_key)
        kstate, info = kernel.step(sub, st.z, potential_flat, adaptation.params(st.adapt))
        # `adapting` is one flag for all chains (never batched), so this stays a real
        # branch under vmap and sampling pays nothing for adaptation. Warm-up starts from
        # fresh states, so its iteration is the loop's index `i`, which is one for all
        # chains too: the schedule's window ends stay real branches under vmap (with
        # `find_heuristic_step_size`, the step-size search then runs at window ends only).
        adapt = jax.lax.cond(
            adapting,
            lambda: adaptation.step(
                jax.random.fold_in(sub, 1),  # not the transition's own key
                st.adapt,
                i,
                kstate,
                info,
                potential_flat,
            ),
            lambda: st.adapt,
        )
        st = ChainState(kstate, adapt, key)
        j = i // program.thinning
        write = (i % program.thinning == 0) & (j < collect)
        draw, dtypes = _row_of(program, kstate, info, row_dtype, transform)
        stat_dtypes.update(dtypes)
        if program.stream:
            buf = _welford_row(buf, draw, write)
        else:
            row = jnp.where(write, j, program.num_collect)
            buf = jax.lax.dynamic_update_index_in_dim(buf, draw, row, 0)
        if program.progress is not None:
            jax.lax.cond(
                (i % tick == 0) | (i == n_iter - 1),
                lambda: jax.debug.callback(
                    program.progress.update, chain_id, i + 1, n_iter, adapting
                ),
                lambda: None,
            )
        return st, buf

    state, buf = jax.lax.fori_loop(0, n_iter, body, (state, buf))
    state = eqx.tree_at(
        lambda s: s.adapt,
        state,
        jax.lax.cond(adapting, adaptation.final, lambda a: a, state.adapt),
        is_leaf=lambda x: x is None,
    )
    return state, *_unpack(program, buf, d, dtype, stat_dtypes)


def _row_width(program: _Program, d: int, transform: Any, probe: Callable) -> int:
    """The width of a draw's row: from the kernel's declared statistics when it lists them
    (no extra trace of the kernel), else by tracing one step (``probe``)."""
    names = program.kernel.info_fields
    if names is not None and transform is None:
        return d + len(names)
    return int(probe().shape[-1])


def _unpack(program: _Program, buf: Any, d: int, dtype: Any, stat_dtypes: dict) -> tuple:
    """The loop's buffer as (draws, statistics); a streaming run's running moments as
    ``{"count", "mean", "m2"}`` and no statistics."""
    if program.stream:
        count, mean, m2 = buf
        return {"count": count, "mean": mean, "m2": m2}, {}
    width = buf.shape[-1]
    buf_z = buf[..., :-1, : width - len(stat_dtypes)].astype(dtype)
    start = width - len(stat_dtypes)
    buf_info = {
        f: buf[..., :-1, start + k].astype(t) for k, (f, t) in enumerate(stat_dtypes.items())
    }
    return buf_z, buf_info


def _ensemble_loop(
    program: _Program,
    potential,
    template,
    states: ChainState,
    n_iter,
    adapting,
    collect,
    chain_ids,
    transform=None,
):
    """``n_iter`` transitions of all chains together, with an ensemble adaptation: each
    iteration steps every chain (``vmap``) and then adapts once from all of them."""
    kernel, adaptation = program.kernel, program.adaptation
    template_flat, potential_flat, _ = flatten_potential(potential, template)
    d, dtype = template_flat.shape[0], template_flat.dtype
    n_chains = chain_ids.shape[0]
    row_dtype = dtype if jnp.finfo(dtype).bits >= 32 else jnp.dtype(jnp.float32)
    params0 = adaptation.params(jax.tree.map(lambda x: x[0], states.adapt))
    step_all = jax.vmap(kernel.step, in_axes=(0, 0, None, None))
    rows_of = jax.vmap(lambda s, inf: _row_of(program, s, inf, row_dtype, transform)[0])
    stat_dtypes: dict[str, Any] = {}  # filled while the loop body is traced
    width = _row_width(
        program,
        d,
        transform,
        lambda: jax.eval_shape(
            lambda st: rows_of(*step_all(st.rng_key, st.z, potential_flat, params0)), states
        ),
    )
    if program.stream:
        zeros = jnp.zeros((n_chains, width), row_dtype)
        buf: Any = (jnp.zeros((n_chains,), jnp.int32), zeros, zeros)
    else:
        buf = jnp.zeros((program.num_collect + 1, n_chains, width), row_dtype)
    tick = jnp.maximum(n_iter // 50, 1)
    carry0 = (states.z, jax.tree.map(lambda x: x[0], states.adapt), states.rng_key)

    def body(i, carry):
        (kstates, adapt, keys), buf = carry
        keys, subs = jax.vmap(counter_split)(keys)
        kstates, info = step_all(subs, kstates, potential_flat, adaptation.params(adapt))
        adapt = jax.lax.cond(
            adapting,
            lambda: adaptation.step(
                jax.random.fold_in(subs[0], 1), adapt, i, kstates, info, potential_flat
            ),
            lambda: adapt,
        )
        j = i // program.thinning
        write = (i % program.thinning == 0) & (j < collect)
        draws = rows_of(kstates, info)
        stat_dtypes.update({k: v.dtype for k, v in scalar_info(kernel, info).items()})
        if program.stream:
            buf = jax.vmap(_welford_row, in_axes=(0, 0, None))(buf, draws, write)
        else:
            row = jnp.where(write, j, program.num_collect)
            buf = jax.lax.dynamic_update_index_in_dim(buf, draws, row, 0)
        if program.progress is not None:
            jax.lax.cond(
                (i % tick == 0) | (i == n_iter - 1),
                lambda: jax.debug.callback(
                    program.progress.update,
                    chain_ids[: _MAX_BARS + 1],
                    jnp.broadcast_to(i + 1, chain_ids[: _MAX_BARS + 1].shape),
                    n_iter,
                    adapting,
                ),
                lambda: None,
            )
        return (kstates, adapt, keys), buf

    (kstates, adapt, keys), buf = jax.lax.fori_loop(0, n_iter, body, (carry0, buf))
    adapt = jax.lax.cond(adapting, adaptation.final, lambda a: a, adapt)
    adapt = jax.tree.map(lambda x: jnp.broadcast_to(x, (n_chains,) + jnp.shape(x)), adapt)
    if not program.stream:
        buf = jnp.swapaxes(buf, 0, 1)  # (rows, chains, width) -> (chains, rows, width)
    out_z, out_info = _unpack(program, buf, d, dtype, stat_dtypes)
    return ChainState(kstates, adapt, keys), out_z, out_info


def _with_new_keys(states: ChainState, rng_key: Array, rekey: Array) -> ChainState:
    """``states`` with chain ``c`` keyed by ``split(rng_key, num_chains)[c]`` if ``rekey``
    (a run continuing from a previous state takes the new call's key, as in NumPyro)."""
    old = states.rng_key
    fresh = jax.random.split(rng_key, old.shape[0])
    old_typed = jnp.issubdtype(old.dtype, jax.dtypes.prng_key)
    if jnp.issubdtype(fresh.dtype, jax.dtypes.prng_key) and not old_typed:
        fresh = jax.random.key_data(fresh)
    elif old_typed and not jnp.issubdtype(fresh.dtype, jax.dtypes.prng_key):
        fresh = jax.random.wrap_key_data(fresh, impl=jax.random.key_impl(old))
    keys = jax.lax.cond(rekey, lambda: fresh, lambda: old)
    return eqx.tree_at(lambda s: s.rng_key, states, keys)


@eqx.filter_jit
def _loop_single(
    program,
    potential,
    template,
    states,
    chain,
    rng_key,
    rekey,
    n_iter,
    adapting,
    collect,
    transform,
):
    """Chain ``chain`` of the batch ``states``; results keep a chain axis of length 1.

    Indexing and re-keying happen here, inside the compiled program, rather than as
    separate small programs around it.
    """
    states = _with_new_keys(states, rng_key, rekey)
    state = jax.tree.map(lambda x: x[chain], states)
    out = _one_chain_loop(
        program, potential, template, state, n_iter, adapting, collect, chain, transform
    )
    return jax.tree.map(lambda x: x[None], out)


@eqx.filter_jit
def _loop_vectorized(
    program,
    potential,
    template,
    states,
    chain_ids,
    rng_key,
    rekey,
    n_iter,
    adapting,
    collect,
    transform,
):
    states = _with_new_keys(states, rng_key, rekey)
    if program.adaptation.ensemble:
        return _ensemble_loop(
            program, potential, template, states, n_iter, adapting, collect, chain_ids, transform
        )
    fn = lambda s, c: _one_chain_loop(
        program, potential, template, s, n_iter, adapting, collect, c, transform
    )
    return jax.vmap(fn)(states, chain_ids)


@eqx.filter_jit
def _loop_sharded(
    program,
    potential,
    template,
    states,
    chain_ids,
    rng_key,
    rekey,
    n_iter,
    adapting,
    collect,
    transform,
    *,
    mesh,
):
    """The chains sharded over the devices of ``mesh`` (axis ``"chains"``) with
    ``jax.shard_map``, vectorised within each device: one program for any device count."""
    states = _with_new_keys(states, rng_key, rekey)
    return _sharded(
        program, potential, template, states, chain_ids, n_iter, adapting, collect, transform, mesh
    )


def _sharded(
    program, potential, template, states, chain_ids, n_iter, adapting, collect, transform, mesh
):
    # Arrays in the potential, template and transform (data, constants) go to every device.
    shared, static = eqx.partition((potential, template, transform), eqx.is_array)
    chains, replicated = jax.sharding.PartitionSpec("chains"), jax.sharding.PartitionSpec()

    def local(states, chain_ids, shared, n_iter, adapting, collect):
        potential, template, transform = eqx.combine(shared, static)
        fn = lambda s, c: _one_chain_loop(
            program, potential, template, s, n_iter, adapting, collect, c, transform
        )
        return _map_chains(fn, states, chain_ids)

    return jax.shard_map(
        local,
        mesh=mesh,
        in_specs=(chains, chains, replicated, replicated, replicated, replicated),
        out_specs=chains,
        # The chains share nothing (no collectives), so the loop's fresh buffers need no
        # varying-axis annotations.
        check_vma=False,
    )(states, chain_ids, shared, n_iter, adapting, collect)


def _raw_keys(states: ChainState) -> tuple[ChainState, str | None]:
    """``states`` with typed keys as their raw words (what crosses processes), and the
    key implementation to wrap them back with (``None``: already raw)."""
    key = states.rng_key
    if not jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        return states, None
    impl = str(jax.random.key_impl(key))
    return eqx.tree_at(lambda s: s.rng_key, states, jax.random.key_data(key)), impl


def _typed_keys(states: ChainState, impl: str | None) -> ChainState:
    if impl is None:
        return states
    keys = jax.random.wrap_key_data(states.rng_key, impl=impl)
    return eqx.tree_at(lambda s: s.rng_key, states, keys)


def _loop_across_processes(program, potential, template, states, chain_ids, run_args, mesh):
    """The sharded loop after ``jax.distributed.initialize``: every process computed the
    same initial states; each hands its own chains' rows to the devices it holds, the
    loop runs on the devices of all processes, and every process gathers the results."""
    from jax.experimental import multihost_utils

    rng_key, rekey, n_iter, adapting, collect, transform = run_args
    states, impl = _raw_keys(_rekey_jit(states, rng_key, rekey))
    by_chain = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("chains"))
    everywhere = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())

    def mine(x):
        x = np.asarray(x)
        index = list(by_chain.addressable_devices_indices_map(x.shape).values())
        start = min(i[0].start or 0 for i in index)
        stop = max(x.shape[0] if i[0].stop is None else i[0].stop for i in index)
        return jax.make_array_from_process_local_data(by_chain, x[start:stop], x.shape)

    def replicated(x):
        return jax.make_array_from_process_local_data(everywhere, np.asarray(x), np.shape(x))

    shared, static = eqx.partition((potential, template, transform), eqx.is_array)
    out = _loop_global(
        program,
        static,
        jax.tree.map(replicated, shared),
        jax.tree.map(mine, states),
        mine(chain_ids),
        n_iter,
        adapting,
        collect,
        impl=impl,
        mesh=mesh,
    )
    gather = lambda x: jnp.asarray(multihost_utils.process_allgather(x, tiled=True))
    new_states, z, info = jax.tree.map(gather, out)
    return _typed_keys(new_states, impl), z, info


@eqx.filter_jit
def _loop_global(
    program, static, shared, raw_states, chain_ids, n_iter, adapting, collect, *, impl, mesh
):
    potential, template, transform = eqx.combine(shared, static)
    states = _typed_keys(raw_states, impl)
    new_states, z, info = _sharded(
        program, potential, template, states, chain_ids, n_iter, adapting, collect, transform, mesh
    )
    return _raw_keys(new_states)[0], z, info


_rekey_jit = eqx.filter_jit(_with_new_keys)


def _map_chains(fn: Callable, *xs: Any) -> Any:
    """``jax.vmap(fn)`` over the leading (chain) axis; one chain is run without batching
    rules, which gives a smaller program."""
    if jax.tree.leaves(xs)[0].shape[0] == 1:
        return jax.tree.map(lambda x: x[None], fn(*jax.tree.map(lambda x: x[0], xs)))
    return jax.vmap(fn)(*xs)


@run_once_jit
def _init_chains(kernel, potential, zs, keys):
    """Kernel states at given initial points (``init_params``), one per row of ``zs``,
    and whether each chain's potential and gradient are finite there."""

    def one(z, k):
        kstate = _init_chain(kernel, potential, z, k)
        _, potential_flat, _ = flatten_potential(potential, z)
        return kstate, _state_ok(kstate, potential_flat)

    kstates, ok = _map_chains(one, zs, keys)
    return kstates, jax.tree.map(lambda x: x[0], zs), ok


@run_once_jit
def _refresh_chains(kernel, potential, template, states):
    """``states`` with the kernel state started afresh (``kernel.init``) at each chain's
    position (a continued run whose model arguments may differ from the last)."""

    def one(st):
        _, potential_flat, _ = flatten_potential(potential, template)
        kstate = kernel.init(st.rng_key, st.z.position, potential_flat)
        return ChainState(kstate, st.adapt, st.rng_key), _state_ok(kstate, potential_flat)

    return _map_chains(one, states)


@run_once_jit
def _start_chains(kernel, potential, margs, spec, rng_key, num_chains: int, max_tries: int):
    """Find each chain's initial point and build its kernel state, as one compiled program.

    The potential and gradient found at the initial point become the kernel's state, so
    the model's gradient is compiled once here. Returns the kernel states, the keys of the
    chains, the position template (chain 0's unconstrained point), each chain's last point
    tried, whether each chain found a finite potential, and the data and parameter checks
    at each point. ``spec``: the model's spec (static), checked by the caller.
    """
    keys = jax.random.split(rng_key, num_chains)

    def one(key):
        info, ok, checks = find_initial_point(
            key, kernel.model, margs, kernel.init_strategy, max_tries, spec, potential
        )
        kstate = _init_chain(kernel, potential, info.z, key, evaluated=info)
        return kstate, info.z, ok, checks

    kstates, zs, ok, checks = _map_chains(one, keys)
    checks = jax.tree.map(jnp.max, checks)
    return kstates, keys, jax.tree.map(lambda x: x[0], zs), zs, ok, checks


@eqx.filter_jit
def _postprocess(constrain: Any, template, flat):
    """Flat draws ``(chains, draws, d)`` to a dict of constrained site values (unravelled
    only, for a potential_fn kernel), each ``(chains, draws, ...)``."""
    _, unravel = ravel_pytree(template)
    fn = unravel if constrain is None else (lambda z: constrain(unravel(z)))
    return jax.vmap(jax.vmap(fn))(flat)


class _Interrupted(Exception):
    """Raised inside the compiled loop's progress callback to stop it after Ctrl-C."""


class _Progress:
    """A tqdm progress bar per chain, updated from inside the compiled loop.

    It also stops a run on Ctrl-C. A program with host callbacks runs synchronously, with
    the main thread inside XLA, where Python cannot raise ``KeyboardInterrupt`` until the
    whole loop has finished. So while a bar is shown, the signal's byte is also written to
    a pipe (``signal.set_wakeup_fd``, from the C-level handler); the next callback from the
    loop reads it and raises, which ends the computation early, and the driver raises
    ``KeyboardInterrupt``.
    """

    def __init__(self, num_chains: int):
        self.num_chains = num_chains
        self.bars: dict[int, Any] = {}
        self.stop = threading.Event()
        self._pipe: tuple[int, int] | None = None
        self._old_wakeup = -1

    def start(self, total_by_chain: int, desc: str) -> None:
        from tqdm.auto import tqdm

        self.close()
        self.stop.clear()
        if threading.current_thread() is threading.main_thread():
            r, w = os.pipe()
            os.set_blocking(r, False)
            os.set_blocking(w, False)
            self._old_wakeup = signal.set_wakeup_fd(w, warn_on_full_buffer=False)
            self._pipe = (r, w)
        if self.num_chains > _MAX_BARS:
            # Thousands of chains: one bar, following chain 0 (they move in step).
            label = f"{desc} ({self.num_chains} chains)"
            self.bars = {0: tqdm(total=total_by_chain, desc=label, leave=True, file=sys.stderr)}
            return
        self.bars = {
            c: tqdm(
                total=total_by_chain,
                desc=f"{desc} chain {c}" if self.num_chains > 1 else desc,
                leave=True,
                file=sys.stderr,
            )
            for c in range(self.num_chains)
        }

    def _interrupted(self) -> bool:
        if self._pipe is not None and not self.stop.is_set():
            try:
                data = os.read(self._pipe[0], 64)
            except (BlockingIOError, OSError):
                data = b""
            if int(signal.SIGINT) in data:
                self.stop.set()
        return self.stop.is_set()

    def update(self, chain_id, i, n, adapting) -> None:
        if self._interrupted():
            raise _Interrupted("interrupted by the user")
        chain_ids = np.atleast_1d(np.asarray(chain_id))
        iters = np.atleast_1d(np.asarray(i))
        for c, it in zip(chain_ids, iters):
            bar = self.bars.get(int(c))
            if bar is not None:
                bar.n = int(it)
                bar.refresh()

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()
        self.bars = {}
        if self._pipe is not None:
            signal.set_wakeup_fd(self._old_wakeup)
            for fd in self._pipe:
                os.close(fd)
            self._pipe = None

    def __hash__(self):
        return id(self)

    def __eq__(self, other):
        return self is other


def _wait(out: Any, progress: _Progress | None) -> Any:
    """Wait for the compiled loop's results; a loop stopped by Ctrl-C (through its progress
    callback) raises ``KeyboardInterrupt``, not XLA's callback error."""
    try:
        return jax.block_until_ready(out)
    except Exception as e:
        if (progress is not None and progress.stop.is_set()) or "_Interrupted" in str(e):
            raise KeyboardInterrupt from None
        raise


def _check_positive_int(name: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}.")
    return int(value)


def _chain_init_params(
    init_params: Any, shapes: dict[str, tuple[int, ...]] | None, num_chains: int
) -> Any:
    """``init_params`` with a leading chain axis on every leaf.

    With the model's unconstrained site shapes known, a value shaped like its site is used
    for every chain and a value with one more leading axis of size ``num_chains`` gives one
    per chain; anything else is an error naming the site. A ``potential_fn`` kernel has no
    site shapes, so with several chains every leaf must carry the chain axis.
    """
    if hasattr(init_params, "z") and hasattr(init_params, "z_grad"):
        init_params = init_params.z  # a ParamInfo, NumPyro style
    if shapes is None:
        zs = jax.tree.map(jnp.asarray, init_params)
        if num_chains == 1:
            return jax.tree.map(lambda x: x[None], zs)
        bad = [x.shape for x in jax.tree.leaves(zs) if x.ndim < 1 or x.shape[0] != num_chains]
        if bad:
            raise ValueError(
                f"init_params for {num_chains} chains of a potential_fn kernel: every leaf "
                f"needs a leading chain axis of size {num_chains}; found leaves of shapes "
                f"{bad}. Fix: stack one initial point per chain (jnp.stack), or broadcast."
            )
        return zs
    if not isinstance(init_params, dict):
        raise TypeError(
            f"init_params must be a dict from latent site name to unconstrained value, got "
            f"{type(init_params).__name__}."
        )
    missing = sorted(set(shapes) - set(init_params))
    unknown = sorted(set(init_params) - set(shapes))
    if missing or unknown:
        raise ValueError(
            f"init_params must give every latent site of the model, and only those: missing "
            f"{missing}, not latent sites {unknown} (latent sites: {sorted(shapes)}). Fix: "
            "pass a value (unconstrained) for each latent site, e.g. from "
            "initialize_model(...).param_info.z."
        )
    out = {}
    for name, shape in shapes.items():
        x = jnp.asarray(init_params[name])
        if x.shape == shape:
            out[name] = jnp.broadcast_to(x, (num_chains,) + shape)
        elif x.shape == (num_chains,) + shape:
            out[name] = x
        else:
            per_chain = f" or {(num_chains,) + shape} (one per chain)" if num_chains > 1 else ""
            raise ValueError(
                f"init_params['{name}'] has shape {x.shape}; site '{name}' has unconstrained "
                f"shape {shape}, so pass shape {shape} (the same for every chain){per_chain}."
            )
    return out


class MCMC:
    """Run a kernel for ``num_warmup`` + ``num_samples`` iterations.

    Args:
        sampler: a kernel: ``NUTS(model)``, ``HMC(model)``, ``RandomWalk(model)``,
            ``ChEES(model)``, or any :class:`MCMCKernel` of your own.
        num_warmup: warm-up (adaptation) iterations; their draws are discarded.
        num_samples: draws to keep per chain (before thinning).
        num_chains: number of chains.
        thinning: keep every ``thinning``-th draw.
        postprocess_fn: for a ``potential_fn`` kernel, a function applied to each draw
            (unconstrained position) to give the samples (NumPyro's argument).
        chain_method: ``"sequential"``, ``"vectorized"`` (``vmap``) or ``"parallel"``:
            the chains sharded evenly over all devices (``jax.make_mesh`` and
            ``jax.shard_map``), vectorised within each device; after
            ``jax.distributed.initialize`` the devices of every process, each process
            running its own chains and gathering all of them at the end. Falls back to
            sequential with a warning when the chains do not divide among the devices.
        progress_bar: show a tqdm bar; by default only when stderr is a terminal.
        jit_model_args: which model arguments are traced (see :class:`ModelArgs`): by
            default (``None``) JAX arrays are traced, so new JAX-array data of the same
            shapes reuse the compiled programs, and everything else is a constant;
            ``True`` traces every number; ``False`` makes every argument a constant.
        streaming: keep, per chain, running means and variances of the draws (Welford)
            instead of the draws, so that memory does not grow with ``num_samples``;
            read them with ``get_moments()`` (``get_samples()`` then has nothing).

    ``run`` warms up afresh unless ``post_warmup_state`` is set (by ``warmup()``, or by you:
    ``mcmc.post_warmup_state = mcmc.last_state`` continues the chains). A continued run
    re-evaluates the potential at the carried point under the call's arguments.

    Example:
        >>> import jax, dists as D
        >>> from effects import sample
        >>> from inference import NUTS
        >>> def model():
        ...     sample("x", D.Normal(0.0, 1.0))
        >>> mcmc = MCMC(NUTS(model), num_warmup=50, num_samples=50, progress_bar=False)
        >>> mcmc.run(jax.random.key(0))
        >>> mcmc.get_samples()["x"].shape
        (50,)
    """

    def __init__(
        self,
        sampler: MCMCKernel,
        *,
        num_warmup: int,
        num_samples: int,
        num_chains: int = 1,
        thinning: int = 1,
        postprocess_fn: Callable | None = None,
        chain_method: str = "sequential",
        progress_bar: bool | None = None,
        jit_model_args: bool | None = None,
        streaming: bool = False,
    ):
        if not isinstance(sampler, MCMCKernel):
            raise TypeError(
                f"MCMC expects a kernel (an inference.MCMCKernel, such as NUTS(model), "
                f"HMC(model) or RandomWalk(model)), got {type(sampler).__name__}. Fix: "
                "subclass inference.MCMCKernel for a kernel of your own."
            )
        self.sampler = sampler
        self.num_warmup = _check_positive_int("num_warmup", num_warmup, 0)
        self.num_samples = _check_positive_int("num_samples", num_samples)
        self.num_chains = _check_positive_int("num_chains", num_chains)
        self.thinning = _check_positive_int("thinning", thinning)
        if chain_method not in CHAIN_METHODS:
            raise ValueError(f"chain_method must be one of {CHAIN_METHODS}, got {chain_method!r}.")
        if postprocess_fn is not None and sampler.model is not None:
            raise ValueError(
                "MCMC: postprocess_fn is for potential_fn kernels; a model kernel's draws are "
                "mapped to the support by the model itself."
            )
        if jit_model_args not in (None, True, False):
            raise ValueError(f"jit_model_args must be None, True or False, got {jit_model_args!r}.")
        self.chain_method = chain_method
        self.streaming = bool(streaming)
        self.postprocess_fn = postprocess_fn
        self.jit_model_args = jit_model_args
        if progress_bar is None:
            progress_bar = bool(getattr(sys.stderr, "isatty", lambda: False)())
        self._progress = _Progress(num_chains) if progress_bar else None
        self.post_warmup_state: ChainState | None = None
        self.last_state: ChainState | None = None
        self._samples: dict[str, Any] | None = None  # a pytree per deterministic site
        self._extra: dict[str, Array] | None = None
        self._moments: _StreamMoments | None = None
        self._margs = ModelArgs.of()
        self._model_setup: _Setup = None  # the last run's spec and prototype trace
        self._template: Any = None

    # ----------------------------------------------------------------------------------
    def _model_args(self, args: tuple, kwargs: dict) -> ModelArgs:
        return ModelArgs.of(args, kwargs, self.jit_model_args)

    def _setup(self, margs: ModelArgs) -> tuple[Callable, _Setup]:
        """The potential, and the model's spec with its prototype trace: one abstract run
        of the model (none for a ``potential_fn`` kernel), which every later step of this
        call reads (initialisation, shapes, constrain, error messages). The last run's
        is reused when the model and the arguments' structure, static values and shapes
        are the same (a spec depends on nothing else)."""
        model = self.sampler.model
        spec = None
        if model is not None:
            key = _args_key(margs)
            spec = self._model_setup
            if spec is None or not spec.fits(model, key):
                spec = _ModelSetup(*checked_spec(None, model, margs), model, key)
            potential: Any = PotentialFn(model, margs, spec.spec)
        else:
            potential = self.sampler.potential_fn
        forward = getattr(self.sampler, "forward_mode_differentiation", False)
        return (forward_mode(potential) if forward else potential), spec

    def _adaptation(self, template: Any) -> Adaptation:
        adaptation = self.sampler.adaptation(template, self.num_warmup)
        if not isinstance(adaptation, Adaptation):
            raise TypeError(
                f"{type(self.sampler).__name__}.adaptation returned "
                f"{type(adaptation).__name__}; expected an inference.Adaptation (use "
                "NoAdaptation() for none)."
            )
        if adaptation.ensemble and self.num_chains > 1 and self.chain_method != "vectorized":
            raise ValueError(
                f"{type(adaptation).__name__} adapts from all chains at once, which needs "
                f"the chains to run together; got chain_method={self.chain_method!r}. Fix: "
                "MCMC(..., chain_method='vectorized')."
            )
        return adaptation

    def _start(self, potential, spec: _Setup, rng_key, margs, init_params, traced: bool):
        """Initial chain states and the position template (one chain's pytree)."""
        kstates, keys, template = self._start_kernels(
            potential, spec, rng_key, margs, init_params, traced
        )
        adaptation = self._adaptation(template)
        states = _with_adaptation_jit(adaptation, potential, template, kstates, keys)
        return states, template

    def _start_kernels(self, potential, spec: _Setup, rng_key, margs, init_params, traced: bool):
        """Initial kernel states, the chains' keys and the position template."""
        model = self.sampler.model
        if init_params is not None:
            shapes = None if spec is None else spec.spec.unconstrained_shapes
            zs = _chain_init_params(init_params, shapes, self.num_chains)
            keys = jax.random.split(rng_key, self.num_chains)
            states, template, ok = _init_chains(self.sampler, potential, zs, keys)
            if traced:
                return (
                    eqx.error_if(
                        states,
                        ~jnp.all(ok),
                        "MCMC.run: the potential or its gradient is not finite at init_params.",
                    ),
                    keys,
                    template,
                )
            ok = np.asarray(ok)
            if not ok.all():
                c = int(np.argmin(ok))
                z = jax.tree.map(lambda x: x[c], zs)
                if model is None:
                    raise ValueError(
                        f"MCMC.run: the potential or its gradient is not finite at "
                        f"init_params (chain {c}). Fix: pass init_params at which "
                        "potential_fn and its gradient are finite."
                    )
                raise_no_valid_init(model, margs, z, MAX_INIT_TRIES, given=True)
            return states, keys, template
        if model is None:
            raise ValueError(
                "MCMC.run: with a potential_fn kernel, pass init_params (unconstrained "
                "initial values; a leading chain axis for several chains)."
            )
        assert spec is not None  # a model kernel
        self.sampler.init_strategy.check_sites(spec.spec.continuous_latent)
        with explain_traced_args(model, margs, lambda m: prototype_trace(rng_key, model, m)):
            states, keys, template, zs, ok, checks = _start_chains(
                self.sampler,
                potential,
                margs,
                spec.spec,
                rng_key,
                self.num_chains,
                MAX_INIT_TRIES,
            )
        if traced:
            states = eqx.error_if(
                states,
                ~jnp.all(ok),
                f"MCMC.run: cannot find valid initial parameters after {MAX_INIT_TRIES} "
                "tries: the potential or its gradient is not finite.",
            )
            for (name, what), count in checks.items():
                states = eqx.error_if(states, count > 0, violation_message(spec.trace, name, what))
            return states, keys, template
        ok = np.asarray(ok)
        if not ok.all():
            c = int(np.argmin(ok))
            z = jax.tree.map(lambda x: x[c], zs)
            raise_no_valid_init(model, margs, z, MAX_INIT_TRIES)
        raise_violations(spec.trace, checks)
        return states, keys, template

    def _continue_from(self, state: ChainState, potential, spec: _Setup, margs, traced: bool):
        """The carried ``state`` with its potential and gradient evaluated afresh under
        this call's arguments."""
        template = self._template
        if spec is not None:
            shapes = spec.spec.unconstrained_shapes
            now = {k: tuple(v.shape) for k, v in template.items()}
            if now != shapes:
                raise ValueError(
                    f"MCMC.run: post_warmup_state holds latent sites shaped {now}, but with "
                    f"these model arguments the latent sites are shaped {shapes}. Fix: set "
                    "mcmc.post_warmup_state = None to warm up again for the new data."
                )
        n = state.rng_key.shape[0]
        if n != self.num_chains:
            raise ValueError(
                f"MCMC.run: post_warmup_state holds {n} chains, but num_chains="
                f"{self.num_chains}. Fix: set mcmc.post_warmup_state = None, or run with "
                f"num_chains={n}."
            )
        states, ok = _refresh_chains(self.sampler, potential, template, state)
        if traced:
            return eqx.error_if(
                states,
                ~jnp.all(ok),
                "MCMC.run: the potential is not finite at the carried "
                "state under these model arguments.",
            )
        ok = np.asarray(ok)
        if not ok.all():
            c = int(np.argmin(ok))
            what = ""
            if self.sampler.model is not None:
                _, unravel = ravel_pytree(template)
                z = unravel(jnp.asarray(jax.tree.map(lambda x: x[c], states.z).position))
                what = f" ({describe_nonfinite(self.sampler.model, margs, z)})"
            raise ValueError(
                f"MCMC.run: the potential or its gradient is not finite at chain {c}'s "
                f"carried position under this call's model arguments{what}. Fix: set "
                "mcmc.post_warmup_state = None to start afresh."
            )
        return states

    def _run_phase(
        self,
        potential,
        template,
        states,
        n_iter,
        adapting,
        collect_rows,
        desc,
        rng_key,
        rekey,
        traced,
        constrain,
    ):
        """Run the compiled loop for ``n_iter`` iterations on every chain, keeping
        ``collect_rows`` draws (0: none). With ``rekey`` the chains first take new keys
        split from ``rng_key``."""
        progress = None if traced else self._progress
        adaptation = self._adaptation(template)
        method = "vectorized" if adaptation.ensemble else self.chain_method
        kernel = self.sampler
        per_device = self.num_chains // max(jax.device_count(), 1)
        if (method == "vectorized" and self.num_chains > 1) or (
            method == "parallel" and per_device > 1 and not traced
        ):
            kernel = kernel.vectorized()
        # One buffer size for both phases, so that warm-up and sampling run one compiled
        # program: how many rows a phase keeps is an argument of it, not part of it.
        capacity = max(collect_rows, self._collect_rows(self.num_samples), 1)
        program = _Program(
            kernel,
            adaptation,
            capacity,
            self.thinning,
            progress,
            stream=self.streaming,
        )
        transform = self._stream_transform(template, constrain) if self.streaming else None
        # NumPy scalars go into the compiled loop as arguments with no program of their own.
        n, flag, rekey = np.int32(n_iter), np.bool_(adapting), np.bool_(rekey)
        collect = np.int32(collect_rows)
        if progress is not None:
            progress.start(n_iter, desc)
        try:
            n_dev = jax.device_count()
            if method == "parallel" and (traced or self.num_chains % n_dev):
                if not traced:
                    warnings.warn(
                        f"chain_method='parallel' shards the chains evenly over the devices, "
                        f"but {self.num_chains} chains do not divide among {n_dev} devices; "
                        "running the chains sequentially instead. Fix: a multiple of "
                        f"{n_dev} chains.",
                        UserWarning,
                        stacklevel=4,
                    )
                method = "sequential"
            run_args = (rng_key, rekey, n, flag, collect, transform)
            if method == "vectorized":
                chain_ids = np.arange(self.num_chains, dtype=np.int32)
                out = _loop_vectorized(program, potential, template, states, chain_ids, *run_args)
            elif method == "parallel":
                mesh = jax.make_mesh(
                    (n_dev,),
                    ("chains",),
                    axis_types=(jax.sharding.AxisType.Auto,),
                    devices=jax.devices(),
                )
                chain_ids = np.arange(self.num_chains, dtype=np.int32)
                if jax.process_count() > 1:
                    out = _loop_across_processes(
                        program, potential, template, states, chain_ids, run_args, mesh
                    )
                else:
                    out = _loop_sharded(
                        program, potential, template, states, chain_ids, *run_args, mesh=mesh
                    )
            else:
                outs = [
                    _loop_single(program, potential, template, states, np.int32(c), *run_args)
                    for c in range(self.num_chains)
                ]
                out = (
                    outs[0]
                    if len(outs) == 1
                    else jax.tree.map(lambda *xs: jnp.concatenate(xs), *outs)
                )
            if progress is not None:
                out = _wait(out, progress)
            if not self.streaming and capacity > collect_rows:
                states, draws, info = out
                cut = lambda x: x[:, :collect_rows]  # (chains, rows, ...)
                out = (states, cut(draws), jax.tree.map(cut, info))
            return out
        except Exception:
            if progress is not None and progress.stop.is_set():
                raise KeyboardInterrupt from None
            raise
        finally:
            if progress is not None:
                progress.close()

    def _collect_rows(self, n: int) -> int:
        return n // self.thinning + (1 if n % self.thinning else 0)

    def _warm_up(self, potential, template, states, rng_key, traced, constrain, collect=False):
        """The warm-up phase from fresh chain states; returns the adapted states (and the
        warm-up draws when ``collect``)."""
        rows = self._collect_rows(self.num_warmup) if collect else 0
        return self._run_phase(
            potential,
            template,
            states,
            self.num_warmup,
            True,
            rows,
            "warmup",
            rng_key,
            False,
            traced,
            constrain,
        )

    def warmup(
        self,
        rng_key: Any,
        *args: Any,
        extra_fields: Sequence[str] = (),
        collect_warmup: bool = False,
        init_params: Any = None,
        **kwargs: Any,
    ) -> None:
        """Run warm-up only; the adapted state is kept in ``post_warmup_state``, and the
        next ``run`` continues from it. With ``collect_warmup`` the warm-up draws become
        the samples (``get_samples``), as in NumPyro."""
        margs = self._model_args(args, kwargs)
        traced = is_traced((rng_key, margs))
        potential, spec = self._setup(margs)
        constrain = self._constrain_fn(margs, spec)
        states, template = self._start(potential, spec, rng_key, margs, init_params, traced)
        states, flat, info = self._warm_up(
            potential, template, states, rng_key, traced, constrain, collect=collect_warmup
        )
        samples = self._results(template, flat, constrain) if collect_warmup else None
        # Commit results only now that the run has completed.
        self.post_warmup_state = states
        self.last_state = states
        self._template = template
        self._margs, self._model_setup = margs, spec
        if collect_warmup:
            self._commit(samples, info)

    def run(
        self,
        rng_key: Any,
        *args: Any,
        extra_fields: Sequence[str] = (),
        init_params: Any = None,
        **kwargs: Any,
    ) -> None:
        """Sample. The model's arguments follow ``rng_key``.

        Warms up first, unless ``post_warmup_state`` is set (by ``warmup()``, or by
        ``mcmc.post_warmup_state = mcmc.last_state`` to continue): then sampling continues
        from that state with this call's key, its potential and gradient evaluated afresh
        under this call's arguments. ``init_params``: unconstrained initial values, shaped
        like each site (the same for every chain) or with a leading chain axis.
        """
        margs = self._model_args(args, kwargs)
        traced = is_traced((rng_key, margs))
        potential, spec = self._setup(margs)
        constrain = self._constrain_fn(margs, spec)
        continuing = self.post_warmup_state is not None
        if self.post_warmup_state is not None:
            if init_params is not None:
                raise ValueError(
                    "MCMC.run: init_params are ignored when continuing from "
                    "post_warmup_state. Fix: set mcmc.post_warmup_state = None first."
                )
            states = self._continue_from(self.post_warmup_state, potential, spec, margs, traced)
            template = self._template
        else:
            states, template = self._start(potential, spec, rng_key, margs, init_params, traced)
            if self.num_warmup > 0:
                states, _, _ = self._warm_up(
                    potential, template, states, rng_key, traced, constrain
                )
        states, flat, info = self._run_phase(
            potential,
            template,
            states,
            self.num_samples,
            False,
            self._collect_rows(self.num_samples),
            "sample",
            rng_key,
            continuing,
            traced,
            constrain,
        )
        samples = self._results(template, flat, constrain)
        # Commit results only now that the run has completed.
        self._template = template
        self.last_state = states
        self._commit(samples, info)
        self._margs, self._model_setup = margs, spec

    def _commit(self, samples: Any, info: dict[str, Array]) -> None:
        if isinstance(samples, _StreamMoments):
            self._samples, self._extra, self._moments = None, None, samples
        else:
            self._samples, self._extra, self._moments = samples, info, None

    def _results(self, template, flat, constrain) -> Any:
        """The draws of a site by name, or a streaming run's running moments."""
        if self.streaming:
            return _StreamMoments(
                flat["count"], flat["mean"], flat["m2"], self._stream_unravel(template, constrain)
            )
        return _postprocess(constrain, template, flat)

    def _constrain_fn(self, margs: ModelArgs, spec: _Setup) -> Callable | None:
        """Unconstrained positions to the sites' values (the model's ``ConstrainFn``), or
        the kernel's ``postprocess_fn`` (``None``: the position itself)."""
        model = self.sampler.model
        if spec is None or model is None:
            return self.postprocess_fn
        return ConstrainFn(model, margs, spec.spec)

    def _stream_transform(self, template, constrain) -> Any:
        """What a streaming run keeps the moments of: each draw constrained (by the model,
        or ``postprocess_fn``) and ravelled; ``None`` for the flat position itself."""
        spec = flatten_position(template, lambda z: z)[2]
        if constrain is None and spec is None:
            return None
        return _StreamTransform(constrain, spec)

    def _stream_unravel(self, template, constrain) -> Callable:
        """Maps a row of a streaming run's moments back to the sites' pytree."""
        transform = self._stream_transform(template, constrain)
        flat = ravel_pytree(template)[0]
        if transform is None:
            _, unravel = ravel_pytree(template)
            return lambda row: unravel(row[: flat.shape[0]])
        shapes = jax.eval_shape(lambda z: transform.structured(z), flat)
        _, unravel = ravel_pytree(jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), shapes))
        size = sum(int(np.prod(s.shape)) for s in jax.tree.leaves(shapes))
        return lambda row: unravel(row[:size])

    # ----------------------------------------------------------------------------------
    def _require(self) -> tuple[dict[str, Any], dict[str, Array]]:
        """The draws and the extra fields of the last run (they are always set together)."""
        if self._moments is not None:
            raise RuntimeError(
                "This MCMC ran with streaming=True, which keeps running moments instead of "
                "draws. Fix: read mcmc.get_moments(), or run with streaming=False."
            )
        if self._samples is None or self._extra is None:
            raise RuntimeError("No samples yet: call mcmc.run(rng_key, *model_args) first.")
        return self._samples, self._extra

    def get_moments(self, group_by_chain: bool = False) -> dict[str, Moments]:
        """A streaming run's moments of each site: :class:`Moments` (draw count, mean and
        variance) per chain (leading chain axis) if ``group_by_chain``, else pooled over
        the chains. ``inference.rhat_from_moments`` and ``nested_rhat_from_moments`` give
        R-hat from the per-chain moments."""
        m = self._moments
        if m is None:
            raise RuntimeError(
                "No moments: get_moments() is for runs with MCMC(..., streaming=True)."
            )
        n = m.count.astype(m.mean.dtype)
        var = m.m2 / jnp.maximum(n - 1.0, 1.0)[:, None]
        per_chain = Moments(m.count, m.mean, var)
        if not group_by_chain:
            per_chain = combine_moments(per_chain)
        batched = per_chain.mean.ndim == 2
        unravel = jax.vmap(m.unravel) if batched else m.unravel
        means, variances = unravel(per_chain.mean), unravel(per_chain.variance)
        return {
            k: Moments(per_chain.count, means[k], variances[k])
            for k in (means if isinstance(means, dict) else {})
        } or {"": Moments(per_chain.count, means, variances)}

    def get_samples(self, group_by_chain: bool = False) -> dict[str, Any]:
        """Draws per site: ``(num_chains, num_draws, ...)`` if ``group_by_chain`` else
        ``(num_chains * num_draws, ...)`` (a deterministic site with a pytree value keeps
        its structure, each leaf shaped so)."""
        samples, _ = self._require()
        if group_by_chain:
            return dict(samples)
        return {k: jax.tree.map(_merge_chains, v) for k, v in samples.items()}

    def get_extra_fields(self, group_by_chain: bool = False) -> dict[str, Array]:
        """Per-draw sampler statistics: num_steps, accept_prob, diverging, energy,
        potential_energy, tree_depth (NUTS)."""
        _, extra = self._require()
        if group_by_chain:
            return dict(extra)
        return {k: _merge_chains(v) for k, v in extra.items()}

    def print_summary(self, prob: float = 0.9, exclude_deterministic: bool = True) -> None:
        """Print mean, sd, median, HPDI, ESS and R-hat of each site, and divergences (for a
        streaming run: mean, sd and R-hat from the running moments)."""
        if self._moments is not None:
            _print_moments(self.get_moments(group_by_chain=True))
            return
        _, extra = self._require()
        samples = self.get_samples(group_by_chain=True)
        if exclude_deterministic and self._model_setup is not None:
            deterministic = self._model_setup.spec.deterministic
            samples = {k: v for k, v in samples.items() if k not in deterministic}
        _print_summary(
            _flat_names(samples),
            prob=prob,
            group_by_chain=True,
            divergences=np.asarray(extra["diverging"]) if "diverging" in extra else None,
        )

    def model_spec(self) -> ModelSpec | None:
        """The spec of the model with the last run's arguments (``None`` before a run, or
        for a ``potential_fn`` kernel): the one abstract run that the run's setup read."""
        return None if self._model_setup is None else self._model_setup.spec

    # --- for ArviZ export (duck-typed by ``to_arviz``) ----------------------------------
    def observed_data(self) -> dict[str, Any]:
        samples, _ = self._require()
        if self.sampler.model is None:
            return {}
        from ._predictive import observed_values

        first = {k: v[0, 0] for k, v in samples.items()}
        assert self._model_setup is not None  # set with the samples
        return observed_values(self.sampler.model, first, self._margs, self._model_setup.spec)

    def log_likelihood(self) -> dict[str, Any]:
        self._require()
        if self.sampler.model is None:
            return {}
        from ._predictive import model_log_likelihood

        samples = self.get_samples(group_by_chain=True)
        assert self._model_setup is not None  # set with the samples
        return model_log_likelihood(
            self.sampler.model, samples, self._margs, 2, self._model_setup.spec
        )


def _print_moments(moments: dict[str, Moments]) -> None:
    """A streaming run's summary: pooled mean and sd, and R-hat over chains."""
    from ._diagnostics import rhat_from_moments

    print(f"{'':>16} {'mean':>10} {'std':>10} {'r_hat':>8}")
    for name, m in moments.items():
        pooled = combine_moments(m)
        mean, sd = np.ravel(pooled.mean), np.sqrt(np.ravel(pooled.variance))
        rhat = np.ravel(rhat_from_moments(m.count, m.mean, m.variance))
        for k in range(mean.shape[0]):
            label = name if mean.shape[0] == 1 else f"{name}[{k}]"
            print(f"{label:>16} {mean[k]:>10.2f} {sd[k]:>10.2f} {rhat[k]:>8.2f}")


def _flat_names(samples: dict[str, Any]) -> dict[str, np.ndarray]:
    """Pytree-valued sites as one entry per leaf, named ``site['key']``."""
    out = {}
    for name, value in samples.items():
        for path, leaf in jax.tree_util.tree_flatten_with_path(value)[0]:
            out[name + jax.tree_util.keystr(path)] = np.asarray(leaf)
    return out


def _merge_chains(v: Array) -> Array:
    return jnp.reshape(v, (v.shape[0] * v.shape[1],) + tuple(v.shape[2:]))
