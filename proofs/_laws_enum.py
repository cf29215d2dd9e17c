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

    def model(all_locs=None):
        values = []
        for i, (k, level, parents, logits, locs, obs) in enumerate(sites):
            with _plates(level, sizes):
                table = jnp.asarray(logits)
                args = tuple(values[j] for j in parents) + (slice(None),)
                with jax.numpy_rank_promotion("allow"):
                    lg = vindex(table, args) if parents else table
                    x = sample(f"x{i}", D.Categorical(logits=lg))
                    loc = (jnp.asarray(locs) if all_locs is None else all_locs[i])[x]
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


def _brute(spec) -> tuple[float, float, dict, list]:
    """log sum, max, argmax over every joint assignment, and the gradient of the log sum
    with respect to each site's ``locs`` (NumPy)."""
    sites, sizes = spec
    shapes = [_shape(s[1], sizes) for s in sites]
    counts = [math.prod(sh) for sh in shapes]
    total = math.prod(s[0] ** c for s, c in zip(sites, counts))
    assume(total <= _MAX_ASSIGNMENTS)
    lps, args, grads = [], [], []
    ranges = [itertools.product(range(s[0]), repeat=c) for s, c in zip(sites, counts)]
    for assignment in itertools.product(*(list(r) for r in ranges)):
        vals = [np.asarray(a, dtype=int).reshape(sh) for a, sh in zip(assignment, shapes)]
        lp = 0.0
        grad = []
        for i, (k, level, parents, logits, locs, obs) in enumerate(sites):
            full = _shape(level, sizes)
            idx = tuple(np.broadcast_to(_pad(vals[j], len(full)), full) for j in parents)
            lg = logits[idx] if parents else np.broadcast_to(logits, full + (k,))
            lg = lg - np.log(np.exp(lg).sum(-1, keepdims=True))
            x = np.broadcast_to(vals[i], full)
            lp += np.take_along_axis(lg, x[..., None], -1).sum()
            lp += (-0.5 * (obs - locs[x]) ** 2 - 0.5 * np.log(2 * np.pi)).sum()
            grad.append(np.bincount(x.reshape(-1), (obs - locs[x]).reshape(-1), minlength=k))
        lps.append(lp)
        grads.append(grad)
        args.append(vals)
    lps_a = np.asarray(lps)
    m = lps_a.max()
    # The argmax law needs a unique maximum: generated parameters may tie (all zeros).
    assume(len(lps_a) == 1 or np.sort(lps_a)[-2] < m - 1e-6)
    best = args[int(np.argmax(lps_a))]
    post = np.exp(lps_a - m) / np.exp(lps_a - m).sum()
    grad = [sum(w * g[i] for w, g in zip(post, grads)) for i in range(len(sites))]
    logz = float(m + np.log(np.exp(lps_a - m).sum()))
    return logz, float(m), {f"x{i}": v for i, v in enumerate(best)}, grad


def _pad(x: np.ndarray, ndim: int) -> np.ndarray:
    return x.reshape((1,) * (ndim - x.ndim) + x.shape)


def _check_marginal(spec, data, key):
    want, _, _, want_grad = _brute(spec)
    model = H.config_enumerate(_model(spec))
    from inference import contract_factors

    def lp(all_locs):
        _, (_, fs) = run(model, H.enum(first_available_dim=-3) >> H.factors())(all_locs)
        return contract_factors(fs, 2)

    # The model's own locations, given explicitly: value and gradient in one compiled
    # program (the eager contraction dispatches many small ops).
    locs = [jnp.asarray(s[4]) for s in spec[0]]
    value, grads = jax.jit(jax.value_and_grad(lp))(locs)
    for i, g in enumerate(grads):
        assert_close(g, jnp.asarray(want_grad[i]), f"gradient wrt locs of x{i}", kind="math")
    assert_close(value, jnp.asarray(want), "enumerated vs brute force", kind="math")


