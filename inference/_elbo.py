"""Variational objectives, computed by handler pipelines.

One particle of every ELBO is the same two runs:

    guide:  ParamValues(params) >> seed(k_guide) >> trace()
    model:  replay(guide trace) >> ParamValues(params) >> seed(k_model) >> trace()

``ParamValues`` gives every ``param`` site its (constrained) value; ``replay`` gives the
model's latent sites the guide's draws. Each trace's sites carry their scale and mask
(plates with subsampling, ``scale``, ``mask``), and ``site.log_prob()`` applies them, so
the objectives below are plain sums over the traces. Particles are ``jax.vmap``-ed (or run
one after the other with ``lax.map``) over independent keys.

Sites of the guide that are not reparameterisable (``fn.has_rsample`` false, e.g. a
``Bernoulli``) get a score-function ("surrogate") term: its value is zero and its gradient
is ``grad log q(z) * cost``. ``Trace_ELBO`` uses the whole ELBO as the cost;
``TraceGraph_ELBO`` uses only the terms in the site's own plate slices and a leave-one-out
baseline across particles (see its docstring).

``loss(rng_key, param_map, ...)`` gives a param site missing from ``param_map`` its initial
value, the one ``SVI.init(rng_key, ...)`` would give it (:func:`initial_params`), as
NumPyro's loss does (its unmatched params fall back to their initialisers): so
``loss(key, {}, model, AutoDelta(model, init_loc_fn=...), *args)`` is the loss at the
guide's initial point.

``TraceEnum_ELBO`` runs the model under ``Enum >> factors()`` as well: the model's sites
marked for enumeration that the guide does not sample are summed out exactly by the
contraction that ``potential_energy`` uses (``inference.contract_factors``, with scan
chains contracted by ``inference._chain``), so its particle is ``log sum_y p(x, y, z) -
log q(z)`` at the guide's draw ``z``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, PRNGKeyArray

from dists import kl_divergence
from effects import (
    AbstractSite,
    Effect,
    Handler,
    Param,
    Pipeline,
    Sample,
    isolated,
    perform,
    run,
)
from handlers import Enum, Replay, Trace, factors, seed, trace

from ._contract import contract_factors
from ._log_density import FindEnumerated


class HasParam(Effect):
    """Asks whether param ``name`` has a value from outside (``ParamValues``).

    With no ``ParamValues`` in force (a guide's first run, when SVI collects its initial
    params) the answer is ``True``. Autoguides ask it to guide only the sites they were
    fitted on: a site that is observed in training and left to the model in
    ``Predictive(model, guide=..., params=...)`` has no params, so the guide skips it.
    """

    has_default: ClassVar[bool] = True
    param_name: str = eqx.field(static=True)
    # No site name: a trace does not record the question.
    name: None = eqx.field(static=True, default=None)
    value: Any = None
    stop: bool = eqx.field(static=True, default=False)

    def default(self) -> HasParam:
        return self if self.value is not None else self.replace(value=True)


def has_param(name: str) -> bool:
    """Whether param ``name`` is given from outside (``True`` when nothing says)."""
    return bool(perform(HasParam(name)).value)


class ParamValues(Handler):
    """Give every ``param`` site named in ``values`` that value (already constrained).

    Unlike ``substitute`` it takes any pytree as a value (an Equinox module's array
    leaves, see :func:`inference.eqx_module`). It also answers :class:`HasParam`.
    """

    handles: ClassVar = (Param, HasParam)
    values: dict[str, Any]

    def process(self, msg, state):
        if isinstance(msg, HasParam):
            return msg.replace(value=msg.param_name in self.values), state
        if msg.name in self.values:
            return msg.replace(value=self.values[msg.name]), state
        return msg, state


def with_params(fn: Callable[[], Any], params: Mapping[str, Any]) -> Any:
    """``fn()`` run with the param sites named in ``params`` taking those values
    (:class:`ParamValues`) and no other handlers in force (``effects.isolated``): a
    guide's setup read at fitted params, wherever it is called from."""

    def go():
        value, _ = run(fn, ParamValues(dict(params)))()
        return value

    return isolated(go)


def _is_latent(site: Any) -> bool:
    return isinstance(site, Sample) and not site.is_observed


