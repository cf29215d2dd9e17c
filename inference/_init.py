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
import numpy as np
from jax.flatten_util import ravel_pytree
from jaxtyping import Array

from effects import Sample, isolated, run
from handlers import Trace, seed, substitute, trace

from ._jit import run_once_jit
from ._log_density import ConstrainFn, PotentialFn, ToSupport
from ._model_args import Const, ModelArgs, explain_traced_args
from ._model_spec import ModelSpec, abstract_run, site_transform
from ._validation import raise_violations, site_checks, violation_message


def _latent(msg: Any) -> bool:
    return isinstance(msg, Sample) and not msg.is_observed and msg.value is None


class InitStrategy(eqx.Module):
    """Abstract base: ``strategy(msg) -> constrained initial value | None``."""

    def __call__(self, msg: Any) -> Any:
        # Discrete sites have no unconstrained space; they keep their prior draw, and
        # `ModelSpec.check_sampleable` reports them with a clear error where that matters.
        if not _latent(msg) or msg.fn.is_discrete:
            return None
        return self.init_value(msg)

    def init_value(self, msg: Sample) -> Array:
        raise NotImplementedError

    def check_sites(self, latent: Mapping[str, Any]) -> None:
        """Raise if the strategy names sites that are not latent sites of the model
        (``latent``: a mapping keyed by the latent sites' names, such as
        ``ModelSpec.continuous_latent``)."""


def _uniform(msg: Sample, radius: float) -> Array:
    t = site_transform(msg)
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
        t = site_transform(msg)
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


def _const_values(values: Any) -> tuple:
    if isinstance(values, tuple):
        return values
    return tuple((str(k), Const(np.asarray(v))) for k, v in dict(values or {}).items())


class InitToValue(InitStrategy):
    """Given constrained values. They are constants (compared by their bytes), so that a
    kernel holding this strategy is hashable, as the compiled programs need."""

    given: tuple = eqx.field(static=True, converter=_const_values)
    fallback: InitStrategy = eqx.field(static=True, default=InitToUniform())

    @property
    def values(self) -> dict[str, Any]:
        return {k: c.value for k, c in self.given}

    def init_value(self, msg):
        values = self.values
        if msg.name not in values:
            return self.fallback.init_value(msg)
        value = jnp.asarray(values[msg.name])
        shape = tuple(msg.fn.shape(msg.sample_shape))
        if _broadcast_or_none(value.shape, shape) != shape:
            raise ValueError(
                f"init_to_value: the value for site '{msg.name}' has shape {value.shape}, "
                f"which does not broadcast to the site's shape {shape}. Fix: pass a value "
                f"of shape {shape} (constrained, as the site's distribution gives it)."
            )
        return jnp.broadcast_to(value, shape)

    def check_sites(self, latent):
        unknown = sorted(set(self.values) - set(latent))
        if unknown:
            raise ValueError(
                f"init_to_value: values name {unknown}, which are not latent sample sites "
                f"of the model (latent sites: {sorted(latent)}). Fix: check the spelling; "
                "observed sites and deterministic sites take no initial value."
            )
        self.fallback.check_sites(latent)


def _broadcast_or_none(a: tuple, b: tuple) -> tuple | None:
    try:
        return tuple(jnp.broadcast_shapes(a, b))
    except ValueError:
        return None


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
    return _dual(InitToValue, site, given=dict(values or {}))


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
    potential_fn: Any
    postprocess_fn: Any
    model_trace: Trace  # the abstract prototype trace (shapes, distributions)
    model_spec: ModelSpec | None = None


def prototype_trace(key: Any, model: Callable, margs: ModelArgs) -> Trace:
    """The structure of one prior run (``jax.eval_shape``: shapes only, nothing computed).

    It tells which sites are latent, with their shapes and distributions' types. A model
    that cannot run with some argument traced gets an error naming that argument (see
    :func:`explain_traced_args`). :func:`abstract_run` gives it with the model's spec.
    """
    return prototype_run(key, model, margs, lambda tr: tr)


def prototype_run(key: Any, model: Callable, margs: ModelArgs, read: Callable) -> Any:
    """``read(trace)`` of one prior run, under ``jax.eval_shape`` (:func:`prototype_trace`):
    ``read`` sees the trace while it is traced, its values abstract arrays. ``key``: the
    run's PRNG key, or ``None`` for a fixed one (shapes do not depend on it). The run is
    the model's alone: handlers in force around the call do not see it."""

    # Latent sites take init_to_uniform values rather than prior draws, so sites that
    # cannot be sampled (ImproperUniform) still get a value of the right shape.
    def one(m, k=None):
        # Without a key, one made inside the abstract run: it adds no op to a program
        # being traced around this call (a potential's jaxpr stays the model's alone).
        k = jax.random.key(0) if k is None else k
        pipe = seed(k) >> substitute(substitute_fn=InitToUniform()) >> trace()
        _, (_, _, tr) = m.call(run(model, pipe))
        return read(tr)

    keys = () if key is None else (key,)
    # A fresh context: the handlers of a run in progress (a caller's) are not in force,
    # so the run sees the model alone, wherever the spec is asked for.
    abstract = lambda m: isolated(jax.eval_shape, one, m, *keys)  # noqa: E731
    with explain_traced_args(model, margs, abstract):
        return abstract(margs)


