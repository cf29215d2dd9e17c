"""Laws about JAX transformations: jit, vmap and grad are transparent, and pipelines are
pytrees that round-trip."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import handlers as H
from effects import Pipeline, run

from ._compare import assert_close, assert_trees_close, seeded, tol
from ._law import Law
from ._spec import build_model
from ._standard import pipelines
from ._strategies import _grid, masks, model_specs, scales, site_values


def _lp(outs):
    return outs[-1].log_prob_sum()


def _check_jit(spec, data, key):
    model = build_model(spec)
    pipe = seeded(data, key)
    eager = run(model, pipe)()
    jitted = jax.jit(lambda: run(model, pipe)())()
    assert_trees_close(eager, jitted, "eager run vs jitted run")
    lp_jit = jax.jit(lambda: _lp(run(model, pipe)()[1]))()
    assert_close(_lp(eager[1]), lp_jit, "log density eager vs jitted", kind="math")


jit_transparency = Law(
    "jit_transparency",
    "For every model and pipeline P of standard handlers, running `seed(k) >> P >> trace()` "
    "under `jax.jit` returns the same value, the same handler outputs (trace included) and "
    "the same `log_prob_sum` as running it eagerly.",
    "The runner and the handlers are pure functions of their inputs (the ContextVar holds "
    "only the immutable pipeline in force, set and reset around the run), so tracing them "
    "with abstract values computes the same function.",
    _check_jit,
    data=pipelines,
    handlers=("seed", "trace", "condition", "substitute", "scale", "mask", "block"),
    cost=0.5,
)


def _check_vmap_keys(spec, data, key):
    model = build_model(spec)
    keys = jax.random.split(key, 3)

    def f(k):
        value, outs = run(model, seeded(data, k))()
        return value, outs, _lp(outs)

    batched = jax.vmap(f)(keys)
    for i in range(keys.shape[0]):
        one = f(keys[i])
        assert_trees_close(
            jax.tree.map(lambda x: x[i], batched), one, f"vmap over keys vs loop, element {i}"
        )


vmap_keys_transparency = Law(
    "vmap_keys_transparency",
    "For every model, pipeline P and batch of keys, `jax.vmap` of the run of "
    "`seed(k) >> P >> trace()` over k equals the Python loop of the single runs (values, "
    "outputs, log densities).",
    "A run is a pure function of the key; `vmap` of a pure function is its elementwise map. "
    "No handler keeps Python state between runs that a batched run could mix up.",
    _check_vmap_keys,
    data=pipelines,
    handlers=("seed", "trace"),
    cost=0.5,
)


@st.composite
def _batched_values(draw, spec):
    names = list(spec.names(("sample", "param"), latent=None))
    names = [n for n in names if spec.info[n].site.kind == "param" or spec.info[n].site.latent]
    chosen = draw(st.lists(st.sampled_from(names), min_size=1, unique=True))
    return [{n: draw(site_values(spec, n)) for n in chosen} for _ in range(2)]


def _check_vmap_substitute(spec, data, key):
    model = build_model(spec)
    stacked = jax.tree.map(lambda *xs: jnp.stack([jnp.asarray(x) for x in xs]), *data)

    def f(d):
        value, outs = run(model, H.seed(key) >> H.substitute(data=d) >> H.trace())()
        return value, outs, _lp(outs)

    batched = jax.vmap(f)(stacked)
    for i, d in enumerate(data):
        one = f({k: jnp.asarray(v) for k, v in d.items()})
        assert_trees_close(
            jax.tree.map(lambda x: x[i], batched), one, f"vmap over substitute data, element {i}"
        )


vmap_substitute_transparency = Law(
    "vmap_substitute_transparency",
    "For a batch of values for some latent sites, `jax.vmap` over the data of `substitute` "
    "(as in posterior-predictive sampling) equals the loop of single runs.",
    "`substitute`'s data are pytree leaves of the handler, so vmapping over them batches "
    "exactly those leaves; the rest of the run is a pure function of them.",
    _check_vmap_substitute,
    data=_batched_values,
    models=lambda: model_specs(require=("latent",)),
    handlers=("substitute",),
    cost=0.5,
)


@st.composite
def _grad_data(draw, spec):
    names = spec.names(("sample",), latent=True, families=("Normal",))
    chosen = draw(st.lists(st.sampled_from(names), min_size=1, unique=True))
    values = {n: draw(site_values(spec, n)) for n in chosen}
    grid = _grid(-1.0, 1.0)
    direction = {
        n: draw(hnp.arrays(np.float64, spec.info[n].value_shape, elements=st.sampled_from(grid)))
        for n in chosen
    }
    return values, direction, draw(scales(spec, scalar=True)), draw(masks(spec))


def _check_grad(spec, data, key):
    values, direction, a, m = data
    model = build_model(spec)

    def f(v):
        pipe = H.seed(key) >> H.substitute(data=v) >> H.scale(scale=a) >> H.mask(mask=m)
        return _lp(run(model, pipe >> H.trace())()[1])

    v0 = {n: jnp.asarray(x) for n, x in values.items()}
    u = {n: jnp.asarray(x) for n, x in direction.items()}
    g = jax.grad(f)(v0)
    ad = sum(jnp.sum(g[n] * u[n]) for n in v0)
    h = 0.5
    plus = f({n: v0[n] + h * u[n] for n in v0})
    minus = f({n: v0[n] - h * u[n] for n in v0})
    fd = (plus - minus) / (2 * h)
    rtol, atol = tol("math")
    scale_ = max(1.0, float(abs(plus)), float(abs(minus)))
    if not np.isclose(float(ad), float(fd), rtol=rtol * 10, atol=atol * 10 * scale_):
        raise AssertionError(
            f"directional derivative: jax.grad gives {float(ad)}, central difference {float(fd)}"
        )


grad_transparency = Law(
    "grad_transparency",
    "For a model of Normal sites (affine dependencies), the directional derivative, along "
    "u, of the log density of `seed(k) >> substitute(V) >> scale(a) >> mask(m) >> trace()` "
    "with respect to the substituted values V, as given by `jax.grad`, equals the central "
    "difference (f(V + h u) - f(V - h u)) / 2h.",
    "For such models the log density is a polynomial of degree at most two in V (Normal log "
    "densities are quadratic, locs depend affinely on parents, factors are quadratic, the "
    "seeded draws loc + scale * eps are affine), and central differences are exact for "
    "quadratics at any step, so the comparison does not depend on a step size. `jax.grad` "
    "flows through `substitute`'s leaves because they are ordinary pytree leaves.",
    _check_grad,
    data=_grad_data,
    models=lambda: model_specs(families=("Normal",), require=("latent_normal",)),
    handlers=("substitute", "scale", "mask"),
)


def _check_pytree(spec, data, key):
    full = seeded(data, key)
    leaves, treedef = jax.tree.flatten(full)
    again = jax.tree.unflatten(treedef, leaves)
    if not isinstance(again, Pipeline) or len(again) != len(full):
        raise AssertionError(f"unflatten gave {type(again).__name__}, not the pipeline")
    if jax.tree.structure(again) != treedef:
        raise AssertionError("the round-tripped pipeline has another structure")
    for h, h2 in zip(full.handlers, again.handlers):
        if type(h) is not type(h2):
            raise AssertionError(f"handler type changed: {type(h).__name__} -> {type(h2).__name__}")
        l1, t1 = jax.tree.flatten(h)
        one = jax.tree.unflatten(t1, l1)
        assert_trees_close(h, one, f"round trip of {type(h).__name__}")
    assert_trees_close(full, again, "round trip of the pipeline")
    model = build_model(spec)
    assert_trees_close(run(model, full)(), run(model, again)(), "run of the round-tripped pipeline")


pytree_roundtrip = Law(
    "pytree_roundtrip",
    "For every pipeline P (and each of its handlers), `jax.tree.unflatten(treedef, leaves)` "
    "of `jax.tree.flatten(P)` is a pipeline of the same handler types and structure, equal "
    "leaf by leaf, and running a model under it gives the same results as under P.",
    "Handlers and pipelines are `eqx.Module`s: their data are leaves and their "
    "configuration is static (part of the treedef), and none keeps state outside its fields.",
    _check_pytree,
    data=pipelines,
    handlers=("seed", "trace", "condition", "substitute", "scale", "mask", "block"),
)


def _perturb(x):
    if hasattr(x, "dtype") and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
        f = lambda k: jax.random.fold_in(k, 7)
        for _ in range(x.ndim):  # keys recorded in a scan are stacked along time
            f = jax.vmap(f)
        return f(x)
    if isinstance(x, float) or (hasattr(x, "dtype") and jnp.issubdtype(x.dtype, jnp.floating)):
        return x + 0.125
    return x


def _check_jit_argument(spec, data, key):
    model = build_model(spec)
    traces = []

    def f(p):
        traces.append(1)
        return run(model, p)()

    jf = jax.jit(f)
    p1 = seeded(data, key)
    p2 = jax.tree.map(_perturb, p1)
    assert_trees_close(jf(p1), run(model, p1)(), "jit with the pipeline as argument vs eager")
    assert_trees_close(jf(p2), run(model, p2)(), "second call (new key and data) vs eager")
    if len(traces) != 1:
        raise AssertionError(f"new leaf values of the same shapes retraced: {len(traces)} traces")


jit_pipeline_argument = Law(
    "jit_pipeline_argument",
    "A pipeline passed to a jitted function as an argument gives the same results as the "
    "eager run; calling again with new leaf values of the same shapes (a new key, shifted "
    "data) gives the eager results for those and does not trace again.",
    "A pipeline is a pytree whose leaves are its data and whose treedef holds only static "
    "configuration; jit caches on the treedef and the leaves' shapes and dtypes, which do not "
    "change.",
    _check_jit_argument,
    data=pipelines,
    handlers=("seed", "trace", "condition", "substitute", "scale", "mask", "block"),
    cost=0.5,
)

TRANSFORM_LAWS = (
    jit_transparency,
    vmap_keys_transparency,
    vmap_substitute_transparency,
    grad_transparency,
    pytree_roundtrip,
    jit_pipeline_argument,
)
