"""Laws of the core's second step: batch dims as pipeline state, and ``Scan`` as an effect
that a handler may reinterpret."""

from __future__ import annotations

from typing import ClassVar

import jax
import jax.numpy as jnp
from hypothesis import strategies as st

import dists as D
import handlers as H
from effects import (
    AbstractSite,
    AllocateDim,
    Handler,
    PlateHandler,
    Scan,
    ScanStep,
    current_frame,
    perform,
    plate,
    run,
    sample,
)

from ._compare import assert_close, assert_trees_close
from ._law import Law
from ._spec import build_model

# --------------------------------------------------------------------------------------
# dims


@st.composite
def _plate_programs(draw, depth: int = 0) -> tuple:
    """A nest of plates as data: a tuple of ``(size, dim or None, children)``, entered in
    order, each holding its children; at most three deep and four wide."""
    if depth >= 3:
        return ()
    n = draw(st.integers(0, 3 if depth == 0 else 2))
    out = []
    for _ in range(n):
        size = draw(st.integers(1, 3))
        dim = draw(st.one_of(st.none(), st.integers(-4, -1)))
        out.append((size, dim, draw(_plate_programs(depth + 1))))
    return tuple(out)


def _check_dims(spec, data, key):
    program, bounded = data

    def enter(nodes, path):
        for i, (size, dim, children) in enumerate(nodes):
            name = f"p{path}{i}"
            frame = current_frame()
            held = () if frame is None else frame.handlers
            if dim is not None and any(isinstance(h, PlateHandler) and h.dim == dim for h in held):
                continue  # a clash is an error by design (see the dims tests), not a law
            with plate(name, size, dim=dim):
                sample(name + "_x", D.Normal(0.0, 1.0))
                enter(children, f"{path}{i}_")

    def model():
        enter(program, "")
        # Every plate has exited: a fresh plate allocation takes the rightmost dim.
        return perform(AllocateDim("probe", "plate")).value

    def depth(nodes):
        return max((1 + depth(c) for _, _, c in nodes), default=0)

    needed = max(depth(program), *(-d for d in _explicit_dims(program)), 1)
    pipe = H.seed(key)
    if bounded:
        pipe = pipe >> H.dims(max_plate_nesting=needed)
    pipe = pipe >> H.trace()
    probe, (*_, tr) = run(model, pipe)()
    if probe != -1:
        raise AssertionError(f"after every plate exited, a new plate got dim {probe}, not -1")
    for site in tr.values():
        if not isinstance(site, AbstractSite):
            continue
        dims = [f.dim for f in site.cond_indep_stack]
        if len(set(dims)) != len(dims):
            raise AssertionError(f"site {site.name}: its plates share dims {dims}")
        for f in site.cond_indep_stack:
            if site.value.shape[f.dim] != f.size:
                raise AssertionError(
                    f"site {site.name}: dim {f.dim} has size {site.value.shape[f.dim]}, "
                    f"but plate {f.name} has size {f.size}"
                )


def _explicit_dims(nodes) -> list[int]:
    return [d for _, d, c in nodes if d is not None] + [
        d for _, _, c in nodes for d in _explicit_dims(c)
    ]


def _dims_data(spec) -> st.SearchStrategy:
    return st.tuples(_plate_programs(), st.booleans())


plates_take_distinct_dims = Law(
    "plates_take_distinct_dims",
    "In any nest of plates (sizes, and dims given or left to allocation, generated), with "
    "or without a `dims(max_plate_nesting=...)` handler: the plates around a site have "
    "distinct dims, each site has each plate's size at that plate's dim, and once every "
    "plate has exited its dim is free again (a new plate allocation gets -1).",
    "A plate asks for its dim with an AllocateDim effect on entry and returns it with "
    "ReleaseDim on exit. Both the default meaning (the first dim from the right that no "
    "plate in force holds) and the dims handler (a table of dims in use, its state) give "
    "a dim that no live owner holds, and a requested dim is refused when another owner "
    "holds it; release removes the owner's entry, so after the last exit nothing is held.",
    _check_dims,
    data=_dims_data,
    handlers=("dims", "plate"),
)

# --------------------------------------------------------------------------------------
# Scan reinterpreted


class UnrollScan(Handler):
    """Gives every effect-aware ``scan`` the meaning of a Python loop: the body runs once
    per step, each step's sites tagged with the step number as the default scan tags them
    (so ``seed`` gives them the same keys)."""

    handles: ClassVar = (Scan,)

    def process(self, msg, state):
        n = msg.length if msg.length is not None else jax.tree.leaves(msg.xs)[0].shape[0]
        carry, ys = msg.init, []
        steps = range(n - 1, -1, -1) if msg.reverse else range(n)
        for t in steps:
            x = jax.tree.map(lambda a, t=t: a[t], msg.xs)
            with ScanStep(jnp.asarray(t), n):
                carry, y = msg.fn(carry, x)
            ys.append(y)
        if msg.reverse:
            ys = ys[::-1]
        stacked = jax.tree.map(lambda *a: jnp.stack(a), *ys)
        return msg.replace(value=(carry, stacked)), state


class _LogDensity(Handler):
    """Adds up the log densities of the sites it sees (carried through a default scan)."""

    handles: ClassVar = (AbstractSite,)

    def init_state(self):
        return jnp.zeros(())

    def postprocess(self, msg, total):
        return msg, total + jnp.sum(msg.log_prob())


