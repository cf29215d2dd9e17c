"""``reparam``: replace sample sites by other sample sites and a deterministic function.

A reparameteriser is an immutable ``eqx.Module``. When the ``reparam`` handler meets a
latent sample site that its config names, it calls the reparameteriser, which performs
the new sample sites itself (as effects: ``seed``, ``trace``, ``condition``,
``substitute`` and the inference pipelines see them like any other site) and returns the
original site's value. The site then becomes a deterministic site of the same name holding
that value, so a trace, MCMC draws and ``Predictive`` keep reporting it.

Two kinds of reparameteriser:

* :class:`Reparam`, one site at a time, with NumPyro's protocol
  ``reparam(name, fn, obs) -> (new_fn, value)``: :class:`LocScaleReparam`,
  :class:`TransformReparam`, :class:`CircularReparam`, :class:`ProjectedNormalReparam`,
  and users' own;
* :class:`JointReparam`, several sites from one shared draw (neural transport,
  ``inference.NeuTraReparam``). What it draws for the sites it has not reached yet is kept
  in the handler's state, not on the reparameteriser, so the reparameteriser stays a
  value: several can be used at once, each on its own sites.

Observed sites are never reparameterised: a site named in the config that is observed
(``obs=`` or ``condition``) is left as it is. So ``reparam`` commutes with conditioning
observed sites (see ``proofs/_laws_reparam.py``).
"""

from __future__ import annotations

import abc
import math
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array

import dists as D
from dists import constraints
from dists.util import promote_value, safe_normalize
from effects import (
    Deterministic,
    Handled,
    Handler as _Handler,
    PlateHandler,
    Sample,
    _frame,
    factor,
    param,
    sample,
)

from ._common import SeenNames, check_on_unknown, check_unknown, wrap

#: The key of ``Sample.infer`` that marks a site made by a reparameteriser (its value is
#: the name of the site it replaced). A ``reparam`` handler with a config *function*
#: leaves such sites alone, so a rule such as "every Normal site" does not recurse into
#: the Normal noise it creates.
REPARAM_OF = "reparam_of"


# --------------------------------------------------------------------------------------
# The reparameteriser interfaces.


class Reparam(eqx.Module):
    """Abstract base of reparameterisers that act on one site at a time.

    A reparameteriser is an immutable ``eqx.Module``: its settings are fields (arrays as
    leaves, Python flags as ``eqx.field(static=True)``), and it keeps nothing between calls.

    Write your own by subclassing and implementing ``__call__(name, fn, obs)``:

    * perform the new sample sites with ``effects.sample`` (name them after ``name``, e.g.
      ``f"{name}_decentered"``), and perform ``param`` or ``factor`` sites if needed;
    * return ``(None, value)``: the site becomes a deterministic site holding ``value``,
      a differentiable function of the new sites. Return ``(new_fn, None)`` to keep the
      site as a sample site with another distribution, or ``(new_fn, value)`` to make it
      an observed site of ``new_fn`` at ``value``.

    ``obs`` is always ``None``: the handler never passes observed sites. The new sites
    are performed inside the same plates as the original site. The helpers
    :func:`unwrap` and :func:`rewrap` remove and restore the ``expand``/``to_event``
    layers that plates and ``.to_event`` put around a family.

    Example: non-centring a user's own location-scale family, ``x = loc + scale * z``:

        >>> import jax, jax.numpy as jnp, dists as D
        >>> from effects import sample
        >>> from handlers import Reparam, reparam, seed, trace, unwrap, rewrap
        >>> class NonCentre(Reparam):
        ...     def __call__(self, name, fn, obs):
        ...         base, batch_shape, event_dim = unwrap(fn)
        ...         noise = D.Normal(jnp.zeros_like(base.loc), 1.0)
        ...         z = sample(f"{name}_z", rewrap(noise, batch_shape, event_dim))
        ...         return None, base.loc + base.scale * z
        >>> def model():
        ...     sample("x", D.Normal(3.0, 0.5))
        >>> tr = trace(seed(reparam(model, config={"x": NonCentre()}), 0)).get_trace()
        >>> x, z = tr["x"].value, tr["x_z"].value
        >>> tr["x"].type_name, bool(abs(x - (3.0 + 0.5 * z)) < 1e-5)
        ('deterministic', True)
    """

    @abc.abstractmethod
    def __call__(self, name: str, fn: Any, obs: Array | None) -> tuple[Any, Any]:
        """Reparameterise site ``name`` of distribution ``fn``: ``(new_fn, value)``."""

    # NumPyro's spellings of the helpers, for reparameterisers ported from NumPyro.
    def _unwrap(self, fn: Any) -> tuple[Any, tuple[int, ...], int]:
        return unwrap(fn)

    def _wrap(self, fn: Any, expand_shape: tuple[int, ...], event_dim: int) -> Any:
        return rewrap(fn, expand_shape, event_dim)


