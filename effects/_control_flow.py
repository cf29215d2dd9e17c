"""Effect-aware control flow: ``scan`` and ``cond`` whose bodies may perform effects.

Both are effects (:class:`Scan`, :class:`Cond`), so a handler can give them another
meaning (unroll a scan, contract an enumerated chain by an associative scan, ...). Their
default meaning, described below, is what runs when no handler gives them a value.

The handlers in force are threaded through ``lax.scan``/``lax.cond``. Handlers with
``scan_mode == "carry"`` carry their state through the loop. Handlers with
``scan_mode == "stack"`` start each step with a fresh state; the step states are stacked
along time as scan outputs and folded back with ``Handler.merge``. So a trace inside
``scan`` holds each site stacked along time.

Each site inside the body gets the step number in ``msg.indices`` (outermost loop first),
so ``seed`` gives each step its own randomness and ``condition``/``substitute`` can take
time-stacked values.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
from jax import lax
from jax.extend.core import Var, jaxpr_as_fun

from . import _frame
from ._handler import Handler
from ._messages import Effect
from ._runtime import perform


class ScanStep(Handler):
    """Tags every indexed message performed in a scan body with the step number
    (``length``: the scan's number of steps, static)."""

    handles: ClassVar = (Effect,)
    step: jax.Array
    length: int = eqx.field(static=True, default=-1)

    def process(self, msg, state):
        if msg.indexed:
            msg = msg.replace(indices=(self.step,) + tuple(msg.indices))
        return msg, state


def scan_lengths() -> tuple[int, ...]:
    """The lengths of the effect-aware scans enclosing the current point, outermost first
    (the order of a message's ``indices``)."""
    return tuple(h.length for h in reversed(_frame.in_force()) if isinstance(h, ScanStep))


def _as_carry(x: Any) -> Any:
    # Carried states must keep dtype and weak type fixed across iterations.
    return jax.tree.map(lambda a: jnp.asarray(a, dtype=jnp.result_type(a)), x)


class _Body(eqx.Module):
    """How the handlers in force cross a loop or branch body: those with ``scan_mode ==
    "carry"`` carry their states through it; the others start each step afresh, and their
    step states come out of the body to be stacked (scan) or selected (cond), then folded
    back with ``Handler.merge``."""

    handlers: tuple[Handler, ...]
    carry_idx: tuple[int, ...] = eqx.field(static=True)

    @staticmethod
    def of_frame() -> tuple[_Body, tuple[Any, ...], tuple[Any, ...]]:
        """The body for the frame in force, its states and the carried part of them."""
        frame = _frame.current_frame()
        assert frame is not None
        idx = tuple(i for i, h in enumerate(frame.handlers) if h.scan_mode == "carry")
        return (
            _Body(frame.handlers, idx),
            frame.states,
            tuple(_as_carry(frame.states[i]) for i in idx),
        )

    def run(self, carried: tuple, extra: tuple[Handler, ...], fn: Callable, *args: Any):
        """``fn(*args)`` under ``extra + handlers``, with the carried states and fresh
        ones for the rest; returns its value, the new carried states and the fresh
        handlers' step states."""
        it = iter(carried)
        states = tuple(
            next(it) if i in self.carry_idx else h.init_state() for i, h in enumerate(self.handlers)
        )
        with _frame.scoped(
            tuple(extra) + self.handlers,
            (None,) * len(extra) + states,
            "an effect-aware scan or cond body",
            replace=True,
        ) as scope:
            out = fn(*args)
        new = scope.states[len(extra) :]
        fresh = tuple(new[i] for i in range(len(self.handlers)) if i not in self.carry_idx)
        return out, tuple(_as_carry(new[i]) for i in self.carry_idx), fresh

    def join(self, states: tuple, carried: tuple, fresh: tuple) -> tuple:
        """The frame's states after the body: carried ones as they came out, the others
        folded back by ``merge``."""
        ci, fi = iter(carried), iter(fresh)
        return tuple(
            next(ci) if i in self.carry_idx else h.merge(states[i], next(fi))
            for i, h in enumerate(self.handlers)
        )


def _scan_default(f, init, xs, length, reverse, unroll):
    if not _frame.in_force():
        return lax.scan(f, init, xs, length=length, reverse=reverse, unroll=unroll)
    body_of, states, carried0 = _Body.of_frame()
    n = length if length is not None else jax.tree.leaves(xs)[0].shape[0]

    def body(carry, x):
        c, carried, t = carry
        step = (n - 1 - t) if reverse else t
        (c2, y), new_carried, fresh = body_of.run(carried, (ScanStep(step, n),), f, c, x)
        return (c2, new_carried, t + 1), (y, fresh)

    (c_final, carried, _), (ys, fresh) = lax.scan(
        body, (init, carried0, jnp.asarray(0)), xs, length=length, reverse=reverse, unroll=unroll
    )
    _frame.update(body_of.join(states, carried, fresh))
    return c_final, ys


def _depends(closed: Any, inputs: Any) -> list[bool]:
    """For each output of ``closed`` (a ``ClosedJaxpr``), whether it may depend on the
    inputs at positions ``inputs`` (conservatively: an equation with any such input taints
    all its outputs). Its constants (values closed over from outside) are not inputs."""
    jaxpr = closed.jaxpr
    tainted = {jaxpr.invars[i] for i in inputs}

    def hit(v: Any) -> bool:
        return isinstance(v, Var) and v in tainted

    for eqn in jaxpr.eqns:
        if any(hit(v) for v in eqn.invars):
            tainted.update(eqn.outvars)
    return [hit(v) for v in jaxpr.outvars]


def _steady_plan(closed: Any, n_state: int, n_carry: int, n_in: int) -> bool:
    """Whether every step of an effect-aware scan can run at once (vmapped over time),
    from the jaxpr ``closed`` of one step, ``(carried states, carry, x, t) -> (carry,
    carried states, ...)`` (``n_state``, ``n_carry``, ``n_in``: the numbers of leaves):
    each leaf of the carry that comes out of the body depends on none of its inputs (the
    carry, the step's slice of ``xs``, the step number, the handlers' states) or is the
    same leaf passed through unchanged, and the handlers that carry their states through
    the loop leave them as they came in. Then the carry into every step after the first
    is one and the same value, and the steps do not depend on each other."""
    ins, outs = closed.jaxpr.invars, closed.jaxpr.outvars
    if len(ins) != n_in or len(outs) < n_carry + n_state:
        return False
    carry_in, carry_out = ins[n_state : n_state + n_carry], outs[:n_carry]
    # Each leaf of the carry is computed afresh from none of the inputs, or passed
    # through unchanged (then it holds its initial value at every step).
    fresh = _depends(closed, range(n_in))[:n_carry]
    if any(d and a is not b for d, a, b in zip(fresh, carry_in, carry_out)):
        return False
    # The carried states must come out as the very inputs that went in.
    return all(a is b for a, b in zip(ins[:n_state], outs[n_carry : n_carry + n_state]))


def _scan_steady(f, init, xs, length):
    """An effect-aware scan run with all its steps at once (``vmap`` over time), when
    :func:`_steady_plan` allows it; otherwise ``None``. The same values and handler states
    as :func:`_scan_default` (forwards only).

    The body is traced once, to a jaxpr of one step (which also decides the plan), and
    that jaxpr is evaluated twice: at the first step, with the initial carry, and at
    every step, ``vmap``-ed over time, with the steady carry (the first step's carry out,
    the same at every later step). Of the first evaluation only the carry and the outputs
    that depend on the carry are used (the rest is dropped when compiled); the others
    come from the second. So what does not depend on the carry (the observations'
    factors, say) is computed once for all steps, and what depends on it but not on the
    step (a transition table) once per carry, not once per step."""
    n = length if length is not None else jax.tree.leaves(xs)[0].shape[0]
    if n < 2:
        return None
    body_of, states, carried0 = _Body.of_frame()
    x0 = None if xs is None else jax.tree.map(lambda a: a[0], xs)

    def step(carried, c, x, t):
        (c2, y), new, fresh = body_of.run(carried, (ScanStep(t, n),), f, c, x)
        return c2, new, (y, fresh)

    args = (carried0, init, x0, jnp.asarray(0))
    closed, shapes = jax.make_jaxpr(step, return_shape=True)(*args)
    flat_args = jax.tree.leaves(args)
    n_state, n_carry = len(jax.tree.leaves(carried0)), len(jax.tree.leaves(init))
    if not _steady_plan(closed, n_state, n_carry, len(flat_args)):
        return None
    evaluate = jaxpr_as_fun(closed)
    treedef = jax.tree.structure(shapes)
    first = evaluate(*flat_args)
    c1, carried, _ = jax.tree.unflatten(treedef, first)

    def every(t, x):
        return evaluate(*jax.tree.leaves((carried0, c1, x, t)))

    ts = jnp.arange(n, dtype=jnp.result_type(args[3]))
    steady = jax.vmap(every)(ts, xs)
    # The outputs (after the carry and the states) that depend on the carry take their
    # first step from the first evaluation.
    carry_idx = range(n_state, n_state + n_carry)
    uses_carry = _depends(closed, carry_idx)
    out = [
        jnp.concatenate([jnp.asarray(a)[None].astype(b.dtype), b[1:]]) if d else b
        for a, b, d in zip(first, steady, uses_carry)
    ]
    out = out[n_carry + n_state :]
    ys, fresh = jax.tree.unflatten(jax.tree.structure(shapes[2]), out)
    _frame.update(body_of.join(states, carried, fresh))
    return c1, ys


def _cond_default(pred, true_fun, false_fun, operands):
    if not _frame.in_force():
        return lax.cond(pred, true_fun, false_fun, *operands)
    body_of, states, carried0 = _Body.of_frame()

    def branch(fn):
        return lambda carried, *ops: body_of.run(carried, (), fn, *ops)

    try:
        out, carried, fresh = lax.cond(
            pred, branch(true_fun), branch(false_fun), carried0, *operands
        )
    except TypeError as e:
        raise ValueError(
            "effects.cond: the two branches perform different sites or give them different "
            "shapes, so the handlers' states differ between branches. Fix: make both "
            f"branches perform the same named sites with the same shapes. ({e})"
        ) from e
    _frame.update(body_of.join(states, carried, fresh))
    return out


class Scan(Effect):
    """An effect-aware ``scan`` (see :func:`scan`): its ``value`` is ``(carry, ys)``.

    A handler that gives it a value (say, by running ``fn`` in a Python loop, or by an
    associative scan) replaces the default meaning; the fields are ``lax.scan``'s
    arguments. Anonymous unless ``name`` is given, so ``trace`` does not record it.
    """

    type_name: ClassVar[str] = "scan"
    has_default: ClassVar[bool] = True

    fn: Callable = eqx.field(static=True)
    init: Any
    xs: Any
    length: int | None = eqx.field(static=True, default=None)
    reverse: bool = eqx.field(static=True, default=False)
    unroll: int | bool = eqx.field(static=True, default=1)
    history: int = eqx.field(static=True, default=1)
    contraction: str = eqx.field(static=True, default="auto")
    name: str | None = eqx.field(static=True, default=None)
    value: Any = None
    stop: bool = eqx.field(static=True, default=False)

    def default(self) -> Scan:
        if self.value is not None:
            return self
        out = _scan_default(self.fn, self.init, self.xs, self.length, self.reverse, self.unroll)
        return self.replace(value=out)


class Cond(Effect):
    """An effect-aware ``cond`` (see :func:`cond`): its ``value`` is the taken branch's."""

    type_name: ClassVar[str] = "cond"
    has_default: ClassVar[bool] = True

    pred: Any
    true_fun: Callable = eqx.field(static=True)
    false_fun: Callable = eqx.field(static=True)
    operands: tuple
    name: str | None = eqx.field(static=True, default=None)
    value: Any = None
    stop: bool = eqx.field(static=True, default=False)

    def default(self) -> Cond:
        if self.value is not None:
            return self
        out = _cond_default(self.pred, self.true_fun, self.false_fun, self.operands)
        return self.replace(value=out)


def scan(
    f: Callable,
    init: Any,
    xs: Any,
    length: int | None = None,
    reverse: bool = False,
    unroll: int | bool = 1,
    history: int = 1,
    contraction: str = "auto",
) -> tuple[Any, Any]:
    """``lax.scan`` whose body ``f(carry, x) -> (carry, y)`` may perform effects
    (NumPyro's ``numpyro.contrib.control_flow.scan``).

    Outside any handler it is exactly ``lax.scan``. Under handlers, traces hold each site
    of the body stacked along a leading time axis, and ``seed`` gives each step its own key.
    It performs a :class:`Scan` effect, so a handler may give the loop another meaning.

    Under ``handlers.enum``, the body's sites marked for enumeration are enumerated at
    every step: the loop is a Markov chain of order ``history`` (a step may use the
    enumerated values of the last ``history`` steps only, through the carry), and its
    dims are the same at every step (``history + 1`` per enumerated site, whatever the
    length). The chain is summed out over time by ``inference.contract_factors``:
    ``contraction="parallel"`` multiplies the steps' transition tables pairwise in a tree
    (``O(log T)`` depth), ``"sequential"`` runs the forward algorithm step by step
    (``lax.scan``), and ``"auto"`` (the default) picks the sequential pass on CPU and the
    parallel one on an accelerator (the rule in ``inference._chain.choose``, from the
    timings in benchmarks/RESULTS_ENUM.md). Where the carry is steady (every leaf computed
    from none of the step's inputs, or passed through unchanged, as in an HMM that carries
    only its enumerated state), the body's steps run at once, vectorised over time, and
    only the chain's contraction loops; ``unroll`` then has no effect.
    """
    if isinstance(history, bool) or not isinstance(history, int) or history < 1:
        raise ValueError(f"scan: history must be an int >= 1, got {history!r}.")
    if contraction not in ("auto", "parallel", "sequential"):
        raise ValueError(
            f"scan: contraction must be 'auto', 'parallel' or 'sequential', got {contraction!r}."
        )
    msg = Scan(
        f,
        init,
        xs,
        length=length,
        reverse=reverse,
        unroll=unroll,
        history=history,
        contraction=contraction,
    )
    return perform(msg).value


def cond(pred: Any, true_fun: Callable, false_fun: Callable, *operands: Any) -> Any:
    """``lax.cond`` whose branches may perform effects.

    Both branches must perform the same sites with the same shapes, so that the handlers'
    states have one structure; the trace then holds the taken branch's values. It performs
    a :class:`Cond` effect, so a handler may give the branch another meaning.
    """
    return perform(Cond(pred, true_fun, false_fun, tuple(operands))).value
