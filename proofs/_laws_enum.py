"""Laws of enumeration: ``enum`` followed by the contraction is the brute-force marginal,
``infer_discrete`` at temperature 0 is the brute-force argmax, and ``enum`` commutes with
``condition`` of the sites it does not enumerate.

The models are generated discrete models (:func:`discrete_models`): up to three
categorical sites, each in zero, one or two nested plates, each depending on earlier
sites whose plates enclose its own, each with an observed Normal child. The brute force
is computed from the same description by NumPy over every joint assignment, so the two
sides share no code.
"""

from __future__ import annotations

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import assume, strategies as st

import dists as D
import handlers as H
from dists.util import vindex
from effects import plate, run, sample

from ._compare import assert_close
from ._law import Law

_SIZES = (2, 2)  # plates p0 (dim -1) and p1 (dim -2, inside p0)
_MAX_ASSIGNMENTS = 64


@st.composite
def discrete_models(draw) -> tuple:
    """``(sites, sizes)``: each site is ``(K, level, parents, logits, locs, obs)`` with
    ``level`` the number of plates around it (0, 1 or 2) and ``parents`` earlier sites of
    level at most its own."""
    sizes = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    n = draw(st.integers(1, 3))
    sites = []
    floats = st.floats(-2.0, 2.0, allow_nan=False, width=32)
    for i in range(n):
        k = draw(st.integers(2, 3))
        level = draw(st.integers(0, 2))
        options = [j for j in range(i) if sites[j][1] <= level]
        parents = tuple(j for j in options if draw(st.booleans()))
        pk = tuple(sites[j][0] for j in parents)
        logits = np.asarray(
            draw(st.lists(floats, min_size=math.prod(pk) * k, max_size=math.prod(pk) * k))
        )
        locs = np.asarray(draw(st.lists(floats, min_size=k, max_size=k)))
        shape = _shape(level, sizes)
        obs = np.asarray(
            draw(st.lists(floats, min_size=math.prod(shape), max_size=math.prod(shape)))
        )
        # Distinct offsets, so that generated parameters (often all zeros) do not tie.
        logits = logits + 0.1 * np.sqrt(np.arange(1.0, logits.size + 1.0)) + 0.03 * i
        sites.append((k, level, parents, logits.reshape(pk + (k,)), locs, obs.reshape(shape)))
    return tuple(sites), sizes


def _shape(level: int, sizes: tuple[int, int]) -> tuple[int, ...]:
    return ((), (sizes[0],), (sizes[1], sizes[0]))[level]


def _model(spec, condition_y: bool = False):
    sites, sizes = spec

    def model():
        values = []
        for i, (k, level, parents, logits, locs, obs) in enumerate(sites):
            with _plates(level, sizes):
                table = jnp.asarray(logits)
                args = tuple(values[j] for j in parents) + (slice(None),)
                with jax.numpy_rank_promotion("allow"):
                    lg = vindex(table, args) if parents else table
                    x = sample(f"x{i}", D.Categorical(logits=lg))
                    loc = jnp.asarray(locs)[x]
                    y = None if condition_y else jnp.asarray(obs)
                    sample(f"y{i}", D.Normal(loc, 1.0), obs=y)
                values.append(x)

    return model


class _plates:
    def __init__(self, level, sizes):
        self.ps = [plate("p0", sizes[0], dim=-1), plate("p1", sizes[1], dim=-2)][:level]

    def __enter__(self):
        for p in self.ps:
            p.__enter__()

    def __exit__(self, *exc):
        for p in reversed(self.ps):
            p.__exit__(*exc)


def _brute(spec) -> tuple[float, float, dict]:
    """log sum, max and argmax over every joint assignment (NumPy)."""
    sites, sizes = spec
    shapes = [_shape(s[1], sizes) for s in sites]
    counts = [math.prod(sh) for sh in shapes]
    total = math.prod(s[0] ** c for s, c in zip(sites, counts))
    assume(total <= _MAX_ASSIGNMENTS)
    lps, args = [], []
    ranges = [itertools.product(range(s[0]), repeat=c) for s, c in zip(sites, counts)]
    for assignment in itertools.product(*(list(r) for r in ranges)):
        vals = [np.asarray(a, dtype=int).reshape(sh) for a, sh in zip(assignment, shapes)]
        lp = 0.0
        for i, (k, level, parents, logits, locs, obs) in enumerate(sites):
            full = _shape(level, sizes)
            idx = tuple(np.broadcast_to(_pad(vals[j], len(full)), full) for j in parents)
            lg = logits[idx] if parents else np.broadcast_to(logits, full + (k,))
            lg = lg - np.log(np.exp(lg).sum(-1, keepdims=True))
            x = np.broadcast_to(vals[i], full)
            lp += np.take_along_axis(lg, x[..., None], -1).sum()
            lp += (-0.5 * (obs - locs[x]) ** 2 - 0.5 * np.log(2 * np.pi)).sum()
        lps.append(lp)
        args.append(vals)
    lps_a = np.asarray(lps)
    m = lps_a.max()
    # The argmax law needs a unique maximum: generated parameters may tie (all zeros).
    assume(len(lps_a) == 1 or np.sort(lps_a)[-2] < m - 1e-6)
    best = args[int(np.argmax(lps_a))]
    return (
        float(m + np.log(np.exp(lps_a - m).sum())),
        float(m),
        {f"x{i}": v for i, v in enumerate(best)},
    )


