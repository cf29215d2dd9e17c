"""One model spec: what a model has, read off one abstract run (``jax.eval_shape``: no
FLOPs are spent).

:class:`ModelSpec` lists the model's sites by role (latent, observed, param,
deterministic, factor) with their shapes, dtypes, support types, plates and whether
they are discrete, and gives the ravel/unravel between the latent sites' unconstrained
values and one flat vector. Its layout is ``jax.flatten_util.ravel_pytree``'s on a dict of
the latent sites (sorted by name), so vectors that MCMC holds and this spec agree.

It holds static data only (shapes, names, types), so it is hashable, can key a cache,
and passes into ``jit`` as structure.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, Literal

import equinox as eqx
import jax
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

    ``shape``/``dtype``: the value's; ``unconstrained_shape``: of its image under
    ``biject_to(support)`` (latent sites; ``None`` otherwise); ``support``: the name of
    the support's type; ``family``: the distribution's family (sample sites).
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

    @property
    def unconstrained_size(self) -> int:
        return 0 if self.unconstrained_shape is None else math.prod(self.unconstrained_shape)


def _plates(tr: Trace, site: Any) -> tuple[PlateInfo, ...]:
    out = []
    for f in site.cond_indep_stack:
        p = tr[f.name] if f.name in tr else None
        full = p.size if isinstance(p, Plate) else f.size
        out.append(PlateInfo(f.name, f.dim, full, f.size))
    return tuple(out)


def _info(tr: Trace, name: str, site: Any) -> SiteInfo | None:
    value = site.value
    shape, dtype = tuple(jnp.shape(value)), jnp.result_type(value) if value is not None else None
    if isinstance(site, Sample):
        fn = site.fn
        support = fn.support
        latent = not site.is_observed
        u_shape = (
            tuple(biject_to(support).inverse_shape(shape))
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


def spec_of(model: Callable, margs: ModelArgs, key: Any = None) -> ModelSpec:
    """The spec of ``model`` with arguments ``margs`` (see :class:`ModelArgs`)."""
    from ._init import prototype_trace

    key = jax.random.key(0) if key is None else key
    return ModelSpec.of_trace(prototype_trace(key, model, margs))


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
