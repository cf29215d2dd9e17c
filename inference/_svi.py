"""Stochastic variational inference: pure ``init``/``update``, and one compiled ``run``.

Parameters are explicit state. ``SVI.init`` runs the guide and then the model (with the
guide's draws replayed) once under ``seed``, collects every ``param`` site's initial value,
and keeps it in :class:`SVIState` in unconstrained space (``biject_to(constraint).inv``).
``SVI.update`` differentiates the loss with respect to those unconstrained values and
applies the optax transformation. There is no param store: two SVI runs share nothing.

``SVI.run`` compiles the whole optimisation as one ``lax.scan``; a tqdm bar is fed from
inside it by ``jax.debug.callback`` (as ``MCMC`` does). The model's arguments follow
:class:`ModelArgs` (JAX arrays traced, NumPy arrays and Python numbers static), so a second
run with new JAX-array data of the same shapes compiles nothing.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree
from jaxtyping import Array, PRNGKeyArray

from dists import biject_to

from ._elbo import ELBO, ParamValues, initial_params
from ._jit import run_once_jit
from ._model_args import ModelArgs


class SVIState(eqx.Module):
    """The optimisation's state: a pytree.

    ``params`` are the unconstrained parameter values (name -> array, or name -> pytree of
    arrays for an Equinox module), ``opt_state`` the optax state, ``rng_key`` the key of
    the next step, and ``constraints`` each param's constraint (``None``: unconstrained).
    """

    params: dict[str, Any]
    opt_state: Any
    rng_key: Array
    constraints: dict[str, Any]


class SVIRunResult(eqx.Module):
    """What :meth:`SVI.run` returns: constrained ``params``, the final ``state`` and the
    loss of every step, ``losses`` of shape ``(num_steps,)``."""

    params: dict[str, Any]
    state: SVIState
    losses: Array


def constrain_params(params: Mapping[str, Any], constraints: Mapping[str, Any]) -> dict:
    """Constrained values of unconstrained ``params``."""
    out = {}
    for name, u in params.items():
        c = constraints.get(name)
        out[name] = u if c is None else biject_to(c)(u)
    return out


class _Program(eqx.Module):
    """The static description of a compiled SVI program (part of the jit cache key)."""

    # Not static: a model or guide may hold arrays (a `seed(model, 0)` inside a `block`),
    # which filter_jit traces; plain functions stay part of the cache key.
    model: Callable
    guide: Callable
    optimizer: Any = eqx.field(static=True)
    loss: ELBO = eqx.field(static=True)
    static_kwargs: tuple = eqx.field(static=True, default=())
    progress: Any = eqx.field(static=True, default=None)
    stable_update: bool = eqx.field(static=True, default=False)


def _optax_promotion() -> Any:
    """optax mixes its int32 step count with float hyperparameters (bias corrections,
    schedules), which strict dtype promotion refuses: its calls run under JAX's standard
    rules. The parameters keep their own dtypes (``apply_updates`` casts back)."""
    return jax.numpy_dtype_promotion("standard")


def _kwargs(program: _Program, margs: ModelArgs) -> tuple[tuple, dict]:
    args, kwargs = margs.args, margs.kwargs
    return args, {**dict(program.static_kwargs), **kwargs}


def _init(program: _Program, key: PRNGKeyArray, margs: ModelArgs) -> SVIState:
    _, k_state = jax.random.split(key)  # initial_params takes the other half
    args, kwargs = _kwargs(program, margs)
    # A bad guide fails here (check_traces), not later.
    values, constraints = initial_params(
        key, program.model, program.guide, args, kwargs, program.loss.check_traces
    )
    params = {
        name: v if constraints[name] is None else biject_to(constraints[name]).inv(v)
        for name, v in values.items()
    }
    if not params:
        raise ValueError(
            "SVI.init: neither the guide nor the model has a param site, so there is "
            "nothing to optimise. Fix: give the guide learnable parameters with "
            "`param(name, init_value)` (or use an autoguide such as AutoNormal(model))."
        )
    with _optax_promotion():
        opt_state = program.optimizer.init(params)
    return SVIState(params, opt_state, k_state, constraints)


# Init runs once per fit: compiled without LLVM's optimisation passes on CPU (as the MCMC
# initialisation is), which are most of its compile time.
_init_jit = run_once_jit(_init)


def _step(program: _Program, state: SVIState, margs: ModelArgs) -> tuple[SVIState, Array]:
    key, sub = jax.random.split(state.rng_key)
    args, kwargs = _kwargs(program, margs)

    def loss_fn(u):
        p = constrain_params(u, state.constraints)
        return program.loss.estimate(sub, p, program.model, program.guide, args, kwargs)

    loss, grads = jax.value_and_grad(loss_fn)(state.params)
    with _optax_promotion():
        updates, opt_state = program.optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
    new = SVIState(params, opt_state, key, state.constraints)
    if program.stable_update:
        flat, _ = ravel_pytree(grads)
        ok = jnp.isfinite(loss) & jnp.all(jnp.isfinite(flat))
        # A step with a non-finite loss or gradient is dropped (the key still moves on).
        kept = jax.tree.map(
            lambda a, b: jnp.where(ok, a, b),
            (new.params, new.opt_state),
            (state.params, state.opt_state),
        )
        new = SVIState(kept[0], kept[1], key, state.constraints)
    return new, loss


_update_jit = eqx.filter_jit(_step)


def _loop(program: _Program, state: SVIState, margs: ModelArgs, num_steps: int):
    dynamic, static = eqx.partition(state, eqx.is_array)
    tick = max(num_steps // 50, 1)

    def body(carry, i):
        st = eqx.combine(carry, static)
        st, loss = _step(program, st, margs)
        if program.progress is not None:
            jax.lax.cond(
                (i % tick == 0) | (i == num_steps - 1),
                lambda: jax.debug.callback(program.progress.update, i + 1, loss),
                lambda: None,
            )
        return eqx.partition(st, eqx.is_array)[0], loss

    dynamic, losses = jax.lax.scan(body, dynamic, jnp.arange(num_steps))
    return eqx.combine(dynamic, static), losses


_loop_jit = eqx.filter_jit(_loop)


class _Progress:
    """A tqdm bar updated from inside the compiled loop, showing the recent loss."""

    def __init__(self):
        self.bar: Any = None

    def start(self, total: int) -> None:
        from tqdm.auto import tqdm

        self.close()
        self.bar = tqdm(total=total, desc="SVI", file=sys.stderr, leave=True)

    def update(self, i: Any, loss: Any) -> None:
        if self.bar is not None:
            self.bar.n = int(i)
            self.bar.set_postfix_str(f"loss: {float(loss):.4g}", refresh=False)
            self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __hash__(self):
        return id(self)

    def __eq__(self, other):
        return self is other


def _check_optimizer(optimizer: Any) -> None:
    if not (hasattr(optimizer, "init") and hasattr(optimizer, "update")):
        raise TypeError(
            f"SVI: optimizer must be an optax.GradientTransformation (with init and update), "
            f"got {type(optimizer).__name__}. Fix: pass e.g. optax.adam(1e-2) or "
            "inference.optim.Adam(1e-2)."
        )


class SVI:
    """Stochastic variational inference of ``model`` with ``guide``.

    Args:
        model: the model (a function that performs effects).
        guide: the variational family, a model whose ``param`` sites are optimised and
            whose latent sample sites match the model's (or an autoguide).
        optimizer: any ``optax.GradientTransformation`` (``inference.optim`` has NumPyro's
            names).
        loss: an ELBO, e.g. ``Trace_ELBO()``.
        static_kwargs: keyword arguments passed to model and guide on every call, as
            static constants.

    ``init(key, *args, **kwargs)`` and ``update(state, *args, **kwargs)`` are pure (the
    state is a pytree; each is compiled once per argument structure).
    ``run(key, num_steps, *args, **kwargs)`` runs the whole optimisation as one compiled
    loop and returns an :class:`SVIRunResult`.

    Example:
        >>> import jax, dists as D
        >>> from effects import sample, param
        >>> from inference import SVI, Trace_ELBO, optim
        >>> def model():
        ...     sample("x", D.Normal(1.0, 1.0))
        >>> def guide():
        ...     sample("x", D.Normal(param("m", 0.0), 1.0))
        >>> svi = SVI(model, guide, optim.Adam(0.1), Trace_ELBO())
        >>> result = svi.run(jax.random.key(0), 300, progress_bar=False)
        >>> abs(float(result.params["m"]) - 1.0) < 0.2
        True
    """

    def __init__(
        self,
        model: Callable,
        guide: Callable,
        optimizer: Any,
        loss: ELBO,
        **static_kwargs: Any,
    ):
        for what, f in (("model", model), ("guide", guide)):
            if not callable(f):
                raise TypeError(f"SVI: {what} must be a callable, got {type(f).__name__}.")
        _check_optimizer(optimizer)
        if not isinstance(loss, ELBO):
            raise TypeError(
                f"SVI: loss must be an ELBO such as Trace_ELBO(), got {type(loss).__name__}."
            )
        self.model = model
        self.guide = guide
        self.optimizer = optimizer
        self.loss = loss
        self.static_kwargs = static_kwargs
        self._progress = _Progress()

    def _program(self, progress: Any = None, stable_update: bool = False) -> _Program:
        return _Program(
            self.model,
            self.guide,
            self.optimizer,
            self.loss,
            tuple(sorted(self.static_kwargs.items())),
            progress,
            stable_update,
        )

    def init(self, rng_key: Any, *args: Any, **kwargs: Any) -> SVIState:
        """The initial :class:`SVIState`: every param's initial value (unconstrained), the
        optimiser's state and a key."""
        _check_key(rng_key, "SVI.init")
        return _init_jit(self._program(), rng_key, ModelArgs.of(args, kwargs))

    def update(self, svi_state: SVIState, *args: Any, **kwargs: Any) -> tuple[SVIState, Array]:
        """One optimisation step: ``(new state, loss before the step)``."""
        _check_state(svi_state, "SVI.update")
        return _update_jit(self._program(), svi_state, ModelArgs.of(args, kwargs))

    def stable_update(
        self, svi_state: SVIState, *args: Any, **kwargs: Any
    ) -> tuple[SVIState, Array]:
        """As :meth:`update`, but a step whose loss or gradient is not finite is dropped."""
        _check_state(svi_state, "SVI.stable_update")
        program = self._program(stable_update=True)
        return _update_jit(program, svi_state, ModelArgs.of(args, kwargs))

    def evaluate(self, svi_state: SVIState, *args: Any, **kwargs: Any) -> Array:
        """The loss at the state's parameters, with the state's key (no step taken)."""
        _check_state(svi_state, "SVI.evaluate")
        return _evaluate_jit(self._program(), svi_state, ModelArgs.of(args, kwargs))

    def get_params(self, svi_state: SVIState) -> dict[str, Any]:
        """The constrained parameter values of ``svi_state``."""
        _check_state(svi_state, "SVI.get_params")
        return constrain_params(svi_state.params, svi_state.constraints)

    def run(
        self,
        rng_key: Any,
        num_steps: int,
        *args: Any,
        progress_bar: bool = True,
        stable_update: bool = False,
        init_state: SVIState | None = None,
        **kwargs: Any,
    ) -> SVIRunResult:
        """``num_steps`` optimisation steps as one compiled loop.

        ``init_state`` continues from a state (then ``rng_key`` is not used). The bar is
        shown when ``progress_bar`` and tqdm is installed.
        """
        if isinstance(num_steps, bool) or not isinstance(num_steps, (int, np.integer)):
            raise TypeError(f"SVI.run: num_steps must be an int, got {num_steps!r}.")
        if num_steps < 1:
            raise ValueError(f"SVI.run: num_steps must be at least 1, got {num_steps}.")
        margs = ModelArgs.of(args, kwargs)
        if init_state is None:
            _check_key(rng_key, "SVI.run")
            state = _init_jit(self._program(), rng_key, margs)
        else:
            _check_state(init_state, "SVI.run (init_state)")
            state = init_state
        progress = self._progress if progress_bar and _has_tqdm() else None
        program = self._program(progress, stable_update)
        if progress is not None:
            progress.start(int(num_steps))
        try:
            state, losses = _loop_jit(program, state, margs, int(num_steps))
            losses = jax.block_until_ready(losses)
        finally:
            if progress is not None:
                progress.close()
        return SVIRunResult(self.get_params(state), state, losses)


def _evaluate(program: _Program, state: SVIState, margs: ModelArgs) -> Array:
    args, kwargs = _kwargs(program, margs)
    p = constrain_params(state.params, state.constraints)
    return program.loss.estimate(state.rng_key, p, program.model, program.guide, args, kwargs)


_evaluate_jit = eqx.filter_jit(_evaluate)


def _has_tqdm() -> bool:
    try:
        import tqdm  # noqa: F401
    except ImportError:
        return False
    return True


def _check_key(key: Any, who: str) -> None:
    ok = isinstance(key, jax.Array) and (
        jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key)
        or (key.dtype == jnp.uint32 and key.shape == (2,))
    )
    if not ok:
        raise TypeError(
            f"{who}: expected a PRNG key as first argument (jax.random.key(0)), got "
            f"{type(key).__name__} {key!r}. Fix: pass jax.random.key(seed) first, then the "
            "model's arguments."
        )


def _check_state(state: Any, who: str) -> None:
    if not isinstance(state, SVIState):
        raise TypeError(
            f"{who}: expected an SVIState (from svi.init or svi.run(...).state), got "
            f"{type(state).__name__}."
        )


__all__ = ["SVI", "SVIRunResult", "SVIState", "ParamValues", "constrain_params"]
