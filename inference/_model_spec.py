"""One model spec: what a model has, read off one abstract run (``jax.eval_shape``: no
FLOPs are spent).

:class:`ModelSpec` lists the model's sites by role (latent, observed, param,
deterministic, factor) with their shapes, dtypes, support types, plates, whether they are
discrete and whether they are marked for enumeration, and gives the ravel/unravel between
the latent sites' unconstrained values and one flat vector. Its layout is
``jax.flatten_util.ravel_pytree``'s on a dict of the latent sites (sorted by name), so
vectors that MCMC holds and this spec agree.

It holds static data only (shapes, names, types), so it is hashable, can key a cache,
and passes into ``jit`` as structure: a consumer builds it once, from one abstract run
(:func:`spec_of`), before or while tracing its program, and reads site roles, plates,
shapes and the enumeration depth from it instead of running the model again.

Who reads it. ``PotentialFn`` and ``ConstrainFn`` hold the spec as a static field (it
says whether enumerated sites are summed out, over how many plate dims, and which sites
are latent or deterministic); initialisation takes its coordinates and shapes from it;
``MCMC.run`` builds one per call (``MCMC.model_spec()``), and its summary, ArviZ export,
observed data and log likelihood reuse it; ``Predictive`` builds one while its program is
traced (so a cached program builds none); ``log_likelihood`` builds one per call unless
given one. There is no cache (no module-level state): a spec costs one abstract run.

Live objects. A site's support can depend on values (``Uniform(0, x)`` with ``x`` another
latent site), so the spec does not hold support or constraint objects, nor values: they
are read from a trace of the model that the consumer runs anyway (its initialisation run,
the run that evaluates the log density, or the abstract prototype when only shapes
matter), through the spec's methods, which take that trace:

* :meth:`ModelSpec.supports` and :meth:`ModelSpec.transforms`: the support of each
  continuous latent site and its bijection from unconstrained space
  (:func:`site_transform`, the one place where a site's constrain map is chosen);
* :meth:`ModelSpec.unconstrain`: constrained values (the trace's own, or given ones) to
  unconstrained ones, e.g. the initial point of a sampler or of a guide.

For autoguides (they read the spec next): a guide's site list is
``spec.continuous_latent`` (raise for ``spec.discrete_latent`` names the guide cannot
handle; ``check_sampleable`` is the samplers' check), each ``SiteInfo`` giving ``shape``,
``unconstrained_shape``, ``event_dim``, ``batch_ndim`` and ``plates`` (name, dim, full and
subsample size); the flat layout of a multivariate guide is ``spec.ravel``/``unravel``;
supports and initial values come from the initialisation run the guide does anyway
(``seed >> substitute(init_loc_fn) >> trace``): ``spec.supports(tr)`` and
``spec.unconstrain(tr)``.

The way back, unconstrained to constrained, runs inside the model (``ToSupport`` in
``inference._log_density``), because a later site's support may depend on an earlier
site's constrained value; it too calls :func:`site_transform`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

import equinox as eqx
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree
from jaxtyping import Array, ArrayLike

from dists import biject_to
from effects import Deterministic, Factor, Param, Plate, Sample
from handlers import Trace

from ._model_args import ModelArgs
from ._validation import family_name

Role = Literal["latent", "observed", "param", "deterministic", "factor"]


class PlateInfo(eqx.Module):
    """A plate around a site: its name, batch dim, full size and subsample size."""

    name: str = eqx.field(static=True)
    dim: int = eqx.field(static=True)
    size: int = eqx.field(static=True)
    subsample_size: int = eqx.field(static=True)


class SiteInfo(eqx.Module):
    """One site of the model, as the abstract run saw it (static data only).

    ``shape``/``dtype``: the value's (``()``/``None`` for a deterministic site whose value
    is a pytree, not an array); ``unconstrained_shape``: of its image under
    ``biject_to(support)`` (continuous latent sites; ``None`` otherwise); ``support``: the
    name of the support's type; ``family``: the distribution's family (sample sites);
    ``enumerated``: a discrete latent site marked for parallel enumeration (the potential
    sums it out, so it is no coordinate of a sampler).
    """

    name: str = eqx.field(static=True)
    role: Role = eqx.field(static=True)
    shape: tuple[int, ...] = eqx.field(static=True)
    dtype: Any = eqx.field(static=True)
    plates: tuple[PlateInfo, ...] = eqx.field(static=True, default=())
    family: str | None = eqx.field(static=True, default=None)
    support: str | None = eqx.field(static=True, default=None)
    is_discrete: bool = eqx.field(static=True, default=False)
    event_dim: int = eqx.field(static=True, default=0)
    unconstrained_shape: tuple[int, ...] | None = eqx.field(static=True, default=None)
    enumerated: bool = eqx.field(static=True, default=False)

    @property
    def batch_ndim(self) -> int:
        """The value's dims left of the event dims (sample shape and batch shape)."""
        return len(self.shape) - self.event_dim

    @property
    def unconstrained_size(self) -> int:
        return 0 if self.unconstrained_shape is None else math.prod(self.unconstrained_shape)


