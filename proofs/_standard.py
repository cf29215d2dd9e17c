"""Strategies for the standard handlers on a given model, with what each declares.

Each :class:`StandardHandler` gives a strategy of handler instances that fit a model spec
(its data names the model's sites, with values of the right shapes), the sites it touches
(for the commutation law), whether it is idempotent, and where ``seed`` may sit relative
to it. :func:`pipelines` draws random pipelines of them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Mapping
from typing import Any

import jax
import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import dists as D
import handlers as H
from effects import FrozenDict, Pipeline, run

from ._spec import ModelSpec, build_model
from ._strategies import (
    _grid,
    condition_data,
    hide_sets,
    masks,
    scales,
    seeds,
    substitute_data,
)


class ConfigByName:
    """A hashable ``config_fn`` for ``infer_config``: a fixed dict per site name."""

    def __init__(self, table: Mapping[str, Mapping[str, Any]]):
        self.table = FrozenDict({k: FrozenDict(v) for k, v in table.items()})

    def __call__(self, msg: Any) -> dict | None:
        cfg = self.table.get(msg.name)
        return None if cfg is None else dict(cfg)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ConfigByName) and other.table == self.table

    def __hash__(self) -> int:
        return hash(self.table)

    def __repr__(self) -> str:
        return f"ConfigByName({ {k: dict(v) for k, v in self.table.items()} })"


@dataclasses.dataclass(frozen=True)
class StandardHandler:
    """A standard handler, as the laws see it."""

    name: str
    strategy: Callable[[ModelSpec], st.SearchStrategy]
    touches: Callable[[Any, ModelSpec], Collection[str]] | None = None
    idempotent: bool = False
    seed_positions: tuple[str, ...] = ("inside", "outside")


def _names(spec: ModelSpec, kinds=("sample", "factor")) -> tuple[str, ...]:
    return spec.names(kinds)


def seed_handlers(spec: ModelSpec) -> st.SearchStrategy:
    return seeds().map(lambda s: H.seed(jax.random.key(s)))


def condition_handlers(spec: ModelSpec, **kw: Any) -> st.SearchStrategy:
    return condition_data(spec, **kw).map(lambda d: H.condition(data=d, on_unknown="ignore"))


def substitute_handlers(spec: ModelSpec, **kw: Any) -> st.SearchStrategy:
    return substitute_data(spec, **kw).map(lambda d: H.substitute(data=d, on_unknown="ignore"))


def block_handlers(spec: ModelSpec, **kw: Any) -> st.SearchStrategy:
    return hide_sets(spec, **kw).map(lambda h: H.block(hide=sorted(h)))


def scale_handlers(spec: ModelSpec) -> st.SearchStrategy:
    return scales(spec).map(lambda a: H.scale(scale=a))


def mask_handlers(spec: ModelSpec) -> st.SearchStrategy:
    return masks(spec).map(lambda m: H.mask(mask=m))


def recorded_trace(spec: ModelSpec, seed_: int) -> H.Trace:
    """The trace of ``spec``'s model under ``seed(seed_)`` (for ``replay``)."""
    _, outs = run(build_model(spec), H.seed(jax.random.key(seed_)) >> H.trace())()
    return outs[-1]


def replay_handlers(spec: ModelSpec) -> st.SearchStrategy:
    return seeds().map(lambda s: H.replay(trace=recorded_trace(spec, s)))


def scope_handlers(spec: ModelSpec) -> st.SearchStrategy:
    return st.builds(
        lambda p, d: H.scope(prefix=p, divider=d),
        st.sampled_from(["m", "outer"]),
        st.sampled_from(["/", "."]),
    )


@st.composite
def priors(draw, spec: ModelSpec, *, min_size: int = 0) -> dict:
    """Normal priors, of the right shapes, for a subset of the param sites: a dict from
    name to ``(loc, scale)`` arrays."""
    names = list(spec.names(("param",)))
    chosen = draw(st.lists(st.sampled_from(names), min_size=min_size, unique=True)) if names else []
    out = {}
    for n in names:
        if n in chosen:
            shape = spec.info[n].value_shape
            loc = draw(hnp.arrays(np.float64, shape, elements=st.sampled_from(_grid(-1.0, 1.0))))
            sc = draw(hnp.arrays(np.float64, shape, elements=st.sampled_from(_grid(0.5, 2.0))))
            out[n] = (loc, sc)
    return out


def prior_dists(prior: Mapping[str, tuple]) -> dict:
    return {k: D.Normal(loc, sc) for k, (loc, sc) in prior.items()}


def lift_handlers(spec: ModelSpec) -> st.SearchStrategy:
    return priors(spec).map(lambda p: H.lift(prior=prior_dists(p)))


def do_handlers(spec: ModelSpec) -> st.SearchStrategy:
    return condition_data(spec).map(lambda d: H.do(data=d))


