"""Automatic guides: variational families built from the model's latent sites.

An autoguide is an immutable ``eqx.Module`` that holds the model and is called with the
model's arguments. It finds the model's latent sites with :func:`model_sites` (the one
lookup, to be swapped for the core's model spec when it lands), and its parameters are
ordinary ``param`` sites named ``f"{prefix}_..."``, held by ``SVI`` like any other.

Two kinds:

- per-site guides (``AutoDelta``, ``AutoNormal``) sample every latent site on its own,
  inside the site's plates (a parameter has the plate's full size, and a subsampled plate
  takes its slice);
- guides over one flat vector ``u`` of all the sites' unconstrained values
  (``AutoDiagonalNormal``, ``AutoMultivariateNormal``, ``AutoLowRankMultivariateNormal``,
  ``AutoLaplaceApproximation``, and the flows in ``_autoguide_flows.py``). They sample
  ``u`` at the auxiliary site ``f"_{prefix}_latent"`` and give each model site
  ``biject_to(support)(u_site)`` as a ``Delta`` whose density is minus the log-Jacobian,
  so that ``log q(z) = log q(u) - log|J|``.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jax.scipy.special import ndtri
from jaxtyping import Array, ArrayLike, PRNGKeyArray

import dists as D
from dists import biject_to, constraints
from effects import Sample, isolated, param, plate, run, sample
from handlers import Trace, seed, substitute, trace

from ._elbo import ParamValues, has_param, with_params
from ._init import InitStrategy, as_strategy, init_to_median
from ._log_density import potential_energy
from ._model_args import ModelArgs
from ._model_spec import ModelSpec


def model_sites(
    model: Callable, args: tuple, kwargs: dict, strategy: InitStrategy, key: Any = None
) -> Trace:
    """One run of ``model`` with every latent site at ``strategy``'s value: the sites, their
    distributions, shapes and plates (the one place autoguides look at the model).

    It runs in a fresh context, so a guide can call it while its own handlers are in
    force; under ``jit`` the values that the guide does not use are never computed.
    """
    key = jax.random.key(0) if key is None else key

    def go():
        pipe = seed(key) >> substitute(substitute_fn=strategy) >> trace()
        _, (_, _, tr) = run(model, pipe)(*args, **kwargs)
        return tr

    return isolated(go)


@eqx.filter_jit
def _draws(guide: Callable, params: dict, margs: ModelArgs, keys: Array) -> dict[str, Array]:
    values = ParamValues(dict(params))

    def one(k):
        _, (_, _, tr) = margs.call(run(guide, values >> seed(k) >> trace()))
        return {
            name: s.value
            for name, s in tr.items()
            if isinstance(s, Sample) and not s.infer.get("is_auxiliary", False)
        }

    return jax.vmap(one)(keys)


def posterior_draws(
    guide: Callable, rng_key: Any, params: dict, args: tuple, kwargs: dict, sample_shape: tuple
) -> dict[str, Array]:
    """Draws of the guide's (non-auxiliary) sample sites at ``params``, ``sample_shape``
    leading: one compiled program (the model's arguments follow :class:`ModelArgs`)."""
    n = math.prod(sample_shape)
    keys = jax.random.split(rng_key, max(n, 1))
    out = _draws(guide, dict(params), ModelArgs.of(args, kwargs), keys)
    return {k: jnp.reshape(v, tuple(sample_shape) + v.shape[1:]) for k, v in out.items()}


class _Site(eqx.Module):
    """A latent site as the guide sees it."""

    name: str = eqx.field(static=True)
    shape: tuple[int, ...] = eqx.field(static=True)  # constrained value's shape
    u_shape: tuple[int, ...] = eqx.field(static=True)  # unconstrained shape
    event_dim: int = eqx.field(static=True)
    batch_ndim: int = eqx.field(static=True)
    frames: tuple = eqx.field(static=True)  # (plate name, dim, full size, subsample size)
    support: Any


def _latent_sites(
    tr: Trace, who: str, keep: Callable[[str], bool] = lambda name: True
) -> list[_Site]:
    """The continuous latent sites of the model run ``tr``, as the guide sees them, read
    from the model's spec (``ModelSpec.of_trace``: roles, shapes, plates) with the
    supports from ``tr``. Discrete sites marked for enumeration are skipped: the model
    sums them out (``TraceEnum_ELBO``), as NumPyro's autoguides do."""
    spec = ModelSpec.of_trace(tr)
    for name, info in spec.discrete_latent.items():
        if keep(name) and not info.enumerated:
            raise ValueError(
                f"{who}: the model's latent site '{name}' is discrete ({info.family}); this "
                "guide is for continuous sites. Fix: mark it for enumeration "
                "(infer={'enumerate': 'parallel'} or handlers.config_enumerate) and fit "
                "with TraceEnum_ELBO, so that the model sums it out; or write the guide "
                "for that site by hand and combine with AutoGuideList; or marginalise the "
                "site out of the model."
            )
    supports = spec.supports(tr)
    out = [
        _Site(
            name,
            info.shape,
            info.unconstrained_shape or (),
            info.event_dim,
            info.batch_ndim,
            tuple((p.name, p.dim, p.size, p.subsample_size) for p in info.plates),
            supports[name],
        )
        for name, info in spec.continuous_latent.items()
        if keep(name)
    ]
    if not out:
        raise ValueError(
            f"{who}: the model has no continuous latent sample sites, so there is nothing "
            "to guide. Fix: check that the sites to infer are not observed (sites marked "
            "for enumeration are summed out by the model, not guided)."
        )
    return out


def _sum_to_batch(x: Array, batch_ndim: int) -> Array:
    extra = jnp.ndim(x) - batch_ndim
    return jnp.sum(x, axis=tuple(range(-extra, 0))) if extra > 0 else x


def _check_model(model: Any, who: str) -> None:
    if not callable(model):
        raise TypeError(f"{who}: expected the model (a callable), got {type(model).__name__}.")


class AutoGuide(eqx.Module):
    """Abstract base of the autoguides.

    ``guide(*args, **kwargs)`` runs the guide; ``sample_posterior(rng_key, params, *args,
    sample_shape=(), **kwargs)`` draws the latent sites at ``params`` (from
    ``svi.get_params``); ``median(params, *args, **kwargs)`` and ``quantiles(params, q,
    *args, **kwargs)`` give per-site summaries (pass the model's arguments when it needs
    them).
    """

    model: eqx.AbstractVar[Callable]
    prefix: eqx.AbstractVar[str]
    init_loc_fn: eqx.AbstractVar[InitStrategy]

    def _marker(self, site: str) -> str:
        """The param whose presence says that this guide was fitted on ``site``."""
        return f"{site}_{self.prefix}_loc"

    def _sites(self, args: tuple, kwargs: dict, key: Any = None) -> list[_Site]:
        tr = model_sites(self.model, args, kwargs, self.init_loc_fn, key)
        # Sites latent now but not when the guide was fitted (data left out for
        # prediction) have no params: they are the model's to sample.
        return _latent_sites(tr, type(self).__name__, lambda n: has_param(self._marker(n)))

    def _init_unconstrained(self, args, kwargs):
        """A function ``key -> {site: unconstrained init}`` for param ``init_fn``s.

        Within one call of the guide the model runs once for all sites: the first site's
        key draws every site's initial value (a per-call memo, so a model with many sites
        is not run, and compiled, once per site).
        """
        memo: dict[str, Any] = {}

        def at(key):
            if "values" not in memo:
                tr = model_sites(self.model, args, kwargs, self.init_loc_fn, key)
                memo["values"] = {
                    s.name: biject_to(s.support).inv(tr[s.name].value)
                    for s in _latent_sites(tr, type(self).__name__)
                }
            return memo["values"]

        return at

    def __call__(self, *args: Any, **kwargs: Any) -> dict[str, Array]:
        raise NotImplementedError

    def sample_posterior(
        self,
        rng_key: PRNGKeyArray,
        params: dict[str, Any],
        *args: Any,
        sample_shape: tuple[int, ...] = (),
        **kwargs: Any,
    ) -> dict[str, Array]:
        """Draws of every latent site of the model, ``sample_shape`` leading."""
        return posterior_draws(self, rng_key, params, args, kwargs, tuple(sample_shape))


def _enter_plates(stack: contextlib.ExitStack, site: _Site) -> dict[int, Array]:
    """Enter the site's plates (outermost first); the subsample indices by dim."""
    idx = {}
    for name, dim, full, sub in reversed(site.frames):
        idx[dim] = stack.enter_context(plate(name, full, subsample_size=sub, dim=dim))
    return idx


def _take_plates(x: Array, site: _Site, idx: dict[int, Array]) -> Array:
    """The slices of a full-size per-site parameter that the subsampled plates select."""
    uev = len(site.u_shape) - site.batch_ndim
    for name, dim, full, sub in site.frames:
        if sub < full:
            axis = x.ndim + dim - uev
            x = jnp.take(x, idx[dim], axis=axis)
    return x


def _full_shape(site: _Site) -> tuple[int, ...]:
    shape = list(site.u_shape)
    uev = len(site.u_shape) - site.batch_ndim
    for name, dim, full, sub in site.frames:
        shape[len(shape) + dim - uev] = full
    return tuple(shape)


def _full_init(site: _Site, value: Array) -> Array:
    """An init value for the full plate size from one of subsample size (tiled)."""
    full = _full_shape(site)
    if tuple(value.shape) == full:
        return value
    reps = tuple(f // s if s else 1 for f, s in zip(full, value.shape))
    return jnp.tile(value, reps)[tuple(slice(0, f) for f in full)]


class AutoNormal(AutoGuide):
    """A normal guide per latent site, in unconstrained space, inside the site's plates.

    Params ``f"{name}_{prefix}_loc"`` and ``f"{name}_{prefix}_scale"`` have the site's
    unconstrained shape with each plate at its full size (a subsampled plate takes its
    slice), so the guide is mean-field.

    Args:
        model: the model.
        prefix: the params' prefix (``"auto"``).
        init_loc_fn: initial locations (``init_to_median`` by default).
        init_scale: initial scale in unconstrained space.

    Example:
        >>> import jax, dists as D
        >>> from effects import sample
        >>> def model():
        ...     sample("x", D.Normal(1.0, 2.0))
        >>> guide = AutoNormal(model)
        >>> from handlers import seed, trace
        >>> sorted(trace(seed(guide, 0)).get_trace())
        ['x', 'x_auto_loc', 'x_auto_scale']
    """

    model: Callable
    prefix: str = eqx.field(static=True, default="auto")
    init_loc_fn: InitStrategy = eqx.field(
        static=True, default=init_to_median(), converter=as_strategy
    )
    init_scale: float = eqx.field(static=True, default=0.1)

    def __check_init__(self):
        _check_model(self.model, "AutoNormal")
        if not self.init_scale > 0:
            raise ValueError(f"AutoNormal: init_scale must be positive, got {self.init_scale}.")

    def _loc_scale(self, site: _Site, init: Callable):
        loc = param(
            f"{site.name}_{self.prefix}_loc",
            lambda k: _full_init(site, init(k)[site.name]),
        )
        scale = param(
            f"{site.name}_{self.prefix}_scale",
            jnp.full(_full_shape(site), self.init_scale, jnp.result_type(float)),
            constraint=constraints.positive,
        )
        return loc, scale

    def __call__(self, *args: Any, **kwargs: Any) -> dict[str, Array]:
        out = {}
        init = self._init_unconstrained(args, kwargs)
        for site in self._sites(args, kwargs):
            loc, scale = self._loc_scale(site, init)
            with contextlib.ExitStack() as stack:
                idx = _enter_plates(stack, site)
                loc, scale = _take_plates(loc, site, idx), _take_plates(scale, site, idx)
                uev = len(site.u_shape) - site.batch_ndim
                base = D.Normal(loc, scale).to_event(uev)
                t = biject_to(site.support)
                fn = (
                    base
                    if isinstance(t, D.IdentityTransform)
                    else (D.TransformedDistribution(base, t))
                )
                out[site.name] = sample(site.name, fn)
        return out

    def _unconstrained(self, params, args, kwargs):
        sites = self._sites(args, kwargs)
        return sites, {
            s.name: (
                params[f"{s.name}_{self.prefix}_loc"],
                params[f"{s.name}_{self.prefix}_scale"],
            )
            for s in sites
        }

    def median(self, params: dict[str, Any], *args: Any, **kwargs: Any) -> dict[str, Array]:
        """The median of each site: ``biject_to(support)(loc)``."""
        sites, ls = self._unconstrained(params, args, kwargs)
        return {s.name: biject_to(s.support)(ls[s.name][0]) for s in sites}

    def quantiles(
        self,
        params: dict[str, Any],
        quantiles: ArrayLike | Sequence[float],
        *args: Any,
        **kwargs: Any,
    ) -> dict[str, Array]:
        """Marginal quantiles of each site, ``quantiles`` leading."""
        q = jnp.asarray(quantiles, jnp.result_type(float))
        sites, ls = self._unconstrained(params, args, kwargs)
        out = {}
        for s in sites:
            loc, scale = ls[s.name]
            z = jnp.reshape(ndtri(q), q.shape + (1,) * loc.ndim)
            out[s.name] = biject_to(s.support)(loc[None] + scale[None] * z)
        return out


class AutoDelta(AutoGuide):
    """A point mass per latent site (MAP estimation): param ``f"{name}_{prefix}_loc"``
    holds the site's value, constrained to its support.

    Example:
        >>> import jax, dists as D
        >>> from effects import sample
        >>> def model():
        ...     sample("x", D.Gamma(2.0, 1.0))
        >>> from handlers import seed, trace
        >>> sorted(trace(seed(AutoDelta(model), 0)).get_trace())
        ['x', 'x_auto_loc']
    """

    model: Callable
    prefix: str = eqx.field(static=True, default="auto")
    init_loc_fn: InitStrategy = eqx.field(
        static=True, default=init_to_median(), converter=as_strategy
    )

    def __check_init__(self):
        _check_model(self.model, "AutoDelta")

    def __call__(self, *args: Any, **kwargs: Any) -> dict[str, Array]:
        out = {}
        init = self._init_unconstrained(args, kwargs)
        for site in self._sites(args, kwargs):
            t = biject_to(site.support)

            def init_fn(k, site=site, t=t):
                return t(_full_init(site, init(k)[site.name]))

            value = param(f"{site.name}_{self.prefix}_loc", init_fn, constraint=site.support)
            with contextlib.ExitStack() as stack:
                idx = _enter_plates(stack, site)
                if any(sub < full for _, _, full, sub in site.frames):
                    value = _take_plates(t.inv(value), site, idx)
                    value = t(value)
                out[site.name] = sample(site.name, D.Delta(value, event_dim=site.event_dim))
        return out

    def median(self, params: dict[str, Any], *args: Any, **kwargs: Any) -> dict[str, Array]:
        sites = self._sites(args, kwargs)
        return {s.name: params[f"{s.name}_{self.prefix}_loc"] for s in sites}

    def quantiles(self, params, quantiles, *args, **kwargs):
        q = jnp.asarray(quantiles)
        med = self.median(params, *args, **kwargs)
        return {k: jnp.broadcast_to(v, q.shape + v.shape) for k, v in med.items()}


# --------------------------------------------------------------------------------------
# Guides over one flat vector of every site's unconstrained value.


class AutoContinuous(AutoGuide):
    """Abstract base of the guides over one flat vector ``u`` of all latent sites'
    unconstrained values (plates at full size; subsampled plates are not supported)."""

    def _marker(self, site: str) -> str:
        return f"_{self.prefix}_{site}_site"

    def _flat_sites(self, args, kwargs) -> list[_Site]:
        sites = self._sites(args, kwargs)
        for s in sites:
            sub = [n for n, _, full, size in s.frames if size < full]
            if sub:
                raise ValueError(
                    f"{type(self).__name__}: site '{s.name}' is in subsampled plate(s) "
                    f"{sub}; a guide over one flat vector of all sites needs every plate "
                    "whole. Fix: use AutoNormal (per-site parameters with plate slices)."
                )
        return sites

    @staticmethod
    def _size(sites: list[_Site]) -> int:
        return sum(math.prod(s.u_shape) for s in sites)

    def _init_flat(self, args, kwargs) -> Callable:
        init = self._init_unconstrained(args, kwargs)

        def at(k):
            values = init(k)
            sites = self._flat_sites(args, kwargs)
            return jnp.concatenate([jnp.reshape(values[s.name], (-1,)) for s in sites])

        return at

    def _base(self, dim: int, args, kwargs) -> Any:
        """The distribution of ``u`` (event shape ``(dim,)``), from this guide's params."""
        raise NotImplementedError

    def _unpack(self, u: Array, sites: list[_Site]) -> dict[str, Array]:
        out, start = {}, 0
        for s in sites:
            n = math.prod(s.u_shape)
            out[s.name] = jnp.reshape(u[..., start : start + n], u.shape[:-1] + s.u_shape)
            start += n
        return out

    def _sample_latent(self, dim: int, args, kwargs) -> Array:
        return sample(
            f"_{self.prefix}_latent", self._base(dim, args, kwargs), infer={"is_auxiliary": True}
        )

    def __call__(self, *args: Any, **kwargs: Any) -> dict[str, Array]:
        sites = self._flat_sites(args, kwargs)
        for s in sites:
            # A size-0 param per site marks which sites the flat vector holds (see
            # `has_param`); it costs the optimiser nothing.
            param(self._marker(s.name), jnp.zeros((0,), jnp.result_type(float)))
        u = self._sample_latent(self._size(sites), args, kwargs)
        out = {}
        for s, us in zip(sites, self._unpack(u, sites).values()):
            t = biject_to(s.support)
            value = t(us)
            log_det = _sum_to_batch(t.log_abs_det_jacobian(us, value), s.batch_ndim)
            out[s.name] = sample(
                s.name, D.Delta(value, log_density=-log_det, event_dim=s.event_dim)
            )
        return out

    def get_base_posterior(self, params: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        """The distribution of the flat unconstrained vector ``u`` at ``params``."""
        sites = self._flat_sites(args, kwargs)
        dim = self._size(sites)

        return with_params(lambda: self._base(dim, args, kwargs), params)

    def get_posterior(self, params: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        """The (Gaussian) posterior of the flat unconstrained vector ``u``."""
        return self.get_base_posterior(params, *args, **kwargs)

    def get_transform(self, params: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        """The affine map from standard normal noise to ``u`` (``loc + scale_tril @ e``)."""
        post = self.get_posterior(params, *args, **kwargs)
        return D.LowerCholeskyAffine(post.loc, post.scale_tril)

    def unpack_latent(self, u: Array, *args: Any, **kwargs: Any) -> dict[str, Array]:
        """Constrained site values from flat unconstrained vectors ``u`` (``(..., dim)``)."""
        sites = self._flat_sites(args, kwargs)
        return {
            s.name: biject_to(s.support)(v) for s, v in zip(sites, self._unpack(u, sites).values())
        }

    def median(self, params: dict[str, Any], *args: Any, **kwargs: Any) -> dict[str, Array]:
        post = self.get_posterior(params, *args, **kwargs)
        return self.unpack_latent(post.loc, *args, **kwargs)

    def quantiles(
        self,
        params: dict[str, Any],
        quantiles: ArrayLike | Sequence[float],
        *args: Any,
        **kwargs: Any,
    ) -> dict[str, Array]:
        q = jnp.asarray(quantiles, jnp.result_type(float))
        post = self.get_posterior(params, *args, **kwargs)
        sd = jnp.sqrt(jnp.sum(post.scale_tril**2, -1))
        u = post.loc[None] + sd[None] * ndtri(q)[:, None]
        return self.unpack_latent(u, *args, **kwargs)


class AutoDiagonalNormal(AutoContinuous):
    """A normal with diagonal covariance over the flat unconstrained vector: params
    ``f"{prefix}_loc"`` and ``f"{prefix}_scale"``.

    Example:
        >>> import jax, jax.numpy as jnp, dists as D
        >>> from effects import sample
        >>> def model():
        ...     sample("x", D.Normal(jnp.zeros(2), 1.0).to_event(1))
        >>> from handlers import seed, trace
        >>> trace(seed(AutoDiagonalNormal(model), 0)).get_trace()["auto_loc"].value.shape
        (2,)
    """

    model: Callable
    prefix: str = eqx.field(static=True, default="auto")
    init_loc_fn: InitStrategy = eqx.field(
        static=True, default=init_to_median(), converter=as_strategy
    )
    init_scale: float = eqx.field(static=True, default=0.1)

    def __check_init__(self):
        _check_model(self.model, "AutoDiagonalNormal")

    def _base(self, dim, args, kwargs):
        loc = param(f"{self.prefix}_loc", self._init_flat(args, kwargs))
        scale = param(
            f"{self.prefix}_scale",
            jnp.full((dim,), self.init_scale, jnp.result_type(float)),
            constraint=constraints.positive,
        )
        return D.Normal(loc, scale).to_event(1)

    def get_posterior(self, params, *args, **kwargs):
        base = self.get_base_posterior(params, *args, **kwargs)
        loc, scale = base.base_dist.loc, base.base_dist.scale
        return D.MultivariateNormal(loc, scale_tril=jnp.diag(scale))


class AutoMultivariateNormal(AutoContinuous):
    """A normal with full covariance over the flat unconstrained vector: params
    ``f"{prefix}_loc"`` and ``f"{prefix}_scale_tril"`` (lower Cholesky factor).

    Example:
        >>> import jax, jax.numpy as jnp, dists as D
        >>> from effects import sample
        >>> def model():
        ...     sample("x", D.Normal(jnp.zeros(2), 1.0).to_event(1))
        >>> from handlers import seed, trace
        >>> trace(seed(AutoMultivariateNormal(model), 0)).get_trace()["auto_scale_tril"].value.shape
        (2, 2)
    """

    model: Callable
    prefix: str = eqx.field(static=True, default="auto")
    init_loc_fn: InitStrategy = eqx.field(
        static=True, default=init_to_median(), converter=as_strategy
    )
    init_scale: float = eqx.field(static=True, default=0.1)

    def __check_init__(self):
        _check_model(self.model, "AutoMultivariateNormal")

    def _base(self, dim, args, kwargs):
        loc = param(f"{self.prefix}_loc", self._init_flat(args, kwargs))
        tril = param(
            f"{self.prefix}_scale_tril",
            self.init_scale * jnp.eye(dim, dtype=jnp.result_type(float)),
            constraint=constraints.lower_cholesky,
        )
        return D.MultivariateNormal(loc, scale_tril=tril)

    def get_posterior(self, params, *args, **kwargs):
        return self.get_base_posterior(params, *args, **kwargs)


class AutoLowRankMultivariateNormal(AutoContinuous):
    """A normal with covariance ``W W^T + diag(s^2)`` (``W`` of rank ``rank``) over the flat
    unconstrained vector: params ``f"{prefix}_loc"``, ``f"{prefix}_cov_factor"``,
    ``f"{prefix}_scale"``. ``rank`` defaults to ``round(sqrt(dim))``.

    Example:
        >>> import jax, jax.numpy as jnp, dists as D
        >>> from effects import sample
        >>> def model():
        ...     sample("x", D.Normal(jnp.zeros(4), 1.0).to_event(1))
        >>> from handlers import seed, trace
        >>> guide = AutoLowRankMultivariateNormal(model, rank=2)
        >>> trace(seed(guide, 0)).get_trace()["auto_cov_factor"].value.shape
        (4, 2)
    """

    model: Callable
    prefix: str = eqx.field(static=True, default="auto")
    init_loc_fn: InitStrategy = eqx.field(
        static=True, default=init_to_median(), converter=as_strategy
    )
    init_scale: float = eqx.field(static=True, default=0.1)
    rank: int | None = eqx.field(static=True, default=None)

    def __check_init__(self):
        _check_model(self.model, "AutoLowRankMultivariateNormal")

    def _base(self, dim, args, kwargs):
        rank = self.rank if self.rank is not None else max(1, round(math.sqrt(dim)))
        dtype = jnp.result_type(float)
        loc = param(f"{self.prefix}_loc", self._init_flat(args, kwargs))
        factor = param(
            f"{self.prefix}_cov_factor",
            lambda k: 0.01 * jax.random.normal(k, (dim, rank), dtype),
        )
        scale = param(
            f"{self.prefix}_scale",
            jnp.full((dim,), self.init_scale, dtype),
            constraint=constraints.positive,
        )
        return D.LowRankMultivariateNormal(loc, factor, scale**2)

    def get_posterior(self, params, *args, **kwargs):
        base = self.get_base_posterior(params, *args, **kwargs)
        cov = base.cov_factor @ base.cov_factor.T + jnp.diag(base.cov_diag)
        return D.MultivariateNormal(base.loc, covariance_matrix=cov)


class AutoLaplaceApproximation(AutoContinuous):
    """The Laplace approximation: during SVI a point mass at ``f"{prefix}_loc"`` (MAP in
    unconstrained space); afterwards ``get_posterior(params, *args)`` is the normal at the
    mode with covariance the inverse Hessian of the potential energy there.

    Example:
        >>> import jax, dists as D
        >>> from effects import sample
        >>> def model():
        ...     sample("x", D.Normal(1.0, 2.0))
        >>> guide = AutoLaplaceApproximation(model)
        >>> post = guide.get_posterior({"auto_loc": jax.numpy.array([1.0])})
        >>> round(float(post.covariance_matrix[0, 0]), 3)
        4.0
    """

    model: Callable
    prefix: str = eqx.field(static=True, default="auto")
    init_loc_fn: InitStrategy = eqx.field(
        static=True, default=init_to_median(), converter=as_strategy
    )

    def __check_init__(self):
        _check_model(self.model, "AutoLaplaceApproximation")

    def _base(self, dim, args, kwargs):
        loc = param(f"{self.prefix}_loc", self._init_flat(args, kwargs))
        return D.Delta(loc, event_dim=1)

    def get_posterior(self, params, *args, **kwargs):
        sites = self._flat_sites(args, kwargs)
        loc = jnp.asarray(params[f"{self.prefix}_loc"])
        model = self.model

        def potential(u):
            return isolated(lambda: potential_energy(model, args, kwargs, self._unpack(u, sites)))

        hessian = jax.hessian(potential)(loc)
        cov = jnp.linalg.inv(hessian)
        cov = 0.5 * (cov + cov.T)
        return D.MultivariateNormal(loc, covariance_matrix=cov)


class AutoGuideList(eqx.Module):
    """Several guides, each for its own sites, run one after the other.

    ``append`` returns a new list (it is immutable). A part may be an autoguide or a
    hand-written guide; the model's sites covered by one part should be hidden from the
    others, as in NumPyro: ``AutoNormal(block(seed(model, 0), hide=["z"]))`` (the seed sits
    inside the block, which hides its sites from every handler outside it).

    Example:
        >>> import jax, dists as D
        >>> from effects import sample
        >>> from handlers import block, seed, trace
        >>> def model():
        ...     sample("a", D.Normal(0.0, 1.0)); sample("b", D.Normal(0.0, 1.0))
        >>> guide = AutoGuideList(model).append(AutoNormal(block(seed(model, 0), hide=["b"])))
        >>> guide = guide.append(AutoDelta(block(seed(model, 0), hide=["a"])))
        >>> sorted(n for n in trace(seed(guide, 0)).get_trace() if "auto" not in n)
        ['a', 'b']
    """

    model: Callable
    parts: tuple = ()

    def append(self, part: Callable) -> AutoGuideList:
        if not callable(part):
            raise TypeError(f"AutoGuideList.append: expected a guide, got {type(part).__name__}.")
        return AutoGuideList(self.model, self.parts + (part,))

    def __call__(self, *args: Any, **kwargs: Any) -> dict[str, Array]:
        if not self.parts:
            raise ValueError("AutoGuideList has no parts. Fix: .append(AutoNormal(...)).")
        out: dict[str, Array] = {}
        for part in self.parts:
            value = part(*args, **kwargs)
            if isinstance(value, dict):
                out.update(value)
        return out

    def sample_posterior(self, rng_key, params, *args, sample_shape=(), **kwargs):
        return posterior_draws(self, rng_key, params, args, kwargs, tuple(sample_shape))

    def median(self, params, *args, **kwargs):
        out = {}
        for part in self.parts:
            if isinstance(part, AutoGuide):
                out.update(part.median(params, *args, **kwargs))
        return out

    def quantiles(self, params, quantiles, *args, **kwargs):
        out = {}
        for part in self.parts:
            if isinstance(part, AutoGuide):
                out.update(part.quantiles(params, quantiles, *args, **kwargs))
        return out


__all__ = [
    "AutoContinuous",
    "AutoDelta",
    "AutoDiagonalNormal",
    "AutoGuide",
    "AutoGuideList",
    "AutoLaplaceApproximation",
    "AutoLowRankMultivariateNormal",
    "AutoMultivariateNormal",
    "AutoNormal",
    "model_sites",
]