enum_contract_is_the_brute_force_marginal = Law(
    "enum_contract_is_the_brute_force_marginal",
    "For a generated discrete model (up to three categorical sites in nested plates, each "
    "with an observed child), the log of the contraction of the factors recorded under "
    "`enum` equals the log of the sum of the joint density over every joint assignment "
    "of the discrete sites; so does its gradient with respect to the children's "
    "locations.",
    "Each enumerated site's values lie along a dim of their own, so each factor holds its "
    "site's log density at every assignment of the variables it depends on. The sum over "
    "assignments of the product of the factors is a sum-product over a plated factor "
    "graph; eliminating each variable once every factor that holds it is in hand "
    "(deepest plates first, multiplying a plate out once no remaining variable lives in "
    "it) rearranges that sum by distributivity, which is exact; the contraction is made "
    "of differentiable operations (the log-space shifts are held constant), so the "
    "gradient is the gradient of the same function.",
    _check_marginal,
    models=discrete_models,
    handlers=("enum",),
    cost=0.5,
)


def _check_map(spec, data, key):
    _, _, best, _ = _brute(spec)
    from inference import infer_discrete

    model = H.config_enumerate(_model(spec))

    @jax.jit
    def chosen():
        tr = H.trace(infer_discrete(model, first_available_dim=-3, temperature=0)).get_trace()
        return {name: tr[name].value for name in best}

    values = chosen()
    for name, want in best.items():
        got = np.asarray(values[name])
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

    @jax.jit
    def both():
        _, (_, _, fa) = run(model, H.condition(ys) >> e >> H.factors())()
        _, (_, _, fb) = run(model, e >> H.condition(ys) >> H.factors())()
        return contract_factors(fa, 2), contract_factors(fb, 2)

    a, b = both()
    assert_close(a, b, "condition >> enum vs enum >> condition", kind="math")


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


@st.composite
def chains(draw) -> tuple:
    """``(K, history, transition logits (K^history... flattened), locs, ys)``: a chain of
    length 2..5 whose state depends on the last ``history`` states."""
    k = draw(st.integers(2, 3))
    history = draw(st.integers(1, 2))
    t = draw(st.integers(2, 5))
    floats = st.floats(-2.0, 2.0, allow_nan=False, width=32)
    logits = np.asarray(
        draw(st.lists(floats, min_size=k ** (history + 1), max_size=k ** (history + 1)))
    )
    locs = np.asarray(draw(st.lists(floats, min_size=k, max_size=k)))
    ys = np.asarray(draw(st.lists(floats, min_size=t, max_size=t)))
    return k, history, logits.reshape((k,) * (history + 1)), locs, ys


def _chain_model(spec, use_markov: bool):
    k, history, logits, locs, ys = spec

    def model():
        past = [jnp.array(0)] * history
        steps = H.markov(range(len(ys)), history=history) if use_markov else range(len(ys))
        for t in steps:
            with jax.numpy_rank_promotion("allow"):
                lg = vindex(jnp.asarray(logits), tuple(past) + (slice(None),))
                x = sample(f"x{t}", D.Categorical(logits=lg))
                sample(f"y{t}", D.Normal(jnp.asarray(locs)[x], 1.0), obs=jnp.asarray(ys[t]))
            past = past[1:] + [x]

    return H.config_enumerate(model)


def _check_markov(spec, data, key):
    from inference import contract_factors

    def lp(use_markov):
        model = _chain_model(spec, use_markov)

        def value():
            _, (_, fs) = run(model, H.enum(first_available_dim=-1) >> H.factors())()
            return contract_factors(fs, 0)

        def structure():
            return run(model, H.enum(first_available_dim=-1) >> H.trace())()[1][1]

        return jax.jit(value)(), jax.eval_shape(structure)

    full, tr_full = lp(False)
    chain, tr_chain = lp(True)
    assert_close(chain, full, "markov chain vs full enumeration", kind="math")
    ndim = max(len(s.value.shape) for s in tr_chain.values() if s.name.startswith("x"))
    if ndim > spec[1] + 1:
        raise AssertionError(f"a markov chain of order {spec[1]} used {ndim} enumeration dims")


