"""The kernel protocol that the ``MCMC`` driver runs: ``MCMCKernel`` and ``Adaptation``.

A kernel is a pure init/step pair over positions (any pytree of arrays)::

    state = kernel.init(key, position, potential_fn)
    state, info = kernel.step(key, state, potential_fn, params)

``potential_fn(position)`` is the potential energy (the negative log density, up to a
constant). ``state`` is a pytree with a ``position`` attribute; ``info`` is a small
``eqx.Module`` (or a dict) of per-transition statistics, of which the scalar ones are kept
beside each draw. ``params`` are the tuning parameters (step size, mass matrix, proposal
scale, ...), which an :class:`Adaptation` tunes during warm-up, with its own init/step::

    adaptation = kernel.adaptation(position, num_warmup)
    astate = adaptation.init(key, position, state, potential_fn)
    for i in range(num_warmup):
        state, info = kernel.step(key_i, state, potential_fn, adaptation.params(astate))
        astate = adaptation.step(akey_i, astate, i, state, info, potential_fn)
    astate = adaptation.final(astate)

An adaptation with ``ensemble = True`` tunes one set of parameters from all chains at
once: its ``init`` and ``step`` see the positions, states and infos of every chain, with
a leading chain axis, and the driver then runs the chains together (``vectorized``).

The driver flattens a model's unconstrained sites into one vector, so the position that
``MCMC`` passes to a kernel is a flat 1-D array, and ``potential_fn`` takes one; a kernel
written with ``jax.tree`` operations works on either.
"""

from __future__ import annotations

import abc
import dataclasses
import math
from collections.abc import Callable
from typing import Any, ClassVar, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Int, PRNGKeyArray, PyTree

from ._init import as_strategy, init_to_uniform
from ._integrator import ChainPosition


class Adaptation(eqx.Module):
    """Abstract: how a kernel's tuning parameters are adapted during warm-up.

    Subclasses implement ``init``, ``step``, ``params`` and ``final``; all of them are pure
    functions of their arguments (an adaptation's own fields are static configuration).
    Set the class variable ``ensemble = True`` for an adaptation that pools all chains.
    """

    ensemble: ClassVar[bool] = False

    @abc.abstractmethod
    def init(
        self, key: PRNGKeyArray, position: PyTree, state: Any, potential_fn: Callable
    ) -> PyTree:
        """The adaptation state at the start of warm-up (or of sampling, with no warm-up).
        For an ensemble adaptation, ``position`` and ``state`` have a leading chain axis."""

    @abc.abstractmethod
    def step(
        self,
        key: PRNGKeyArray,
        adapt_state: PyTree,
        i: Int[ArrayLike, ""],
        state: Any,
        info: Any,
        potential_fn: Callable,
    ) -> PyTree:
        """The adaptation state after warm-up iteration ``i`` (0-based, traced), given the
        kernel's new ``state`` and its ``info`` (with a chain axis for an ensemble)."""

    @abc.abstractmethod
    def params(self, adapt_state: PyTree) -> PyTree:
        """The tuning parameters that ``kernel.step`` takes, read from the state."""

    @abc.abstractmethod
    def final(self, adapt_state: PyTree) -> PyTree:
        """The state to sample with, at the end of warm-up."""


class NoAdaptation(Adaptation):
    """No tuning: ``params`` is ``None`` (the kernel reads its own fixed settings).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> a = NoAdaptation()
        >>> a.params(a.init(jax.random.key(0), jnp.zeros(2), None, None)) is None
        True
    """

    def init(self, key, position, state, potential_fn):
        return None

    def step(self, key, adapt_state, i, state, info, potential_fn):
        return adapt_state

    def params(self, adapt_state):
        return None

    def final(self, adapt_state):
        return adapt_state


def _check_target(kernel: MCMCKernel) -> None:
    name = type(kernel).__name__
    if (kernel.model is None) == (kernel.potential_fn is None):
        raise ValueError(f"{name}: pass exactly one of `model` or `potential_fn`.")
    for field, fn in (("model", kernel.model), ("potential_fn", kernel.potential_fn)):
        if fn is not None and not callable(fn):
            raise TypeError(f"{name}: {field} must be callable, got {type(fn).__name__}.")


