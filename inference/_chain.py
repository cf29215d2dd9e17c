"""Time chains of enumerated variables (an enumerated effect-aware ``scan``), contracted.

Inside an enumerated ``scan`` (``handlers.enum``) each step's factors have the same
shape: a leading ``"time"`` axis, then the step's own enumerated variables (``x``), the
same variables one or more steps back (``_PREV_x``, ``_PREV__PREV_x``: ``history`` of
them), the plates of the chain, and perhaps enumerated variables from outside the loop.
This module turns them into one transition table per step and multiplies the tables
over time on a semiring:

* the state at step ``t`` is the joint value of the chain's variables at steps
  ``t - history + 1 .. t`` (``S = K ** history`` values, ``K`` the product of the
  variables' support sizes); ``M_t[s, s']`` is the log of the product of step ``t``'s
  factors (and ``-inf`` where ``s`` and ``s'`` disagree on the steps they share);
* the steps before the first do not exist: there the carry held copies of its initial
  value (``handlers.enum`` broadcast it), so every index along those dims gives the same
  factor and the chain starts from state 0;
* ``"parallel"``: the tables are multiplied pairwise in a tree (``log2 T`` rounds of
  batched log-sum-exp or max-plus matrix products: ``O(log T)`` depth, ``T S^3`` work);
* ``"sequential"``: the forward algorithm, ``alpha_t = alpha_{t-1} (x) M_t`` in a
  ``lax.scan`` (``T`` steps, ``T S^2`` work);
* ``"auto"``: the rule of :func:`choose` (sequential on CPU, parallel on an accelerator;
  from the timings in ``benchmarks/RESULTS_ENUM.md``).

For MAP values and posterior samples (:func:`chain_backward`) the forward pass keeps
every ``alpha_t`` and the states are chosen backwards (Viterbi with backtracking, or
forward-filter backward-sample), sequentially.

The result of a chain is a :class:`inference._contract.Term` over the variables from
outside the loop and the chain's plates, which the plated contraction then takes like
any other factor (Obermeyer et al. 2019; for the time chain as an associative product,
Särkkä & García-Fernández, "Temporal parallelization of Bayesian smoothers", 2021).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array

from effects import mask_and_scale
from handlers import LogFactor
from handlers._markov import split_lag


def axis_label(
    site: str, kind: str, who: Any, dim: int, size: int, max_plate_nesting: int, owner: dict
) -> tuple[str, Any]:
    """The label of a factor's axis at batch ``dim``: a batch dim left of the plates is the
    enumerated variable that holds it (``owner``: dim -> variable); one that no variable
    holds is an error naming the site."""
    if kind != "batch" or -dim <= max_plate_nesting:
        return kind, who
    if dim not in owner:
        raise ValueError(
            f"Site '{site}': its log density has size {size} at dim {dim}, left of the "
            f"plates (max_plate_nesting={max_plate_nesting}), but no enumerated variable "
            "holds that dim. (A value carried out of an enumerated scan, or kept past a "
            "markov step's history, has lost its variable.) Fix: raise max_plate_nesting "
            "to cover every plate, or use a plate for that batch dim."
        )
    return "enum", owner[dim]


def choose(how: str | None, states: int) -> str:
    """The contraction that runs: ``how`` unless it is ``"auto"``/``None``.

    The rule for ``"auto"``: ``"sequential"`` on CPU, ``"parallel"`` on an accelerator.
    On CPU (benchmarks/RESULTS_ENUM.md, K = 2..16 states, T = 100 and 1000) the forward
    pass was as fast as the tree or faster in every case but one within noise: the tree
    does ``S`` times the work (``S^3`` per step against ``S^2``) and a CPU runs the
    forward pass's small steps without waiting on a device, so the tree's shorter depth
    buys nothing. On a GPU each dependent step costs a kernel launch, and ``log2 T``
    rounds replace ``T`` steps.
    """
    del states
    if how in ("parallel", "sequential"):
        return how
    return "sequential" if jax.default_backend() == "cpu" else "parallel"


class ChainRecord(eqx.Module):
    """What backward sampling needs of a chain: its transition tables ``log`` (time, the
    axes ``axes`` (outer variables and plates), previous state, next state), and how a
    state decodes into the chain's variables (``names`` with support ``sizes``)."""

    names: tuple[str, ...] = eqx.field(static=True)
    sizes: tuple[int, ...] = eqx.field(static=True)
    log: Array
    axes: tuple[tuple[str, str], ...] = eqx.field(static=True)