def _check_unrolled(spec, data, key):
    model = build_model(spec)
    v0, (_, lp0) = run(model, H.seed(key) >> _LogDensity())()
    v1, (_, lp1, _) = run(model, H.seed(key) >> _LogDensity() >> UnrollScan())()
    assert_trees_close(v0, v1, "model value, default scan vs scan unrolled by a handler")
    assert_close(lp0, lp1, "log density, default scan vs scan unrolled by a handler")


scan_unrolled_by_a_handler = Law(
    "scan_unrolled_by_a_handler",
    "Giving `Scan` another meaning by a handler that runs the body as a Python loop (each "
    "step tagged with its step number) changes nothing: under the same seed, the model's "
    "value (every scan's final carry and stacked outputs) and its log density equal the "
    "default scan's.",
    "The default meaning runs the body under lax.scan with the step number as a traced "
    "index, which seed folds into each site's key; the loop tags each step with the same "
    "index, so every site draws the same value, and the body is the same function of the "
    "carry and the step's data. Carried handler states (the log density) see the same "
    "sites in the same order.",
    _check_unrolled,
    handlers=("scan",),
    cost=0.5,
)

# --------------------------------------------------------------------------------------
# factors


def _check_factors(spec, data, key):
    model = build_model(spec)
    _, (_, lp, fs, tr) = run(model, H.seed(key) >> _LogDensity() >> H.factors() >> H.trace())()
    assert_close(H.sum_factors(fs), lp, "sum of the factors vs the log joint", kind="math")
    sites = [s for s in tr.values() if isinstance(s, AbstractSite)]
    if [f.name for f in fs] != [s.name for s in sites]:
        raise AssertionError(f"factors {[f.name for f in fs]} vs sites {[s.name for s in sites]}")
    for f, site in zip(fs, sites):
        time = len(site.indices)
        labels = f.dims[time:]
        for frame in site.cond_indep_stack:
            if labels[frame.dim] != ("plate", frame.name):
                raise AssertionError(f"{f.name}: dim {frame.dim} labelled {labels[frame.dim]}")
            if f.log_density.shape[frame.dim] != frame.size:
                raise AssertionError(f"{f.name}: dim {frame.dim} is not plate {frame.name}'s size")
        if f.dims[:time] != (("time", None),) * time:
            raise AssertionError(f"{f.name}: time axes labelled {f.dims[:time]}")


factors_sum_to_the_log_joint = Law(
    "factors_sum_to_the_log_joint",
    "The factors that `factors()` records (one per sample and factor site, in program "
    "order) sum, masked and scaled, to the log joint that a handler summing each site's "
    "`log_prob()` as it passes gets; each factor labels the dims of the site's plates with "
    "their names (with the plate's size there) and a scan's steps as leading time axes.",
    "A factor is the site's log density before mask and scale, kept with them; applying "
    "them and summing is what `log_prob` and a running sum do, term by term. A scan's "
    "factors come out stacked along time, and the mask and scale are applied step by step "
    "as the default scan applied them. The labels are read off the site's plate stack, "
    "whose dims the plates allocated.",
    _check_factors,
    handlers=("factors",),
)

# --------------------------------------------------------------------------------------
# the model spec


def _check_ravel(spec, data, key):
    # The one law here about `inference` (the model spec lives there): imported lazily,
    # so that `proofs` needs only effects, handlers and dists to load.
    from jax.flatten_util import ravel_pytree

    from dists import biject_to
    from inference import model_spec

    model = build_model(spec)
    ms = model_spec(model)
    _, (_, tr) = run(model, H.seed(key) >> H.trace())()
    u = ms.unconstrain(tr)  # the spec's own map, with the supports of this run
    for name, info in ms.continuous_latent.items():
        by_hand = biject_to(tr[name].fn.support).inv(tr[name].value)
        assert_close(u[name], by_hand, f"unconstrain: site {name}", kind="same")
        if tuple(u[name].shape) != info.unconstrained_shape:
            raise AssertionError(
                f"{name}: unconstrained shape {u[name].shape}, the spec says "
                f"{info.unconstrained_shape}"
            )
    flat = ms.ravel(u)
    if flat.shape != (ms.size,):
        raise AssertionError(f"ravel gave shape {flat.shape}, the spec says ({ms.size},)")
    reference, _ = ravel_pytree(u)
    assert_close(flat, reference, "ravel vs jax.flatten_util.ravel_pytree", kind="same")
    back = ms.unravel(flat)
    if sorted(back) != sorted(u):
        raise AssertionError(f"unravel gave sites {sorted(back)}, not {sorted(u)}")
    for name in u:
        assert_close(back[name], u[name], f"unravel(ravel(u))[{name}]", kind="same")
    v = jax.random.normal(jax.random.fold_in(key, 1), (ms.size,), flat.dtype)
    assert_close(ms.ravel(ms.unravel(v)), v, "ravel(unravel(v))", kind="same")


spec_ravel_is_a_bijection = Law(
    "spec_ravel_is_a_bijection",
    "The model spec's ravel and unravel are inverse bijections between the continuous "
    "latent sites' unconstrained values (each of the shape the spec gives) and vectors of "
    "the spec's size, and ravel lays them out as jax.flatten_util.ravel_pytree does.",
    "ravel concatenates each site's flattened value in sorted-name order (ravel_pytree's "
    "order for a dict) and unravel cuts the vector at the same offsets and reshapes; the "
    "shapes come from the same abstract run, so every cut has the right length.",
    _check_ravel,
    handlers=("model_spec",),
)

CORE_LAWS: tuple[Law, ...] = (
    plates_take_distinct_dims,
    scan_unrolled_by_a_handler,
    factors_sum_to_the_log_joint,
    spec_ravel_is_a_bijection,
)