def _is_auxiliary(site: Any) -> bool:
    return bool(site.infer.get("is_auxiliary", False))


def check_traces(model_tr: Mapping[str, Any], guide_tr: Mapping[str, Any]) -> None:
    """Raise when the guide does not cover the model's latent sites, or samples a site
    the model does not have (a trace-time check: it costs nothing at run time)."""
    missing = [n for n, s in model_tr.items() if _is_latent(s) and n not in guide_tr]
    if missing:
        raise ValueError(
            f"SVI: the model's latent sample site(s) {missing} are not sampled by the guide "
            f"(guide sample sites: {[n for n, s in guide_tr.items() if _is_latent(s)]}). "
            "The ELBO needs q(z) for every latent z. Fix: sample these sites in the guide "
            "with the same names, or observe them in the model."
            + (
                f" Site(s) {marked} are marked for enumeration: use TraceEnum_ELBO, which "
                "sums them out of the model."
                if (marked := [n for n in missing if _enumerate_marked(model_tr[n])])
                else ""
            )
        )
    extra = [
        n
        for n, s in guide_tr.items()
        if _is_latent(s) and not _is_auxiliary(s) and n not in model_tr
    ]
    if extra:
        raise ValueError(
            f"SVI: the guide samples site(s) {extra} that the model does not have (model "
            f"sites: {list(model_tr)}). Fix: check the names, or mark a helper site of the "
            "guide with infer={'is_auxiliary': True}."
        )
    for n, s in guide_tr.items():
        m = model_tr.get(n) if n in model_tr else None
        if m is not None and _is_latent(s) and isinstance(m, Sample) and m.is_observed:
            raise ValueError(
                f"SVI: site '{n}' is observed in the model but sampled by the guide. Fix: "
                "remove it from the guide (observed sites need no variational factor)."
            )


def _guide_then_model(
    key: PRNGKeyArray,
    model: Callable,
    guide: Callable,
    args: tuple,
    kwargs: Mapping[str, Any],
    params: ParamValues | None = None,
) -> tuple[Trace, Trace]:
    """``(model trace, guide trace)``: the guide run under ``seed``, then the model with the
    guide's draws replayed, each keyed by one half of ``key``; both under ``params`` when
    given (without it, a param site takes its initial value)."""
    k_guide, k_model = jax.random.split(key)
    given = () if params is None else (params,)
    guide_pipe = Pipeline((*given, seed(k_guide), trace()))
    _, guide_states = run(guide, guide_pipe)(*args, **kwargs)
    guide_tr = guide_states[-1]
    model_pipe = Pipeline((Replay(guide_tr), *given, seed(k_model), trace()))
    _, model_states = run(model, model_pipe)(*args, **kwargs)
    return model_states[-1], guide_tr


def get_traces(
    key: PRNGKeyArray,
    params: Mapping[str, Any],
    model: Callable,
    guide: Callable,
    args: tuple,
    kwargs: Mapping[str, Any],
) -> tuple[Trace, Trace]:
    """``(model trace, guide trace)`` of one particle: the guide run with the params, the
    model run with the guide's draws replayed."""
    model_tr, guide_tr = _guide_then_model(
        key, model, guide, args, kwargs, ParamValues(dict(params))
    )
    check_traces(model_tr, guide_tr)
    return model_tr, guide_tr