def _neg(dtype: Any) -> Array:
    # A finite stand-in for log 0: no inf - inf, and gradients stay finite.
    return jnp.asarray(jnp.finfo(dtype).min / 1e8, dtype)


def _safe_log(x: Array) -> Array:
    ok = x > 0
    return jnp.where(ok, jnp.log(jnp.where(ok, x, jnp.ones((), x.dtype))), _neg(x.dtype))


def log_matmul(a: Array, b: Array) -> Array:
    """``log(exp(a) @ exp(b))`` over the last two axes, shifted so nothing under- or
    overflows (the shifts are constants to the gradient, which stays exact)."""
    am = lax.stop_gradient(jnp.max(a, axis=-1, keepdims=True))
    bm = lax.stop_gradient(jnp.max(b, axis=-2, keepdims=True))
    return _safe_log(jnp.exp(a - am) @ jnp.exp(b - bm)) + am + bm


def max_matmul(a: Array, b: Array) -> Array:
    """The max-plus product: ``max_k a[..., i, k] + b[..., k, j]``."""
    return jnp.max(a[..., :, :, None] + b[..., None, :, :], axis=-2)


def _reduce(x: Array, ring: str, axis: int) -> Array:
    return jnp.max(x, axis=axis) if ring == "max" else jax.nn.logsumexp(x, axis=axis)


def tree_product(m: Array, ring: str) -> Array:
    """The ordered product ``M_0 (x) M_1 (x) ... (x) M_{T-1}`` of ``m`` (time first,
    square matrices last), multiplied pairwise: ``ceil(log2 T)`` rounds."""
    mul = max_matmul if ring == "max" else log_matmul
    s = m.shape[-1]
    eye = jnp.where(jnp.eye(s, dtype=bool), jnp.zeros((), m.dtype), _neg(m.dtype))
    while m.shape[0] > 1:
        if m.shape[0] % 2:
            pad = jnp.broadcast_to(eye, (1,) + m.shape[1:])
            m = jnp.concatenate([m, pad], axis=0)
        m = mul(m[0::2], m[1::2])
    return m[0]


def forward(m: Array, ring: str) -> tuple[Array, Array]:
    """The forward pass from state 0: ``(alpha_{T-1}, alphas)`` with ``alphas[t]`` the
    message after steps ``0..t`` (``alphas`` has ``T - 1`` rows: the last is returned
    apart)."""

    def step(alpha, mt):
        new = _reduce(alpha[..., :, None] + mt, ring, axis=-2)
        return new, alpha

    return lax.scan(step, m[0][..., 0, :], m[1:])


def chain_value(m: Array, ring: str, how: str) -> Array:
    """The chain's total over every path from state 0 (log-sum-exp or max)."""
    if how == "parallel":
        return _reduce(tree_product(m, ring)[..., 0, :], ring, axis=-1)
    last, _ = forward(m, ring)
    return _reduce(last, ring, axis=-1)


def forward_split(trans: Array, emit: Array, ring: str) -> Array:
    """The chain's total (log-sum-exp or max) over every path from state 0, its step
    tables given as ``trans[t, ..., i, j] + emit[t, ..., j]``: the forward algorithm
    with each step's ``emit`` added after the reduction over the previous state."""
    k = trans.shape[-1]
    # State 0 before the first step (log 1 there, log 0 elsewhere).
    start = jnp.where(jnp.arange(k) == 0, jnp.zeros((), trans.dtype), _neg(trans.dtype))
    start = jnp.broadcast_to(start, emit.shape[1:])

    def step(alpha, inputs):
        mt, et = inputs
        return _reduce(alpha[..., :, None] + mt, ring, axis=-2) + et, None

    last, _ = lax.scan(step, start, (trans, emit))
    return _reduce(last, ring, axis=-1)


def _table(
    parts: Sequence[tuple[Array, list[Any]]],
    order: list[Any],
    sizes: dict[Any, int],
    t_len: int,
    dtype: Any,
) -> Array:
    """The sum of ``parts`` (each a time-stacked table and its axes' labels), laid out
    along ``order`` (time first) and broadcast to its full shape."""
    shape = (t_len,) + tuple(sizes[a] for a in order)
    total = None
    for lp, axes in parts:
        perm = [0] + [1 + axes.index(a) for a in sorted(axes, key=order.index)]
        x = jnp.transpose(lp, perm)
        present = set(axes)
        x = jnp.reshape(x, (t_len,) + tuple(sizes[a] if a in present else 1 for a in order))
        total = x if total is None else total + x
    if total is None:
        return jnp.zeros(shape, dtype)
    return jnp.broadcast_to(total, shape)