def site_transform(site: Any) -> Any:
    """The bijection from unconstrained space onto a site's support: ``biject_to`` of a
    sample site's support, or of a param site's constraint (``None`` for a param without
    one). Every constrain and unconstrain in ``inference`` goes through here."""
    if isinstance(site, Param):
        return None if site.constraint is None else biject_to(site.constraint)
    return biject_to(site.fn.support)


def _plates(tr: Trace, site: Any) -> tuple[PlateInfo, ...]:
    out = []
    for f in site.cond_indep_stack:
        p = tr[f.name] if f.name in tr else None
        full = p.size if isinstance(p, Plate) else f.size
        out.append(PlateInfo(f.name, f.dim, full, f.size))
    return tuple(out)


def _info(tr: Trace, name: str, site: Any) -> SiteInfo | None:
    value = site.value
    shape, dtype = (), None
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        shape, dtype = tuple(value.shape), value.dtype
    # else a deterministic site's pytree value: no one shape (SiteInfo.shape is ()).
    if isinstance(site, Sample):
        fn = site.fn
        support = fn.support
        latent = not site.is_observed
        u_shape = (
            tuple(site_transform(site).inverse_shape(shape))
            if latent and not fn.is_discrete
            else None
        )
        return SiteInfo(
            name,
            "latent" if latent else "observed",
            shape,
            dtype,
            _plates(tr, site),
            family_name(fn),
            type(support).__name__.lstrip("_"),
            bool(fn.is_discrete),
            len(fn.event_shape),
            u_shape,
            latent and bool(fn.is_discrete) and site.infer.get("enumerate") == "parallel",
        )
    if isinstance(site, Param):
        return SiteInfo(name, "param", shape, dtype, _plates(tr, site))
    if isinstance(site, Deterministic):
        return SiteInfo(name, "deterministic", shape, dtype, _plates(tr, site))
    if isinstance(site, Factor):
        return SiteInfo(name, "factor", tuple(jnp.shape(site.log_factor)), None, _plates(tr, site))
    return None


