"""Tensor variable elimination over plated factor graphs, in pure JAX.

The factors of an enumerated model (``handlers.factors`` under ``handlers.enum``) are
log-density tensors whose axes are labelled: an enumerated variable (``("enum",
site)``), a plate (``("plate", name)``), or anything else (``"batch"``, summed at once).
:func:`contract_factors` sums the enumerated variables out and multiplies over plates,
in the order of Obermeyer et al., "Tensor Variable Elimination for Plated Factor Graphs"
(ICML 2019), Algorithm 1:

* each variable lives in the plates of its own site (its *ordinal*); a factor's ordinal
  is the set of plates along its axes;
* the deepest ordinal (most plates) is taken first; its factors split into components
  joined by the variables local to it; each component's local variables are eliminated
  by one ``jnp.einsum`` (whose contraction order comes from opt_einsum), in log space
  (each tensor shifted by its maximum over the eliminated axes, so nothing under- or
  overflows);
* the plates that no remaining variable of the result lives in are then multiplied out
  (a sum of logs over those plate axes), and the result moves to the ordinal of its
  remaining variables.

It runs on a semiring: ``"sum"`` (log-sum-exp: the log marginal), ``"max"`` (max-product:
the MAP value) or ``"sample"`` (forward filtering by log-sum-exp, recording each
eliminated variable's conditional table, then backward sampling:
:func:`backward_sample`). The restrictions of the algorithm are checked, and the errors
name the site and the plate: a variable enumerated inside a plate may not be used outside
it, and no factor may couple variables of two plates that do not nest.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from effects import mask_and_scale
from handlers import LogFactor
from handlers._markov import split_lag

Axis = tuple[str, str]  # ("enum", site) or ("plate", name)
Ring = Literal["sum", "max", "sample"]


class Term(eqx.Module):
    """A log-space tensor with one named axis per dim (``("enum", site)`` or
    ``("plate", name)``), and the site it came from (for error messages)."""

    log: Array
    axes: tuple[Axis, ...] = eqx.field(static=True)
    sites: tuple[str, ...] = eqx.field(static=True)

    def ordinal(self) -> frozenset[str]:
        return frozenset(n for k, n in self.axes if k == "plate")

    def variables(self) -> frozenset[str]:
        return frozenset(n for k, n in self.axes if k == "enum")


class Record(eqx.Module):
    """What backward sampling needs of one eliminated variable: the log table over
    ``axes`` (the variable first, then the variables still to be eliminated, then the
    plates of its ordinal) before it was summed (or maximised) out."""

    var: str = eqx.field(static=True)
    log: Array
    axes: tuple[Axis, ...] = eqx.field(static=True)


def _apply_mask_scale(f: LogFactor) -> Array:
    """The factor with its mask and scale applied. A masked-out entry of an enumerated
    site's own factor is ``-log K`` (``K`` its support's size), not 0: summed over the
    site's ``K`` values with its masked-out children it gives ``log 1 = 0``, so a masked
    data point adds nothing to the marginal (0 would add ``log K``)."""
    if any(k == "time" for k, _ in f.dims):
        return f.log_density
    if f.mask is None and f.scale is None:
        return f.log_density
    lp = mask_and_scale(f.log_density, f.mask, f.scale, f.name)
    own = [a for a, label in enumerate(f.dims) if label == ("enum", f.name)]
    if f.mask is None or not own or f.log_density.shape[own[0]] == 1:
        return lp
    k = f.log_density.shape[own[0]]
    keep = jnp.broadcast_to(jnp.asarray(f.mask), jnp.shape(lp))
    return jnp.where(keep, lp, jnp.asarray(-math.log(k), lp.dtype))


def terms_of(
    factors: Sequence[LogFactor],
    max_plate_nesting: int,
    ring: Ring = "sum",
    records: list | None = None,
) -> tuple[list[Term], dict]:
    """The factors as :class:`Term`\\ s, and each enumerated variable's plates.

    Axes of size one are dropped (broadcast); ``"batch"`` axes in the plates' region are
    summed (independent terms); a ``"batch"`` axis of size > 1 left of the plates' region
    belongs to the enumerated variable that holds that dim at that point of the program
    (a factor site carries no labels of its own).

    The factors of an enumerated effect-aware ``scan`` (time-stacked, with the loop's
    variables) are contracted over time first (``inference._chain``, on ``ring``: the max
    for ``"max"``, the log-sum-exp otherwise) into one term per chain; with ``records``
    given, each chain's :class:`inference._chain.ChainRecord` is appended to it.
    """
    from ._chain import contract_chain, groups, scan_variables, time_summed

    chain_vars = scan_variables(factors)
    owner: dict[int, str] = {}
    var_plates: dict[str, frozenset[str]] = {}
    terms: list[Term] = []
    chain: list[LogFactor] = []
    owners: list[dict[int, str]] = []
    chain_used: list[set[str]] = []
    for f in factors:
        stacked = any(k == "time" for k, _ in f.dims)
        step_dims = tuple(d for d in f.dims if d[0] != "time")
        n_step = len(step_dims)
        for axis, (kind, who) in enumerate(step_dims):
            if kind == "enum":
                owner[axis - n_step] = who
        if stacked:
            shape = jnp.shape(f.log_density)[len(f.dims) - n_step :]
            used: set[str] = set()
            for axis, (kind, who) in enumerate(step_dims):
                if shape[axis] == 1:
                    continue
                if kind == "enum":
                    used.add(str(who))
                elif kind == "batch" and n_step - axis > max_plate_nesting:
                    if axis - n_step in owner:
                        used.add(owner[axis - n_step])
            if any(split_lag(w)[0] in chain_vars for w in used):
                chain.append(f)
                owners.append(dict(owner))
                chain_used.append({split_lag(w)[0] for w in used} & chain_vars)
                continue
            if not used:
                terms.append(Term(jnp.reshape(f.total(), ()), (), (f.name,)))
                continue
            if sum(1 for k, _ in f.dims if k == "time") > 1:
                raise NotImplementedError(
                    f"Site '{f.name}': enumerated variables inside nested effect-aware "
                    "scans are not contracted. Fix: enumerate within one scan level."
                )
            f = time_summed(f)
        term = _term_of(f, max_plate_nesting, owner)
        if ("enum", f.name) in term.axes:
            var_plates[f.name] = term.ordinal()
        terms.append(term)
    for group in groups(chain_used):
        fs = [chain[i] for i in group]
        value, axes, record = contract_chain(
            fs,
            chain_vars,
            max_plate_nesting,
            ring,
            [owners[i] for i in group],
            [chain_used[i] for i in group],
        )
        terms.append(Term(value, axes, tuple(f.name for f in fs)))
        if records is not None:
            records.append(record)
    _check_locality(terms, var_plates)
    return terms, var_plates


def _term_of(f: LogFactor, max_plate_nesting: int, owner: dict[int, str]) -> Term:
    from ._chain import axis_label

    lp = _apply_mask_scale(f)
    n = jnp.ndim(lp)
    labels = list(f.dims)
    if len(labels) != n:  # mask or scale may not enlarge; guard anyway
        raise ValueError(f"Site '{f.name}': {len(labels)} labels for a rank-{n} factor.")
    axes: list[Axis] = []
    sum_axes = []
    keep_axes = []
    for axis, (kind, who) in enumerate(labels):
        dim = axis - n
        size = lp.shape[axis]
        if size == 1:
            continue
        kind, who = axis_label(f.name, kind, who, dim, size, max_plate_nesting, owner)
        if kind == "batch":
            sum_axes.append(axis)
            continue
        keep_axes.append(axis)
        axes.append((kind, who))
    if sum_axes:
        lp = jnp.sum(lp, axis=tuple(sum_axes), keepdims=True)
    lp = jnp.reshape(lp, tuple(lp.shape[a] for a in keep_axes))
    return Term(lp, tuple(axes), (f.name,))


def _check_locality(terms: list[Term], var_plates: dict[str, frozenset[str]]) -> None:
    for t in terms:
        for v in t.variables():
            if v not in var_plates:
                raise ValueError(
                    f"Site '{t.sites[0]}' depends on enumerated variable '{v}', whose own "
                    "log density was not recorded. Fix: record every site with "
                    "handlers.factors."
                )
            missing = var_plates[v] - t.ordinal()
            if missing:
                raise ValueError(
                    f"Site '{t.sites[0]}' uses enumerated variable '{v}' outside plate(s) "
                    f"{sorted(missing)}: '{v}' is enumerated inside them (one value per "
                    f"plate element) and so cannot be used where those plates are not in "
                    "force. Fix: move the site into the plate(s), or sample the variable "
                    "outside them."
                )


def _numbers(axes: set[Axis]) -> dict[Axis, int]:
    """An integer per axis, for ``jnp.einsum``'s sublist form (no limit of 52 letters)."""
    return {a: i for i, a in enumerate(sorted(axes))}


