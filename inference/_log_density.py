"""Log densities and potentials, computed by handler pipelines (DESIGN rule 6).

The potential energy that a sampler sees is ``-log p(x, y)`` at unconstrained values
``u``, computed by running the model under

    ToSupport(u) >> LogJoint()

``ToSupport`` substitutes each latent sample site's value with ``biject_to(support)(u)``
and adds the log-Jacobian of that map to its state; ``LogJoint`` sums the scaled and
masked log densities of all sample and factor sites. Plates inside the model apply their
broadcasting and subsample scaling before either handler sees a site.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array

from effects import AbstractSite, Handler, Param, Sample, run
from handlers import Enum, LogFactor, Trace, factors, seed, substitute, trace
from handlers._enum import enumerated

from ._contract import contract_factors
from ._model_args import ModelArgs
from ._model_spec import ModelSpec, site_transform, spec_of


def _sum_to_batch(x: Array, batch_ndim: int) -> Array:
    extra = jnp.ndim(x) - batch_ndim
    if extra > 0:
        x = jnp.sum(x, axis=tuple(range(-extra, 0)))
    return x


class ToSupport(Handler):
    """Substitute latent sample sites with ``biject_to(support)(u)``; accumulate log|J|.

    ``params`` maps site names to unconstrained values. Param sites named in ``params``
    are mapped through ``biject_to(constraint)`` without a Jacobian (they are not random).
    The state is the running sum of the (plate-scaled) log-Jacobians.
    """

    handles: ClassVar = (Sample, Param)
    params: dict[str, Any]

    def init_state(self):
        return jnp.zeros(())

    def process(self, msg, state):
        if msg.name not in self.params:
            return msg, state
        u = self.params[msg.name]
        for i in msg.indices:
            u = u[i]
        t = site_transform(msg)
        if isinstance(msg, Param):
            return msg.replace(value=u if t is None else t(u)), state
        if msg.is_observed:
            return msg, state
        value = t(u)
        log_det = t.log_abs_det_jacobian(u, value)
        batch_ndim = len(msg.sample_shape) + len(msg.fn.batch_shape)
        log_det = _sum_to_batch(log_det, batch_ndim)
        if msg.scale is not None:
            log_det = log_det * msg.scale
        return msg.replace(value=value), state + jnp.sum(log_det)

    def output(self, state):
        return state


class LogJoint(Handler):
    """The log joint: the sum of every sample and factor site's log-density factor, masked
    and scaled (``handlers.LogFactor``), accumulated site by site. A factor with a dim a
    sum cannot reduce (an enumerated one) raises, naming the site."""

    handles: ClassVar = (AbstractSite,)

    def init_state(self):
        return jnp.zeros(())

    def postprocess(self, msg, state):
        return msg, state + LogFactor.of(msg).total()


class _Found(eqx.Module):
    """What :class:`FindEnumerated` saw: the sites marked for enumeration that had no
    value, and the deepest plate dim of any sample site (static data only)."""

    names: frozenset = eqx.field(static=True, default=frozenset())
    depth: int = eqx.field(static=True, default=0)

    def union(self, other: _Found) -> _Found:
        return _Found(self.names | other.names, max(self.depth, other.depth))


class FindEnumerated(Handler):
    """Finds the latent sites marked for enumeration that no handler gave a value, and
    the model's plate nesting. Such a site gets a placeholder value (its first support
    point everywhere), so that the run can finish; a run that found one is done again
    under ``Enum`` (its values are then the whole support). It computes nothing, so a
    model with no such site runs exactly as without it."""

    handles: ClassVar = (Sample,)
    scan_mode: ClassVar[str] = "stack"

    def init_state(self):
        return _Found()

    def process(self, msg, state):
        depth = max([-f.dim for f in msg.cond_indep_stack] + [state.depth])
        if not enumerated(msg):
            return msg, _Found(state.names, depth)
        support = jnp.asarray(msg.fn.enumerate_support(expand=True))
        found = _Found(state.names | {msg.name}, depth)
        return msg.replace(value=support[0]), found

    def merge(self, state, inner):
        return state.union(inner)


def enumerated_log_joint(
    model: Callable,
    model_args: tuple,
    model_kwargs: Mapping[str, Any],
    params: Mapping[str, Any],
    max_plate_nesting: int,
) -> tuple[Array, Array]:
    """``(log-Jacobian, log joint with the enumerated sites summed out)`` at unconstrained
    ``params``: the model runs under ``ToSupport(params) >> Enum >> factors()`` and the
    factors are contracted (``inference.contract_factors``)."""
    pipe = ToSupport(dict(params)) >> Enum(max_plate_nesting) >> factors()
    _, (log_det, _, fs) = run(model, pipe)(*model_args, **model_kwargs)
    return log_det, contract_factors(fs, max_plate_nesting)


def log_density(
    model: Callable,
    model_args: tuple = (),
    model_kwargs: Mapping[str, Any] | None = None,
    params: Mapping[str, Any] | None = None,
) -> tuple[Array, Trace]:
    """``(log joint density, trace)`` of ``model`` with latent sites fixed to ``params``
    (constrained values), as in NumPyro. Sites marked for enumeration that ``params``
    leaves out are summed out (their trace values are then their supports, each along
    its own dim)."""
    model_kwargs = dict(model_kwargs or {})
    given = substitute(dict(params or {}), on_unknown="ignore")
    _, (_, tr, found) = run(model, given >> trace() >> FindEnumerated())(
        *model_args, **model_kwargs
    )
    if found.names:
        pipe = given >> Enum(found.depth) >> factors() >> trace()
        _, (_, _, fs, tr) = run(model, pipe)(*model_args, **model_kwargs)
        return contract_factors(fs, found.depth), tr
    return tr.log_prob_sum(), tr


def potential_energy(
    model: Callable,
    model_args: tuple,
    model_kwargs: Mapping[str, Any] | None,
    params: Mapping[str, Any],
    spec: ModelSpec | None = None,
) -> Array:
    """``-log p`` at unconstrained ``params``, including the log-Jacobian of ``biject_to``.

    Latent discrete sites marked for enumeration (``handlers.config_enumerate``, or
    ``infer={"enumerate": "parallel"}``) are summed out: the model runs under
    ``ToSupport(params) >> Enum >> factors()`` and the factors are contracted. A model
    with none runs as ``ToSupport(params) >> LogJoint()``. Which one, and the plate
    nesting, the model's ``spec`` says (built here, from one abstract run, if not given).
    """
    model_kwargs = dict(model_kwargs or {})
    if spec is None:
        spec = spec_of(model, ModelArgs.of(model_args, model_kwargs))
    if spec.enumerated:
        log_det, log_joint = enumerated_log_joint(
            model, model_args, model_kwargs, params, spec.max_plate_nesting
        )
    else:
        _, (log_det, log_joint) = run(model, ToSupport(dict(params)) >> LogJoint())(
            *model_args, **model_kwargs
        )
    return -(log_joint + log_det)


class ConstrainFn(eqx.Module):
    """Maps unconstrained latent values to the support and adds deterministic sites.

    ``constrain_fn(u) -> dict`` gives the constrained value of every continuous latent
    site in ``u`` and, if ``return_deterministic``, every deterministic site's value, in
    program order. The model runs with no ``seed``: every latent site takes its value from
    ``u``, so nothing is random. ``spec``: the model's spec, which says which sites are
    latent or deterministic and whether any is enumerated (built from one abstract run
    when not given).
    """

    model: Callable
    model_args: ModelArgs
    spec: ModelSpec = eqx.field(static=True)
    return_deterministic: bool = eqx.field(static=True, default=True)

    def __init__(
        self,
        model: Callable,
        model_args: ModelArgs,
        spec: ModelSpec | None = None,
        return_deterministic: bool = True,
    ):
        self.model = model
        self.model_args = model_args
        self.spec = spec_of(model, model_args) if spec is None else spec
        self.return_deterministic = return_deterministic

    def __call__(self, params: Mapping[str, Any]) -> dict[str, Any]:
        pipe: Any = ToSupport(dict(params)) >> trace()
        if self.spec.enumerated:
            # Enumerated sites are not in ``params``. As in NumPyro (its postprocess_fn
            # runs ``seed(model, 0)``), they are drawn from their prior with a fixed key,
            # so every deterministic site has its own shape (no enumeration dim); one
            # that depends on an enumerated site is then a prior draw, not a posterior
            # one: ``Predictive(model, samples, infer_discrete=True)`` gives those.
            pipe = ToSupport(dict(params)) >> seed(jax.random.key(0)) >> trace()
        tr = self.model_args.call(run(self.model, pipe))[1][-1]
        wanted = [
            s.name
            for s in self.spec.sites
            if (s.role == "latent" and s.name in params)
            or (self.return_deterministic and s.role == "deterministic")
        ]
        return {name: tr[name].value for name in wanted}


def constrain_fn(
    model: Callable,
    model_args: tuple,
    model_kwargs: Mapping[str, Any] | None,
    params: Mapping[str, Any],
    return_deterministic: bool = False,
) -> dict[str, Any]:
    """Constrained values (and optionally deterministic sites) from unconstrained ``params``."""
    margs = ModelArgs.of(model_args, model_kwargs)
    return ConstrainFn(model, margs, return_deterministic=return_deterministic)(params)


def unconstrain_fn(
    model: Callable,
    model_args: tuple,
    model_kwargs: Mapping[str, Any] | None,
    params: Mapping[str, Any],
) -> dict[str, Any]:
    """Unconstrained values from constrained latent ``params`` (the inverse of constrain).

    The model's spec says which sites are continuous latent ones; their supports are read
    from one run at ``params`` (a support may depend on another site's value)."""
    spec = spec_of(model, ModelArgs.of(model_args, dict(model_kwargs or {})))
    spec.check_continuous_latent(params, "unconstrain_fn")
    _, tr = log_density(model, model_args, model_kwargs, params)
    return spec.unconstrain(tr, params)


class PotentialFn(eqx.Module):
    """``potential_fn(u) -> scalar``: a pytree-friendly closure over the model and data.

    Being an ``eqx.Module`` whose leaves are the model's traced arguments (see
    :class:`ModelArgs`), it can be passed into a jitted sampler as an argument, so new data
    of the same shape do not re-compile. ``spec`` (static) is the model's spec, built from
    one abstract run when not given; it says whether the potential sums out enumerated
    sites, and over how many plate dims.
    """

    model: Callable
    model_args: ModelArgs
    spec: ModelSpec = eqx.field(static=True)

    def __init__(self, model: Callable, model_args: ModelArgs, spec: ModelSpec | None = None):
        self.model = model
        self.model_args = model_args
        self.spec = spec_of(model, model_args) if spec is None else spec

    def __call__(self, params: Mapping[str, Any]) -> Array:
        args = self.model_args
        return potential_energy(self.model, args.args, args.kwargs, params, self.spec)