class JointReparam(eqx.Module):
    """Abstract base of reparameterisers that give several sites their values from one
    shared draw (``inference.NeuTraReparam``).

    ``group`` names the shared draw (distinct for every such reparameteriser in a model);
    ``sites`` lists the sites it gives values to. At the first of its sites, ``draw``
    performs the shared draw and returns what every site needs; the ``reparam`` handler
    keeps that in its state, calls ``finish`` for each site when it comes, and raises at
    the end of the run if a site was never reached.
    """

    group: eqx.AbstractVar[str]

    @property
    @abc.abstractmethod
    def sites(self) -> tuple[str, ...]:
        """The names of the sites this reparameteriser gives values to."""

    @abc.abstractmethod
    def draw(self, msg: Sample) -> dict[str, Any]:
        """Perform the shared draw, at the group's first site ``msg``, and return what each
        site of ``sites`` needs (a pytree per site name) to make its value."""

    @abc.abstractmethod
    def finish(self, name: str, fn: Any, drawn: Any) -> Any:
        """The value of site ``name`` (distribution ``fn``) from what ``draw`` gave it; it
        may perform effects (a ``factor`` with the site's density), inside the site's
        plates."""


# --------------------------------------------------------------------------------------
# Helpers for writing reparameterisers.


def unwrap(fn: Any) -> tuple[Any, tuple[int, ...], int]:
    """``(base, expand_shape, event_dim)``: ``fn`` without its ``Independent`` and
    ``ExpandedDistribution`` layers, the batch shape ``base`` must be expanded to, and
    ``fn``'s number of event dims. :func:`rewrap` puts the layers back, around ``base`` or
    a family like it."""
    shape = tuple(fn.batch_shape) + tuple(fn.event_shape)
    event_dim = len(fn.event_shape)
    while isinstance(fn, (D.Independent, D.ExpandedDistribution)):
        fn = fn.base_dist
    return fn, shape[: len(shape) - len(fn.event_shape)], event_dim


def rewrap(fn: Any, expand_shape: tuple[int, ...], event_dim: int) -> Any:
    """``fn`` expanded to batch shape ``expand_shape`` and then given ``event_dim`` event
    dims (the inverse of :func:`unwrap`)."""
    own = len(fn.event_shape)
    if own > event_dim:
        raise ValueError(
            f"rewrap: the distribution has {own} event dims, more than the {event_dim} to "
            "restore. Fix: rewrap a family with no more event dims than the original."
        )
    if tuple(fn.batch_shape) != tuple(expand_shape):
        fn = fn.expand(tuple(expand_shape))
    if event_dim > own:
        fn = fn.to_event(event_dim - own)
    return fn


def _real_support(fn: Any) -> bool:
    support = fn.support
    while isinstance(support, type(constraints.real_vector)):
        support = support.base_constraint
    return support is constraints.real


