"""Initialisation strategies and ``initialize_model``.

A strategy maps a latent sample site (its message, with a PRNG key from ``seed``) to an
initial constrained value. Strategies are immutable callables; the NumPyro spellings work:
``init_strategy=init_to_median`` and ``init_strategy=init_to_median(num_samples=15)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree
from jaxtyping import Array

from dists import biject_to
from effects import Sample, run
from handlers import Trace, seed, substitute, trace

from ._jit import run_once_jit
from ._log_density import ConstrainFn, PotentialFn


def _latent(msg: Any) -> bool:
    return isinstance(msg, Sample) and not msg.is_observed and msg.value is None


class InitStrategy(eqx.Module):
    """Abstract base: ``strategy(msg) -> constrained initial value | None``."""

    def __call__(self, msg: Any) -> Any:
        # Discrete sites have no unconstrained space; they keep their prior draw, and
        # `latent_sites` reports them with a clear error where that matters.
        if not _latent(msg) or msg.fn.is_discrete:
            return None
        return self.init_value(msg)

    def init_value(self, msg: Sample) -> Array:
        raise NotImplementedError


def _uniform(msg: Sample, radius: float) -> Array:
    t = biject_to(msg.fn.support)
    shape = t.inverse_shape(msg.fn.shape(msg.sample_shape))
    dtype = jnp.result_type(float)
    u = jax.random.uniform(msg.key, shape, dtype, minval=-radius, maxval=radius)
    return t(u)


class InitToUniform(InitStrategy):
    radius: float = eqx.field(static=True, default=2.0)

    def init_value(self, msg):
        return _uniform(msg, self.radius)


class InitToFeasible(InitStrategy):
    def init_value(self, msg):
        t = biject_to(msg.fn.support)
        shape = t.inverse_shape(msg.fn.shape(msg.sample_shape))
        return t(jnp.zeros(shape, jnp.result_type(float)))


class InitToSample(InitStrategy):
    def init_value(self, msg):
        return msg.fn.sample(msg.key, msg.sample_shape)


class InitToMedian(InitStrategy):
    num_samples: int = eqx.field(static=True, default=15)

    def init_value(self, msg):
        draws = msg.fn.sample(msg.key, (self.num_samples,) + tuple(msg.sample_shape))
        return jnp.median(draws, axis=0)


class InitToMean(InitStrategy):
    num_samples: int = eqx.field(static=True, default=15)

    def init_value(self, msg):
        median = InitToMedian(self.num_samples).init_value(msg)
        try:
            mean = jnp.broadcast_to(msg.fn.mean, median.shape)
        except NotImplementedError:
            return median
        return jnp.where(jnp.isfinite(mean), mean, median)


class InitToValue(InitStrategy):
    values: dict[str, Any]
    fallback: InitStrategy = InitToUniform()

    def init_value(self, msg):
        if msg.name in self.values:
            return jnp.broadcast_to(
                jnp.asarray(self.values[msg.name]), msg.fn.shape(msg.sample_shape)
            )
        return self.fallback.init_value(msg)


def _dual(strategy_cls, site, **kwargs):
    strategy = strategy_cls(**kwargs)
    return strategy if site is None else strategy(site)


def init_to_uniform(site: Any = None, radius: float = 2.0) -> Any:
    """Uniform in ``(-radius, radius)`` in unconstrained space (the default)."""
    return _dual(InitToUniform, site, radius=radius)


def init_to_feasible(site: Any = None) -> Any:
    """The point ``biject_to(support)(0)``."""
    return _dual(InitToFeasible, site)


def init_to_sample(site: Any = None) -> Any:
    """A draw from the prior."""
    return _dual(InitToSample, site)


def init_to_median(site: Any = None, num_samples: int = 15) -> Any:
    """The median of ``num_samples`` prior draws."""
    return _dual(InitToMedian, site, num_samples=num_samples)


def init_to_mean(site: Any = None, num_samples: int = 15) -> Any:
    """The prior mean where finite, else the prior median."""
    return _dual(InitToMean, site, num_samples=num_samples)


def init_to_value(site: Any = None, values: Mapping[str, Any] | None = None) -> Any:
    """The given constrained ``values``; other sites fall back to ``init_to_uniform``."""
    return _dual(InitToValue, site, values=dict(values or {}))


def as_strategy(init_strategy: Any) -> InitStrategy:
    """An ``InitStrategy`` from a strategy or an uncalled ``init_to_*`` factory.

    NumPyro users pass ``init_strategy=init_to_median`` as often as
    ``init_to_median(num_samples=15)``; called with no site, a factory returns its strategy
    with the default options.
    """
    if isinstance(init_strategy, InitStrategy):
        return init_strategy
    if any(init_strategy is f for f in _FACTORIES):
        return init_strategy()
    raise TypeError(
        f"init_strategy must be an init strategy such as init_to_uniform or "
        f"init_to_median(num_samples=15), got {init_strategy!r}."
    )


_FACTORIES = (init_to_uniform, init_to_feasible, init_to_sample, init_to_median, init_to_mean)


# --------------------------------------------------------------------------------------


MAX_INIT_TRIES = 100
"""Initial points tried (per chain) before initialisation gives up."""


class ParamInfo(eqx.Module):
    """An initial point: unconstrained ``z``, its potential energy and gradient."""

    z: Any
    potential_energy: Array
    z_grad: Any


class ModelInfo(eqx.Module):
    param_info: ParamInfo
    potential_fn: PotentialFn
    postprocess_fn: ConstrainFn
    model_trace: Trace


def prototype_trace(
    key: Any, model: Callable, model_args: tuple, model_kwargs: Mapping[str, Any]
) -> Trace:
    """The structure of one prior run (``jax.eval_shape``: shapes only, nothing computed).

    It tells which sites are latent, with their shapes and distributions' types.
    """

    # Latent sites take init_to_uniform values rather than prior draws, so sites that
    # cannot be sampled (ImproperUniform) still get a value of the right shape.
    def one(k, a, kw):
        pipe = seed(k) >> substitute(substitute_fn=InitToUniform()) >> trace()
        _, (_, _, tr) = run(model, pipe)(*a, **kw)
        return tr

    return jax.eval_shape(one, key, tuple(model_args), dict(model_kwargs))


def latent_sites(tr: Trace) -> dict[str, Sample]:
    """The latent (unobserved) sample sites of a trace, checked to be continuous."""
    out = {}
    for name, site in tr.items():
        if isinstance(site, Sample) and not site.is_observed:
            if site.fn.is_discrete:
                raise ValueError(
                    f"Site '{name}' is a discrete latent variable ({type(site.fn).__name__}); "
                    "gradient-based samplers need continuous latent sites. Fix: marginalise "
                    "it out (sum over its values with a factor or a mixture distribution) "
                    "or observe it."
                )
            out[name] = site
    if not out:
        raise ValueError(
            "The model has no latent sample sites (every sample site is observed), so "
            "there is nothing to sample. Fix: check that the sites you want to infer are "
            "not given `obs=` or conditioned."
        )
    return out


def _init_params(key, model, model_args, model_kwargs, strategy: InitStrategy):
    pipe = seed(key) >> substitute(substitute_fn=strategy) >> trace()
    _, (_, _, tr) = run(model, pipe)(*model_args, **dict(model_kwargs))
    z = {}
    for name, site in tr.items():
        if isinstance(site, Sample) and not site.is_observed:
            z[name] = biject_to(site.fn.support).inv(site.value)
    return z


def find_valid_initial_params(
    key: Any,
    model: Callable,
    model_args: tuple = (),
    model_kwargs: Mapping[str, Any] | None = None,
    init_strategy: Any = init_to_uniform,
    max_tries: int = MAX_INIT_TRIES,
) -> tuple[ParamInfo, Array]:
    """Try initial points until the potential and its gradient are finite.

    Returns ``(ParamInfo, is_valid)``. Runs as one ``lax.while_loop``.
    """
    strategy = as_strategy(init_strategy)
    model_kwargs = dict(model_kwargs or {})
    potential = PotentialFn(model, tuple(model_args), model_kwargs)

    def attempt(k):
        z = _init_params(k, model, model_args, model_kwargs, strategy)
        pe, grad = jax.value_and_grad(potential)(z)
        flat_grad, _ = ravel_pytree(grad)
        ok = jnp.isfinite(pe) & jnp.all(jnp.isfinite(flat_grad))
        return z, pe, grad, ok

    # One call site for the model and its gradient (a second one would be compiled again):
    # the loop starts from placeholders of the right shapes and always runs attempt 0.
    placeholder = jax.tree.map(
        lambda s: jnp.zeros(s.shape, s.dtype), jax.eval_shape(attempt, jax.random.fold_in(key, 0))
    )

    def cond(carry):
        i, _, _, _, ok = carry
        return (i == 0) | ((~ok) & (i < max_tries))

    def body(carry):
        i, *_ = carry
        z, pe, g, ok = attempt(jax.random.fold_in(key, i))
        return i + 1, z, pe, g, ok

    _, z, pe, g, ok = jax.lax.while_loop(cond, body, (jnp.asarray(0), *placeholder))
    return ParamInfo(z, pe, g), ok


# Module-level so that repeated calls with new data of the same shape reuse the compiled
# program: the model and strategy are static, the data are traced.
_find_valid_jit = run_once_jit(find_valid_initial_params)


def nonfinite_sites(
    model: Callable, model_args: tuple, model_kwargs: Mapping[str, Any], z: Mapping[str, Any]
) -> list[str]:
    """Names of the sites whose log density is not finite at unconstrained ``z``."""
    from ._log_density import ToSupport

    pipe = seed(jax.random.key(0)) >> ToSupport(dict(z)) >> trace()
    _, (_, _, tr) = run(model, pipe)(*model_args, **dict(model_kwargs))
    bad = []
    for name, site in tr.items():
        if hasattr(site, "log_prob") and site.type_name in ("sample", "factor"):
            if not bool(jnp.all(jnp.isfinite(site.log_prob()))):
                bad.append(name)
    return bad


def checked_prototype_trace(
    key: Any, model: Callable, model_args: tuple, model_kwargs: Mapping[str, Any]
) -> Trace:
    """:func:`prototype_trace`, after raising the errors of :func:`latent_sites` (no latent
    site, a discrete one). An abstract run: nothing is compiled or computed."""
    tr = prototype_trace(key, model, tuple(model_args), dict(model_kwargs))
    latent_sites(tr)
    return tr


def raise_no_valid_init(
    model: Callable, model_args: tuple, model_kwargs: Mapping[str, Any], z: Any, max_tries: int
) -> None:
    """The error for an initialisation that found no finite potential, naming the sites
    whose log density is not finite at the last point tried ``z``."""
    bad = nonfinite_sites(model, tuple(model_args), dict(model_kwargs), z)
    raise ValueError(
        f"Cannot find valid initial parameters after {max_tries} tries: the potential "
        f"or its gradient is not finite. Sites with non-finite log density: {bad}. "
        "Fix: check the model's parameters and data (e.g. observations outside a "
        "distribution's support), or pass init_strategy=init_to_value(values=...)."
    )


def initialize_model(
    rng_key: Any,
    model: Callable,
    *,
    init_strategy: Any = init_to_uniform,
    model_args: tuple = (),
    model_kwargs: Mapping[str, Any] | None = None,
    max_tries: int = MAX_INIT_TRIES,
) -> ModelInfo:
    """Find an initial point and build the potential and postprocessing functions.

    Raises ``ValueError`` when no initial point with a finite potential is found after
    ``max_tries`` attempts, naming the sites whose log density is not finite.
    """
    model_kwargs = dict(model_kwargs or {})
    tr = checked_prototype_trace(rng_key, model, tuple(model_args), model_kwargs)
    info, ok = _find_valid_jit(
        rng_key, model, tuple(model_args), model_kwargs, as_strategy(init_strategy), max_tries
    )
    if not bool(ok):
        raise_no_valid_init(model, tuple(model_args), model_kwargs, info.z, max_tries)
    return ModelInfo(
        info,
        PotentialFn(model, tuple(model_args), model_kwargs),
        ConstrainFn(model, tuple(model_args), model_kwargs),
        tr,
    )