def _finite(x: Array) -> Array:
    return jnp.where(jnp.isfinite(x), x, jnp.zeros((), x.dtype))


def _logsumproduct(terms: Sequence[Term], eliminate: frozenset[Axis], out: tuple[Axis, ...]):
    """``log sum_{eliminate} prod_i exp(term_i)``, laid out along ``out``, by one
    ``jnp.einsum`` (opt_einsum's order), each term shifted by its maximum over the
    eliminated axes (the shifts are constants: ``stop_gradient`` keeps gradients exact)."""
    numbers = _numbers({a for t in terms for a in t.axes})
    operands: list[Any] = []
    shift_total = None
    for t in terms:
        red = tuple(i for i, a in enumerate(t.axes) if a in eliminate)
        shift = jax.lax.stop_gradient(_finite(jnp.max(t.log, axis=red, keepdims=True)))
        operands += [jnp.exp(t.log - shift), [numbers[a] for a in t.axes]]
        kept = tuple(a for a in t.axes if a not in eliminate)
        s = _align(jnp.squeeze(shift, axis=red), kept, out)
        shift_total = s if shift_total is None else shift_total + s
    value = jnp.log(jnp.einsum(*operands, [numbers[a] for a in out], optimize="greedy"))
    assert shift_total is not None
    return value + shift_total