def initial_params(
    rng_key: PRNGKeyArray,
    model: Callable,
    guide: Callable,
    args: tuple,
    kwargs: Mapping[str, Any],
    check: Callable[[Any, Any], None] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(values, constraints)`` of every param site at its initial value: what
    ``SVI.init(rng_key, *args, **kwargs)`` starts from (constrained values).

    The guide runs under ``seed`` with no param values given (so an autoguide guides every
    site), then the model with the guide's draws replayed; a param's ``init_fn`` gets its
    site's key from ``seed``. The guide's params come first; a name in both keeps the
    guide's. ``check(model_trace, guide_trace)`` is called on the two runs when given.
    """
    k_init, _ = jax.random.split(rng_key)  # SVI.init's split: the other half is its state's
    model_tr, guide_tr = _guide_then_model(k_init, model, guide, args, kwargs)
    if check is not None:
        check(model_tr, guide_tr)
    values: dict[str, Any] = {}
    constraints: dict[str, Any] = {}
    for tr in (guide_tr, model_tr):
        for name, site in tr.items():
            if isinstance(site, Param) and name not in values:
                values[name] = site.value
                constraints[name] = site.constraint
    return values, constraints


def _with_initial_params(
    rng_key: PRNGKeyArray,
    param_map: Mapping[str, Any],
    model: Callable,
    guide: Callable,
    args: tuple,
    kwargs: Mapping[str, Any],
) -> dict[str, Any]:
    """``param_map`` with every param site it lacks at its initial value
    (:func:`initial_params`). Which sites exist is read from an abstract run
    (``jax.eval_shape``: no FLOPs), so a complete map costs no extra model run."""
    given = dict(param_map)

    def names():
        return initial_params(rng_key, model, guide, args, kwargs)[0]

    # An empty map lacks every param there is: no need to look first.
    if given and all(n in given for n in jax.eval_shape(names)):
        return given
    values, _ = initial_params(rng_key, model, guide, args, kwargs)
    return {**{n: v for n, v in values.items() if n not in given}, **given}


def _log_density(tr: Trace) -> Array:
    total = jnp.zeros(())
    for site in tr.sites:
        if isinstance(site, AbstractSite):
            total = total + jnp.sum(site.log_prob())
    return total


def _score_sites(guide_tr: Trace) -> list[Sample]:
    return [
        s
        for s in guide_tr.sites
        if isinstance(s, Sample) and not s.is_observed and not s.fn.has_rsample
    ]


def _surrogate(x: Array) -> Array:
    """Zero in value, ``x``'s gradient in derivative."""
    return x - jax.lax.stop_gradient(x)


def _check_particles(n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"num_particles must be a positive int, got {n!r}.")
    return n


class ELBO(eqx.Module):
    """Abstract base of the variational objectives.

    ``loss(rng_key, param_map, model, guide, *args, **kwargs)`` is minus the ELBO estimate
    (NumPyro's signature); ``param_map`` holds the constrained values of the param sites,
    and a param site it lacks takes the initial value that ``SVI.init(rng_key, *args,
    **kwargs)`` would give it (:func:`initial_params`; deterministic in ``rng_key``), as in
    NumPyro. ``estimate(rng_key, params, model, guide, args, kwargs)`` is the same with
    every param given (what ``SVI`` differentiates). Subclasses give ``particle(key,
    params, model, guide, args, kwargs)``, one particle's ``(elbo, surrogate)``, the
    surrogate being zero in value (its gradient is the score-function part), and may
    override ``estimate``.
    """

    num_particles: int = eqx.field(static=True, default=1, converter=_check_particles)
    vectorize_particles: bool = eqx.field(static=True, default=True)

    def particle(self, key, params, model, guide, args, kwargs) -> tuple[Array, Array]:
        raise NotImplementedError

    def check_traces(self, model_tr: Mapping[str, Any], guide_tr: Mapping[str, Any]) -> None:
        """Raise when the guide does not fit the model for this objective (``SVI.init``
        calls it on one run of each)."""
        check_traces(model_tr, guide_tr)

    def particles(self, rng_key, params, model, guide, args, kwargs) -> Any:
        """Every particle's output, stacked (``vmap`` or ``lax.map`` over the keys)."""
        keys = jax.random.split(rng_key, self.num_particles)

        def one(k):
            return self.particle(k, params, model, guide, args, kwargs)

        if self.num_particles == 1:
            # One particle needs no batching: the same key and the same arithmetic, with a
            # smaller program to trace and compile than a vmap over a batch of one.
            return jax.tree.map(lambda x: jnp.expand_dims(x, 0), one(keys[0]))
        if self.vectorize_particles:
            return jax.vmap(one)(keys)
        return jax.lax.map(one, keys)

    def loss(
        self,
        rng_key: PRNGKeyArray,
        param_map: Mapping[str, Any],
        model: Callable,
        guide: Callable,
        *args: Any,
        **kwargs: Any,
    ) -> Array:
        params = _with_initial_params(rng_key, param_map, model, guide, args, kwargs)
        return self.estimate(rng_key, params, model, guide, args, kwargs)

    def estimate(self, rng_key, params, model, guide, args, kwargs) -> Array:
        """Minus the ELBO estimate, every param site given in ``params``."""
        elbo, sur = self.particles(rng_key, params, model, guide, args, kwargs)
        return -(jnp.mean(elbo) + jnp.mean(sur))


class Trace_ELBO(ELBO):
    """The evidence lower bound ``E_q[log p(x, z) - log q(z)]``, by Monte Carlo.

    Args:
        num_particles: draws from the guide per estimate (their mean is the estimate).
        vectorize_particles: ``jax.vmap`` over particles (else ``lax.map``: less memory).

    Non-reparameterisable guide sites get a score-function term with the whole ELBO as its
    cost (no baseline; ``TraceGraph_ELBO`` has lower variance).

    Example:
        >>> import jax, dists as D
        >>> from effects import sample, param
        >>> def model():
        ...     sample("x", D.Normal(0.0, 1.0))
        >>> def guide():
        ...     sample("x", D.Normal(param("m", 0.0), 1.0))
        >>> abs(float(Trace_ELBO().loss(jax.random.key(0), {"m": 0.0}, model, guide)))
        0.0
    """

    def particle(self, key, params, model, guide, args, kwargs):
        model_tr, guide_tr = get_traces(key, params, model, guide, args, kwargs)
        elbo = _log_density(model_tr) - _log_density(guide_tr)
        sur = jnp.zeros((), elbo.dtype)
        cost = jax.lax.stop_gradient(elbo)
        for site in _score_sites(guide_tr):
            sur = sur + _surrogate(jnp.sum(site.log_prob()) * cost)
        return elbo, sur


class TraceMeanField_ELBO(ELBO):
    """``Trace_ELBO`` with ``KL(q(z) || p(z | parents))`` in closed form for each latent site
    whose pair of families is registered (``dists.register_kl``); Monte Carlo elsewhere.

    Right for mean-field guides (each site's guide factor independent of the others); the
    KL terms take the model site's scale and mask.

    Example:
        >>> import jax, dists as D
        >>> from effects import sample, param
        >>> def model():
        ...     sample("x", D.Normal(0.0, 1.0))
        >>> def guide():
        ...     sample("x", D.Normal(param("m", 1.0), 1.0))
        >>> float(TraceMeanField_ELBO().loss(jax.random.key(0), {"m": 1.0}, model, guide))
        0.5
    """

    def particle(self, key, params, model, guide, args, kwargs):
        model_tr, guide_tr = get_traces(key, params, model, guide, args, kwargs)
        elbo = jnp.zeros(())
        analytic = set()
        for name, m in model_tr.items():
            if not _is_latent(m) or name not in guide_tr:
                continue
            g = guide_tr[name]
            try:
                kl = kl_divergence(g.fn, m.fn)
            except NotImplementedError:
                continue
            kl = jnp.broadcast_to(kl, jnp.broadcast_shapes(jnp.shape(kl), m.fn.batch_shape))
            elbo = elbo - jnp.sum(_mask_and_scale(kl, m.mask, m.scale))
            analytic.add(name)
        for name, site in model_tr.items():
            if isinstance(site, AbstractSite) and name not in analytic:
                elbo = elbo + jnp.sum(site.log_prob())
        for name, site in guide_tr.items():
            if isinstance(site, AbstractSite) and name not in analytic:
                elbo = elbo - jnp.sum(site.log_prob())
        sur = jnp.zeros((), elbo.dtype)
        cost = jax.lax.stop_gradient(elbo)
        for site in _score_sites(guide_tr):
            sur = sur + _surrogate(jnp.sum(site.log_prob()) * cost)
        return elbo, sur


def _mask_and_scale(x: Array, mask: Any, scale: Any) -> Array:
    if mask is not None:
        x = jnp.where(jnp.broadcast_to(mask, x.shape), x, jnp.zeros((), x.dtype))
    if scale is not None:
        x = x * jnp.broadcast_to(jnp.asarray(scale, x.dtype), x.shape)
    return x


class RenyiELBO(ELBO):
    """The Renyi alpha-divergence bound ``1/(1-alpha) log mean_i w_i^(1-alpha)``, ``w_i =
    p(x, z_i) / q(z_i)`` over ``num_particles`` draws (Li and Turner, 2016).

    ``alpha = 0`` gives the importance-weighted bound (IWAE); ``alpha -> 1`` the ELBO
    (``alpha = 1`` itself is refused: use ``Trace_ELBO``). Every guide site must be
    reparameterisable.

    Example:
        >>> import jax, dists as D
        >>> from effects import sample, param
        >>> def model():
        ...     sample("x", D.Normal(0.0, 1.0))
        >>> def guide():
        ...     sample("x", D.Normal(param("m", 0.0), 1.0))
        >>> loss = RenyiELBO(alpha=0.5, num_particles=4)
        >>> abs(float(loss.loss(jax.random.key(0), {"m": 0.0}, model, guide))) < 1e-6
        True
    """

    alpha: float = eqx.field(static=True, default=0.0)

    def __init__(self, alpha: float = 0.0, num_particles: int = 2, vectorize_particles=True):
        if alpha == 1:
            raise ValueError(
                "RenyiELBO: alpha = 1 is the ordinary ELBO, where this estimator's formula "
                "divides by zero. Fix: use Trace_ELBO(), or an alpha other than 1."
            )
        self.alpha = float(alpha)
        self.num_particles = _check_particles(num_particles)
        self.vectorize_particles = vectorize_particles

    def particle(self, key, params, model, guide, args, kwargs):
        model_tr, guide_tr = get_traces(key, params, model, guide, args, kwargs)
        bad = [s.name for s in _score_sites(guide_tr)]
        if bad:
            raise ValueError(
                f"RenyiELBO: guide site(s) {bad} are not reparameterisable, and this "
                "estimator has no score-function term. Fix: use TraceGraph_ELBO or "
                "Trace_ELBO for guides with discrete sites."
            )
        log_w = _log_density(model_tr) - _log_density(guide_tr)
        return log_w, jnp.zeros((), log_w.dtype)

    def estimate(self, rng_key, params, model, guide, args, kwargs):
        log_w, _ = self.particles(rng_key, params, model, guide, args, kwargs)
        n = log_w.shape[0]
        scaled = (1.0 - self.alpha) * log_w
        bound = (jax.nn.logsumexp(scaled) - jnp.log(jnp.asarray(n, log_w.dtype))) / (
            1.0 - self.alpha
        )
        return -bound


def _restrict(lp: Array, frames: tuple, keep: set, ndim: int) -> Array:
    """``lp`` (a site's log density) summed over every dim except the plate dims whose
    plate is in ``keep``; shaped to broadcast against an array of rank ``ndim``."""
    lp = jnp.asarray(lp)
    kept = {lp.ndim + f.dim for f in frames if f.name in keep and lp.ndim + f.dim >= 0}
    axes = tuple(a for a in range(lp.ndim) if a not in kept)
    if axes:
        lp = jnp.sum(lp, axis=axes, keepdims=True)
    if lp.ndim > ndim:
        lp = jnp.reshape(lp, lp.shape[lp.ndim - ndim :])
    elif lp.ndim < ndim:
        lp = jnp.reshape(lp, (1,) * (ndim - lp.ndim) + lp.shape)
    return lp


class TraceGraph_ELBO(ELBO):
    """``Trace_ELBO`` with variance-reduced score-function terms for non-reparameterisable
    guide sites.

    Two reductions, both keeping the gradient unbiased:

    - *Plate-local costs* (Rao-Blackwellisation over conditionally independent plates):
      the cost of element ``i`` of a site in plate ``P`` counts only the log-density terms
      of other sites at the same index ``i`` of ``P`` (terms outside ``P`` count in full).
      The finer dependency graph (only downstream sites) is not tracked: sites in the
      same plate slice count whether or not they depend on the site.
    - *Leave-one-out baseline* across particles: with ``num_particles = N > 1`` each
      particle's cost has the mean of the other ``N - 1`` particles' costs subtracted
      (independent of that particle's draw, so no bias). No state is carried between
      steps; with ``N = 1`` there is no baseline.

    Example:
        >>> import jax, dists as D
        >>> from effects import sample, param
        >>> def model():
        ...     sample("z", D.Bernoulli(probs=0.5))
        >>> def guide():
        ...     sample("z", D.Bernoulli(probs=param("p", 0.5)))
        >>> abs(float(TraceGraph_ELBO(num_particles=2).loss(
        ...     jax.random.key(0), {"p": 0.5}, model, guide))) < 1e-6
        True
    """

    def particle(self, key, params, model, guide, args, kwargs):
        model_tr, guide_tr = get_traces(key, params, model, guide, args, kwargs)
        elbo = _log_density(model_tr) - _log_density(guide_tr)
        terms = [(s, 1.0) for s in model_tr.sites if isinstance(s, AbstractSite)] + [
            (s, -1.0) for s in guide_tr.sites if isinstance(s, AbstractSite)
        ]
        out = {}
        for z in _score_sites(guide_tr):
            lp_z = z.log_prob()
            keep = {f.name for f in z.cond_indep_stack}
            cost = jnp.zeros(jnp.shape(lp_z), elbo.dtype)
            for s, sign in terms:
                part = _restrict(s.log_prob(), s.cond_indep_stack, keep, jnp.ndim(lp_z))
                cost = cost + sign * jnp.broadcast_to(part, cost.shape)
            out[z.name] = (lp_z, jax.lax.stop_gradient(cost))
        return elbo, out

    def estimate(self, rng_key, params, model, guide, args, kwargs):
        elbo, sites = self.particles(rng_key, params, model, guide, args, kwargs)
        n = self.num_particles
        sur = jnp.zeros((), elbo.dtype)
        for lp_z, cost in sites.values():
            if n > 1:
                baseline = (jnp.sum(cost, axis=0, keepdims=True) - cost) / (n - 1)
                cost = cost - baseline
            sur = sur + _surrogate(jnp.sum(lp_z * cost)) / n
        return -(jnp.mean(elbo) + sur)


def _enumerate_marked(site: Any) -> bool:
    return isinstance(site, Sample) and site.infer.get("enumerate") == "parallel"


class TraceEnum_ELBO(ELBO):
    """``Trace_ELBO`` with the model's enumerated discrete sites summed out exactly.

    A model site marked ``infer={"enumerate": "parallel"}`` (or by
    ``handlers.config_enumerate``) that the guide does not sample is enumerated
    (``handlers.Enum``), and the model's factors are contracted over its values by
    ``inference.contract_factors`` (tensor variable elimination over plates; an
    enumerated effect-aware ``scan``, such as an HMM, by its chain contraction). One
    particle is ``log sum_y p(x, y, z) - log q(z)`` with ``z`` drawn from the guide and
    ``y`` the enumerated sites: an unbiased estimate of the ELBO of the collapsed model
    ``p(x, z)``, exact when there is no ``z`` or when ``q(z) = p(z | x)``. Its gradient
    is exact in the model's params and, through the contraction, pathwise in the guide's
    (the contraction's stabilising shifts are constants, so nothing is lost). Guide sites
    that are not reparameterisable and not enumerated get the score-function term of
    ``Trace_ELBO`` (the whole ELBO as the cost).

    Args:
        num_particles: draws from the guide per estimate (their mean is the estimate).
        max_plate_nesting: how many plate dims the model uses (enumeration dims go to
            their left). ``None`` finds it from a run of the model (no cost after
            compiling); give it when plates open only inside some branches.
        vectorize_particles: ``jax.vmap`` over particles (else ``lax.map``).

    Scales (subsampled plates, ``handlers.scale``): the factors that meet an enumerated
    variable must share one scalar scale, which multiplies their contraction (as in
    NumPyro: the subsample estimate of ``sum_i log sum_y p(x_i, y_i)`` is ``N/B`` times the
    batch's); otherwise it raises, naming the sites.

    Not built: sites enumerated in the guide (they are refused, naming the site: sample
    them without ``enumerate`` in the guide, so they get a score-function term, or leave
    them out of the guide, so the model sums them out).

    Example:
        >>> import jax, jax.numpy as jnp, dists as D
        >>> from effects import sample
        >>> from handlers import config_enumerate
        >>> @config_enumerate
        ... def model():
        ...     z = sample("z", D.Bernoulli(probs=0.25))
        ...     sample("x", D.Normal(jnp.where(z == 1, 2.0, 0.0), 1.0), obs=1.0)
        >>> def guide():
        ...     pass
        >>> loss = TraceEnum_ELBO().loss(jax.random.key(0), {}, model, guide)
        >>> n = D.Normal(0.0, 1.0).log_prob(jnp.array([1.0, -1.0]))  # x - 2z for z = 0, 1
        >>> want = jnp.logaddexp(jnp.log(0.75) + n[0], jnp.log(0.25) + n[1])
        >>> bool(jnp.allclose(-loss, want))
        True
    """

    max_plate_nesting: int | None = eqx.field(static=True, default=None)

    def __init__(
        self,
        num_particles: int = 1,
        max_plate_nesting: int | None = None,
        vectorize_particles: bool = True,
    ):
        if max_plate_nesting is not None and (
            isinstance(max_plate_nesting, bool)
            or not isinstance(max_plate_nesting, int)
            or max_plate_nesting < 0
        ):
            raise ValueError(
                "TraceEnum_ELBO: max_plate_nesting must be None (found from the model) or "
                f"a non-negative int (the number of nested plates), got {max_plate_nesting!r}."
            )
        self.num_particles = _check_particles(num_particles)
        self.max_plate_nesting = max_plate_nesting
        self.vectorize_particles = vectorize_particles

    def particle(self, key, params, model, guide, args, kwargs):
        k_guide, k_model = jax.random.split(key)
        values = ParamValues(dict(params))
        _, (_, _, guide_tr) = run(guide, values >> seed(k_guide) >> trace())(*args, **kwargs)
        enumerated_in_guide = [
            n for n, s in guide_tr.items() if _is_latent(s) and _enumerate_marked(s)
        ]
        if enumerated_in_guide:
            raise ValueError(
                f"TraceEnum_ELBO: guide site(s) {enumerated_in_guide} are marked for "
                "enumeration (infer={'enumerate': 'parallel'}); enumerating in the guide is "
                "not built. Fix: leave these sites out of the guide and mark them in the "
                "model, so that the model sums them out exactly, or drop the mark in the "
                "guide, so that they are sampled (with a score-function gradient)."
            )
        given = Replay(guide_tr) >> values >> seed(k_model)
        depth = self.max_plate_nesting
        if depth is None:
            # A run that only looks (FindEnumerated computes nothing) finds the plates.
            _, (_, _, _, found) = run(model, given >> FindEnumerated())(*args, **kwargs)
            depth = found.depth
        pipe = given >> Enum(depth) >> factors() >> trace()
        _, (_, _, _, _, fs, model_tr) = run(model, pipe)(*args, **kwargs)
        self.check_traces(model_tr, guide_tr)
        elbo = contract_factors(fs, depth) - _log_density(guide_tr)
        sur = jnp.zeros((), elbo.dtype)
        cost = jax.lax.stop_gradient(elbo)
        for site in _score_sites(guide_tr):
            sur = sur + _surrogate(jnp.sum(site.log_prob()) * cost)
        return elbo, sur

    def check_traces(self, model_tr: Mapping[str, Any], guide_tr: Mapping[str, Any]) -> None:
        """``check_traces`` where the model's latent sites marked for enumeration (and
        not in the guide) need no guide factor: they are summed out."""
        _check_enum_traces(model_tr, guide_tr)


def _check_enum_traces(model_tr: Mapping[str, Any], guide_tr: Mapping[str, Any]) -> None:
    missing = [
        n
        for n, s in model_tr.items()
        if _is_latent(s) and n not in guide_tr and not _enumerate_marked(s)
    ]
    if missing:
        raise ValueError(
            f"TraceEnum_ELBO: the model's latent sample site(s) {missing} are neither "
            "sampled by the guide nor marked for enumeration (guide sample sites: "
            f"{[n for n, s in guide_tr.items() if _is_latent(s)]}). Fix: sample them in the "
            "guide, or, for discrete sites, mark them in the model with "
            "infer={'enumerate': 'parallel'} (or wrap the model in config_enumerate)."
        )
    enumerated_names = {n for n, s in model_tr.items() if _enumerate_marked(s)}
    kept = {n: s for n, s in model_tr.items() if n not in enumerated_names or n in guide_tr}
    check_traces(kept, guide_tr)