class ModelSpec(eqx.Module):
    """What a model has (see the module docstring). Build it with :func:`model_spec`."""

    sites: tuple[SiteInfo, ...] = eqx.field(static=True)

    @staticmethod
    def of_trace(tr: Trace) -> ModelSpec:
        """The spec of a trace (an abstract one: only shapes and types are read)."""
        infos = (_info(tr, name, site) for name, site in tr.items())
        return ModelSpec(tuple(i for i in infos if i is not None))

    def _role(self, role: Role) -> dict[str, SiteInfo]:
        return {s.name: s for s in self.sites if s.role == role}

    @property
    def latent(self) -> dict[str, SiteInfo]:
        """Latent sample sites, in program order."""
        return self._role("latent")

    @property
    def observed(self) -> dict[str, SiteInfo]:
        return self._role("observed")

    @property
    def params(self) -> dict[str, SiteInfo]:
        return self._role("param")

    @property
    def deterministic(self) -> dict[str, SiteInfo]:
        return self._role("deterministic")

    @property
    def discrete_latent(self) -> dict[str, SiteInfo]:
        return {n: s for n, s in self.latent.items() if s.is_discrete}

    @property
    def enumerated(self) -> dict[str, SiteInfo]:
        """Discrete latent sites marked for enumeration (summed out by the potential)."""
        return {n: s for n, s in self.latent.items() if s.enumerated}

    @property
    def continuous_latent(self) -> dict[str, SiteInfo]:
        """Continuous latent sites, in program order: a sampler's coordinates."""
        return {n: s for n, s in self.latent.items() if not s.is_discrete}

    @property
    def unconstrained_shapes(self) -> dict[str, tuple[int, ...]]:
        """Each continuous latent site's shape in unconstrained space."""
        return {n: s.unconstrained_shape for n, s in self.continuous_latent.items()}  # type: ignore[misc]

    def role_of(self, name: str) -> Role | None:
        """The role of site ``name`` (``None`` if the model has no such site)."""
        return next((s.role for s in self.sites if s.name == name), None)

    def check_sampleable(self) -> None:
        """Raise unless a gradient-based sampler can run on the model: it has a latent
        site, and each discrete latent site is marked for enumeration."""
        for name, s in self.latent.items():
            if s.is_discrete and not s.enumerated:
                raise ValueError(
                    f"Site '{name}' is a discrete latent variable ({s.family}) that is not "
                    "marked for enumeration; gradient-based samplers need continuous latent "
                    "sites, and enumeration of unmarked discrete sites is not automatic. "
                    "Fix: mark it for enumeration, with `handlers.config_enumerate(model)` or "
                    "infer={'enumerate': 'parallel'} on the site, so that the potential sums "
                    "it out; or marginalise it out by hand; or observe it."
                )
        if not self.latent:
            raise ValueError(
                "The model has no latent sample sites (every sample site is observed), so "
                "there is nothing to sample. Fix: check that the sites you want to infer are "
                "not given `obs=` or conditioned."
            )
        if not self.continuous_latent:
            raise ValueError(
                f"The model has no continuous latent sample sites: its latent sites "
                f"{list(self.latent)} are all marked for enumeration, so the potential sums "
                "them out and a sampler has no coordinate to move. Fix: draw them with "
                "inference.infer_discrete (or Predictive(..., infer_discrete=True)), or "
                "leave at least one continuous latent site in the model."
            )

    # --- live objects, read from a trace of the same model -----------------------------
    def _sites_in(self, tr: Trace, who: str) -> dict[str, Any]:
        out = {}
        for name in self.continuous_latent:
            site = tr[name] if name in tr else None
            if not isinstance(site, Sample) or site.is_observed:
                found = "no site" if site is None else f"a {site.type_name} site"
                raise ValueError(
                    f"ModelSpec.{who}: the spec has the latent sample site '{name}', but the "
                    f"trace has {found} by that name. Fix: pass a trace of the model this "
                    "spec was built from, with the same arguments."
                )
            out[name] = site
        return out

    def supports(self, tr: Trace) -> dict[str, Any]:
        """Each continuous latent site's support object, as trace ``tr`` of the model has
        it (a concrete trace gives concrete bounds; the abstract prototype, shapes)."""
        return {n: site.fn.support for n, site in self._sites_in(tr, "supports").items()}

    def transforms(self, tr: Trace) -> dict[str, Any]:
        """Each continuous latent site's bijection from unconstrained space onto its
        support (:func:`site_transform`), as trace ``tr`` of the model has it."""
        return {n: site_transform(site) for n, site in self._sites_in(tr, "transforms").items()}

    def unconstrain(
        self, tr: Trace, values: Mapping[str, ArrayLike] | None = None
    ) -> dict[str, Array]:
        """Constrained latent ``values`` (default: the trace's own values of every
        continuous latent site) mapped to unconstrained space with the bijections of
        trace ``tr``. Names that are not continuous latent sites are an error."""
        if values is None:
            sites = self._sites_in(tr, "unconstrain")
            return {n: site_transform(s).inv(s.value) for n, s in sites.items()}
        self.check_continuous_latent(values, "unconstrain")
        sites = self._sites_in(tr, "unconstrain")
        return {n: site_transform(sites[n]).inv(v) for n, v in values.items()}

    def check_continuous_latent(self, names: Iterable[str], who: str) -> None:
        """Raise, naming the first offender and its role, unless every name in ``names``
        is a continuous latent site (the only sites with an unconstrained value)."""
        for name in names:
            if name in self.continuous_latent:
                continue
            role = self.role_of(name)
            what = {
                None: "not a site of the model",
                "latent": "a discrete latent site",
                "observed": "an observed site",
            }.get(role, f"a {role} site")
            raise ValueError(
                f"{who}: site '{name}' is {what}, so it has no unconstrained value "
                f"(continuous latent sites: {list(self.continuous_latent)}). Fix: pass only "
                "the model's continuous latent sample sites."
            )

    @property
    def max_plate_nesting(self) -> int:
        """The deepest plate dim any site uses (0 without plates): what ``dims`` needs."""
        return max((-p.dim for s in self.sites for p in s.plates), default=0)

    # --- one vector for the continuous latent sites ------------------------------------
    def _layout(self) -> list[SiteInfo]:
        # ravel_pytree's order on a dict: sorted keys.
        cont = [s for s in self.latent.values() if not s.is_discrete]
        return sorted(cont, key=lambda s: s.name)

    @property
    def size(self) -> int:
        """The length of the flat vector of unconstrained continuous latent values."""
        return sum(s.unconstrained_size for s in self._layout())

    def ravel(self, values: Mapping[str, ArrayLike]) -> Array:
        """The unconstrained latent ``values`` (name -> array) as one flat vector."""
        layout = self._layout()
        missing = [s.name for s in layout if s.name not in values]
        if missing:
            raise ValueError(
                f"ModelSpec.ravel: no value for the latent site(s) {missing} (given: "
                f"{sorted(values)}). Fix: pass a value for every continuous latent site."
            )
        parts = []
        for s in layout:
            v = jnp.asarray(values[s.name])
            if tuple(v.shape) != s.unconstrained_shape:
                raise ValueError(
                    f"ModelSpec.ravel: site '{s.name}' has unconstrained shape "
                    f"{s.unconstrained_shape}, got a value of shape {tuple(v.shape)}."
                )
            parts.append(v)
        # ravel_pytree itself, so the layout and dtype are exactly MCMC's.
        return ravel_pytree({s.name: v for s, v in zip(layout, parts)})[0]

    def unravel(self, flat: ArrayLike) -> dict[str, Array]:
        """The flat vector back to name -> unconstrained value (the inverse of ravel)."""
        flat = jnp.asarray(flat)
        if flat.shape != (self.size,):
            raise ValueError(
                f"ModelSpec.unravel: expected a vector of shape ({self.size},), got "
                f"{tuple(flat.shape)}."
            )
        out, i = {}, 0
        for s in self._layout():
            n = s.unconstrained_size
            out[s.name] = flat[i : i + n].reshape(s.unconstrained_shape)
            i += n
        return out

    def summary(self) -> str:
        """One line per site: role, shape, family and plates."""
        lines = []
        for s in self.sites:
            plates = ", ".join(f"{p.name}@{p.dim}" for p in s.plates)
            fam = f" {s.family}" if s.family else ""
            lines.append(f"{s.name}: {s.role}{fam} {s.shape}" + (f" [{plates}]" if plates else ""))
        return "\n".join(lines)