def _align(x: Array, axes: tuple[Axis, ...], out: tuple[Axis, ...]) -> Array:
    """``x`` (axes ``axes``, a subset of ``out``) transposed to ``out``'s order, with size-1
    axes for those it lacks (same rank as ``out``, so broadcasting adds no rank)."""
    perm = sorted(range(len(axes)), key=lambda i: out.index(axes[i]))
    x = jnp.transpose(x, perm)
    present = [axes[i] for i in perm]
    shape = []
    it = iter(x.shape)
    for a in out:
        shape.append(next(it) if a in present else 1)
    return jnp.reshape(x, tuple(shape))


def _dense(terms: Sequence[Term], out: tuple[Axis, ...], sizes: dict[Axis, int]) -> Array:
    full = tuple(sizes[a] for a in out)
    total = jnp.zeros(full, terms[0].log.dtype)
    for t in terms:
        total = total + jnp.broadcast_to(_align(t.log, t.axes, out), full)
    return total


def _components(terms: list[Term], local: frozenset[str]) -> list[list[Term]]:
    """Terms joined by shared local variables (union-find, in a fixed order)."""
    groups: list[tuple[set[str], list[Term]]] = []
    for t in terms:
        vs = set(t.variables() & local)
        joined = [g for g in groups if g[0] & vs]
        for g in joined:
            groups.remove(g)
            vs |= g[0]
        merged = [x for g in joined for x in g[1]] + [t]
        groups.append((vs, merged))
    return [g[1] for g in groups]


def _order_key(o: frozenset[str]) -> tuple:
    return (len(o), sorted(o))


