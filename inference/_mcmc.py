"""The ``MCMC`` driver: warm-up and sampling, each one compiled loop.

One jitted loop function serves both phases: a ``lax.fori_loop`` whose trip count and
"adapting" flag are traced values, writing draws into a buffer of static size. So a run
with ``num_warmup == num_samples`` compiles the sampler once, a second ``run`` with new
data of the same shape compiles nothing, and there is no per-step Python dispatch. The
progress bar is fed from inside the loop with ``jax.debug.callback``.

The driver object holds results between calls (it is the friendly wrapper around the pure
kernels); results are replaced only when a run completes, so a failed run leaves the
previous results intact.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from jaxtyping import Array

from ._adaptation import AdaptState, adapt_final, adapt_init, adapt_update, warmup_schedule_np
from ._init import (
    MAX_INIT_TRIES,
    ConstrainFn,
    PotentialFn,
    checked_prototype_trace,
    find_valid_initial_params,
    raise_no_valid_init,
)
from ._integrator import counter_split, flatten_potential
from ._jit import run_once_jit
from ._kernels import _Kernel
from ._summary import print_summary as _print_summary

CHAIN_METHODS = ("sequential", "vectorized", "parallel")
# Statistics that are not of the position's float dtype.
_INFO_DTYPES = {"num_steps": jnp.int32, "tree_depth": jnp.int32, "diverging": jnp.bool_}


class ChainState(eqx.Module):
    """Everything a chain needs to continue: position, kernel state, adaptation, key."""

    z: Any  # kernel state (flat position, potential, gradient)
    adapt: AdaptState
    rng_key: Array

    @property
    def step_size(self) -> Array:
        return self.adapt.step_size

    @property
    def inverse_mass_matrix(self) -> Array:
        return self.adapt.inverse_mass_matrix


class _Program(eqx.Module):
    """The static description of the compiled loop (part of the jit cache key)."""

    kernel: _Kernel = eqx.field(static=True)
    num_collect: int = eqx.field(static=True)
    thinning: int = eqx.field(static=True)
    progress: Any = eqx.field(static=True)
    batched: bool = eqx.field(static=True, default=False)  # chains vmapped together


def _init_chain(
    kernel: _Kernel, potential: Callable, z: Any, rng_key: Array, evaluated: Any = None
) -> ChainState:
    """A chain's state at unconstrained ``z``. ``evaluated``: the potential and gradient
    already known there (a ``ParamInfo``), so that they are not computed (and compiled)
    again."""
    z_flat, potential_flat, _ = flatten_potential(potential, z)
    if evaluated is None:
        kstate = kernel.init_state(z_flat, potential_flat)
    else:
        grad_flat, _ = ravel_pytree(evaluated.z_grad)
        kstate = kernel.state_at(z_flat, evaluated.potential_energy, grad_flat)
    d = z_flat.shape[0]
    imm = jnp.eye(d, dtype=z_flat.dtype) if kernel.dense_mass else jnp.ones(d, z_flat.dtype)
    adapt = adapt_init(
        z_flat,
        kernel.step_size,
        imm,
        kernel.target_accept_prob,
        kernel.dense_mass,
        potential_fn_flat=potential_flat if kernel.find_heuristic_step_size else None,
        key=rng_key,
    )
    return ChainState(kstate, adapt, rng_key)


def _one_chain_loop(
    program: _Program, potential, template, state: ChainState, n_iter, adapting, schedule, chain_id
):
    kernel = program.kernel
    template_flat, potential_flat, _ = flatten_potential(potential, template)
    d, dtype = template_flat.shape[0], template_flat.dtype
    # One spare row at the end takes the draws that are not kept (warm-up, thinning), so
    # that every iteration writes its row without reading the old one.
    n_rows = program.num_collect + 1
    # A draw is one row: the position, then the statistics (exact in at least float32: counts
    # stay below 2^24). One write per draw instead of one per field keeps the draw's kernels
    # ready at once below XLA:CPU's threshold for handing them to its thread pool.
    fields = kernel.info_fields
    row_dtype = jnp.promote_types(dtype, jnp.float32)
    buf = jnp.zeros((n_rows, d + len(fields)), row_dtype)
    tick = jnp.maximum(n_iter // 50, 1)

    def body(i, carry):
        st, buf = carry
        key, sub = counter_split(st.rng_key)
        kstate, info = kernel.step(
            sub,
            st.z,
            potential_flat,
            st.adapt.step_size,
            st.adapt.inverse_mass_matrix,
            batched=program.batched,
        )
        # `adapting` is one flag for all chains (never batched), so this stays a real
        # branch under vmap and sampling pays nothing for adaptation. Warm-up starts from
        # fresh states, so its iteration is the loop's index `i`, which is one for all
        # chains too: the schedule's window ends stay real branches under vmap (with
        # `find_heuristic_step_size`, the step-size search then runs at window ends only).
        adapt = jax.lax.cond(
            adapting,
            lambda: adapt_update(
                i,
                st.adapt,
                kstate.z,
                info["accept_prob"],
                schedule,
                adapt_step_size=kernel.adapt_step_size,
                adapt_mass_matrix=kernel.adapt_mass_matrix,
                regularize=kernel.regularize_mass_matrix,
                potential_fn_flat=potential_flat if kernel.find_heuristic_step_size else None,
                key=sub,
            ),
            lambda: st.adapt,
        )
        st = ChainState(kstate, adapt, key)
        j = i // program.thinning
        write = (~adapting) & (i % program.thinning == 0) & (j < program.num_collect)
        row = jnp.where(write, j, program.num_collect)
        draw = jnp.concatenate(
            [kstate.z.astype(row_dtype), jnp.stack([info[f].astype(row_dtype) for f in fields])]
        )
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
    buf_z = buf[:-1, :d].astype(dtype)
    buf_info = {f: buf[:-1, d + k].astype(_INFO_DTYPES.get(f, dtype)) for k, f in enumerate(fields)}
    state = eqx.tree_at(
        lambda s: s.adapt, state, jax.lax.cond(adapting, adapt_final, lambda a: a, state.adapt)
    )
    return state, buf_z, buf_info


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
    program, potential, template, states, chain, rng_key, rekey, n_iter, adapting, schedule
):
    """Chain ``chain`` of the batch ``states``; results keep a chain axis of length 1.

    Indexing and re-keying happen here, inside the compiled program, rather than as
    separate small programs around it.
    """
    states = _with_new_keys(states, rng_key, rekey)
    state = jax.tree.map(lambda x: x[chain], states)
    out = _one_chain_loop(program, potential, template, state, n_iter, adapting, schedule, chain)
    return jax.tree.map(lambda x: x[None], out)


@eqx.filter_jit
def _loop_vectorized(
    program, potential, template, states, chain_ids, rng_key, rekey, n_iter, adapting, schedule
):
    states = _with_new_keys(states, rng_key, rekey)
    fn = lambda s, c: _one_chain_loop(
        program, potential, template, s, n_iter, adapting, schedule, c
    )
    return jax.vmap(fn)(states, chain_ids)


_rekey_jit = eqx.filter_jit(_with_new_keys)


def _map_chains(fn: Callable, *xs: Any) -> Any:
    """``jax.vmap(fn)`` over the leading (chain) axis; one chain is run without batching
    rules, which gives a smaller program."""
    if jax.tree.leaves(xs)[0].shape[0] == 1:
        return jax.tree.map(lambda x: x[None], fn(*jax.tree.map(lambda x: x[0], xs)))
    return jax.vmap(fn)(*xs)


@eqx.filter_jit
def _init_chains(kernel, potential, zs, keys):
    """Chain states at given initial points (``init_params``), one per row of ``zs``."""
    states = _map_chains(lambda z, k: _init_chain(kernel, potential, z, k), zs, keys)
    return states, jax.tree.map(lambda x: x[0], zs)


@run_once_jit
def _start_chains(kernel, potential, args, kwargs, rng_key, num_chains: int, max_tries: int):
    """Find each chain's initial point and build its state, as one compiled program.

    The potential and gradient found at the initial point become the kernel's state, so
    the model's gradient is compiled once here. Returns the states, the position template
    (chain 0's unconstrained point), each chain's last point tried, and whether each
    chain found a finite potential.
    """
    # Raised while tracing, so a repeated run with a compiled program skips this model run.
    checked_prototype_trace(rng_key, kernel.model, args, kwargs)
    keys = jax.random.split(rng_key, num_chains)

    def one(key):
        info, ok = find_valid_initial_params(
            key, kernel.model, args, kwargs, kernel.init_strategy, max_tries
        )
        return _init_chain(kernel, potential, info.z, key, evaluated=info), info.z, ok

    states, zs, ok = _map_chains(one, keys)
    return states, jax.tree.map(lambda x: x[0], zs), zs, ok


@eqx.filter_jit
def _postprocess(constrain: ConstrainFn | None, template, flat):
    """Flat draws ``(chains, draws, d)`` to a dict of constrained site values (unravelled
    only, for a potential_fn kernel), each ``(chains, draws, ...)``."""
    _, unravel = ravel_pytree(template)
    fn = unravel if constrain is None else (lambda z: constrain(unravel(z)))
    return jax.vmap(jax.vmap(fn))(flat)


class _Progress:
    """A tqdm progress bar per chain, updated from inside the compiled loop."""

    def __init__(self, num_chains: int):
        self.num_chains = num_chains
        self.bars: dict[int, Any] = {}

    def start(self, total_by_chain: int, desc: str) -> None:
        from tqdm.auto import tqdm

        self.close()
        self.bars = {
            c: tqdm(
                total=total_by_chain,
                desc=f"{desc} chain {c}" if self.num_chains > 1 else desc,
                leave=True,
                file=sys.stderr,
            )
            for c in range(self.num_chains)
        }

    def update(self, chain_id, i, n, adapting) -> None:
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

    def __hash__(self):
        return id(self)

    def __eq__(self, other):
        return self is other


def _check_positive_int(name: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}.")
    return int(value)


class MCMC:
    """Run a kernel (``NUTS`` or ``HMC``) for ``num_warmup`` + ``num_samples`` iterations.

    Args:
        sampler: a kernel such as ``NUTS(model)``.
        num_warmup: warm-up (adaptation) iterations; their draws are discarded.
        num_samples: draws to keep per chain (before thinning).
        num_chains: number of chains.
        thinning: keep every ``thinning``-th draw.
        chain_method: ``"sequential"``, ``"vectorized"`` (``vmap``) or ``"parallel"``
            (one chain per device; falls back to sequential with a warning when there are
            fewer devices than chains).
        progress_bar: show a tqdm bar; by default only when stderr is a terminal.

    A second ``run`` continues from the last state without warming up again (set
    ``mcmc.post_warmup_state = None`` to warm up afresh).

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
        sampler: _Kernel,
        *,
        num_warmup: int,
        num_samples: int,
        num_chains: int = 1,
        thinning: int = 1,
        chain_method: str = "sequential",
        progress_bar: bool | None = None,
    ):
        if not isinstance(sampler, _Kernel):
            raise TypeError(
                f"MCMC expects a kernel such as NUTS(model) or HMC(model), got "
                f"{type(sampler).__name__}."
            )
        self.sampler = sampler
        self.num_warmup = _check_positive_int("num_warmup", num_warmup, 0)
        self.num_samples = _check_positive_int("num_samples", num_samples)
        self.num_chains = _check_positive_int("num_chains", num_chains)
        self.thinning = _check_positive_int("thinning", thinning)
        if chain_method not in CHAIN_METHODS:
            raise ValueError(f"chain_method must be one of {CHAIN_METHODS}, got {chain_method!r}.")
        self.chain_method = chain_method
        if progress_bar is None:
            progress_bar = bool(getattr(sys.stderr, "isatty", lambda: False)())
        self._progress = _Progress(num_chains) if progress_bar else None
        self.post_warmup_state: ChainState | None = None
        self.last_state: ChainState | None = None
        self._samples: dict[str, Array] | None = None
        self._extra: dict[str, Array] | None = None
        self._args: tuple = ()
        self._kwargs: dict = {}

    # ----------------------------------------------------------------------------------
    def _potential(self, args, kwargs) -> Callable:
        if self.sampler.model is not None:
            return PotentialFn(self.sampler.model, tuple(args), dict(kwargs))
        return self.sampler.potential_fn

    def _start(self, potential, rng_key, args, kwargs, init_params):
        """Initial chain states and the position template (one chain's pytree)."""
        if init_params is not None:
            keys = jax.random.split(rng_key, self.num_chains)
            zs = jax.tree.map(jnp.asarray, init_params)
            leaves = jax.tree.leaves(zs)
            if self.num_chains > 1 and not all(
                jnp.ndim(x) >= 1 and jnp.shape(x)[0] == self.num_chains for x in leaves
            ):
                zs = jax.tree.map(lambda x: jnp.broadcast_to(x, (self.num_chains,) + x.shape), zs)
            elif self.num_chains == 1:
                zs = jax.tree.map(lambda x: x[None], zs)
            return _init_chains(self.sampler, potential, zs, keys)
        if self.sampler.model is None:
            raise ValueError(
                "MCMC.run: with a potential_fn kernel, pass init_params (unconstrained "
                "initial values; a leading chain axis for several chains)."
            )
        model, args, kwargs = self.sampler.model, tuple(args), dict(kwargs)
        states, template, zs, ok = _start_chains(
            self.sampler, potential, args, kwargs, rng_key, self.num_chains, MAX_INIT_TRIES
        )
        ok = np.asarray(ok)
        if not ok.all():
            c = int(np.argmin(ok))
            z = jax.tree.map(lambda x: x[c], zs)
            raise_no_valid_init(model, args, kwargs, z, MAX_INIT_TRIES)
        return states, template

    def _run_phase(
        self, potential, template, states, n_iter, adapting, schedule, desc, rng_key, rekey
    ):
        """Run the compiled loop for ``n_iter`` iterations on every chain. With ``rekey``
        the chains first take new keys split from ``rng_key``."""
        program = _Program(
            self.sampler,
            self.num_samples // self.thinning + (1 if self.num_samples % self.thinning else 0),
            self.thinning,
            self._progress,
            batched=self.chain_method == "vectorized" and self.num_chains > 1,
        )
        # NumPy scalars go into the compiled loop as arguments with no program of their own.
        n, flag, rekey = np.int32(n_iter), np.bool_(adapting), np.bool_(rekey)
        if self._progress is not None:
            self._progress.start(n_iter, desc)
        try:
            method = self.chain_method
            if method == "parallel" and jax.local_device_count() < self.num_chains:
                warnings.warn(
                    f"chain_method='parallel' needs one device per chain, but there are "
                    f"{jax.local_device_count()} devices for {self.num_chains} chains; "
                    "running the chains sequentially instead.",
                    UserWarning,
                    stacklevel=3,
                )
                method = "sequential"
            run_args = (rng_key, rekey, n, flag, schedule)
            if method == "vectorized":
                chain_ids = np.arange(self.num_chains, dtype=np.int32)
                return _loop_vectorized(program, potential, template, states, chain_ids, *run_args)
            if method == "parallel":
                states = _rekey_jit(states, rng_key, rekey)
                fn = jax.pmap(
                    lambda s, c: _one_chain_loop(
                        program, potential, template, s, n, flag, schedule, c
                    ),
                )
                return fn(states, np.arange(self.num_chains, dtype=np.int32))
            outs = [
                _loop_single(program, potential, template, states, np.int32(c), *run_args)
                for c in range(self.num_chains)
            ]
            if len(outs) == 1:
                return outs[0]
            return jax.tree.map(lambda *xs: jnp.concatenate(xs), *outs)
        finally:
            if self._progress is not None:
                self._progress.close()

    def _warm_up(self, potential, template, states, schedule, rng_key):
        """The warm-up phase from fresh chain states; returns the adapted states."""
        states, _, _ = self._run_phase(
            potential, template, states, self.num_warmup, True, schedule, "warmup", rng_key, False
        )
        return states

    def warmup(self, rng_key: Any, *args: Any, init_params: Any = None, **kwargs: Any) -> None:
        """Run warm-up only; the adapted state is kept in ``post_warmup_state``."""
        potential = self._potential(args, kwargs)
        states, template = self._start(potential, rng_key, args, kwargs, init_params)
        schedule = warmup_schedule_np(max(self.num_warmup, 1))
        states = self._warm_up(potential, template, states, schedule, rng_key)
        self.post_warmup_state = states
        self._template = template
        self._args, self._kwargs = tuple(args), dict(kwargs)

    def run(
        self,
        rng_key: Any,
        *args: Any,
        extra_fields: Sequence[str] = (),
        init_params: Any = None,
        **kwargs: Any,
    ) -> None:
        """Sample. The model's arguments follow ``rng_key``.

        The first call warms up, then samples. Later calls continue from the last state
        without warming up (NumPyro's ``post_warmup_state``).
        """
        potential = self._potential(args, kwargs)
        schedule = warmup_schedule_np(max(self.num_warmup, 1))
        continuing = self.post_warmup_state is not None
        if not continuing:
            states, template = self._start(potential, rng_key, args, kwargs, init_params)
            if self.num_warmup > 0:
                states = self._warm_up(potential, template, states, schedule, rng_key)
        else:
            states = self.post_warmup_state
            template = self._template
        states, flat, info = self._run_phase(
            potential,
            template,
            states,
            self.num_samples,
            False,
            schedule,
            "sample",
            rng_key,
            continuing,
        )
        samples = self._constrain(template, flat, args, kwargs)
        # Commit results only now that the run has completed.
        self._template = template
        self.last_state = states
        self.post_warmup_state = states
        self._samples = samples
        self._extra = info
        self._args, self._kwargs = tuple(args), dict(kwargs)

    def _constrain(self, template, flat, args, kwargs) -> dict[str, Array]:
        if self.sampler.model is None:
            constrain = None
        else:
            constrain = ConstrainFn(self.sampler.model, tuple(args), dict(kwargs))
        return _postprocess(constrain, template, flat)

    # ----------------------------------------------------------------------------------
    def _require(self):
        if self._samples is None:
            raise RuntimeError("No samples yet: call mcmc.run(rng_key, *model_args) first.")

    def get_samples(self, group_by_chain: bool = False) -> dict[str, Array]:
        """Draws per site: ``(num_chains, num_draws, ...)`` if ``group_by_chain`` else
        ``(num_chains * num_draws, ...)``."""
        self._require()
        if group_by_chain:
            return dict(self._samples)
        return {k: v.reshape((-1,) + v.shape[2:]) for k, v in self._samples.items()}

    def get_extra_fields(self, group_by_chain: bool = False) -> dict[str, Array]:
        """Per-draw sampler statistics: num_steps, accept_prob, diverging, energy,
        potential_energy, tree_depth (NUTS)."""
        self._require()
        if group_by_chain:
            return dict(self._extra)
        return {k: v.reshape((-1,) + v.shape[2:]) for k, v in self._extra.items()}

    def print_summary(self, prob: float = 0.9, exclude_deterministic: bool = True) -> None:
        """Print mean, sd, median, HPDI, ESS and R-hat of each site, and divergences."""
        self._require()
        samples = self.get_samples(group_by_chain=True)
        if exclude_deterministic and self.sampler.model is not None:
            tr = self._trace_sites()
            samples = {k: v for k, v in samples.items() if tr.get(k) != "deterministic"}
        _print_summary(
            {k: np.asarray(v) for k, v in samples.items()},
            prob=prob,
            group_by_chain=True,
            divergences=np.asarray(self._extra["diverging"]),
        )

    def _trace_sites(self) -> dict[str, str]:
        from ._init import prototype_trace

        tr = prototype_trace(jax.random.key(0), self.sampler.model, self._args, self._kwargs)
        return {k: s.type_name for k, s in tr.items()}

    # --- for ArviZ export (duck-typed by ``to_arviz``) ----------------------------------
    def observed_data(self) -> dict[str, Any]:
        self._require()
        if self.sampler.model is None:
            return {}
        from effects import Sample, run
        from handlers import seed, trace

        # One run of the model records every observed value.
        _, (_, tr) = run(self.sampler.model, seed(jax.random.key(0)) >> trace())(
            *self._args, **self._kwargs
        )
        return {
            name: np.asarray(site.value)
            for name, site in tr.items()
            if isinstance(site, Sample) and site.is_observed
        }

    def log_likelihood(self) -> dict[str, Any]:
        self._require()
        if self.sampler.model is None:
            return {}
        from ._predictive import log_likelihood

        samples = self.get_samples(group_by_chain=True)
        return log_likelihood(
            self.sampler.model, samples, *self._args, batch_ndims=2, **self._kwargs
        )