def _is_one(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and x == 1


def _is_zero(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and x == 0


# --------------------------------------------------------------------------------------
# The standard reparameterisers.


class LocScaleReparam(Reparam):
    """Partial or full non-centring of a location-scale family (``Normal``, ``StudentT``,
    ``Cauchy``, ``Laplace``, ``Logistic``, ``Gumbel``, or any family with ``loc`` and
    ``scale`` and real support), after Gorinova, Moore and Hoffman (2019).

    The site ``x ~ F(loc, scale)`` becomes ``x_decentered ~ F(c * loc, scale**c)`` and the
    deterministic ``x = loc + scale**(1 - c) * (x_decentered - c * loc)``. ``c = 0`` is the
    fully non-centred form, ``c = 1`` leaves the site as it is.

    Args:
        centered: ``c`` in ``[0, 1]``; ``None`` (default) makes it a learnable param
            ``f"{name}_centered"`` (constrained to the unit interval, shaped like the
            site's event, initialised at 0.5), as in NumPyro. Wrap the model in
            ``handlers.lift`` to give it a prior instead.
        shape_params: names of further parameters of the family copied unchanged (e.g.
            ``("df",)`` for ``StudentT``).

    Example:
        >>> import dists as D
        >>> from effects import sample
        >>> from handlers import reparam, seed, trace
        >>> def model():
        ...     sample("x", D.Normal(1.0, 10.0))
        >>> tr = trace(seed(reparam(model, config={"x": LocScaleReparam(0.0)}), 0)).get_trace()
        >>> [(n, tr[n].type_name) for n in tr]
        [('x_decentered', 'sample'), ('x', 'deterministic')]
    """

    centered: Any = None
    shape_params: tuple[str, ...] = eqx.field(static=True, default=(), converter=tuple)

    def __check_init__(self):
        c = self.centered
        if isinstance(c, jax.core.Tracer) or c is None:
            return
        value = jnp.asarray(c)
        if not jnp.issubdtype(value.dtype, jnp.floating) and not jnp.issubdtype(
            value.dtype, jnp.integer
        ):
            raise TypeError(f"LocScaleReparam: centered must be a number, got {c!r}.")
        if not bool(jnp.all((value >= 0) & (value <= 1))):
            raise ValueError(
                f"LocScaleReparam: centered must lie in [0, 1], got {c!r}. Fix: 0 for the "
                "fully non-centred form, 1 for the centred one, None to learn it."
            )

    def __call__(self, name, fn, obs):
        base, batch_shape, event_dim = unwrap(fn)
        if not (hasattr(base, "loc") and hasattr(base, "scale")) or not _real_support(base):
            raise ValueError(
                f"LocScaleReparam at site '{name}': the site's distribution "
                f"({type(base).__name__}, support {base.support}) is not a location-scale "
                "family with real support (it needs `loc` and `scale` and real support). "
                "Fix: use it on Normal, StudentT, Cauchy, Laplace, Logistic or Gumbel sites, "
                "or TransformReparam for a TransformedDistribution."
            )
        c = self.centered
        if _is_one(c):
            return fn, None
        kwargs = {k: getattr(base, k) for k in self.shape_params}
        if c is None:
            dtype = jnp.result_type(base.loc, base.scale)
            c = param(
                f"{name}_centered",
                jnp.full(tuple(fn.event_shape), 0.5, dtype),
                constraint=constraints.unit_interval,
            )
        if _is_zero(c):
            loc, scale = promote_value(base.loc, base.scale)
            kwargs["loc"] = jnp.zeros_like(loc)
            kwargs["scale"] = jnp.ones_like(scale)
            noise_fn = rewrap(type(base)(**kwargs), batch_shape, event_dim)
            z = sample(f"{name}_decentered", noise_fn)
            z, loc, scale = promote_value(z, base.loc, base.scale)
            return None, loc + scale * z
        loc, scale, c = promote_value(base.loc, base.scale, c)
        kwargs["loc"] = loc * c
        kwargs["scale"] = scale**c
        decentered = rewrap(type(base)(**kwargs), batch_shape, event_dim)
        z = sample(f"{name}_decentered", decentered)
        z, loc, scale, c = promote_value(z, loc, scale, c)
        return None, loc + scale ** (1 - c) * (z - c * loc)


class TransformReparam(Reparam):
    """For a ``TransformedDistribution`` site: draw ``f"{name}_base"`` from its base
    distribution and push it through its transforms (a deterministic site), so a sampler
    works in the base space.

    Example:
        >>> import dists as D
        >>> from effects import sample
        >>> from handlers import reparam, seed, trace
        >>> def model():
        ...     sample("x", D.TransformedDistribution(D.Normal(0.0, 1.0),
        ...                                           D.AffineTransform(2.0, 3.0)))
        >>> tr = trace(seed(reparam(model, config={"x": TransformReparam()}), 0)).get_trace()
        >>> bool(abs(tr["x"].value - (2.0 + 3.0 * tr["x_base"].value)) < 1e-5)
        True
    """

    def __call__(self, name, fn, obs):
        base, batch_shape, event_dim = unwrap(fn)
        if not isinstance(base, D.TransformedDistribution):
            raise ValueError(
                f"TransformReparam at site '{name}': the site's distribution is "
                f"{type(base).__name__}, not a TransformedDistribution. Fix: write the "
                "site as TransformedDistribution(base, transforms), or use LocScaleReparam "
                "for a location-scale family."
            )
        base_event_dim = event_dim
        for t in reversed(base.transforms):
            base_event_dim += t.domain.event_dim - t.codomain.event_dim
        x = sample(f"{name}_base", rewrap(base.base_dist, batch_shape, base_event_dim))
        for t in base.transforms:
            x = t(x)
        return None, x


class CircularReparam(Reparam):
    """For a circular site (``VonMises``, support ``[-pi, pi)``): an unbounded site
    ``f"{name}_unwrapped"`` (improper flat prior), wrapped onto the circle, and a factor
    ``f"{name}_factor"`` with the site's log density at the wrapped value. The sampler
    moves on the real line and never meets the circle's edge. (The reparameterised model
    has no prior to sample from: the unwrapped site needs a value, as under MCMC.)"""

    def __call__(self, name, fn, obs):
        support = fn.support
        while isinstance(support, type(constraints.real_vector)):
            support = support.base_constraint
        lo, hi = getattr(support, "lower_bound", None), getattr(support, "upper_bound", None)
        circular = (
            lo is not None
            and hi is not None
            and jnp.size(lo) == 1
            and jnp.size(hi) == 1
            and not isinstance(lo, jax.core.Tracer)
            and abs(float(jnp.asarray(lo)) + math.pi) < 1e-5
            and abs(float(jnp.asarray(hi)) - math.pi) < 1e-5
        )
        if not circular:
            raise ValueError(
                f"CircularReparam at site '{name}': the site's support is {fn.support}, not "
                "the circle [-pi, pi). Fix: use it on VonMises sites."
            )
        flat = D.ImproperUniform(constraints.real, tuple(fn.batch_shape), tuple(fn.event_shape))
        u = sample(f"{name}_unwrapped", flat)
        (u,) = promote_value(u)
        value = jnp.remainder(u + math.pi, 2 * math.pi) - math.pi
        factor(f"{name}_factor", fn.log_prob(value))
        return None, value


class ProjectedNormalReparam(Reparam):
    """For a projected normal site (a direction ``normalize(concentration + e)``,
    ``e ~ N(0, I)``, on the unit sphere): draw ``f"{name}_normal"`` from the standard
    normal and project it, so a sampler moves in the plane rather than on the sphere.
    ``dists`` has no ``ProjectedNormal`` family yet; this works with any distribution with
    a ``concentration`` parameter whose draws are defined so (a user's own)."""

    def __call__(self, name, fn, obs):
        base, batch_shape, event_dim = unwrap(fn)
        conc = getattr(base, "concentration", None)
        if conc is None or len(base.event_shape) != 1:
            raise ValueError(
                f"ProjectedNormalReparam at site '{name}': the site's distribution "
                f"({type(base).__name__}) is not a projected normal (one event dim and a "
                "`concentration` parameter). Fix: use it on ProjectedNormal sites."
            )
        (conc,) = promote_value(conc)
        noise = D.Normal(jnp.zeros(jnp.shape(conc), conc.dtype), 1.0).to_event(1)
        x = sample(f"{name}_normal", rewrap(noise, batch_shape, event_dim))
        x, conc = promote_value(x, conc)
        return None, safe_normalize(x + conc)


# --------------------------------------------------------------------------------------
# The handler.


class _ReparamState(eqx.Module):
    """The handler's state: the config's site names seen (for the unknown-name report) and,
    per joint reparameteriser's group, the values drawn for sites not reached yet."""

    seen: frozenset = eqx.field(static=True, default=frozenset())
    pending: dict[str, dict[str, Any]] = eqx.field(default_factory=dict)

    def see(self, name: str) -> _ReparamState:
        if name in self.seen:
            return self
        return _ReparamState(self.seen | {name}, self.pending)


class _Origin(_Handler):
    """Tags every sample site performed while a reparameteriser runs with the name of the
    site it replaces (``infer[REPARAM_OF]``)."""

    handles: ClassVar = (Sample,)
    origin: str = eqx.field(static=True)

    def process(self, msg, state):
        if REPARAM_OF in msg.infer:
            return msg, state
        return msg.replace(infer=msg.infer.merged({REPARAM_OF: self.origin})), state


def outside_plates(fn: Callable[[], Any]) -> Any:
    """``fn()`` run with the plates in force set aside (the other handlers still see and
    handle its effects): for a draw shared by sites in different plates, such as NeuTra's
    latent vector, which no plate may broadcast."""
    frame = _frame.current_frame()
    if frame is None:
        return fn()
    keep = [i for i, h in enumerate(frame.handlers) if not isinstance(h, PlateHandler)]
    if len(keep) == len(frame.handlers):
        return fn()
    hs = tuple(frame.handlers[i] for i in keep)
    states = tuple(frame.states[i] for i in keep)
    with _frame.scoped(hs, states, "outside_plates", replace=True) as scope:
        out = fn()
    now = _frame.current_frame()
    assert now is not None
    new = list(now.states)
    for j, i in enumerate(keep):
        new[i] = scope.states[j]
    _frame.update(tuple(new))
    return out


def _check_reparam(name: str, r: Any) -> None:
    if not isinstance(r, (Reparam, JointReparam)):
        raise TypeError(
            f"reparam: the config gives site '{name}' a {type(r).__name__}, which is not a "
            "reparameteriser. Fix: give a Reparam or JointReparam instance, such as "
            "LocScaleReparam(0.0), or None to leave the site alone."
        )


class ReparamHandler(_Handler):
    """Reparameterise latent sample sites (see the module docstring).

    ``config`` maps site names to reparameterisers; ``config_fn(msg)`` may instead return
    a reparameteriser or ``None`` for each sample site (it is not asked about the sites
    that reparameterisers create). Observed sites are left alone.
    """

    handles: ClassVar = (Sample,)
    scan_mode: ClassVar[str] = "stack"

    config: dict[str, Any]
    config_fn: Callable | None = eqx.field(static=True, default=None)
    on_unknown: str = eqx.field(static=True, default="warn")

    def __check_init__(self):
        check_on_unknown(self.on_unknown)
        for name, r in self.config.items():
            if r is not None:
                _check_reparam(name, r)

    def init_state(self):
        return _ReparamState()

    def _lookup(self, msg: Sample) -> Any:
        if self.config_fn is None:
            return self.config.get(msg.name)
        if REPARAM_OF in msg.infer:
            return None
        r = self.config_fn(msg)
        if r is not None:
            _check_reparam(msg.name, r)
        return r

    def process(self, msg, state):
        if self.config_fn is None and msg.name in self.config:
            state = state.see(msg.name)
        r = self._lookup(msg)
        if r is None:
            return msg, state
        if msg.is_observed:
            if isinstance(r, JointReparam):
                raise ValueError(
                    f"{type(r).__name__} (group '{r.group}'): site '{msg.name}' is observed "
                    "here, but the shared draw covers it as a latent site. Fix: train the "
                    "guide on the model with this site observed, or do not condition it."
                )
            return msg, state
        if msg.sample_shape:
            # The reparameteriser sees one distribution of the site's whole shape.
            fn = msg.fn
            msg = msg.replace(
                fn=fn.expand(tuple(msg.sample_shape) + tuple(fn.batch_shape)), sample_shape=()
            )
        with _Origin(msg.name):
            if isinstance(r, JointReparam):
                value, state = self._joint(r, msg, state)
                new_fn = None
            else:
                new_fn, value = r(msg.name, msg.fn, None)
        if value is None:
            return msg.replace(fn=new_fn), state
        if new_fn is not None:
            return msg.replace(fn=new_fn, value=jnp.asarray(value), is_observed=True), state
        # The site becomes a deterministic site of the same name, in the same plates and
        # scan steps: the handlers outside see that, not a sample site.
        det = Deterministic(
            name=msg.name,
            value=value,
            indices=msg.indices,
            cond_indep_stack=msg.cond_indep_stack,
        )
        return det, state

    def _joint(self, r: JointReparam, msg: Sample, state: _ReparamState):
        if msg.indices:
            raise ValueError(
                f"{type(r).__name__} at site '{msg.name}': the site is inside an "
                "effect-aware scan, where a draw shared with other sites is not supported. "
                "Fix: reparameterise the scan's sites with a per-site reparameteriser."
            )
        if msg.name not in r.sites:
            raise ValueError(
                f"{type(r).__name__} (group '{r.group}') is given site '{msg.name}', which "
                f"it does not cover (its sites: {list(r.sites)}). Fix: use it only on its "
                "own sites (its `config()` does so), or train its guide on this site too."
            )
        pending = dict(state.pending)
        if r.group not in pending:
            pending[r.group] = r.draw(msg)
        group = dict(pending[r.group])
        if msg.name not in group:
            raise ValueError(
                f"{type(r).__name__} (group '{r.group}'): site '{msg.name}' was met twice in "
                "one run. Fix: give each site a unique name."
            )
        value = r.finish(msg.name, msg.fn, group.pop(msg.name))
        pending[r.group] = group
        return value, _ReparamState(state.seen, pending)

    def merge(self, state, inner):
        for g, left in inner.pending.items():
            if left:
                raise ValueError(
                    f"reparam: the joint reparameteriser group '{g}' drew values inside an "
                    "effect-aware scan step for sites the step did not reach "
                    f"({sorted(left)}). Fix: keep its sites out of scans."
                )
        return _ReparamState(state.seen | inner.seen, state.pending)

    def output(self, state):
        left = {g: sorted(v) for g, v in state.pending.items() if v}
        if left:
            raise ValueError(
                "reparam: the model did not reach these sites of a joint reparameteriser "
                f"(by group): {left}. Its shared draw covers them, so without them the "
                "density is improper. Fix: train the guide on the model as it runs now, or "
                "give those sites back to the model."
            )
        if self.config_fn is None:
            check_unknown("reparam", self.config, SeenNames(state.seen), self.on_unknown)
        return None


def reparam(
    fn: Any = None,
    config: Mapping[str, Any] | Callable | None = None,
    *,
    on_unknown: str = "warn",
) -> ReparamHandler | Handled:
    """Reparameterise sample sites.

    Args:
        fn: the model (NumPyro style ``reparam(model, config=...)``), or ``None`` for the
            handler itself (``reparam(config=...)``, to compose in a pipeline).
        config: a dict from site name to reparameteriser (``None`` leaves a site alone),
            or a function ``msg -> reparameteriser | None`` of each sample site.
        on_unknown: what to do when the dict names a site the model does not perform
            (``"warn"``, ``"error"`` or ``"ignore"``).

    Example:
        >>> import jax, dists as D
        >>> from effects import plate, sample
        >>> from handlers import seed, trace
        >>> def model():
        ...     mu = sample("mu", D.Normal(0.0, 5.0))
        ...     with plate("J", 3):
        ...         sample("theta", D.Normal(mu, 2.0))
        >>> rep = reparam(model, config={"theta": LocScaleReparam(centered=0.0)})
        >>> tr = trace(seed(rep, 0)).get_trace()
        >>> tr["theta_decentered"].value.shape, tr["theta"].type_name
        ((3,), 'deterministic')
    """
    if fn is not None and config is None and isinstance(fn, Mapping):
        fn, config = None, fn
    if config is None:
        raise TypeError(
            "reparam: no config given. Fix: pass config={site: reparameteriser} or "
            "config=function_of_msg, e.g. reparam(model, config={'x': LocScaleReparam(0.0)})."
        )
    if isinstance(config, Mapping):
        handler = ReparamHandler({str(k): v for k, v in config.items()}, None, on_unknown)
    elif callable(config):
        handler = ReparamHandler({}, config, on_unknown)
    else:
        raise TypeError(
            f"reparam: config must be a dict or a function of the site message, got "
            f"{type(config).__name__}."
        )
    return wrap(fn, handler)