def contract_terms(
    terms: Sequence[Term], var_plates: dict[str, frozenset[str]], ring: Ring = "sum"
) -> tuple[Array, tuple[Record, ...]]:
    """Eliminate every enumerated variable and multiply out every plate.

    Returns the scalar result (log marginal for ``"sum"`` and ``"sample"``, the max of the
    log joint for ``"max"``) and, for ``"max"`` and ``"sample"``, one :class:`Record` per
    eliminated variable in elimination order (none for ``"sum"``).
    """
    tree: dict[frozenset[str], list[Term]] = {}
    for t in terms:
        tree.setdefault(t.ordinal(), []).append(t)
    total: Array | None = None
    records: list[Record] = []
    while tree:
        leaf = max(tree, key=_order_key)
        leaf_terms = tree.pop(leaf)
        local = frozenset(v for t in leaf_terms for v in t.variables() if var_plates[v] == leaf)
        for comp in _components(leaf_terms, local):
            comp_vars = frozenset(v for t in comp for v in t.variables())
            elim = comp_vars & local
            kept = tuple(sorted(comp_vars - elim))
            plates = tuple(sorted(leaf))
            out: tuple[Axis, ...] = tuple(("enum", v) for v in kept) + tuple(
                ("plate", p) for p in plates
            )
            if not elim and len(comp) == 1 and comp[0].axes == out:
                term = comp[0].log
            elif ring == "sum":
                term = _logsumproduct(comp, frozenset(("enum", v) for v in elim), out)
            else:
                term = _eliminate_dense(comp, elim, out, ring, records)
            parent = frozenset().union(*(var_plates[v] for v in kept))
            if kept and parent == leaf:
                _raise_coupling(comp, kept, var_plates, leaf)
            summed = tuple(i for i, a in enumerate(out) if a[0] == "plate" and a[1] not in parent)
            if summed:
                term = jnp.sum(term, axis=summed)
            new_axes = tuple(a for i, a in enumerate(out) if i not in summed)
            sites = tuple(s for t in comp for s in t.sites)
            if not new_axes:
                total = term if total is None else total + term
            else:
                tree.setdefault(parent, []).append(Term(term, new_axes, sites))
    if total is None:
        total = jnp.zeros(())
    return total, tuple(records)


def _eliminate_dense(comp, elim, out, ring, records) -> Array:
    """Variable elimination one variable at a time (the cheapest first: the smallest
    table of the terms that hold it), recording each variable's table before it is
    maximised or summed out; the rest are added up along ``out``."""
    sizes: dict[Axis, int] = {}
    for t in comp:
        for a, n in zip(t.axes, t.log.shape):
            sizes[a] = n
    terms = list(comp)
    remaining = set(elim)

    def union(v: str) -> list[Axis]:
        axes = {a for t in terms if ("enum", v) in t.axes for a in t.axes}
        return sorted(axes - {("enum", v)})

    while remaining:
        v = min(remaining, key=lambda v: (math.prod(sizes[a] for a in union(v)), v))
        axes = (("enum", v),) + tuple(union(v))
        involved = [t for t in terms if ("enum", v) in t.axes]
        table = _dense(involved, axes, sizes)
        records.append(Record(v, table, axes))
        reduced = jnp.max(table, axis=0) if ring == "max" else jax.nn.logsumexp(table, axis=0)
        sites = tuple(s for t in involved for s in t.sites)
        terms = [t for t in terms if ("enum", v) not in t.axes] + [Term(reduced, axes[1:], sites)]
        remaining.remove(v)
    return _dense(terms, out, sizes) if terms else jnp.zeros(tuple(sizes[a] for a in out))


