"""Running generated models under pipelines, and comparing what comes out.

Every comparison raises ``AssertionError`` with a message that says what differed and
where (the site name, the leaf path).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from effects import AbstractSite, Handler, Pipeline, Sample, run
from handlers import Trace, seed, trace

from ._spec import ModelSpec, build_model


def x64() -> bool:
    """Whether JAX computes in float64 (tolerances depend on it)."""
    return jnp.result_type(float) == jnp.float64


def tol(kind: str = "same") -> tuple[float, float]:
    """``(rtol, atol)`` for comparing floats computed two ways.

    ``"same"``: the same operations, maybe compiled differently (jit vs eager);
    ``"math"``: mathematically equal but computed differently (a sum in another order,
    a product of scales).
    """
    if x64():
        return {"same": (1e-9, 1e-9), "math": (1e-7, 1e-8)}[kind]
    return {"same": (1e-5, 1e-5), "math": (1e-4, 1e-4)}[kind]


def _is_key(x: Any) -> bool:
    return hasattr(x, "dtype") and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def _leaf_diff(x: Any, y: Any, rtol: float, atol: float) -> str | None:
    if _is_key(x) or _is_key(y):
        if not (_is_key(x) and _is_key(y)):
            return "one is a PRNG key and the other is not"
        x, y = jax.random.key_data(x), jax.random.key_data(y)
    x, y = np.asarray(x), np.asarray(y)
    if x.shape != y.shape:
        return f"shapes differ: {x.shape} vs {y.shape}"
    if x.dtype != y.dtype:
        return f"dtypes differ: {x.dtype} vs {y.dtype}"
    if np.issubdtype(x.dtype, np.inexact):
        if not np.allclose(x, y, rtol=rtol, atol=atol, equal_nan=True):
            err = np.max(np.abs(x - y)) if x.size else 0.0
            return f"values differ (max abs diff {err:.3g}):\n  {x}\n  vs\n  {y}"
        return None
    if not np.array_equal(x, y):
        return f"values differ:\n  {x}\n  vs\n  {y}"
    return None


def assert_close(a: Any, b: Any, what: str, *, kind: str = "same") -> None:
    """Two arrays (or scalars) are equal up to the tolerance of ``kind``."""
    rtol, atol = tol(kind)
    d = _leaf_diff(a, b, rtol, atol)
    if d is not None:
        raise AssertionError(f"{what}: {d}")


def assert_trees_close(a: Any, b: Any, what: str, *, kind: str = "same") -> None:
    """Two pytrees have the same structure and leaves equal up to tolerance."""
    rtol, atol = tol(kind)
    la, ta = jax.tree_util.tree_flatten_with_path(a)
    lb, tb = jax.tree_util.tree_flatten_with_path(b)
    if ta != tb:
        raise AssertionError(f"{what}: the pytree structures differ:\n  {ta}\n  vs\n  {tb}")
    for (path, x), (_, y) in zip(la, lb):
        d = _leaf_diff(x, y, rtol, atol)
        if d is not None:
            raise AssertionError(f"{what}: at {jax.tree_util.keystr(path)}: {d}")


def assert_traces_equal(
    a: Trace, b: Trace, what: str, *, kind: str = "same", names: Iterable[str] | None = None
) -> None:
    """Two traces record the same sites (in the same order) with equal messages.

    With ``names``, only those sites are compared (and must be in both).
    """
    if names is None:
        if tuple(a.names) != tuple(b.names):
            raise AssertionError(
                f"{what}: the traces record different sites:\n"
                f"  {list(a.names)}\n  vs\n  {list(b.names)}"
            )
        names = a.names
    for n in names:
        for t, label in ((a, "first"), (b, "second")):
            if n not in t:
                raise AssertionError(f"{what}: site '{n}' is missing from the {label} trace.")
        assert_trees_close(a[n], b[n], f"{what}: site '{n}'", kind=kind)
    assert_close(a.log_prob_sum(), b.log_prob_sum(), f"{what}: log_prob_sum", kind="math")


def site_lp(site: Any) -> Any:
    """The total (scaled, masked) log density of one site."""
    return jnp.sum(site.log_prob())


def assert_sites_agree(
    a: Trace,
    b: Trace,
    names: Iterable[str],
    what: str,
    *,
    fields: tuple[str, ...] = ("value",),
    lp: bool = False,
    kind: str = "same",
) -> None:
    """For each site in ``names``, the given message fields (and, with ``lp``, the site's
    log density) agree between the traces ``a`` and ``b``."""
    for n in names:
        for t, label in ((a, "first"), (b, "second")):
            if n not in t:
                raise AssertionError(
                    f"{what}: site '{n}' is missing from the {label} trace {list(t.names)}."
                )
        for f in fields:
            x, y = a[n].get(f), b[n].get(f)
            if (x is None) != (y is None):
                raise AssertionError(f"{what}: site '{n}' field '{f}': {x} vs {y}")
            if isinstance(x, (bool, str)) or isinstance(y, (bool, str)):
                if x != y:
                    raise AssertionError(f"{what}: site '{n}' field '{f}': {x} vs {y}")
            elif x is not None:
                assert_trees_close(x, y, f"{what}: site '{n}' field '{f}'", kind=kind)
        if lp and isinstance(a[n], AbstractSite):
            what_lp = f"{what}: log density of site '{n}'"
            assert_close(site_lp(a[n]), site_lp(b[n]), what_lp, kind="math")


def traced(model: Callable | ModelSpec, pipeline: Handler | Pipeline) -> tuple[Any, Trace, tuple]:
    """Run ``model`` (or ``build_model(spec)``) under ``pipeline``, whose outermost handler
    must be ``trace()``; return the model's value, that trace, and all outputs."""
    if isinstance(model, ModelSpec):
        model = build_model(model)
    value, outs = run(model, pipeline)()
    tr = outs[-1]
    if not isinstance(tr, Trace):
        raise TypeError("traced: the pipeline's outermost handler must be trace().")
    return value, tr, outs


def seeded(inner: Handler | Pipeline | None, key: Any, *, seed_outside: bool = False) -> Pipeline:
    """``seed(key) >> inner >> trace()``, or ``inner >> seed(key) >> trace()``."""
    p = Pipeline.of(inner) if inner is not None else Pipeline(())
    s = seed(key)
    return (p >> s >> trace()) if seed_outside else (s >> p >> trace())


def latent_names(tr: Trace) -> tuple[str, ...]:
    return tuple(n for n in tr.names if isinstance(tr[n], Sample) and not tr[n].is_observed)


def as_mapping(d: Mapping[str, Any]) -> dict[str, Any]:
    return {k: jnp.asarray(v) for k, v in d.items()}
