"""Generated models as plain data (:class:`ModelSpec`), and :func:`build_model`.

A spec lists, in program order, sites (``sample``, ``param``, ``factor``,
``deterministic``) and at most a few effect-aware ``scan`` blocks whose body holds sites.
Sample sites may sit inside plates (each plate has a fixed dim, so sites agree on it) and
may be observed. A site may have a *parent*, an earlier site whose value it reads: it
shifts a sample site's ``loc`` (by ``coef * mean(parent)``), or feeds a factor
(``-coef/2 * sum(parent**2)``) or a deterministic (``2 * parent + 1``). Inside a scan, the
``loc`` of each sample site is also shifted by ``carry_coef * carry``; the carry is
``0.5 * carry + 0.1 * sum(mean(sample values))``.

Everything is tiny: no dimension above 4.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from effects import deterministic, factor, param, plate, sample, scan, subsample

from ._families import family

UNROLL_SEP = "@"


@dataclasses.dataclass(frozen=True, eq=False)
class PlateSpec:
    """A plate: ``name``, ``size``, ``subsample_size`` (equal to size: no subsampling), and
    its batch ``dim`` (negative)."""

    name: str
    size: int
    subsample_size: int
    dim: int

    @property
    def subsampled(self) -> bool:
        return self.subsample_size < self.size


@dataclasses.dataclass(frozen=True, eq=False)
class SiteSpec:
    """One site.

    ``kind`` is ``"sample"``, ``"param"``, ``"factor"`` or ``"deterministic"``. For a
    sample site, ``params`` are the family's parameters (arrays of one shape),
    ``event_ndims`` the rightmost parameter dims that are event dims (only outside plates),
    ``plates`` the names of the enclosing plates, and ``obs`` the observed value (``None``:
    latent). Observed data at a subsampled plate has the plate's full size; the model
    selects the subsample with ``effects.subsample``. Inside a scan, ``obs`` is stacked
    along time. For the other kinds, ``params[0]`` is the constant used when there is no
    parent (the init value of a param site).
    """

    name: str
    kind: str
    family: str = "Normal"
    params: tuple[np.ndarray, ...] = ()
    event_ndims: int = 0
    sample_shape: tuple[int, ...] = ()
    plates: tuple[str, ...] = ()
    obs: np.ndarray | None = None
    parent: str | None = None
    coef: float = 0.5

    @property
    def latent(self) -> bool:
        return self.kind == "sample" and self.obs is None

    @property
    def observed(self) -> bool:
        return self.kind == "sample" and self.obs is not None


@dataclasses.dataclass(frozen=True, eq=False)
class ScanSpec:
    """An effect-aware ``scan`` of ``length`` steps whose body performs ``body``."""

    name: str
    length: int
    init: float
    carry_coef: float
    body: tuple[SiteSpec, ...]


@dataclasses.dataclass(frozen=True)
class SiteInfo:
    """Derived facts about one site: shapes per scan step and as recorded in a trace."""

    site: SiteSpec
    scan: ScanSpec | None
    step_shape: tuple[int, ...]
    lp_shape: tuple[int, ...]
    obs_shape: tuple[int, ...]

    @property
    def name(self) -> str:
        return self.site.name

    @property
    def value_shape(self) -> tuple[int, ...]:
        """The shape of the site's value in a trace (stacked along time inside a scan)."""
        return self.time_shape + self.step_shape

    @property
    def time_shape(self) -> tuple[int, ...]:
        return () if self.scan is None else (self.scan.length,)