def checked_spec(key: Any, model: Callable, margs: ModelArgs) -> tuple[ModelSpec, Trace]:
    """The model's spec and its prototype trace (one abstract run: :func:`abstract_run`),
    after raising the errors of :meth:`ModelSpec.check_sampleable` (no latent site, an
    unmarked discrete one)."""
    spec, tr = abstract_run(model, margs, key)
    spec.check_sampleable()
    return spec, tr


def _init_params(key, model, margs: ModelArgs, strategy: InitStrategy, spec: ModelSpec):
    """An initial point (unconstrained) and the checks of :func:`site_checks` there."""
    pipe = seed(key) >> substitute(substitute_fn=strategy) >> trace()
    _, (_, _, tr) = margs.call(run(model, pipe))
    return spec.unconstrain(tr), site_checks(tr)


def find_initial_point(
    key: Any,
    model: Callable,
    margs: ModelArgs,
    strategy: InitStrategy,
    max_tries: int,
    spec: ModelSpec,
    potential: Callable | None = None,
) -> tuple[ParamInfo, Array, dict]:
    """Try initial points until the potential and its gradient are finite.

    Returns ``(ParamInfo, is_valid, checks)``, ``checks`` being :func:`site_checks` at the
    point found. Runs as one ``lax.while_loop``. ``spec``: the model's spec (which sites
    are the sampler's coordinates). ``potential``: the function whose value and gradient
    are checked (default: the model's ``PotentialFn``; a sampler passes its own, e.g. one
    differentiated in forward mode).
    """
    if potential is None:
        potential = PotentialFn(model, margs, spec)

    def attempt(k):
        z, checks = _init_params(k, model, margs, strategy, spec)
        pe, grad = jax.value_and_grad(potential)(z)
        flat_grad, _ = ravel_pytree(grad)
        ok = jnp.isfinite(pe) & jnp.all(jnp.isfinite(flat_grad))
        return z, pe, grad, ok, checks

    # One call site for the model and its gradient (a second one would be compiled again):
    # the loop starts from placeholders of the right shapes and always runs attempt 0.
    placeholder = jax.tree.map(
        lambda s: jnp.zeros(s.shape, s.dtype), jax.eval_shape(attempt, jax.random.fold_in(key, 0))
    )

    def cond(carry):
        i, _, _, _, ok, _ = carry
        return (i == 0) | ((~ok) & (i < max_tries))

    def body(carry):
        i, *_ = carry
        return i + 1, *attempt(jax.random.fold_in(key, i))

    _, z, pe, g, ok, checks = jax.lax.while_loop(cond, body, (jnp.asarray(0), *placeholder))
    return ParamInfo(z, pe, g), ok, checks


def find_valid_initial_params(
    key: Any,
    model: Callable,
    model_args: tuple = (),
    model_kwargs: Mapping[str, Any] | None = None,
    init_strategy: Any = init_to_uniform,
    max_tries: int = MAX_INIT_TRIES,
) -> tuple[ParamInfo, Array]:
    """Try initial points until the potential and its gradient are finite.

    Returns ``(ParamInfo, is_valid)``. Runs as one ``lax.while_loop``; the arguments are
    split into traced and static ones as everywhere else (see :class:`ModelArgs`).
    """
    margs = ModelArgs.of(model_args, model_kwargs)
    spec, _ = checked_spec(key, model, margs)
    info, ok, _ = find_initial_point(key, model, margs, as_strategy(init_strategy), max_tries, spec)
    return info, ok


# Module-level so that repeated calls with new data of the same shape reuse the compiled
# program: the model and strategy are static, the traced arguments are leaves.
_find_valid_jit = run_once_jit(find_initial_point)


@eqx.filter_jit
def _site_diagnosis(model: Callable, margs: ModelArgs, z: Any):
    def log_densities(u):
        _, (_, tr) = margs.call(run(model, ToSupport(dict(u)) >> trace()))
        return {
            name: jnp.sum(site.log_prob())
            for name, site in tr.items()
            if site.type_name in ("sample", "factor")
        }

    def finite_tree(t):
        return jnp.all(jnp.array([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(t)] or [True]))

    lps = log_densities(z)
    _, (_, tr) = margs.call(run(model, ToSupport(dict(z)) >> trace()))
    violations = site_checks(tr)
    lp_ok = {name: jnp.isfinite(lp) for name, lp in lps.items()}
    grad = jax.grad(PotentialFn(model, margs))(z)
    grad_ok = {name: jnp.all(jnp.isfinite(g)) for name, g in grad.items()}
    # Which terms of the log density have the non-finite slope (a factor, a likelihood).
    site_grad_ok = {
        name: finite_tree(jax.grad(lambda u, name=name: log_densities(u)[name])(z)) for name in lps
    }
    return (lp_ok, grad_ok, site_grad_ok), violations


