"""The No-U-Turn Sampler: iterative, multinomial, with the generalised U-turn criterion.

One transition is one ``lax.while_loop`` over leapfrog steps (no recursion, no nested loop).
The trajectory grows by subtrees of ``1, 2, 4, ...`` leaves, each in a direction drawn at
random; a subtree ends when it is full, makes a U-turn or diverges, and is then merged into the
trajectory. Within a subtree the U-turn checks of all its sub-subtrees are done as leaves
arrive, from O(max_tree_depth) checkpoints, as in the iterative formulation of Phan, Pradhan
and Jankowiak (2019).

Sampling is multinomial (Betancourt 2017): within a subtree, progressive sampling with
probability proportional to ``exp(-H)``; at a merge, the biased progressive sampling that moves
to the new subtree with probability ``min(1, w_new / w_old)``.

Checkpoints. Number the leaves of a subtree ``n = 0, 1, ...`` in the order they are built.
The sub-subtree of ``2^k`` leaves that ends at leaf ``n`` is complete exactly when the ``k``
lowest bits of ``n`` are ones, so at an odd leaf the ``t = trailing_ones(n)`` sub-subtrees of
sizes ``2, 4, ..., 2^t`` complete. Their first leaves are the even leaves still "open", which
form a stack: an even leaf ``m`` is pushed at slot ``popcount(m)``, and at leaf ``n`` the
sub-subtree of size ``2^k`` starts at slot ``popcount(n) - k``. A checkpoint keeps the
momentum sum before its leaf (``prefix``) and the leaf's velocity ``vel = M^{-1} p``; with
``rho`` the running momentum sum, the sub-subtree from the checkpoint to the current leaf (with
velocity ``v``) has no U-turn when ``(rho - prefix) . vel > 0`` and ``(rho - prefix) . v > 0``.

Stan (>= 2.26) also checks, at every merge of a left half ``L`` and a right half ``R``, the
trajectories ``L + first(R)`` and ``last(L) + R``. Inside a subtree, the first is tested when
``first(R)`` is pushed (it is the start one slot up) and its result kept; ``last(L)`` is an odd
leaf, kept as an "end" checkpoint at the slot of ``L``'s start when ``L`` completes. At the
merge of a subtree into the trajectory, the same two checks use the first new leaf and the
old end the subtree grew from.

Speed. On small models a leapfrog step costs less than launching an XLA kernel, so the loop is
laid out for XLA's CPU runtime, which runs a loop body's kernels one after another (cheaply)
only when there are at most 8 of them, and otherwise dispatches them to a thread pool (about a
microsecond per step). XLA fuses a concatenation of at most 8 pieces, and it does not fuse an
expensive op (exp, log) into a kernel that reads its value more than once. So the whole state
is one 2-D array; a leaf is the potential, the new leaf rows, one reduction for every dot
product, one small kernel for every exp/log, uniform draw and decision, and one kernel that
writes the new state (``lax.optimization_barrier`` marks what to materialise once); and the
uniforms come from an unrolled counter-based Threefry (JAX lowers its own as a rolled loop).
The new state is the old one with rows replaced, each row reading the old state only at its
own position, so XLA updates it in place rather than copying it every leaf. The key lives in
the state too: as a loop invariant, XLA would hoist pieces of the Threefry out of the loop as
kernels of their own, all ready at the start of every transition.

Long rows (``d >= _LARGE_D``, or chains batched by ``jax.vmap``) change what is cheap:
there the leaf's dot products are one batched dot, and it writes only the rows that change,
each a slice updated in place; on short rows a product-and-sum and a select over the whole
state are fewer kernels. At d = 1000 that takes a leaf from 264 to about 40 microseconds;
with 1000 chains of eight schools under ``vmap``, from about 5 to 1.3 milliseconds.

On a larger model the leaf has more than 8 kernels, and XLA:CPU walks them as a graph: when
more than 8 are ready at once it hands half of them to its thread pool, which on two cores
costs some 25 microseconds per step and leaves a worker thread spinning on the other core.
The kernels ready at the start of a step are those that read only the loop state. The drift
``z + eps * M^{-1} p`` is cheap, so XLA would copy it into each of the model's first kernels
(one per constraining transform, say), all of them ready at once; so the drift divides by the
diagonal mass, which XLA computes once. On the HMM benchmark this takes the kernels ready at
the start of a leaf from 15 to 8, and (with a leaner stick-breaking transform) the time per
step from 109 to 80-90 microseconds. The same limit applies to the driver's loop over draws,
which is why its key split and its write of a draw are one kernel each.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, ArrayLike, Bool, Float, Int, PRNGKeyArray

from ._integrator import (
    _check_inverse_mass_matrix,
    counter_key,
    counter_momentum,
    counter_uniform,
    drift,
    evaluate_position,
    loop_mass,
    make_value_and_grad,
    velocity,
)
from ._protocol import RavelledState


class NUTSState(RavelledState):
    """The state of a NUTS chain (see :class:`inference.RavelledState`)."""


class NUTSInfo(eqx.Module):
    """What one NUTS transition reports.

    Attributes:
        num_steps: number of leapfrog steps taken (``<= 2^max_tree_depth - 1``).
        accept_prob: mean over the new points of ``min(1, exp(H_0 - H))`` (Stan's
            ``accept_stat__``); the statistic that step-size adaptation targets.
        diverging: whether the trajectory diverged (energy error above ``max_delta_energy``,
            or a non-finite potential or gradient).
        energy: Hamiltonian ``U + K`` at the selected point.
        potential_energy: ``U`` at the selected point.
        tree_depth: number of doublings merged into the trajectory (Stan's ``treedepth__``;
            a last subtree that turns or diverges is not counted).
        turning: whether the trajectory stopped because it made a U-turn (``False`` when it
            stopped at ``max_tree_depth`` or by divergence).
    """

    num_steps: Int[Array, ""]
    accept_prob: Float[Array, ""]
    diverging: Bool[Array, ""]
    energy: Float[Array, ""]
    potential_energy: Float[Array, ""]
    tree_depth: Int[Array, ""]
    turning: Bool[Array, ""]


# Rows of the loop state (each of width W = max(d + 1, 16)), then the checkpoints (2 rows each):
_CUR = 0  # z, p, v, z_grad of the point the next leaf is integrated from
_LEFT, _RIGHT = 4, 8  # the two ends of the trajectory, each rows z, p, v, z_grad
_TREE_PROP = 12  # z, z_grad of the trajectory's sampled point
_SUB_PROP = 14  # z, z_grad of the current subtree's sampled point
_RHO = 16  # momentum sum of the whole trajectory, current subtree included
_RHO0, _START_P, _START_V = 17, 18, 19  # rho, p and v where the current subtree began
_SCAL = 20
_KEY = 21  # the transition's Threefry key schedule, as 12 bytes (exact in any float dtype)
_ROWS = 22
# Scalars (row _SCAL; booleans and counts stored as floats):
_T_LOGW, _T_ACCEPT, _T_PROP_U, _T_PROP_H, _STEPS, _DEPTH, _DONE, _TURN, _DIV = range(9)
_S_LOGW, _S_PROP_U, _S_PROP_H, _NSUB, _GO_RIGHT, _SEAM = range(9, 15)
_MIN_WIDTH = 16
# From this many dimensions a leaf computes its dot products and writes its state in the
# forms that are fast for long rows (see _leaf_step).
_LARGE_D = 64
# Rows of the old state that a leaf reads into its block (:func:`_leaf_step`), picked from the
# first list where a row's condition holds and from the second otherwise: where the current
# subtree began (its start, at its first leaf), the scalars, the far end of the trajectory (the
# left one when growing right), rho, and the subtree's proposal.
# int32: JAX's gather adds an index to an int32 size, and strict promotion mixes no widths.
_PICK_IF = np.array(
    [_RHO, _CUR + 1, _CUR + 2, _SCAL, *range(_LEFT, _LEFT + 4), _RHO, _SUB_PROP, _SUB_PROP + 1],
    np.int32,
)
_PICK_ELSE = np.array(
    [_RHO0, _START_P, _START_V, _SCAL, *range(_RIGHT, _RIGHT + 4), _RHO, _SUB_PROP, _SUB_PROP + 1],
    np.int32,
)
# Rows of a leaf's block: the new leaf's z, p, v, z_grad and rho (0-4), then the picked rows
# (rho0, start p, start v at 5-7), then the bit counts of the leaf index.
_B_START, _B_SCAL, _B_FAR, _B_OLD_RHO, _B_OLD_SUB_PROP, _B_BITS = 5, 8, 9, 13, 14, 16
# Counter words that keep the uniform streams of one transition apart.
_LEAF, _DIRECTION, _MERGE, _MOMENTUM = range(4)


def _pad(x: Array, width: int) -> Array:
    return x if x.shape[-1] == width else jnp.pad(x, (0, width - x.shape[-1]))


def _row(values: dict[int, Any], width: int, dtype: Any) -> Array:
    """A row holding ``values`` at their columns and zeros elsewhere, built by selects."""
    idx = np.arange(width, dtype=np.int32)
    out = jnp.zeros((width,), dtype)
    for k, value in values.items():
        out = jnp.where(idx == k, jnp.asarray(value, dtype), out)
    return out


def _key_to_row(ckey: Array, width: int, dtype: Any) -> Array:
    """The 3 words of a counter key as 12 bytes, in a row of ``width`` floats."""
    shifts = np.array([[0, 8, 16, 24]], np.uint32)
    key_bytes = (ckey[:, None] >> shifts) & jnp.uint32(0xFF)
    return _pad(key_bytes.reshape(12).astype(dtype), width)


def _key_from_row(row: Array) -> Array:
    """Inverse of :func:`_key_to_row`."""
    key_bytes = row[:12].astype(jnp.uint32).reshape(3, 4)
    shifts = [jnp.uint32(k) for k in (0, 8, 16, 24)]
    return functools.reduce(operator.or_, [key_bytes[:, k] << shifts[k] for k in range(4)])


def _all_true(x: Array) -> Array:
    # An unrolled AND fuses with its producers, where a reduction would be a kernel of its own.
    return functools.reduce(operator.and_, [x[i] for i in range(x.shape[0])])


def _leaf_step(
    state: Array,
    potential_and_grad: Callable[[Array], tuple[Array, Array]],
    step_size: Array,
    inverse_mass_matrix: Array,
    mass: Array | None,
    energy_0: Array,
    max_delta_energy: Array,
    d: int,
    max_tree_depth: int,
    long_rows: bool,
) -> Array:
    """Add one leaf to the current subtree, and merge the subtree when it ends.

    ``long_rows`` (static) picks the layout for long rows of the state: many dimensions,
    or many chains under ``jax.vmap`` (see the module's docstring)."""
    D = max_tree_depth
    width = state.shape[1]
    dtype = state.dtype
    slots = np.arange(D, dtype=np.int32)
    ckpt_ids = np.arange(2 * D, dtype=np.int32)
    e_d = (np.arange(width) == d).astype(dtype)  # one-hot column d
    right_rows = (np.arange(8) >= 4)[:, None]  # rows of the right end among both ends
    # A finite stand-in for -inf log weights keeps the log-sum-exp free of inf - inf.
    big = jnp.asarray(jnp.finfo(dtype).max / 4, dtype)

    n = state[_SCAL, _NSUB].astype(jnp.int32)  # leaf index within the subtree
    go_right = state[_SCAL, _GO_RIGHT] > 0
    end = state[_CUR : _CUR + 4]

    # Leapfrog (velocity Verlet) from the end being extended: the one potential evaluation.
    eps = jnp.where(go_right, step_size, -step_size)
    p_half = end[1, :d] - (0.5 * eps) * end[3, :d]
    z = drift(end[0, :d], p_half, eps, inverse_mass_matrix, mass)
    potential, z_grad = potential_and_grad(z)
    p = p_half - (0.5 * eps) * z_grad
    v = velocity(inverse_mass_matrix, p)
    # The rows of the old state that the leaf needs (see _PICK_IF), in one gather: a
    # concatenation of more than 8 pieces would not fuse. The far end, rho and the subtree's
    # proposal move to other rows of the new state; reading them here into the block lets
    # that state be the old one updated in place.
    rows = np.arange(len(_PICK_IF))[:, None]
    picked = jnp.where(
        ((rows < 3) & (n == 0)) | ((rows >= 4) & (rows < 8) & go_right),
        state[_PICK_IF],
        state[_PICK_ELSE],
    )
    # The new rows, materialised once: z, p, v, z_grad, rho; the picked rows; and the bit
    # counts of n, so that later kernels read them rather than rederive them (XLA would
    # otherwise give these small values kernels of their own).
    bits = _row(
        {0: lax.population_count(n), 1: lax.population_count(n ^ (n + 1)) - 1}, width, dtype
    )
    block, potential = lax.optimization_barrier(
        (
            jnp.concatenate(
                [
                    jnp.stack([_pad(r, width) for r in (z, p, v, z_grad, state[_RHO, :d] + p)]),
                    picked,
                    bits[None],
                ]
            ),
            potential,
        )
    )
    n = block[_B_SCAL, _NSUB].astype(jnp.int32)
    depth = block[_B_SCAL, _DEPTH].astype(jnp.int32)
    new_sub = n == 0
    go_right = block[_B_SCAL, _GO_RIGHT] > 0
    pc = block[_B_BITS, 0].astype(jnp.int32)  # popcount(n)
    t = block[_B_BITS, 1].astype(jnp.int32)  # trailing ones of n: sub-subtrees completed here
    leaf, p, v, rho = block[:4], block[1], block[2], block[4]
    rho0, start_p, start_v = block[_B_START], block[_B_START + 1], block[_B_START + 2]
    ckpt = state[_ROWS:].reshape(2 * D, 2, width)
    far, old_rho = block[_B_FAR : _B_FAR + 4], block[_B_OLD_RHO]
    old_sub_prop = block[_B_OLD_SUB_PROP : _B_OLD_SUB_PROP + 2]
    far_v = far[2]

    # Every dot product of the leaf in one reduction. Each row r has a prefix P_r and a
    # velocity V_r and gives (rho - P_r) . v and (rho - P_r) . V_r: the checkpoints, then five
    # extra rows for p . v, (rho . v, rho . far_v), the check of the last old point plus the
    # subtree (P = rho0 - start_p, V = start_v), and rho against both new ends.
    r = np.arange(5)[:, None]
    zeros = jnp.zeros_like(v)
    extra_p = jnp.where(r == 0, old_rho, jnp.where(r == 2, rho0 - start_p, zeros))
    v_left = jnp.where(go_right, far_v, v)
    v_right = jnp.where(go_right, v, far_v)
    extra_v = jnp.where(
        r == 1,
        far_v,
        jnp.where(r == 2, start_v, jnp.where(r == 3, v_left, jnp.where(r == 4, v_right, zeros))),
    )
    diff = rho[None, :d] - jnp.concatenate([ckpt[:, 0, :d], extra_p[:, :d]])
    vels = jnp.concatenate([ckpt[:, 1, :d], extra_v[:, :d]])
    both = jnp.stack([jnp.broadcast_to(v[:d], diff.shape), vels], axis=1)
    if long_rows:
        # On long rows XLA:CPU hands the product-and-sum to YNNPACK, slow inside this loop
        # (128 of a leaf's 264 microseconds at d = 1000); a batched dot is not (5).
        dots = jnp.einsum("rd,rkd->rk", diff, both)
    else:
        dots = jnp.sum(diff[:, None] * both, axis=-1)
    pv, rv = dots[2 * D, 0], dots[2 * D + 1, 0]
    # The U-turn test from each checkpoint to this leaf (True: no U-turn).
    ok = (dots[: 2 * D, 0] > 0) & (dots[: 2 * D, 1] > 0)

    energy = potential + 0.5 * pv
    # A NaN or infinite energy (from the potential or its gradient) is a divergence.
    log_w = -jnp.where(jnp.isfinite(energy), energy - energy_0, big)
    sub_logw = jnp.where(new_sub, -big, block[_B_SCAL, _S_LOGW])
    top = jnp.maximum(sub_logw, log_w)
    tree_logw = block[_B_SCAL, _T_LOGW]
    most = jnp.maximum(tree_logw, top)

    level = pc - slots  # start slot j begins the completed sub-subtree of 2^level leaves
    # The sub-subtree from start slot j completes here (level in [1, t]); at a merge
    # (level >= 2) Stan's extra checks of its two halves apply too.
    slot_ok = ((level < 1) | (level > t) | ok[:D]) & (
        (level < 2) | (level > t) | (ok[D:] & (ckpt[1 : D + 1, 0, d] > 0.5))
    )
    seam_ok = jnp.where(new_sub, (dots[2 * D + 1, 1] > 0) & (rv > 0), block[_B_SCAL, _SEAM] > 0)
    merge_ok = (
        seam_ok
        & (dots[2 * D + 2, 0] > 0)
        & (dots[2 * D + 2, 1] > 0)
        & (dots[2 * D + 3, 1] > 0)
        & (dots[2 * D + 4, 1] > 0)
    )
    # The test from the start one slot below to this leaf, kept if this leaf is pushed.
    below_ok = functools.reduce(
        operator.or_, [(pc - 1 == j) & (jnp.minimum(dots[j, 0], dots[j, 1]) > 0) for j in range(D)]
    )
    counters = jnp.stack([block[_B_SCAL, _STEPS].astype(jnp.int32), depth, depth + 1])
    # The key is read from the loop state: as a loop invariant, XLA would hoist parts of the
    # Threefry out of the loop into kernels of their own, run before every transition.
    ckey = _key_from_row(state[_KEY])
    words = np.array([_LEAF, _MERGE, _DIRECTION], np.uint32)
    # Every exp/log, uniform draw and decision of the leaf, in one small kernel.
    ex = lax.optimization_barrier(
        jnp.concatenate(
            [
                jnp.exp(
                    jnp.stack(
                        [
                            sub_logw - top,
                            log_w - top,
                            jnp.minimum(log_w, 0.0),
                            sub_logw - tree_logw,
                            log_w - tree_logw,
                        ]
                    )
                ),
                jnp.log1p(jnp.exp(-jnp.abs(sub_logw - log_w)))[None],
                (
                    most
                    + jnp.log(
                        jnp.exp(tree_logw - most) + jnp.exp(sub_logw - most) + jnp.exp(log_w - most)
                    )
                )[None],
                counter_uniform(ckey, counters, words, dtype),
                jnp.stack([_all_true(slot_ok), below_ok, seam_ok, merge_ok]).astype(dtype),
            ]
        )
    )
    # ex: 0-1 subtree weights (old, leaf) over exp(top); 2 accept stat; 3 subtree weight over
    # the trajectory's; 5 log1p term of the subtree's log weight; 6 merged log weight;
    # 7-9 uniforms (leaf, merge, next direction); 10-13 decisions.
    take_leaf = ex[7] * (ex[0] + ex[1]) < ex[1]
    sub_turn = ex[10] == 0
    sub_div = -log_w > max_delta_energy
    sub_done = sub_turn | sub_div | (n + 1 == jnp.left_shift(1, depth))
    valid = ~sub_turn & ~sub_div
    take_sub = sub_done & valid & (ex[8] < ex[3] + ex[4])
    top_turn = sub_done & valid & (ex[13] == 0)
    # As Stan's treedepth__: the doublings merged (a subtree that turns or diverges is not).
    new_depth = depth + (sub_done & valid).astype(jnp.int32)
    done = sub_done & (~valid | top_turn | (new_depth >= D))
    sub_prop_u = jnp.where(take_leaf, potential, block[_B_SCAL, _S_PROP_U])
    sub_prop_h = jnp.where(take_leaf, energy, block[_B_SCAL, _S_PROP_H])
    scalars = _row(
        {
            _T_LOGW: jnp.where(sub_done & valid, ex[6], tree_logw),
            _T_ACCEPT: block[_B_SCAL, _T_ACCEPT] + ex[2],
            _T_PROP_U: jnp.where(take_sub, sub_prop_u, block[_B_SCAL, _T_PROP_U]),
            _T_PROP_H: jnp.where(take_sub, sub_prop_h, block[_B_SCAL, _T_PROP_H]),
            _STEPS: block[_B_SCAL, _STEPS] + 1,
            _DEPTH: new_depth,
            _DONE: done,
            _TURN: sub_turn | top_turn,
            _DIV: sub_div,
            _S_LOGW: top + ex[5],
            _S_PROP_U: sub_prop_u,
            _S_PROP_H: sub_prop_h,
            _NSUB: jnp.where(sub_done, 0, n + 1),
            _GO_RIGHT: jnp.where(sub_done, ex[9] < 0.5, go_right),
            _SEAM: seam_ok,
        },
        width,
        dtype,
    )
    leaf_prop = leaf[np.array([0, 3])]
    sub_prop = jnp.where(take_leaf, leaf_prop, old_sub_prop)

    # Even leaves push a start checkpoint at slot popcount(n) (keeping the test of the start
    # below it to this leaf); odd leaves keep an end checkpoint at the slot of the largest
    # sub-subtree they complete.
    slot = jnp.where((n & 1) == 0, pc, D + pc - t)
    new_ckpt = jnp.stack([old_rho + ex[11] * e_d, v])
    # The next leaf grows from this one, or from the far end if a new subtree turns back.
    turn_back = sub_done & ((ex[9] < 0.5) != go_right)
    if long_rows:
        # Write only the rows that change, in place. The select below evaluates every element
        # of the state, 22 + 4 * max_tree_depth rows of d + 1, at about a nanosecond each
        # (75 microseconds a leaf at d = 1000, against 7 for these writes).
        upper = jnp.concatenate(
            [
                jnp.where(take_sub, sub_prop, state[_TREE_PROP : _TREE_PROP + 2]),
                jnp.where(take_leaf, leaf_prop, old_sub_prop),
                block[4:8],
                scalars[None],
            ]
        )
        row = lambda r: jnp.asarray(r, jnp.int32)  # noqa: E731
        zero = row(0)
        out = lax.dynamic_update_slice(state, upper, (row(_TREE_PROP), zero))
        out = lax.dynamic_update_slice(out, jnp.where(turn_back, far, leaf), (row(_CUR), zero))
        end_row = jnp.where(go_right, row(_RIGHT), row(_LEFT))
        out = lax.dynamic_update_slice(out, leaf, (end_row, zero))
        return lax.dynamic_update_slice(out, new_ckpt, (row(_ROWS + 2 * slot), zero))
    # The new state is the old one with some rows replaced. Each row reads the old state only
    # at its own position, so XLA updates the loop state in place (no copy per leaf).
    new_rows = jnp.concatenate(
        [
            jnp.where(turn_back, far, leaf),
            leaf,
            leaf,
            sub_prop,
            leaf_prop,
            block[4:8],
            jnp.broadcast_to(scalars, (2, width)),  # the scalars, and the key (not written)
            jnp.broadcast_to(new_ckpt[None], (2 * D, 2, width)).reshape(4 * D, width),
        ]
    )
    replace = jnp.concatenate(
        [
            jnp.ones(4, bool),
            jnp.asarray(right_rows[:, 0]) == go_right,
            jnp.broadcast_to(take_sub, (2,)),
            jnp.broadcast_to(take_leaf, (2,)),
            jnp.ones(5, bool),
            jnp.zeros(1, bool),  # the key
            jnp.repeat(ckpt_ids == slot, 2),
        ]
    )
    return jnp.where(replace[:, None], new_rows, state)


def nuts_init(
    position_flat: Float[ArrayLike, " d"],
    potential_fn_flat: Callable[[Array], ArrayLike],
    step_size: ArrayLike | None = None,
    inverse_mass_matrix: ArrayLike | None = None,
) -> NUTSState:
    """Start a NUTS chain at ``position_flat``.

    Args:
        position_flat: flat unconstrained position, shape ``(d,)``.
        potential_fn_flat: ``potential_fn_flat(z) -> scalar`` on flat vectors (see
            :func:`inference._integrator.flatten_potential`).
        step_size, inverse_mass_matrix: accepted for symmetry with :func:`nuts_kernel`;
            the state does not depend on them.

    Returns:
        A :class:`NUTSState` holding the position, its potential and its gradient.

    Example:
        >>> import jax.numpy as jnp
        >>> s = nuts_init(jnp.zeros(2), lambda z: 0.5 * jnp.sum(z**2))
        >>> s.potential_energy
        Array(0., dtype=float32)
    """
    del step_size, inverse_mass_matrix
    return NUTSState(*evaluate_position(position_flat, potential_fn_flat))


def nuts_kernel(
    key: PRNGKeyArray,
    state: NUTSState,
    potential_fn_flat: Callable[[Array], ArrayLike],
    step_size: ArrayLike,
    inverse_mass_matrix: ArrayLike,
    max_tree_depth: int = 10,
    max_delta_energy: ArrayLike = 1000.0,
    batched: bool = False,
) -> tuple[NUTSState, NUTSInfo]:
    """One NUTS transition (multinomial sampling, generalised U-turn criterion).

    Args:
        key: PRNG key.
        state: current :class:`NUTSState`.
        potential_fn_flat: ``potential_fn_flat(z) -> scalar`` on flat vectors. It is called
            through ``jax.value_and_grad`` once per leapfrog step.
        step_size: leapfrog step size, a positive scalar.
        inverse_mass_matrix: shape ``(d,)`` (diagonal) or ``(d, d)`` (dense).
        max_tree_depth: static; at most ``max_tree_depth`` doublings, so at most
            ``2^max_tree_depth - 1`` leapfrog steps.
        max_delta_energy: an energy error ``H - H_0`` above this is a divergence.
        batched: static; ``True`` when the transition runs under ``jax.vmap`` over chains.
            The leaf then takes its layout for long rows, several times faster there (as
            it is from 64 dimensions on); the transitions are the same up to rounding.

    Returns:
        ``(new_state, info)`` with ``info`` a :class:`NUTSInfo`. A divergence is reported in
        ``info.diverging``; the state then is a point of the trajectory before it diverged,
        always finite.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> f = lambda z: 0.5 * jnp.sum(z**2)
        >>> s = nuts_init(jnp.zeros(3), f)
        >>> s, info = nuts_kernel(jax.random.key(0), s, f, 0.5, jnp.ones(3))
        >>> s.z.shape, bool(info.num_steps <= 1023)
        ((3,), True)
    """
    if not isinstance(max_tree_depth, int) or not 1 <= max_tree_depth <= 24:
        raise ValueError(
            f"max_tree_depth must be a Python int in [1, 24] (it fixes the compiled program), "
            f"got {max_tree_depth!r}."
        )
    z = state.z
    dtype = z.dtype
    d = z.shape[0]
    width = max(d + 1, _MIN_WIDTH)
    imm = jnp.asarray(inverse_mass_matrix, dtype)
    _check_inverse_mass_matrix(imm, d)
    step_size = jnp.asarray(step_size, dtype)
    max_delta_energy = jnp.asarray(max_delta_energy, dtype)
    potential_and_grad = make_value_and_grad(potential_fn_flat, dtype)
    D = max_tree_depth
    u0 = state.potential_energy

    # All randomness of the transition is Threefry of the key on distinct counters.
    ckey = counter_key(key)
    p0 = counter_momentum(ckey, _MOMENTUM, imm, dtype)
    v0 = velocity(imm, p0)
    energy_0 = u0 + 0.5 * jnp.dot(p0, v0)
    go_right = counter_uniform(ckey, jnp.zeros((), jnp.int32), jnp.uint32(_DIRECTION), dtype) < 0.5

    # Both ends start at the initial point (z, p, v, z_grad), and so does the proposal.
    point = jnp.stack([_pad(r, width) for r in (z, p0, v0, state.z_grad)])
    scalars = _row(
        {_T_PROP_U: u0, _T_PROP_H: energy_0, _GO_RIGHT: go_right, _SEAM: 1.0}, width, dtype
    )
    init = jnp.concatenate(
        [
            jnp.broadcast_to(point[None], (3, 4, width)).reshape(12, width),
            point[np.array([0, 3, 0, 3, 1, 1, 1, 2])],  # proposals, rho = p, start
            scalars[None],
            _key_to_row(ckey, width, dtype)[None],
            jnp.zeros((4 * D, width), dtype),
        ]
    )
    final = lax.while_loop(
        lambda state: state[_SCAL, _DONE] == 0,
        functools.partial(
            _leaf_step,
            potential_and_grad=potential_and_grad,
            step_size=step_size,
            inverse_mass_matrix=imm,
            mass=loop_mass(imm),
            energy_0=energy_0,
            max_delta_energy=max_delta_energy,
            d=d,
            max_tree_depth=D,
            long_rows=batched or d >= _LARGE_D,
        ),
        init,
    )
    s = final[_SCAL]
    info = NUTSInfo(
        num_steps=s[_STEPS].astype(jnp.int32),
        accept_prob=s[_T_ACCEPT] / jnp.maximum(s[_STEPS], 1.0),
        diverging=s[_DIV] > 0,
        energy=s[_T_PROP_H],
        potential_energy=s[_T_PROP_U],
        tree_depth=s[_DEPTH].astype(jnp.int32),
        turning=s[_TURN] > 0,
    )
    new_state = NUTSState(final[_TREE_PROP, :d], s[_T_PROP_U], final[_TREE_PROP + 1, :d])
    return new_state, info
