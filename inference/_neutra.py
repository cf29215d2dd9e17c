"""``NeuTraReparam``: neural transport (Hoffman et al., 2019) from a trained autoguide.

A trained continuous autoguide maps standard normal noise ``z`` to the flat vector ``u``
of its sites' unconstrained values, ``u = T(z)``. Reparameterised by it, the model draws
``z`` at one site (``f"_{prefix}_shared_latent"``) and gives each covered site the value
``biject_to(support)(u_site)``; the density in ``z`` is ``p(x(z)) |det dx/dz|``, added as
factors: ``log|det dT/dz|`` once (``f"_{prefix}_log_det"``), and each site's log density
plus the log-Jacobian of its ``biject_to`` inside the site's plates
(``f"_{name}_log_prob"``). ``z`` carries no density of its own. NUTS then runs in ``z``,
where a good guide has made the posterior close to a standard normal.

Unlike NumPyro's, a ``NeuTraReparam`` keeps no state: what it draws for the sites still to
come is kept by the ``reparam`` handler. So several, each with its own guide (and its own
prefix), can reparameterise disjoint groups of sites of one model, and sites inside plates
and observed sites work alongside.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike

import dists as D
from dists import biject_to
from effects import Sample, factor, sample
from handlers import JointReparam, reparam
from handlers._reparam import outside_plates

from ._autoguide import AutoContinuous, AutoNormal
from ._autoguide_flows import AutoBNAFNormal, AutoIAFNormal, FlowTransform
from ._elbo import with_params


def _sum_to_batch(x: Array, batch_ndim: int) -> Array:
    extra = jnp.ndim(x) - batch_ndim
    return jnp.sum(x, axis=tuple(range(-extra, 0))) if extra > 0 else x


class _FlowMap(eqx.Module):
    """``z -> (u, log|det du/dz|)`` through a flow guide's trained transform."""

    flow: FlowTransform

    def __call__(self, z: Array) -> tuple[Array, Array]:
        return self.flow.forward_and_log_det(z)


class _AffineMap(eqx.Module):
    """``z -> (loc + scale_tril @ z, log|det scale_tril|)``, or elementwise with a
    vector ``scale`` (a mean-field guide)."""

    loc: Array
    scale: Array

    def __call__(self, z: Array) -> tuple[Array, Array]:
        if self.scale.ndim == 2:
            u = self.loc + self.scale @ z
            log_det = jnp.sum(jnp.log(jnp.abs(jnp.diagonal(self.scale))))
        else:
            u = self.loc + self.scale * z
            log_det = jnp.sum(jnp.log(jnp.abs(self.scale)))
        return u, log_det


