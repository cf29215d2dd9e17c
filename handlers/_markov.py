"""``markov``: a Python loop whose enumerated variables depend only on the last
``history`` steps, so their enumeration dims are used again.

``for t in markov(range(T), history=k):`` performs a :class:`MarkovStep` effect when the
loop starts, at each step and when it ends. ``enum`` (``handlers.Enum``) handles them: it
notes the variables enumerated in each step and, when a step begins, releases the dims of
the variables more than ``history`` steps old, so that a chain of any length needs only
``history + 1`` enumeration dims. Without ``enum`` in force the steps mean nothing and
the loop is a plain loop.

The model must keep the promise: a site at step ``t`` may depend on the variables of steps
``t - history .. t`` only (a variable whose dim was given to a newer one would otherwise
be confused with it).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, ClassVar, Literal

import equinox as eqx
import jax
import jax.numpy as jnp

from effects import AllocateDim, Effect, perform

from ._dims import Dims


class MarkovStep(Effect):
    """A ``markov`` loop starts (``kind="enter"``), takes a step (``"step"``) or ends
    (``"exit"``); ``history`` is its order. No meaning without ``enum``."""

    type_name: ClassVar[str] = "markov"
    has_default: ClassVar[bool] = True

    kind: Literal["enter", "step", "exit"] = eqx.field(static=True)
    history: int = eqx.field(static=True, default=1)
    name: None = eqx.field(static=True, default=None)
    value: Any = eqx.field(static=True, default=None)
    stop: bool = eqx.field(static=True, default=False)


def _chain(iterable: Iterable, history: int) -> Iterator:
    perform(MarkovStep("enter", history))
    for x in iterable:
        perform(MarkovStep("step", history))
        yield x
    perform(MarkovStep("exit", history))


def markov(fn: Iterable | None = None, history: int = 1, keep: bool = False) -> Iterator:
    """Iterate over ``fn`` (an iterable, e.g. ``range(T)``) as a Markov chain of order
    ``history`` (see the module docstring). Only the iterator form is built.

    Example:
        >>> import jax.numpy as jnp, dists as D
        >>> from dists.util import vindex
        >>> from effects import run, sample
        >>> from handlers import config_enumerate, enum, markov, trace
        >>> trans = jnp.array([[0.9, 0.1], [0.2, 0.8]])
        >>> def hmm():
        ...     x = 0
        ...     for t in markov(range(5)):
        ...         x = sample(f"x{t}", D.Categorical(probs=vindex(trans, (x,))))
        >>> _, (_, tr) = run(config_enumerate(hmm), enum(first_available_dim=-1) >> trace())()
        >>> [tr[f"x{t}"].value.ndim for t in range(5)]  # two dims, used in turn
        [1, 2, 1, 2, 1]
    """
    if isinstance(history, bool) or not isinstance(history, int) or history < 0:
        raise ValueError(f"markov: history must be an int >= 0, got {history!r}.")
    if keep:
        raise NotImplementedError(
            "markov(keep=True) is not built. Fix: leave keep=False (the default)."
        )
    if fn is None or callable(fn):
        raise NotImplementedError(
            "markov is built as an iterator only: `for t in markov(range(T), history=k):`. "
            "Fix: loop over markov(range(T)) instead of using it as a context manager or "
            "a decorator."
        )
    return _chain(fn, history)


# ---------------------------------------------------------------------------------------
# Enumeration inside an effect-aware scan.

PREV = "_PREV_"


def lag_name(name: str, lag: int) -> str:
    """The name that labels the dim of enumerated site ``name`` as it was ``lag`` steps
    back (NumPyro's spelling: ``_PREV_x`` for one step back)."""
    return PREV * lag + name


def split_lag(name: str) -> tuple[str, int]:
    """``(site, lag)`` of a label made by :func:`lag_name`."""
    lag = 0
    while name.startswith(PREV):
        name, lag = name[len(PREV) :], lag + 1
    return name, lag


def _first(xs: Any) -> Any:
    return jax.tree.map(lambda a: a[0], xs)


def _shapes(tree: Any) -> list:
    return [(tuple(jnp.shape(a)), jnp.result_type(a)) for a in jax.tree.leaves(tree)]


class _Shift(eqx.Module):
    """Moves a carried value's enumeration dims one step back: the dim of lag ``j`` goes
    to lag ``j + 1``. A value that still depends on a variable ``history`` steps old has
    no dim to go to: refused, naming the site."""

    lags: tuple[tuple[int, ...], ...] = eqx.field(static=True)  # lags[j][i]: dim of var i
    names: tuple[str, ...] = eqx.field(static=True)

    def __call__(self, x: Any) -> Any:
        x = jnp.asarray(x)
        h = len(self.lags) - 1
        for name, d in zip(self.names, self.lags[h]):
            if -d <= x.ndim and x.shape[d] != 1:
                raise ValueError(
                    f"scan: the carry holds a value that depends on enumerated site "
                    f"'{name}' from {h} step(s) back, more than history={h} allows. Fix: "
                    f"pass history={h + 1} (or more) to scan, or carry only values of the "
                    "last history steps."
                )
        rank = max(-d for lag in self.lags for d in lag)
        if x.ndim < rank:
            if all(-d > x.ndim or x.shape[d] == 1 for lag in self.lags for d in lag):
                return x
            x = jnp.reshape(x, (1,) * (rank - x.ndim) + x.shape)
        perm = list(range(x.ndim))
        for j in range(h + 1):
            src, dst = self.lags[j], self.lags[(j + 1) % (h + 1)]
            for a, b in zip(src, dst):
                perm[x.ndim + b] = x.ndim + a
        return jnp.transpose(x, perm)


def enum_scan(handler: Any, msg: Any, state: Any) -> tuple[Any, Any]:
    """``enum``'s meaning for an effect-aware ``scan`` (a :class:`effects.Scan`).

    One step of the body is traced abstractly to find the sites it enumerates. If none,
    the scan keeps its default meaning. Otherwise each such site ``x`` keeps one dim at
    every step, and ``history`` more dims, labelled ``_PREV_x``, ``_PREV__PREV_x``, ...,
    hold the values of the steps before; after each step the carry's dims move one step
    back (:class:`_Shift`), so every step has the same shapes and the loop is one
    ``lax.scan``. The initial carry is broadcast to the steady shapes: along the dims of
    the steps before the first it holds copies of the initial value, and the contraction
    reads index 0 there (``inference._chain``). The dims are released when the loop ends.

    When the carry is steady (each of its leaves is computed afresh from none of the
    step's inputs, or passed through unchanged: an HMM whose carry is the enumerated
    state, which under enumeration is the support laid along the ``_PREV_`` dim), every
    step after the first sees the same carry, so the steps do not depend on each other:
    they run at once, ``vmap``-ed over time (``effects._control_flow._scan_steady``,
    which traces the body once), and only the contraction of the chain loops over time.
    Otherwise the body runs step by step in a ``lax.scan``. Both give the same factors.
    """
    from effects import _frame
    from effects._control_flow import ScanStep, _Body, _scan_default, _scan_steady

    if msg.value is not None:
        return msg, state
    frame = _frame.current_frame()
    assert frame is not None
    me = next(i for i, h in enumerate(frame.handlers) if h is handler)
    n = msg.length if msg.length is not None else jax.tree.leaves(msg.xs)[0].shape[0]
    x0 = None if msg.xs is None else _first(msg.xs)
    make = type(state)

    def probe(enum_state: Any, init: Any) -> tuple[Any, Any]:
        body, _, carried = _Body.of_frame()
        k = body.carry_idx.index(me)
        carried = carried[:k] + (enum_state,) + carried[k + 1 :]

        def one(carried, init, x):
            step = ScanStep(jnp.asarray(0), n)
            (c2, _), new, _ = body.run(carried, (step,), msg.fn, init, x)
            return c2, new[k]

        return jax.eval_shape(one, carried, init, x0)

    c2, after = probe(state, msg.init)
    new = [e for e in after.table.entries if e not in state.table.entries and e[2] == "enum"]
    if not new:
        return msg, state
    names = tuple(o for _, o, _ in new)
    if msg.reverse:
        raise NotImplementedError(
            f"scan(reverse=True) enumerates site(s) {list(names)}; an enumerated chain runs "
            "forwards only. Fix: reverse the data and scan forwards."
        )
    h = msg.history
    table = after.table
    lags = [tuple(d for d, _, _ in new)]
    dims = Dims(handler.max_plate_nesting)
    for j in range(1, h + 1):
        row = []
        for name in names:
            d = dims._enum_dim(AllocateDim(lag_name(name, j), "enum"), table)
            table = table.add(d, lag_name(name, j), "enum")
            row.append(d)
        lags.append(tuple(row))
    shift = _Shift(tuple(lags), names)
    inner = make(table, state.chains, msg.contraction)

    # The carry's steady shapes: the initial value broadcast with a step's output, moved
    # one step back (a second pass when the broadcast initial value enlarges the output).
    # The first pass reuses the discovery's output: the body's sites got the same dims
    # there as they hold in ``inner``.
    init = msg.init
    for attempt in range(4):
        if attempt:
            c2, _ = probe(inner, init)
        moved = jax.eval_shape(lambda c: jax.tree.map(shift, c), c2)
        target = jax.tree.map(
            lambda i, m: jax.ShapeDtypeStruct(jnp.broadcast_shapes(jnp.shape(i), m.shape), m.dtype),
            init,
            moved,
        )
        widened = jax.tree.map(
            lambda i, t: jnp.broadcast_to(jnp.asarray(i).astype(t.dtype), t.shape), init, target
        )
        if _shapes(widened) == _shapes(init):
            break
        init = widened
    else:
        raise ValueError(
            f"scan: the carry's shapes keep changing from step to step under enumeration of "
            f"{list(names)}. Fix: keep the carry's shapes fixed."
        )

    def body(c, x):
        c2, y = msg.fn(c, x)
        c2 = jax.tree.map(
            lambda a, t: jnp.broadcast_to(shift(a).astype(t.dtype), t.shape), c2, target
        )
        return c2, y

    now = _frame.current_frame()
    assert now is not None
    _frame.update(now.states[:me] + (inner,) + now.states[me + 1 :])
    out = _scan_steady(body, init, msg.xs, msg.length)
    if out is None:
        out = _scan_default(body, init, msg.xs, msg.length, msg.reverse, msg.unroll)
    return msg.replace(value=out), make(state.table, state.chains, state.contraction)