def nonfinite_sites(
    model: Callable, margs: ModelArgs, z: Mapping[str, Any]
) -> tuple[list, list, list]:
    """At unconstrained ``z``: the sites whose log density is not finite, the latent sites
    where the potential's gradient is not finite, and the sites whose log density has a
    non-finite gradient there."""
    checks, _ = _site_diagnosis(model, margs, dict(z))
    lp_bad, grad_bad, site_grad_bad = (
        [name for name, ok in c.items() if not bool(ok)] for c in checks
    )
    return lp_bad, grad_bad, site_grad_bad


def describe_nonfinite(model: Callable, margs: ModelArgs, z: Any) -> str:
    """Which sites make the potential or its gradient non-finite at unconstrained ``z``."""
    checks, violations = _site_diagnosis(model, margs, dict(z))
    bad_lp, bad_grad, bad_site_grad = ([n for n, ok in c.items() if not bool(ok)] for c in checks)
    parts = []
    for (name, what), count in violations.items():
        if int(count):
            proto = prototype_trace(jax.random.key(0), model, margs)  # shapes only
            parts.append(violation_message(proto, name, what, count).split(" Fix:")[0])
            break
    if bad_lp:
        parts.append(f"sites with non-finite log density: {bad_lp}")
    if bad_grad:
        parts.append(f"latent sites with a non-finite gradient of the potential: {bad_grad}")
    if bad_site_grad and not bad_lp:
        parts.append(f"sites whose log density has a non-finite gradient: {bad_site_grad}")
    if not parts:
        parts.append("no single site is non-finite (the sum overflows)")
    return "; ".join(parts)


def raise_no_valid_init(
    model: Callable, margs: ModelArgs, z: Any, max_tries: int, given: bool = False
) -> None:
    """The error for an initialisation that found no finite potential, naming the sites
    whose log density or gradient is not finite at the last point tried ``z``."""
    what = describe_nonfinite(model, margs, z)
    if given:
        raise ValueError(
            f"MCMC.run: the potential or its gradient is not finite at init_params "
            f"({what}). Fix: pass init_params (unconstrained values) at which the model's "
            "log density and its gradient are finite, or leave init_params out."
        )
    raise ValueError(
        f"Cannot find valid initial parameters after {max_tries} tries: the potential "
        f"or its gradient is not finite ({what}, at the last point tried). Fix: check the "
        "model's parameters and data (e.g. observations outside a distribution's "
        "support), or pass init_strategy=init_to_value(values=...)."
    )


def initialize_model(
    rng_key: Any,
    model: Callable,
    *,
    init_strategy: Any = init_to_uniform,
    dynamic_args: bool = False,
    model_args: tuple = (),
    model_kwargs: Mapping[str, Any] | None = None,
    forward_mode_differentiation: bool = False,
    validate_grad: bool = True,
    max_tries: int = MAX_INIT_TRIES,
    jit_model_args: bool | None = None,
) -> ModelInfo:
    """Find an initial point and build the potential and postprocessing functions.

    NumPyro's signature. With ``dynamic_args=True`` the returned ``potential_fn`` and
    ``postprocess_fn`` are functions of the model's arguments that return the potential
    and postprocessing functions (NumPyro's convention). ``jit_model_args`` chooses which
    arguments are traced (see :class:`ModelArgs`); ``forward_mode_differentiation`` and
    ``validate_grad`` are accepted for NumPyro compatibility (the initial point's gradient
    is always checked to be finite).

    Raises ``ValueError`` when no initial point with a finite potential and gradient is
    found after ``max_tries`` attempts, naming the sites whose log density or gradient is
    not finite.

    Example:
        >>> import jax, dists as D
        >>> from effects import sample
        >>> def model():
        ...     sample("x", D.Normal(0.0, 1.0))
        >>> info = initialize_model(jax.random.key(0), model)
        >>> sorted(info.param_info.z)
        ['x']
    """
    del forward_mode_differentiation, validate_grad
    margs = ModelArgs.of(model_args, model_kwargs, jit_model_args)
    strategy = as_strategy(init_strategy)
    spec, tr = checked_spec(rng_key, model, margs)
    strategy.check_sites(spec.continuous_latent)
    info, ok, checks = _find_valid_jit(rng_key, model, margs, strategy, max_tries, spec)
    if not bool(ok):
        raise_no_valid_init(model, margs, info.z, max_tries)
    raise_violations(tr, checks)
    if dynamic_args:

        def potential_fn(*args, **kwargs):
            return PotentialFn(model, ModelArgs.of(args, kwargs, jit_model_args))

        def postprocess_fn(*args, **kwargs):
            return ConstrainFn(model, ModelArgs.of(args, kwargs, jit_model_args))

        return ModelInfo(info, potential_fn, postprocess_fn, tr, spec)
    potential, constrain = PotentialFn(model, margs, spec), ConstrainFn(model, margs, spec)
    return ModelInfo(info, potential, constrain, tr, spec)