def _guide_map(guide: Any, params: dict, args: tuple, kwargs: dict) -> tuple[list, Any]:
    """The guide's sites (as it sees them) and its map from noise to ``u``."""
    who = type(guide).__name__
    if isinstance(guide, (AutoContinuous, AutoNormal)):
        # A trained guide's params say which sites it was fitted on (its marker params:
        # f"{site}_{prefix}_loc" for AutoNormal, f"_{prefix}_{site}_site" for the others).
        pre = guide.prefix
        if isinstance(guide, AutoNormal):
            known = any(k.endswith(f"_{pre}_loc") for k in params)
        else:
            known = any(k.startswith(f"_{pre}_") and k.endswith("_site") for k in params)
        if not known:
            raise ValueError(
                f"NeuTraReparam: params has none of the {who}'s parameters (prefix "
                f"'{guide.prefix}'; found {sorted(params)[:6]}). Fix: pass the params this "
                "guide was trained to, e.g. svi.get_params(state) or svi.run(...).params."
            )
    if isinstance(guide, AutoContinuous):
        sites = with_params(lambda: guide._flat_sites(args, kwargs), params)
        if isinstance(guide, (AutoIAFNormal, AutoBNAFNormal)):
            try:
                flow = with_params(lambda: guide.get_transform(params, *args, **kwargs), params)
            except ValueError as e:
                raise ValueError(f"NeuTraReparam: {e}") from e
            return sites, _FlowMap(flow)
        try:
            t = guide.get_transform(params, *args, **kwargs)
        except NotImplementedError as e:
            raise ValueError(
                f"NeuTraReparam: {who} gives no map from noise to its latent vector "
                f"({e}). Fix: use AutoIAFNormal, AutoBNAFNormal, AutoNormal or a Gaussian "
                "AutoContinuous guide."
            ) from e
        return sites, _AffineMap(jnp.asarray(t.loc), jnp.asarray(t.scale_tril))
    if isinstance(guide, AutoNormal):
        sites = with_params(lambda: guide._sites(args, kwargs), params)
        locs, scales = [], []
        for s in sites:
            sub = [n for n, _, full, size in s.frames if size < full]
            if sub:
                raise ValueError(
                    f"NeuTraReparam: site '{s.name}' is in subsampled plate(s) {sub}; the "
                    "shared draw covers every site whole. Fix: do not subsample these plates."
                )
            locs.append(jnp.reshape(params[f"{s.name}_{guide.prefix}_loc"], (-1,)))
            scales.append(jnp.reshape(params[f"{s.name}_{guide.prefix}_scale"], (-1,)))
        return sites, _AffineMap(jnp.concatenate(locs), jnp.concatenate(scales))
    raise TypeError(
        f"NeuTraReparam expects a trained continuous autoguide (AutoIAFNormal, "
        f"AutoBNAFNormal, AutoNormal, AutoDiagonalNormal, AutoMultivariateNormal, ...), got "
        f"{who}."
    )