markov_chain_equals_full_enumeration = Law(
    "markov_chain_equals_full_enumeration",
    "For a generated chain (2 to 5 steps, states depending on the last `history` states, "
    "observed children), enumerating under `markov(history=...)` gives the same "
    "contracted log density as enumerating every state on a dim of its own, and uses at "
    "most `history + 1` enumeration dims.",
    "A state more than `history` steps old appears in no factor recorded after its dim is "
    "released, so the factors hold the same tensors, only with a recycled dim along "
    "which a newer variable lies; the contraction names each axis by the variable that "
    "held the dim when the factor was recorded, so it sums the same variables out.",
    _check_markov,
    models=chains,
    handlers=("enum", "markov"),
    cost=0.5,
)


def _scan_chain_model(spec, how: str):
    from effects import scan

    k, history, logits, locs, ys = spec

    def model():
        def step(past, y):
            with jax.numpy_rank_promotion("allow"):
                lg = vindex(jnp.asarray(logits), tuple(past) + (slice(None),))
                x = sample("x", D.Categorical(logits=lg))
                sample("y", D.Normal(jnp.asarray(locs)[x], 1.0), obs=y)
            return past[1:] + (x,), None

        init = (jnp.array(0),) * history
        scan(step, init, jnp.asarray(ys), history=history, contraction=how)

    return H.config_enumerate(model)


def _chain_brute(spec) -> float:
    """log p(ys) of a generated chain, summed over every path by NumPy."""
    k, history, logits, locs, ys = spec
    logits = np.asarray(logits, dtype=np.float64)
    log_t = logits - np.log(np.sum(np.exp(logits), axis=-1, keepdims=True))
    total = []
    for path in itertools.product(range(k), repeat=len(ys)):
        past, lp = (0,) * history, 0.0
        for x, y in zip(path, ys):
            lp += log_t[past + (x,)] - 0.5 * (float(y) - float(locs[x])) ** 2
            lp -= 0.5 * math.log(2 * math.pi)
            past = past[1:] + (x,)
        total.append(lp)
    top = max(total)
    return top + math.log(sum(math.exp(v - top) for v in total))


def _check_scan_chain(spec, data, key):
    from inference import contract_factors

    def lp(model):
        _, (_, fs) = run(model, H.enum(first_available_dim=-1) >> H.factors())()
        return contract_factors(fs, 0)

    # One compiled program for both (the eager contraction dispatches many small ops);
    # the trace's static dim labels come from an abstract run.
    models = [_scan_chain_model(spec, h) for h in _HOW]
    got = jax.jit(lambda: [lp(m) for m in models])()
    want = jnp.asarray(_chain_brute(spec))
    for how, value in zip(_HOW, got):
        assert_close(value, want, f"scan chain ({how}) vs brute force", kind="math")
    tr = jax.eval_shape(lambda: run(models[0], H.enum(first_available_dim=-1) >> H.trace())())
    labels = dict(tr[1][1]["x"].infer["dim_labels"])
    if len(labels) != spec[1] + 1:
        raise AssertionError(
            f"a scan chain of order {spec[1]} used {len(labels)} enumeration dims: {labels}"
        )


_HOW = ("parallel", "sequential")


scan_chain_contractions_agree = Law(
    "scan_chain_contractions_agree",
    "For a generated chain (2 to 5 steps, order 1 or 2, observed children), the chain "
    "written with the effect-aware `scan` and enumerated contracts to the same log "
    "density by the parallel (pairwise tree of matrix products) and the sequential "
    "(forward pass) contraction, and both equal the sum over every path (NumPy); the "
    "scan uses `history + 1` enumeration dims whatever its length.",
    "Each step's factors form one transition table M_t from the states of the last "
    "`history` steps to those of the steps t - history + 1 .. t (the carry's copies of "
    "the initial value fill the steps before the first, and the chain starts from their "
    "index 0); the marginal is the ordered product M_0 ... M_{T-1} read at row 0, and "
    "matrix products on the log-sum-exp semiring are associative, so grouping them as a "
    "tree or from the left gives the same product, which sums every path's weight.",
    _check_scan_chain,
    models=chains,
    handlers=("enum", "markov"),
    cost=0.5,
)

ENUM_LAWS: tuple[Law, ...] = (
    scan_chain_contractions_agree,
    markov_chain_equals_full_enumeration,
    enum_contract_is_the_brute_force_marginal,
    infer_discrete_map_is_the_brute_force_argmax,
    enum_commutes_with_condition,
)