def uncondition_handlers(spec: ModelSpec) -> st.SearchStrategy:
    return st.just(H.uncondition())


@st.composite
def configs(draw, spec: ModelSpec) -> ConfigByName:
    """``infer_config`` functions that tag a subset of the sample sites."""
    names = list(spec.names(("sample",)))
    chosen = draw(st.lists(st.sampled_from(names), unique=True)) if names else []
    tags = {n: {"tag": draw(st.sampled_from(["a", "b"]))} for n in chosen}
    return ConfigByName(tags)


def infer_config_handlers(spec: ModelSpec) -> st.SearchStrategy:
    return configs(spec).map(lambda c: H.infer_config(config_fn=c))


def _data_names(h: Any, spec: ModelSpec) -> frozenset:
    return frozenset(h.data)


def _all_sites(h: Any, spec: ModelSpec) -> frozenset:
    return frozenset(spec.names(("sample", "factor")))


def _seed_touches(h: Any, spec: ModelSpec) -> frozenset:
    return frozenset(spec.names(("sample",))) | frozenset(spec.used_plates)


def _replay_touches(h: Any, spec: ModelSpec) -> frozenset:
    return frozenset(spec.names(("sample",))) | frozenset(spec.used_plates)


STANDARD_HANDLERS: tuple[StandardHandler, ...] = (
    StandardHandler("seed", seed_handlers, _seed_touches, True),
    StandardHandler("trace", lambda spec: st.just(H.trace()), None, True),
    StandardHandler("condition", condition_handlers, _data_names, True),
    StandardHandler("substitute", substitute_handlers, _data_names, True),
    StandardHandler("block", block_handlers, lambda h, s: frozenset(h.hide), True, ("inside",)),
    StandardHandler("scale", scale_handlers, _all_sites, False),
    StandardHandler("mask", mask_handlers, _all_sites, True),
    StandardHandler("replay", replay_handlers, _replay_touches, True),
    StandardHandler("scope", scope_handlers, None, False, ("inside",)),
    StandardHandler("lift", lift_handlers, lambda h, s: frozenset(h.prior), True, ("outside",)),
    StandardHandler("do", do_handlers, _data_names, True),
    StandardHandler("uncondition", uncondition_handlers, None, True, ("outside",)),
    StandardHandler(
        "infer_config",
        infer_config_handlers,
        lambda h, s: frozenset(h.config_fn.table),
        True,
    ),
)

# Handlers that may sit anywhere in a pipeline with ``seed`` innermost.
PIPELINE_KINDS = (
    "condition",
    "substitute",
    "scale",
    "mask",
    "block",
    "replay",
    "scope",
    "do",
    "infer_config",
)


def standard(name: str) -> StandardHandler:
    for h in STANDARD_HANDLERS:
        if h.name == name:
            return h
    raise KeyError(name)


def standard_handlers(
    spec: ModelSpec,
    kinds: tuple[str, ...] = PIPELINE_KINDS,
    *,
    scalar: bool = True,
) -> st.SearchStrategy:
    """One standard handler of a kind in ``kinds``, fitted to ``spec``. With ``scalar``,
    scales and masks are scalars (so that several drawn apart still broadcast together)."""

    @st.composite
    def _one(draw):
        kind = draw(st.sampled_from(kinds))
        if scalar and kind == "scale":
            return H.scale(scale=draw(scales(spec, scalar=True)))
        if scalar and kind == "mask":
            return H.mask(mask=draw(masks(spec, scalar=True)))
        return draw(standard(kind).strategy(spec))

    return _one()


@st.composite
def pipelines(
    draw, spec: ModelSpec, *, kinds: tuple[str, ...] = PIPELINE_KINDS, max_len: int = 3
) -> Pipeline:
    """Random pipelines of standard handlers fitted to ``spec`` (run them with ``seed``
    innermost and ``trace`` outermost). Array scales and masks broadcast together."""
    n = draw(st.integers(0, max_len))
    hs = []
    shapes: list[tuple[int, ...]] = []
    for _ in range(n):
        kind = draw(st.sampled_from(kinds))
        if kind == "scale":
            a = draw(scales(spec, extra_shapes=shapes))
            shapes.append(np.shape(a))
            hs.append(H.scale(scale=a))
        elif kind == "mask":
            m = draw(masks(spec, extra_shapes=shapes))
            shapes.append(np.shape(m))
            hs.append(H.mask(mask=m))
        else:
            hs.append(draw(standard(kind).strategy(spec)))
    return Pipeline(tuple(hs))


@st.composite
def scalar_pipelines(
    draw, spec: ModelSpec, *, kinds: tuple[str, ...] = PIPELINE_KINDS, max_len: int = 2
) -> Pipeline:
    """Like :func:`pipelines`, with scalar scales and masks (safe to combine with others)."""
    n = draw(st.integers(0, max_len))
    return Pipeline(tuple(draw(standard_handlers(spec, kinds)) for _ in range(n)))