def _pad(x: np.ndarray, ndim: int) -> np.ndarray:
    return x.reshape((1,) * (ndim - x.ndim) + x.shape)


def _check_marginal(spec, data, key):
    want, _, _ = _brute(spec)
    model = H.config_enumerate(_model(spec))
    _, (_, fs) = run(model, H.enum(first_available_dim=-3) >> H.factors())()
    from inference import contract_factors

    assert_close(
        contract_factors(fs, 2), jnp.asarray(want), "enumerated vs brute force", kind="math"
    )


enum_contract_is_the_brute_force_marginal = Law(
    "enum_contract_is_the_brute_force_marginal",
    "For a generated discrete model (up to three categorical sites in nested plates, each "
    "with an observed child), the log of the contraction of the factors recorded under "
    "`enum` equals the log of the sum of the joint density over every joint assignment "
    "of the discrete sites.",
    "Each enumerated site's values lie along a dim of their own, so each factor holds its "
    "site's log density at every assignment of the variables it depends on. The sum over "
    "assignments of the product of the factors is a sum-product over a plated factor "
    "graph; eliminating each variable once every factor that holds it is in hand "
    "(deepest plates first, multiplying a plate out once no remaining variable lives in "
    "it) rearranges that sum by distributivity, which is exact.",
    _check_marginal,
    models=discrete_models,
    handlers=("enum",),
    cost=0.5,
)


def _check_map(spec, data, key):
    _, _, best = _brute(spec)
    from inference import infer_discrete

    model = H.config_enumerate(_model(spec))
    tr = H.trace(infer_discrete(model, first_available_dim=-3, temperature=0)).get_trace()
    for name, want in best.items():
        got = np.asarray(tr[name].value)
        if got.shape != want.shape or not np.array_equal(got, want):
            raise AssertionError(
                f"{name}: MAP {got.tolist()} vs brute-force argmax {want.tolist()}"
            )


infer_discrete_map_is_the_brute_force_argmax = Law(
    "infer_discrete_map_is_the_brute_force_argmax",
    "`infer_discrete(temperature=0)` sets every enumerated site of a generated discrete "
    "model to its value in the joint assignment of largest density (found by brute force).",
    "On the max-product semiring the forward pass gives, for each eliminated variable, "
    "its table of best completions given the variables eliminated after it; choosing "
    "backwards, each variable's argmax given the ones already chosen completes the joint "
    "argmax (ties have probability zero for generated real parameters).",
    _check_map,
    models=discrete_models,
    handlers=("enum",),
    cost=0.5,
)


def _check_commutes(spec, data, key):
    from inference import contract_factors

    sites, _ = spec
    model = H.config_enumerate(_model(spec, condition_y=True))
    ys = {f"y{i}": jnp.asarray(s[5]) for i, s in enumerate(sites)}
    e = H.enum(first_available_dim=-3)
    _, (_, _, fa) = run(model, H.condition(ys) >> e >> H.factors())()
    _, (_, _, fb) = run(model, e >> H.condition(ys) >> H.factors())()
    assert_close(
        contract_factors(fa, 2),
        contract_factors(fb, 2),
        "condition >> enum vs enum >> condition",
        kind="math",
    )


enum_commutes_with_condition = Law(
    "enum_commutes_with_condition",
    "Conditioning the continuous sites of a generated discrete model inside or outside "
    "`enum` gives the same contracted log density.",
    "`enum` acts only on latent sites marked for enumeration that have no value, and "
    "`condition` only gives values to the sites it names, which are not enumerated; each "
    "passes the other's sites by, so the messages that reach `factors` are the same.",
    _check_commutes,
    models=discrete_models,
    handlers=("enum", "condition"),
    cost=0.5,
)

ENUM_LAWS: tuple[Law, ...] = (
    enum_contract_is_the_brute_force_marginal,
    infer_discrete_map_is_the_brute_force_argmax,
    enum_commutes_with_condition,
)