def abstract_run(model: Callable, margs: ModelArgs, key: Any = None) -> tuple[ModelSpec, Trace]:
    """The spec of ``model`` with arguments ``margs`` (see :class:`ModelArgs`), and the
    abstract prototype trace it was read from (one ``jax.eval_shape`` run; the trace's
    leaves are shapes). The trace is the spec's live companion for what is not static:
    support and distribution objects, e.g. for error messages or shape-only transforms."""
    from ._init import prototype_run

    # The spec is read while the run is traced (its values abstract arrays, which the
    # supports' constructors accept); it has no leaves, so it comes out as it is.
    return prototype_run(key, model, margs, lambda tr: (ModelSpec.of_trace(tr), tr))


def spec_of(model: Callable, margs: ModelArgs, key: Any = None) -> ModelSpec:
    """The spec of ``model`` with arguments ``margs`` (see :class:`ModelArgs`)."""
    return abstract_run(model, margs, key)[0]


def model_spec(model: Callable, *args: Any, **kwargs: Any) -> ModelSpec:
    """The model spec of ``model(*args, **kwargs)``, from one abstract run.

    Arguments follow the same rule as everywhere a model runs (:class:`ModelArgs`).

    Example:
        >>> import numpy as np, dists as D
        >>> from effects import plate, sample
        >>> def model(y):
        ...     mu = sample("mu", D.Normal(0.0, 1.0))
        ...     sigma = sample("sigma", D.HalfNormal(1.0))
        ...     with plate("N", len(y)):
        ...         sample("y", D.Normal(mu, sigma), obs=y)
        >>> spec = model_spec(model, np.zeros(3))
        >>> list(spec.latent), list(spec.observed), spec.size, spec.max_plate_nesting
        (['mu', 'sigma'], ['y'], 2, 1)
        >>> spec.unravel(spec.ravel({"mu": 0.5, "sigma": -1.0}))["sigma"].shape
        ()
    """
    return spec_of(model, ModelArgs.of(args, kwargs))
