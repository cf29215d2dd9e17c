"""User-facing kernel configurations: ``NUTS`` and ``HMC``.

These are immutable descriptions of a sampler (NumPyro's constructor arguments). The pure
init/step functions live in ``_nuts.py``, ``_hmc.py`` and ``_adaptation.py``; the ``MCMC``
driver runs them in one compiled loop.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import equinox as eqx

from ._init import as_strategy, init_to_uniform


def _check_prob(name: str, value: float) -> float:
    if not (isinstance(value, (int, float)) and 0.0 < float(value) < 1.0):
        raise ValueError(f"{name} must be a number strictly between 0 and 1, got {value!r}.")
    return float(value)


class _Kernel(eqx.Module):
    """Shared configuration of the gradient-based kernels."""

    model: Callable | None = eqx.field(static=True)
    potential_fn: Callable | None = eqx.field(static=True)
    step_size: float = eqx.field(static=True)
    adapt_step_size: bool = eqx.field(static=True)
    adapt_mass_matrix: bool = eqx.field(static=True)
    dense_mass: bool = eqx.field(static=True)
    target_accept_prob: float = eqx.field(static=True)
    init_strategy: Any = eqx.field(static=True)
    find_heuristic_step_size: bool = eqx.field(static=True)
    regularize_mass_matrix: bool = eqx.field(static=True)

    def _init_common(
        self,
        model,
        potential_fn,
        step_size,
        adapt_step_size,
        adapt_mass_matrix,
        dense_mass,
        target_accept_prob,
        init_strategy,
        find_heuristic_step_size,
        regularize_mass_matrix,
    ):
        if (model is None) == (potential_fn is None):
            raise ValueError(
                f"{type(self).__name__}: pass exactly one of `model` or `potential_fn`."
            )
        for name, fn in (("model", model), ("potential_fn", potential_fn)):
            if fn is not None and not callable(fn):
                raise TypeError(
                    f"{type(self).__name__}: {name} must be callable, got {type(fn).__name__}."
                )
        if not (isinstance(step_size, (int, float)) and step_size > 0):
            raise ValueError(f"step_size must be a positive number, got {step_size!r}.")
        self.model = model
        self.potential_fn = potential_fn
        self.step_size = float(step_size)
        self.adapt_step_size = bool(adapt_step_size)
        self.adapt_mass_matrix = bool(adapt_mass_matrix)
        self.dense_mass = bool(dense_mass)
        self.target_accept_prob = _check_prob("target_accept_prob", target_accept_prob)
        self.init_strategy = as_strategy(init_strategy)
        self.find_heuristic_step_size = bool(find_heuristic_step_size)
        self.regularize_mass_matrix = bool(regularize_mass_matrix)


class NUTS(_Kernel):
    """The No-U-Turn Sampler (multinomial, generalised U-turn criterion), NumPyro's arguments.

    Example:
        >>> import dists as D
        >>> from effects import sample
        >>> def model():
        ...     sample("x", D.Normal(0.0, 1.0))
        >>> kernel = NUTS(model, target_accept_prob=0.9)
    """

    max_tree_depth: int = eqx.field(static=True)

    def __init__(
        self,
        model: Callable | None = None,
        potential_fn: Callable | None = None,
        *,
        step_size: float = 1.0,
        adapt_step_size: bool = True,
        adapt_mass_matrix: bool = True,
        dense_mass: bool = False,
        target_accept_prob: float = 0.8,
        max_tree_depth: int = 10,
        init_strategy: Any = init_to_uniform,
        find_heuristic_step_size: bool = False,
        regularize_mass_matrix: bool = True,
    ):
        self._init_common(
            model,
            potential_fn,
            step_size,
            adapt_step_size,
            adapt_mass_matrix,
            dense_mass,
            target_accept_prob,
            init_strategy,
            find_heuristic_step_size,
            regularize_mass_matrix,
        )
        if not isinstance(max_tree_depth, int) or not 1 <= max_tree_depth <= 20:
            raise ValueError(f"max_tree_depth must be an int in 1..20, got {max_tree_depth!r}.")
        self.max_tree_depth = max_tree_depth


class HMC(_Kernel):
    """Hamiltonian Monte Carlo with a fixed trajectory length (or a fixed ``num_steps``)."""

    trajectory_length: float = eqx.field(static=True)
    num_steps: int | None = eqx.field(static=True)

    def __init__(
        self,
        model: Callable | None = None,
        potential_fn: Callable | None = None,
        *,
        step_size: float = 1.0,
        trajectory_length: float = 2 * math.pi,
        num_steps: int | None = None,
        adapt_step_size: bool = True,
        adapt_mass_matrix: bool = True,
        dense_mass: bool = False,
        target_accept_prob: float = 0.8,
        init_strategy: Any = init_to_uniform,
        find_heuristic_step_size: bool = False,
        regularize_mass_matrix: bool = True,
    ):
        self._init_common(
            model,
            potential_fn,
            step_size,
            adapt_step_size,
            adapt_mass_matrix,
            dense_mass,
            target_accept_prob,
            init_strategy,
            find_heuristic_step_size,
            regularize_mass_matrix,
        )
        if num_steps is not None and (not isinstance(num_steps, int) or num_steps < 1):
            raise ValueError(f"num_steps must be a positive int, got {num_steps!r}.")
        if not trajectory_length > 0:
            raise ValueError(f"trajectory_length must be positive, got {trajectory_length!r}.")
        self.trajectory_length = float(trajectory_length)
        self.num_steps = num_steps