@dataclasses.dataclass(frozen=True, eq=False)
class ModelSpec:
    """A generated model: plates and, in program order, sites and scan blocks."""

    plates: tuple[PlateSpec, ...]
    items: tuple[SiteSpec | ScanSpec, ...]

    # --- lookup ------------------------------------------------------------------------
    def plate(self, name: str) -> PlateSpec:
        for p in self.plates:
            if p.name == name:
                return p
        raise KeyError(name)

    @functools.cached_property
    def info(self) -> dict[str, SiteInfo]:
        """Every site by name, in program order."""
        out: dict[str, SiteInfo] = {}
        for item in self.items:
            if isinstance(item, ScanSpec):
                for s in item.body:
                    out[s.name] = _site_info(self, s, item, out)
            else:
                out[item.name] = _site_info(self, item, None, out)
        return out

    def names(
        self,
        kinds: tuple[str, ...] = ("sample", "param", "factor", "deterministic"),
        *,
        latent: bool | None = None,
        in_scan: bool | None = None,
        families: tuple[str, ...] | None = None,
        in_plates: bool | None = None,
    ) -> tuple[str, ...]:
        """Site names in program order, filtered by kind and properties."""
        out = []
        for name, inf in self.info.items():
            s = inf.site
            if s.kind not in kinds:
                continue
            if latent is not None and (s.kind != "sample" or s.latent != latent):
                continue
            if in_scan is not None and (inf.scan is not None) != in_scan:
                continue
            if families is not None and (s.kind != "sample" or s.family not in families):
                continue
            if in_plates is not None and bool(s.plates) != in_plates:
                continue
            out.append(name)
        return tuple(out)

    @property
    def used_plates(self) -> tuple[str, ...]:
        """Names of the plates that some site enters (these appear in traces)."""
        used = {p for inf in self.info.values() for p in inf.site.plates}
        return tuple(p.name for p in self.plates if p.name in used)

    def scan_of(self, name: str) -> ScanSpec | None:
        return self.info[name].scan

    # --- transformations ---------------------------------------------------------------
    def descendants(self, names: Any) -> frozenset[str]:
        """Sites whose value or log density may change when the sites ``names`` change
        (``names`` included): by parent links, and through a scan's carry."""
        out = set(names)
        while True:
            n = len(out)
            for name, inf in self.info.items():
                if inf.site.parent in out:
                    out.add(name)
            for item in self.items:
                if isinstance(item, ScanSpec) and item.carry_coef != 0.0:
                    body = [s.name for s in item.body]
                    if any(b in out for b in body):
                        out.update(
                            s.name
                            for s in item.body
                            if s.kind == "sample" and family(s.family).loc is not None
                        )
            if len(out) == n:
                return frozenset(out)

    def without(self, name: str) -> ModelSpec:
        """The model with the top-level site ``name`` removed (its children lose their
        parent and fall back to their constants)."""
        if name in self.info and self.info[name].scan is not None:
            raise ValueError(f"without: '{name}' is inside a scan; only top-level sites.")

        def fix(s: SiteSpec) -> SiteSpec:
            return dataclasses.replace(s, parent=None) if s.parent == name else s

        items: list[SiteSpec | ScanSpec] = []
        for item in self.items:
            if isinstance(item, ScanSpec):
                items.append(dataclasses.replace(item, body=tuple(fix(s) for s in item.body)))
            elif item.name != name:
                items.append(fix(item))
        return ModelSpec(self.plates, tuple(items))

    def unrolled_names(self, name: str) -> tuple[str, ...]:
        """The names a scan site gets in the unrolled model (one per step)."""
        sc = self.info[name].scan
        if sc is None:
            return (name,)
        return tuple(f"{name}{UNROLL_SEP}{t}" for t in range(sc.length))

    def unroll_data(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """Time-stacked values of scan sites, split per step for the unrolled model."""
        out: dict[str, Any] = {}
        for k, v in data.items():
            if k in self.info and self.info[k].scan is not None:
                for t, n in enumerate(self.unrolled_names(k)):
                    out[n] = v[t]
            else:
                out[k] = v
        return out


def _broadcast(*shapes: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(np.broadcast_shapes(*shapes))


def _plate_shape(spec: ModelSpec, site: SiteSpec, full: bool) -> tuple[int, ...]:
    if not site.plates:
        return ()
    ps = [spec.plate(n) for n in site.plates]
    rank = max(-p.dim for p in ps)
    shape = [1] * rank
    for p in ps:
        shape[rank + p.dim] = p.size if full else p.subsample_size
    return tuple(shape)


def _site_info(
    spec: ModelSpec, s: SiteSpec, sc: ScanSpec | None, known: dict[str, SiteInfo]
) -> SiteInfo:
    if s.kind == "sample":
        pshape = _broadcast(*(np.shape(p) for p in s.params))
        if s.plates:
            batch, event = _broadcast(pshape, _plate_shape(spec, s, False)), ()
            full = _broadcast(pshape, _plate_shape(spec, s, True))
        else:
            cut = len(pshape) - s.event_ndims
            batch, event = pshape[:cut], pshape[cut:]
            full = batch
        step = tuple(s.sample_shape) + batch + event
        return SiteInfo(s, sc, step, tuple(s.sample_shape) + batch, s.sample_shape + full + event)
    if s.kind == "factor":
        lp = () if s.parent is not None else tuple(np.shape(s.params[0]))
        return SiteInfo(s, sc, (0,) if not lp else lp + (0,), lp, ())
    if s.kind == "deterministic" and s.parent is not None:
        step = known[s.parent].step_shape
        return SiteInfo(s, sc, step, (), ())
    return SiteInfo(s, sc, tuple(np.shape(s.params[0])), (), ())


def _float() -> Any:
    return jnp.result_type(float)


def _arr(x: Any) -> Any:
    # device_put rather than jnp.asarray: asarray compiles a staging op for every new
    # shape of NumPy input, which dominates the cost of small eager runs.
    return jax.device_put(x) if isinstance(x, np.ndarray) else jnp.asarray(x)


def _as_float(x: Any) -> Any:
    """A parent's value as floats: a discrete parent (Bernoulli, Poisson) gives integers,
    and strict dtype promotion does not mix them with float arithmetic."""
    x = jnp.asarray(x)
    return x if jnp.issubdtype(x.dtype, jnp.inexact) else x.astype(jnp.result_type(float))


def _perform_site(
    spec: ModelSpec,
    s: SiteSpec,
    env: Mapping[str, Any],
    name: str,
    sc: ScanSpec | None = None,
    carry: Any = None,
    obs: Any = None,
) -> Any:
    if s.kind == "param":
        return param(name, _arr(s.params[0]))
    if s.kind == "deterministic":
        if s.parent is not None:
            return deterministic(name, 2.0 * _as_float(env[s.parent]) + 1.0)
        return deterministic(name, _arr(s.params[0]))
    if s.kind == "factor":
        if s.parent is not None:
            lf = -0.5 * s.coef * jnp.sum(jnp.square(_as_float(env[s.parent])))
        else:
            lf = _arr(s.params[0])
        factor(name, lf)
        return None
    fam = family(s.family)
    args = [_arr(p) for p in s.params]
    if fam.loc is not None:
        i = [p[0] for p in fam.params].index(fam.loc)
        if s.parent is not None:
            args[i] = args[i] + s.coef * jnp.mean(_as_float(env[s.parent]))
        if sc is not None and carry is not None:
            args[i] = args[i] + sc.carry_coef * _as_float(carry)
    dist = fam.make(*args)
    if s.event_ndims:
        dist = dist.to_event(s.event_ndims)
    if obs is None and s.obs is not None:
        obs = _arr(s.obs)
    with contextlib.ExitStack() as stack:
        for pname in s.plates:
            p = spec.plate(pname)
            stack.enter_context(plate(p.name, p.size, subsample_size=p.subsample_size, dim=p.dim))
        if obs is not None and any(spec.plate(n).subsampled for n in s.plates):
            obs = subsample(obs, event_dim=s.event_ndims)
        return sample(name, dist, obs=obs, sample_shape=tuple(s.sample_shape))


def _perform_scan(spec: ModelSpec, sc: ScanSpec, env: Mapping[str, Any], unroll: bool) -> Any:
    xs = {s.name: _arr(s.obs) for s in sc.body if s.observed}

    def step(carry, x, suffix):
        local = dict(env)
        ys = {}
        total = jnp.zeros((), _float())
        for s in sc.body:
            v = _perform_site(spec, s, local, s.name + suffix, sc, carry, x.get(s.name))
            if v is not None:
                local[s.name] = v
                ys[s.name] = v
            if s.kind == "sample":
                total = total + jnp.mean(v)
        return 0.5 * carry + 0.1 * total, ys

    init = jnp.asarray(sc.init, dtype=_float())
    if not unroll:
        return scan(lambda c, x: step(c, x, ""), init, xs, length=sc.length)
    carry, steps = init, []
    for t in range(sc.length):
        carry, ys = step(carry, {k: v[t] for k, v in xs.items()}, f"{UNROLL_SEP}{t}")
        steps.append(ys)
    return carry, {k: jnp.stack([y[k] for y in steps]) for k in steps[0]}


def build_model(spec: ModelSpec, *, unroll_scans: bool = False) -> Callable[[], dict]:
    """The model that ``spec`` describes: a function of no arguments that performs the
    spec's effects and returns a dict of the top-level values and, for each scan, its
    ``(final carry, stacked body values)``.

    With ``unroll_scans=True`` each scan is a Python loop instead, whose sites are named
    ``f"{name}@{t}"`` (see :meth:`ModelSpec.unroll_data`).

    Example:
        >>> import jax, numpy as np
        >>> from effects import run
        >>> from handlers import seed, trace
        >>> spec = ModelSpec((), (SiteSpec("x0", "sample", "Normal",
        ...                                (np.zeros(2), np.ones(2))),))
        >>> value, (_, tr) = run(build_model(spec), seed(jax.random.key(0)) >> trace())()
        >>> tr["x0"].value.shape
        (2,)
    """

    def model() -> dict:
        env: dict[str, Any] = {}
        out: dict[str, Any] = {}
        for item in spec.items:
            if isinstance(item, ScanSpec):
                out[item.name] = _perform_scan(spec, item, env, unroll_scans)
                continue
            v = _perform_site(spec, item, env, item.name)
            if v is not None:
                env[item.name] = v
                out[item.name] = v
        return out

    model.__name__ = "generated_model"
    return model