class NeuTraReparam(JointReparam):
    """Neural transport: reparameterise the sites a trained continuous autoguide covers
    by the guide's map from standard normal noise (module docstring).

    Args:
        guide: a trained ``AutoIAFNormal``, ``AutoBNAFNormal``, ``AutoNormal`` or Gaussian
            ``AutoContinuous`` guide.
        params: its trained parameters (``svi.get_params(state)``).
        *model_args, **model_kwargs: the model's arguments, if the guide needs them to
            find its sites (their shapes must be those the model will run with).

    ``neutra.config()`` is the config for ``handlers.reparam`` (every site of the guide);
    ``neutra.reparam(model)`` applies it. Several instances with guides of different
    prefixes combine in one config: ``reparam(model, config={**a.config(),
    **b.config()})``.

    Example:
        >>> import jax, jax.numpy as jnp, dists as D
        >>> from effects import sample
        >>> from handlers import seed, trace
        >>> from inference import AutoNormal
        >>> def model():
        ...     sample("x", D.Normal(jnp.zeros(2), 1.0).to_event(1))
        >>> guide = AutoNormal(model)
        >>> params = {"x_auto_loc": jnp.ones(2), "x_auto_scale": jnp.full(2, 2.0)}
        >>> neutra = NeuTraReparam(guide, params)
        >>> tr = trace(seed(neutra.reparam(model), 0)).get_trace()
        >>> z = tr["_auto_shared_latent"].value
        >>> bool(jnp.allclose(tr["x"].value, 1.0 + 2.0 * z))
        True
    """

    group: str = eqx.field(static=True)
    names: tuple[str, ...] = eqx.field(static=True)
    u_shapes: tuple[tuple[int, ...], ...] = eqx.field(static=True)
    supports: tuple
    transform: Any

    def __init__(self, guide: Any, params: dict[str, Any], *model_args: Any, **model_kwargs: Any):
        sites, transform = _guide_map(guide, dict(params), model_args, model_kwargs)
        self.group = guide.prefix
        self.names = tuple(s.name for s in sites)
        self.u_shapes = tuple(tuple(s.u_shape) for s in sites)
        self.supports = tuple(s.support for s in sites)
        self.transform = transform

    @property
    def sites(self) -> tuple[str, ...]:
        return self.names

    @property
    def latent_site(self) -> str:
        """The name of the shared standard normal draw."""
        return f"_{self.group}_shared_latent"

    def config(self) -> dict[str, NeuTraReparam]:
        """The ``handlers.reparam`` config: this reparameteriser for each of its sites."""
        return {name: self for name in self.names}

    def reparam(self, model: Callable, *others: JointReparam) -> Callable:
        """``model`` reparameterised by this NeuTra and ``others`` (more NeuTras, with
        guides of other prefixes, on other sites).

        It returns a plain function, not a pytree: MCMC kernels and ``Predictive`` keep
        the model as static data, where the guide's arrays must not appear. (Inside a
        pipeline, use the handler: ``reparam(config=neutra.config()) >> ...``.)
        """
        config: dict[str, JointReparam] = dict(self.config())
        for other in others:
            if not isinstance(other, JointReparam):
                raise TypeError(
                    f"NeuTraReparam.reparam: expected other NeuTraReparam instances, got "
                    f"{type(other).__name__}."
                )
            clash = sorted(set(config) & set(other.sites))
            if clash or other.group == self.group:
                raise ValueError(
                    f"NeuTraReparam.reparam: the groups '{self.group}' and '{other.group}' "
                    f"must have distinct guide prefixes and disjoint sites (shared: {clash})."
                    " Fix: give each guide its own prefix= and its own sites."
                )
            config.update({name: other for name in other.sites})
        handled = reparam(model, config=config)

        def reparameterised(*args: Any, **kwargs: Any) -> Any:
            return handled(*args, **kwargs)

        reparameterised.__name__ = f"neutra_{getattr(model, '__name__', 'model')}"
        return reparameterised

    def _dim(self) -> int:
        return sum(math.prod(s) for s in self.u_shapes)

    def draw(self, msg: Sample) -> dict[str, Any]:
        dim = self._dim()

        def shared():
            dtype = jnp.result_type(float)
            base = D.Normal(jnp.zeros((dim,), dtype), 1.0).to_event(1).mask(False)
            z = sample(self.latent_site, base)
            u, log_det = self.transform(z)
            factor(f"_{self.group}_log_det", log_det)
            return u

        u = outside_plates(shared)
        out, start = {}, 0
        for name, shape in zip(self.names, self.u_shapes):
            n = math.prod(shape)
            out[name] = jnp.reshape(u[start : start + n], shape)
            start += n
        return out

    def finish(self, name: str, fn: Any, drawn: Any) -> Any:
        t = biject_to(fn.support)
        shape = tuple(fn.batch_shape) + tuple(fn.event_shape)
        expected = tuple(t.inverse_shape(shape))
        if tuple(drawn.shape) != expected:
            raise ValueError(
                f"NeuTraReparam (group '{self.group}'): site '{name}' has unconstrained shape "
                f"{expected} in this run, but the guide was trained with {tuple(drawn.shape)}."
                " Fix: train the guide on the model with the arguments it runs with now (pass "
                "them to NeuTraReparam), or leave this site out."
            )
        value = t(drawn)
        log_det = _sum_to_batch(t.log_abs_det_jacobian(drawn, value), len(fn.batch_shape))
        factor(f"_{name}_log_prob", fn.log_prob(value) + log_det)
        return value

    def transform_sample(self, latent: ArrayLike) -> dict[str, Array]:
        """Site values ``{name: value}`` (constrained to each site's support, as the guide
        saw it) from draws of the shared latent (``(..., dim)``), as NumPyro's."""
        latent = jnp.asarray(latent)
        flat = jnp.reshape(latent, (-1, self._dim()))
        u = jax.vmap(lambda z: self.transform(z)[0])(flat)
        out, start = {}, 0
        for name, shape, support in zip(self.names, self.u_shapes, self.supports):
            n = math.prod(shape)
            site_u = jnp.reshape(u[:, start : start + n], latent.shape[:-1] + shape)
            out[name] = biject_to(support)(site_u)
            start += n
        return out