def chain_backward(m: Array, key: Any, temperature: int) -> Array:
    """The chain's states, time first: the MAP path (``temperature=0``, Viterbi with
    backtracking) or a posterior draw (``1``, forward-filter backward-sample)."""
    ring = "max" if temperature == 0 else "sum"
    last, alphas = forward(m, ring)
    t = m.shape[0]
    keys = jax.random.split(key, t) if temperature else jnp.zeros((t,), jnp.int32)

    def pick(table, k):
        if temperature == 0:
            return jnp.argmax(table, axis=-1)
        return jax.random.categorical(k, table, axis=-1)

    s_last = pick(last, keys[-1])

    def back(s_next, inputs):
        alpha, mt, k = inputs
        col = jnp.take_along_axis(mt, s_next[..., None, None], axis=-1)[..., 0]
        s = pick(alpha + col, k)
        return s, s

    _, states = lax.scan(back, s_last, (alphas, m[1:], keys[:-1]), reverse=True)
    return jnp.concatenate([states, s_last[None]], axis=0)


def decode(states: Array, sizes: Sequence[int]) -> list[Array]:
    """Each chain variable's index from the chain's states (the newest step's value is
    the lowest digits, the last variable the fastest)."""
    k = math.prod(sizes)
    flat = states % k
    out = []
    for size in reversed(sizes):
        out.append(flat % size)
        flat = flat // size
    return out[::-1]


def _stepwise(f: LogFactor) -> Array:
    if f.mask is None and f.scale is None:
        return f.log_density
    return jax.vmap(mask_and_scale, in_axes=(0, 0, 0, None))(f.log_density, f.mask, f.scale, f.name)


def time_summed(f: LogFactor) -> LogFactor:
    """A one-level time-stacked factor summed over time (its mask and scale applied step
    by step): for a factor that uses no variable of the loop's chain."""
    lp = jnp.sum(_stepwise(f), axis=0)
    return LogFactor(f.name, lp, f.dims[1:])


def scan_variables(factors: Sequence[LogFactor]) -> frozenset[str]:
    """The enumerated variables that live inside a scan: those with a lagged label, or
    whose own time-stacked factor carries their label."""
    out = set()
    for f in factors:
        if not any(k == "time" for k, _ in f.dims):
            continue
        for kind, who in f.dims:
            if kind != "enum":
                continue
            base, lag = split_lag(who)
            if lag or who == f.name:
                out.add(base)
    return frozenset(out)


def groups(used: Sequence[set[str]]) -> list[list[int]]:
    """The indices of the chain factors, grouped by the chain variables (``used[i]``:
    those of factor ``i``) that join them."""
    found: list[tuple[set[str], list[int]]] = []
    for i, vs in enumerate(used):
        vs = set(vs)
        joined = [g for g in found if g[0] & vs]
        for g in joined:
            found.remove(g)
            vs |= g[0]
        found.append((vs, [j for g in joined for j in g[1]] + [i]))
    return [sorted(g[1]) for g in found]