class MCMCKernel(eqx.Module):
    """Abstract base of every kernel that ``MCMC`` runs, the library's and a user's own.

    A kernel holds what it samples (``model``, or ``potential_fn`` on unconstrained
    positions; exactly one) and its own static settings as fields, and implements:

    * ``init(key, position, potential_fn) -> state``: a chain's state at ``position``;
      ``state.position`` is the position;
    * ``step(key, state, potential_fn, params) -> (state, info)``: one transition;
    * ``adaptation(position, num_warmup) -> Adaptation``: how ``params`` are tuned during
      warm-up (:class:`NoAdaptation` for none; ``position`` is one chain's unconstrained
      position, as a pytree, for its shapes).

    ``info_fields`` (a class variable) names the statistics of ``info`` that the driver
    keeps per draw (``get_extra_fields``); by default, every scalar one.
    ``vectorized()`` returns the kernel to use when the driver runs the chains under
    ``jax.vmap`` (a kernel may choose another memory layout there); by default itself.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> class Walk(MCMCKernel):
        ...     scale: float = eqx.field(static=True, kw_only=True, default=0.5)
        ...     def init(self, key, position, potential_fn):
        ...         return position
        ...     def step(self, key, state, potential_fn, params):
        ...         return state + self.scale * jax.random.normal(key, state.shape), {}
        ...     def adaptation(self, position, num_warmup):
        ...         return NoAdaptation()
        >>> k = Walk(potential_fn=lambda z: 0.5 * jnp.sum(z**2))
        >>> k.step(jax.random.key(0), jnp.zeros(2), k.potential_fn, None)[0].shape
        (2,)
    """

    # Data, not static: a model wrapped in handlers may hold arrays (``condition(model,
    # data)``); its arrays then enter compiled programs as arguments, not constants.
    model: Callable | None = None
    potential_fn: Callable | None = None
    init_strategy: Any = eqx.field(
        static=True, kw_only=True, default=init_to_uniform, converter=as_strategy
    )

    info_fields: ClassVar[tuple[str, ...] | None] = None

    def __check_init__(self) -> None:
        _check_target(self)

    @abc.abstractmethod
    def init(self, key: PRNGKeyArray, position: PyTree, potential_fn: Callable) -> Any:
        """The state of a chain at ``position``."""

    @abc.abstractmethod
    def step(
        self, key: PRNGKeyArray, state: Any, potential_fn: Callable, params: PyTree
    ) -> tuple[Any, Any]:
        """One transition from ``state``: the new state and its statistics."""

    @abc.abstractmethod
    def adaptation(self, position: PyTree, num_warmup: int) -> Adaptation:
        """The warm-up adaptation of this kernel's tuning parameters."""

    def vectorized(self) -> MCMCKernel:
        """The kernel to run when chains are batched by ``jax.vmap``."""
        return self


def scalar_info(kernel: MCMCKernel, info: Any) -> dict[str, Array]:
    """The per-draw statistics of ``info`` that the driver keeps: ``kernel.info_fields``
    if set, else every field that is a scalar array."""
    if isinstance(info, dict):
        items = dict(info)
    elif dataclasses.is_dataclass(info):
        items = {f.name: getattr(info, f.name) for f in dataclasses.fields(info)}
    elif hasattr(info, "_asdict"):
        items = dict(info._asdict())
    elif info is None:
        items = {}
    else:
        raise TypeError(
            f"{type(kernel).__name__}.step returned info of type {type(info).__name__}; "
            "expected an eqx.Module, a dataclass, a NamedTuple, a dict or None."
        )
    names = kernel.info_fields
    if names is not None:
        missing = [n for n in names if n not in items]
        if missing:
            raise ValueError(
                f"{type(kernel).__name__}.info_fields names {missing}, which its info "
                f"(fields {sorted(items)}) does not have."
            )
        return {n: jnp.asarray(items[n]) for n in names}
    return {
        n: jnp.asarray(v)
        for n, v in items.items()
        if isinstance(v, (jax.Array, np.ndarray, float, int, bool)) and jnp.ndim(v) == 0
    }


class FlatSpec(NamedTuple):
    """How a pytree position is ravelled into one vector (hashable: a static field)."""

    treedef: Any
    shapes: tuple[tuple[int, ...], ...]
    dtypes: tuple[Any, ...]

    def unravel(self, flat: Array) -> PyTree:
        leaves, start = [], 0
        for shape, dtype in zip(self.shapes, self.dtypes):
            size = math.prod(shape)
            leaves.append(flat[start : start + size].reshape(shape).astype(dtype))
            start += size
        return jax.tree.unflatten(self.treedef, leaves)

    def flat_potential(self, potential_fn: Callable) -> Callable[[Array], Array]:
        return lambda z: potential_fn(self.unravel(z))


def flatten_position(
    position: PyTree, potential_fn: Callable
) -> tuple[Array, Callable[[Array], Array], FlatSpec | None]:
    """A position as one flat vector, the potential on such vectors, and the spec to undo
    the ravelling (``None`` when the position already is a flat floating vector)."""
    if isinstance(position, (jax.Array, np.ndarray)) and np.ndim(position) == 1:
        return jnp.asarray(position), potential_fn, None
    leaves, treedef = jax.tree.flatten(position)
    leaves = [jnp.asarray(x) for x in leaves]
    if not leaves:
        raise ValueError("The position has no arrays: a kernel needs at least one dimension.")
    dtype = jnp.result_type(*leaves)
    if not jnp.issubdtype(dtype, jnp.floating):
        dtype = jnp.result_type(float)
    spec = FlatSpec(treedef, tuple(x.shape for x in leaves), tuple(x.dtype for x in leaves))
    flat = jnp.concatenate([jnp.ravel(x).astype(dtype) for x in leaves])
    return flat, spec.flat_potential(potential_fn), spec


class RavelledState(ChainPosition):
    """A chain's state on a ravelled position (see :class:`ChainPosition`); ``spec``
    (static) gives the pytree back, as ``position``."""

    spec: FlatSpec | None = eqx.field(static=True, default=None, kw_only=True)

    @property
    def position(self) -> PyTree:
        return self.z if self.spec is None else self.spec.unravel(self.z)
