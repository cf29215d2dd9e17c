"""User-facing kernel configurations: ``NUTS`` and ``HMC``.

These are immutable descriptions of a sampler, with NumPyro's constructor arguments. Each
field is declared once, with its default and its check; Equinox (a dataclass) writes the
constructor, so ``NUTS`` and ``HMC`` only add their own fields. A kernel also names its pure
init/step functions (from ``_nuts.py`` and ``_hmc.py``), the static options it passes them,
and the statistics it reports (``info_fields``): all the ``MCMC`` driver needs to know.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, ClassVar

import equinox as eqx
from jaxtyping import Array

from ._hmc import HMCState, hmc_init, hmc_kernel
from ._init import as_strategy, init_to_uniform
from ._integrator import ChainPosition, cast_value_and_grad
from ._nuts import NUTSState, nuts_init, nuts_kernel


def _positive_float(name: str) -> Callable[[Any], float]:
    def convert(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ValueError(f"{name} must be a positive number, got {value!r}.")
        return float(value)

    return convert


def _open_unit(name: str) -> Callable[[Any], float]:
    def convert(value: Any) -> float:
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not (number and 0.0 < float(value) < 1.0):
            raise ValueError(f"{name} must be a number strictly between 0 and 1, got {value!r}.")
        return float(value)

    return convert


def _int_in(name: str, low: int, high: int | None, optional: bool = False) -> Callable:
    def convert(value: Any) -> int | None:
        if value is None and optional:
            return None
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= low
        if not ok or (high is not None and value > high):
            bounds = f"in {low}..{high}" if high is not None else f">= {low}"
            raise ValueError(f"{name} must be an int {bounds}, got {value!r}.")
        return value

    return convert


# The per-draw statistics every kernel reports (NUTS adds ``tree_depth``).
_INFO_FIELDS = ("num_steps", "accept_prob", "diverging", "energy", "potential_energy")


def _option(**kwargs: Any) -> Any:
    """A static, keyword-only configuration field."""
    return eqx.field(static=True, kw_only=True, **kwargs)


class _Kernel(eqx.Module):
    """Shared configuration of the gradient-based kernels.

    A subclass adds its own option fields, sets ``start`` and ``transition`` to its pure
    init/step functions and ``state_type`` to its state class, returns the options they
    take from ``options()``, and lists the per-draw statistics it reports in
    ``info_fields``.
    """

    model: Callable | None = eqx.field(default=None, static=True)
    potential_fn: Callable | None = eqx.field(default=None, static=True)
    step_size: float = _option(default=1.0, converter=_positive_float("step_size"))
    adapt_step_size: bool = _option(default=True, converter=bool)
    adapt_mass_matrix: bool = _option(default=True, converter=bool)
    dense_mass: bool = _option(default=False, converter=bool)
    target_accept_prob: float = _option(default=0.8, converter=_open_unit("target_accept_prob"))
    init_strategy: Any = _option(default=init_to_uniform, converter=as_strategy)
    find_heuristic_step_size: bool = _option(default=False, converter=bool)
    regularize_mass_matrix: bool = _option(default=True, converter=bool)

    info_fields: ClassVar[tuple[str, ...]] = ()

    def __check_init__(self) -> None:
        name = type(self).__name__
        if (self.model is None) == (self.potential_fn is None):
            raise ValueError(f"{name}: pass exactly one of `model` or `potential_fn`.")
        for field, fn in (("model", self.model), ("potential_fn", self.potential_fn)):
            if fn is not None and not callable(fn):
                raise TypeError(f"{name}: {field} must be callable, got {type(fn).__name__}.")

    # The pure functions of the kernel: ``start(z, potential) -> state`` and
    # ``transition(key, state, potential, step_size, imm, **options) -> (state, info)``.
    start: ClassVar[Callable[..., Any]]
    transition: ClassVar[Callable[..., Any]]
    state_type: ClassVar[type[ChainPosition]]

    def options(self, batched: bool = False) -> dict[str, Any]:
        """The static keyword arguments this configuration passes to ``transition``;
        ``batched``: the transition runs under ``jax.vmap`` over chains."""
        return {}

    def init_state(self, z_flat: Array, potential_flat: Callable[[Array], Array]) -> Any:
        """The kernel state of a chain at the flat position ``z_flat``."""
        return type(self).start(z_flat, potential_flat)

    def state_at(self, z_flat: Array, potential_energy: Array, z_grad: Array) -> Any:
        """The kernel state at ``z_flat`` where the potential and its (flat) gradient are
        already known; nothing is evaluated. Both are cast to the position's dtype, as
        :meth:`init_state` does."""
        return type(self).state_type(
            z_flat, *cast_value_and_grad(potential_energy, z_grad, z_flat.dtype)
        )

    def step(
        self,
        key: Array,
        state: Any,
        potential_flat: Callable[[Array], Array],
        step_size: Array,
        inverse_mass_matrix: Array,
        batched: bool = False,
    ) -> tuple[Any, dict[str, Array]]:
        """One transition: the new state and the statistics named in ``info_fields``.
        ``batched``: it runs under ``jax.vmap`` over chains (static)."""
        state, info = type(self).transition(
            key, state, potential_flat, step_size, inverse_mass_matrix, **self.options(batched)
        )
        return state, {f: getattr(info, f) for f in self.info_fields}


class NUTS(_Kernel):
    """The No-U-Turn Sampler (multinomial, generalised U-turn criterion), NumPyro's arguments.

    Example:
        >>> import dists as D
        >>> from effects import sample
        >>> def model():
        ...     sample("x", D.Normal(0.0, 1.0))
        >>> kernel = NUTS(model, target_accept_prob=0.9)
    """

    max_tree_depth: int = _option(default=10, converter=_int_in("max_tree_depth", 1, 20))

    info_fields: ClassVar[tuple[str, ...]] = _INFO_FIELDS + ("tree_depth",)

    start = staticmethod(nuts_init)
    transition = staticmethod(nuts_kernel)
    state_type = NUTSState

    def options(self, batched: bool = False) -> dict[str, Any]:
        return {"max_tree_depth": self.max_tree_depth, "batched": batched}


class HMC(_Kernel):
    """Hamiltonian Monte Carlo with a fixed trajectory length (or a fixed ``num_steps``).

    The default ``trajectory_length`` is NumPyro's, ``2 pi``. Once the mass matrix has
    adapted to a near-Gaussian posterior, that is about one full period of the dynamics,
    so the chain returns close to where it started: pass a shorter length (say 1 to 3)
    for such targets, or use ``NUTS``.
    """

    trajectory_length: float = _option(
        default=2 * math.pi, converter=_positive_float("trajectory_length")
    )
    num_steps: int | None = _option(
        default=None, converter=_int_in("num_steps", 1, None, optional=True)
    )

    info_fields: ClassVar[tuple[str, ...]] = _INFO_FIELDS

    start = staticmethod(hmc_init)
    transition = staticmethod(hmc_kernel)
    state_type = HMCState

    def options(self, batched: bool = False) -> dict[str, Any]:
        return {"num_steps": self.num_steps, "trajectory_length": self.trajectory_length}