def contract_chain(
    factors: Sequence[LogFactor],
    chain_vars: frozenset[str],
    max_plate_nesting: int,
    ring: str,
    owners: Sequence[dict[int, str]],
    used: Sequence[set[str]],
) -> tuple[Array, tuple[tuple[str, str], ...], ChainRecord]:
    """One chain's factors summed (or maximised) over the chain's variables at every
    step: ``(log table, its axes, the record for backward sampling)``. The axes are the
    enumerated variables from outside the loop and the chain's plates. ``owners[i]``
    says which variable holds each unlabelled enumeration dim at factor ``i`` and
    ``used[i]`` names the chain variables factor ``i`` depends on."""
    names = sorted(set().union(*used))
    for f in factors:
        if sum(1 for k, _ in f.dims if k == "time") > 1:
            raise NotImplementedError(
                f"Site '{f.name}': enumerated variables inside nested effect-aware scans "
                "are not contracted. Fix: enumerate within one scan level."
            )
    own = {f.name: f for f in factors if f.name in names}
    missing = [v for v in names if v not in own]
    if missing:
        raise ValueError(
            f"Enumerated scan variable(s) {missing}: their own log densities were not "
            "recorded. Fix: record every site with handlers.factors."
        )
    plates_of = {v: frozenset(w for k, w in own[v].dims if k == "plate") for v in names}
    chain_plates = plates_of[names[0]]
    if any(p != chain_plates for p in plates_of.values()):
        where = ", ".join(f"'{v}' in plates {sorted(p)}" for v, p in plates_of.items())
        raise NotImplementedError(
            f"The enumerated variables of one scan live in different plates ({where}); a "
            "chain is contracted with all its variables in the same plates. Fix: put the "
            "scan's enumerated sites in the same plates."
        )
    sizes: dict[Any, int] = {}
    parts: list[tuple[Array, list[Any]]] = []
    history = 1
    t_len = factors[0].log_density.shape[0]
    for f, owner in zip(factors, owners):
        lp = _stepwise(f)
        if lp.shape[0] != t_len:
            raise ValueError(
                f"Site '{f.name}': its time axis has length {lp.shape[0]}, but the chain "
                f"it joins has {t_len} steps."
            )
        labels = list(f.dims[1:])
        n = len(labels)
        axes: list[Any] = []
        sum_axes = []
        keep = [0]
        for axis, (kind, who) in enumerate(labels, start=1):
            dim = axis - 1 - n
            size = lp.shape[axis]
            if size == 1:
                continue
            kind, who = axis_label(f.name, kind, who, dim, size, max_plate_nesting, owner)
            if kind == "batch" or (kind == "plate" and who not in chain_plates):
                sum_axes.append(axis)
                continue
            if kind == "enum":
                base, lag = split_lag(who)
                if base in chain_vars:
                    if base not in names:
                        raise ValueError(
                            f"Site '{f.name}' uses enumerated variable '{base}' of another "
                            "scan. Fix: use a scan's enumerated values inside it only."
                        )
                    history = max(history, lag)
                    label: Any = ("lag", lag, base)
                else:
                    label = ("enum", who)
            else:
                label = ("plate", who)
            sizes[label] = size
            axes.append(label)
            keep.append(axis)
        if sum_axes:
            lp = jnp.sum(lp, axis=tuple(sum_axes), keepdims=True)
        lp = jnp.reshape(lp, tuple(lp.shape[a] for a in keep))
        parts.append((lp, axes))
    for v in names:
        k = sizes.get(("lag", 0, v))
        if k is None:
            raise ValueError(f"Enumerated scan variable '{v}': no factor has its values.")
        for j in range(1, history + 1):
            got = sizes.setdefault(("lag", j, v), k)
            if got != k:
                raise ValueError(f"Enumerated scan variable '{v}': support sizes differ.")
    outer = sorted({a for _, axes in parts for a in axes if a[0] != "lag"}, key=str)
    lag_axes = [("lag", j, v) for j in range(history, -1, -1) for v in names]
    order = outer + lag_axes
    dtype = parts[0][0].dtype
    kc = math.prod(sizes[("lag", 0, v)] for v in names)
    batch = tuple(sizes[a] for a in outer)
    how = choose(next((f.contraction for f in factors if f.contraction), None), kc**history)
    value_ring = "max" if ring == "max" else "sum"
    if history == 1 and how == "sequential":
        # The factors that use the previous step's values make the transition tables;
        # the others (emissions, say) are added after each step's reduction, as a
        # hand-written forward pass does, so that no table of every factor is built
        # and their gradients come out of the loop step by step.
        pair = [p for p in parts if any(a[0] == "lag" and a[1] == 1 for a in p[1])]
        unary = [p for p in parts if not any(a[0] == "lag" and a[1] == 1 for a in p[1])]
        trans = _table(pair, order, sizes, t_len, dtype)
        trans = jnp.reshape(trans, (t_len,) + batch + (kc, kc))
        unary_order = outer + [("lag", 0, v) for v in names]
        emit = _table(unary, unary_order, sizes, t_len, dtype)
        emit = jnp.reshape(emit, (t_len,) + batch + (kc,))
        value = forward_split(trans, emit, value_ring)
        m = trans + emit[..., None, :]
    else:
        flat = jnp.reshape(
            _table(parts, order, sizes, t_len, dtype), (t_len,) + batch + (kc**history, kc)
        )
        if history == 1:
            m = flat
        else:
            s = kc**history
            prev = jnp.arange(s)
            new = (prev % (kc ** (history - 1)))[:, None] * kc + jnp.arange(kc)[None, :]
            m = jnp.full((t_len,) + batch + (s, s), _neg(dtype), dtype)
            m = m.at[..., prev[:, None], new].set(flat)
        value = chain_value(m, value_ring, how)
    out_axes = tuple((a[0], a[1]) for a in outer)
    record = ChainRecord(tuple(names), tuple(sizes[("lag", 0, v)] for v in names), m, out_axes)
    return value, out_axes, record