def _raise_coupling(comp, kept, var_plates, leaf) -> None:
    sites = sorted({s for t in comp for s in t.sites})
    where = ", ".join(f"'{v}' in plates {sorted(var_plates[v])}" for v in kept)
    raise ValueError(
        f"Site(s) {sites} couple enumerated variables of plates that do not nest ({where}; "
        f"the factor lives in plates {sorted(leaf)}): the plated factor graph is not a "
        "tree, so the variables cannot be summed out plate by plate. Fix: make the plates "
        "nest (put one variable's plate inside the other's), or do not enumerate one of "
        "the variables."
    )


def contract_factors(
    factors: Sequence[LogFactor], max_plate_nesting: int, ring: Ring = "sum"
) -> Float[Array, ""]:
    """The log of the sum over every enumerated variable of the product of the
    ``factors`` (``ring="sum"``), or of its maximum (``ring="max"``).

    Scales (a subsampled plate's ``N / B``, ``handlers.scale``): the factors that meet
    enumerated variables must share one scalar scale, which multiplies their contraction
    (``s log sum_y p(x, y)``, as in NumPyro); other factors keep their own scales.

    Example:
        >>> import jax.numpy as jnp, dists as D
        >>> from effects import run, sample
        >>> from handlers import config_enumerate, enum, factors
        >>> def model():
        ...     z = sample("z", D.Bernoulli(probs=0.25))
        ...     sample("x", D.Normal(jnp.where(z == 1, 2.0, 0.0), 1.0), obs=1.0)
        >>> _, (_, fs) = run(config_enumerate(model), enum(first_available_dim=-1) >> factors())()
        >>> lp = contract_factors(fs, max_plate_nesting=0)
        >>> n = D.Normal(0.0, 1.0).log_prob(jnp.array([1.0, -1.0]))  # x - 2z for z = 0, 1
        >>> want = jnp.logaddexp(jnp.log(0.75) + n[0], jnp.log(0.25) + n[1])
        >>> bool(jnp.allclose(lp, want))
        True
    """
    if all(f.scale is None for f in factors):
        terms, var_plates = terms_of(factors, max_plate_nesting, ring)
        value, _ = contract_terms(terms, var_plates, ring)
        return value
    # A scale multiplies a log density: inside the sum over an enumerated variable it
    # would give log sum_y p(x, y)^s, not s log sum_y p(x, y). So the factors that meet
    # enumerated variables contract unscaled, and their one shared scale multiplies the
    # result; the other factors keep their own scales.
    unscaled = [
        LogFactor(f.name, f.log_density, f.dims, f.mask, None, f.contraction) for f in factors
    ]
    terms, var_plates = terms_of(unscaled, max_plate_nesting, ring)
    enum_terms = [t for t in terms if t.variables()]
    enum_sites = {n for t in enum_terms for n in t.sites}
    total = jnp.zeros(())
    for f in factors:
        if f.name in enum_sites:
            continue
        if any(k == "time" for k, _ in f.dims):
            total = total + f.total()
        else:
            total = total + jnp.sum(mask_and_scale(f.log_density, f.mask, f.scale, f.name))
    value, _ = contract_terms(enum_terms, var_plates, ring)
    return total + _shared_scale([f for f in factors if f.name in enum_sites], value.dtype) * value


def _shared_scale(met: Sequence[LogFactor], dtype: Any) -> Array:
    """The one scalar scale of the factors that meet enumerated variables (1 if none is
    scaled); raises if they do not share one."""
    scaled = [f for f in met if f.scale is not None]
    if not scaled:
        return jnp.ones((), dtype)
    bad = [f.name for f in met if f.scale is None or jnp.ndim(f.scale) != 0]
    if bad:
        raise NotImplementedError(
            f"The sites {sorted(f.name for f in met)} meet enumerated variables, and some "
            f"are scaled ({[f.name for f in scaled]}: a subsampled plate or handlers.scale) "
            f"while {bad} are not scaled by the same scalar. The sum over an enumerated "
            "variable is scaled as a whole, so every factor it meets must share one scalar "
            "scale (as in NumPyro). Fix: put the enumerated variable and everything that "
            "depends on it inside the same subsampled plate (a global enumerated variable "
            "cannot feed a subsampled plate), or do not subsample."
        )
    scale = jnp.asarray(scaled[0].scale, dtype)
    for f in scaled[1:]:
        scale = eqx.error_if(
            scale,
            jnp.asarray(f.scale, dtype) != scale,
            f"Sites '{scaled[0].name}' and '{f.name}' meet enumerated variables with "
            "different scales; they must share one scalar scale.",
        )
    return scale


def backward_sample(
    records: Sequence[Any], key: Any, temperature: int
) -> dict[str, tuple[Array, tuple[str, ...]]]:
    """Each eliminated variable's value (index into its support), sampled (``temperature
    = 1``) or maximised (``0``) given the variables eliminated after it: ``{var: (values
    along the variable's plates, those plates' names)}``."""
    from ._chain import ChainRecord

    values: dict[str, tuple[Array, tuple[str, ...]]] = {}
    for i, rec in enumerate(reversed(records)):
        if isinstance(rec, ChainRecord):
            chain_key = None if temperature == 0 else jax.random.fold_in(key, i)
            values.update(_chain_sample(rec, values, chain_key, temperature))
            continue
        plates = tuple(a[1] for a in rec.axes if a[0] == "plate")
        pshape = tuple(rec.log.shape[j] for j, a in enumerate(rec.axes) if a[0] == "plate")
        index = [slice(None), *_index_at(rec.axes[1:], values, plates, pshape)]
        if len(index) > 1:
            table = rec.log[tuple(index)]
        else:
            table = rec.log
        table = jnp.broadcast_to(table, (rec.log.shape[0],) + pshape)
        if temperature == 0:
            value = jnp.argmax(table, axis=0)
        else:
            value = jax.random.categorical(jax.random.fold_in(key, i), table, axis=0)
        values[rec.var] = (value, plates)
    return values


def _index_at(
    axes: Any, values: dict, plates: tuple[str, ...], pshape: tuple[int, ...]
) -> list[Any]:
    """Indices into a table with ``axes``: an enumerated variable's axis at its chosen
    value (from ``values``, broadcast over the plates), a plate's axis at every element."""
    index: list[Any] = []
    for a in axes:
        if a[0] == "enum":
            val, vplates = values[a[1]]
            index.append(_broadcast_to_plates(val, vplates, plates, pshape))
        else:
            k = plates.index(a[1])
            shape = [1] * len(plates)
            shape[k] = pshape[k]
            index.append(jnp.reshape(jnp.arange(pshape[k]), tuple(shape)))
    return index


def _broadcast_to_plates(
    val: Array, vplates: tuple[str, ...], plates: tuple[str, ...], pshape: tuple[int, ...]
) -> Array:
    shape = [1] * len(plates)
    for p, n in zip(vplates, val.shape):
        shape[plates.index(p)] = n
    x = jnp.transpose(val, sorted(range(len(vplates)), key=lambda i: plates.index(vplates[i])))
    return jnp.reshape(x, tuple(shape))


def _chain_sample(rec: Any, values: dict, key: Any, temperature: int) -> dict:
    """A chain's variables at every step (time first, then the chain's plates), chosen
    given the values of the outer variables it depends on (``inference._chain``)."""
    from ._chain import chain_backward, decode

    plates = tuple(a[1] for a in rec.axes if a[0] == "plate")
    t_len = rec.log.shape[0]
    pshape = tuple(rec.log.shape[1 + j] for j, a in enumerate(rec.axes) if a[0] == "plate")
    table = rec.log
    if any(a[0] == "enum" for a in rec.axes):
        index = [slice(None), *_index_at(rec.axes, values, plates, pshape)]
        table = table[tuple(index)]
    s = rec.log.shape[-1]
    table = jnp.broadcast_to(table, (t_len,) + pshape + (s, s))
    if key is None:
        key = jax.random.key(0)  # unused at temperature 0
    states = chain_backward(table, key, temperature)
    return {name: (value, plates) for name, value in zip(rec.names, decode(states, rec.sizes))}
