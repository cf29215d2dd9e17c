"""User-facing kernel configurations: ``NUTS`` and ``HMC``.

These are immutable descriptions of a sampler, with NumPyro's constructor arguments. Each
field is declared once, with its default and its check; Equinox (a dataclass) writes the
constructor, so ``NUTS`` and ``HMC`` only add their own fields. A kernel also names its pure
init/step functions (from ``_nuts.py`` and ``_hmc.py``), the static options it passes them,
and the statistics it reports (``info_fields``): all the ``MCMC`` driver needs to know.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Callable
from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from jaxtyping import Array

from ._adaptation import HMCParams, WindowAdaptation
from ._hmc import HMCState, hmc_init, hmc_kernel
from ._integrator import ChainPosition, cast_value_and_grad
from ._model_args import Const
from ._nuts import NUTSState, nuts_init, nuts_kernel
from ._protocol import MCMCKernel, RavelledState, flatten_position


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


def _dense_mass(value: Any) -> bool | tuple[tuple[str, ...], ...]:
    """``dense_mass``: a bool, or NumPyro's list of site groups, each one dense block."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (list, tuple)) and all(
        isinstance(g, (list, tuple)) and g and all(isinstance(n, str) for n in g) for g in value
    ):
        groups = tuple(tuple(g) for g in value)
        names = [n for g in groups for n in g]
        if len(names) != len(set(names)):
            raise ValueError(f"dense_mass: a site appears in more than one group: {value!r}.")
        return groups
    raise ValueError(
        "dense_mass must be True, False, or a list of site-name groups such as "
        f"[('a', 'b'), ('c',)] (each group one dense block; other sites diagonal); got "
        f"{value!r}."
    )


def _initial_imm(value: Any) -> Any:
    """NumPyro's initial ``inverse_mass_matrix``, made hashable (the kernel is static): a
    ``Const`` array, or a tuple of ``(site names, Const block)`` pairs for a dict."""
    if value is None or isinstance(value, (Const, tuple)):
        return value
    if isinstance(value, dict):
        return tuple(
            (tuple(k) if isinstance(k, tuple) else (k,), Const(np.asarray(v)))
            for k, v in value.items()
        )
    return Const(np.asarray(value))


class _ForwardMode(eqx.Module):
    """A potential whose gradient is taken in forward mode (``jax.jacfwd``).

    For models whose log density reverse mode cannot differentiate (a ``while_loop``, as
    in adaptive ODE solvers). ``jax.value_and_grad`` of it calls ``jacfwd`` underneath.
    """

    potential: Callable

    def __call__(self, z: Any) -> Array:
        @jax.custom_vjp
        def f(z):
            return self.potential(z)

        def fwd(z):
            return self.potential(z), jax.jacfwd(self.potential)(z)

        def bwd(grad, ct):
            return (jax.tree.map(lambda g: ct * g, grad),)

        f.defvjp(fwd, bwd)
        return f(z)


def forward_mode(potential: Callable) -> Callable:
    """``potential`` with its gradient computed in forward mode."""
    return _ForwardMode(potential)


# The per-draw statistics every kernel reports (NUTS adds ``tree_depth``).
_INFO_FIELDS = ("num_steps", "accept_prob", "diverging", "energy", "potential_energy")


def _option(**kwargs: Any) -> Any:
    """A static, keyword-only configuration field."""
    return eqx.field(static=True, kw_only=True, **kwargs)


class _Kernel(MCMCKernel):
    """Shared configuration of the gradient-based kernels (HMC and NUTS).

    A subclass adds its own option fields, sets ``start`` and ``transition`` to its pure
    init/step functions on flat positions and ``state_type`` to its state class, returns
    the options they take from ``options()``, and lists the per-draw statistics it reports
    in ``info_fields``. The protocol's ``init``/``step`` (:class:`MCMCKernel`) wrap them,
    and ``adaptation`` is Stan's windowed warm-up (:class:`WindowAdaptation`).
    """

    step_size: float = _option(default=1.0, converter=_positive_float("step_size"))
    adapt_step_size: bool = _option(default=True, converter=bool)
    adapt_mass_matrix: bool = _option(default=True, converter=bool)
    dense_mass: Any = _option(default=False, converter=_dense_mass)
    target_accept_prob: float = _option(default=0.8, converter=_open_unit("target_accept_prob"))
    find_heuristic_step_size: bool = _option(default=False, converter=bool)
    regularize_mass_matrix: bool = _option(default=True, converter=bool)
    forward_mode_differentiation: bool = _option(default=False, converter=bool)
    # NumPyro's initial inverse mass matrix: an array ((d,) or (d, d)), or a dict from a
    # tuple of site names to a block. Static (a NumPy array): it fixes the program.
    inverse_mass_matrix: Any = _option(default=None, converter=_initial_imm)
    kinetic_fn: Any = _option(default=None)
    # Chains batched by ``jax.vmap`` (set by ``vectorized()``): NUTS then takes the leaf
    # layout for long rows, several times faster there.
    batched: bool = _option(default=False, converter=bool)

    info_fields: ClassVar[tuple[str, ...] | None] = ()

    def __check_init__(self) -> None:
        name = type(self).__name__
        if self.kinetic_fn is not None:
            raise NotImplementedError(
                f"{name}: a custom kinetic_fn is not supported; the kinetic energy is "
                "p . M^-1 p / 2 with the adapted mass matrix M. Fix: leave kinetic_fn=None "
                "(and use dense_mass or inverse_mass_matrix to shape M)."
            )

    @property
    def is_dense(self) -> bool:
        """Whether the mass matrix is a ``(d, d)`` matrix (dense, or dense blocks)."""
        if isinstance(self.inverse_mass_matrix, Const):
            return self.inverse_mass_matrix.value.ndim == 2
        return bool(self.dense_mass) or isinstance(self.inverse_mass_matrix, tuple)

    def _layout(self, template: Any) -> dict[str, tuple[int, int]]:
        """Each site's slice ``(start, stop)`` of the flat position."""
        out, start = {}, 0
        for name in sorted(template):  # ravel_pytree orders a dict by its sorted keys
            size = int(np.prod(np.shape(template[name]), dtype=np.int64))
            out[name] = (start, start + size)
            start += size
        return out

    def _blocks(self, template: Any) -> list[tuple[str, ...]] | None:
        """The site groups of the dense blocks, or ``None`` for one matrix over all."""
        groups: list[tuple[str, ...]] = []
        if isinstance(self.dense_mass, tuple):
            groups += list(self.dense_mass)
        if isinstance(self.inverse_mass_matrix, tuple):
            groups += [names for names, _ in self.inverse_mass_matrix]
        if not groups:
            return None
        if not isinstance(template, dict):
            raise ValueError(
                f"{type(self).__name__}: dense_mass or inverse_mass_matrix given by site "
                "names needs a model (a dict of sites), not a potential_fn position."
            )
        unknown = sorted({n for g in groups for n in g} - set(template))
        if unknown:
            raise ValueError(
                f"{type(self).__name__}: dense_mass/inverse_mass_matrix name {unknown}, which "
                f"are not latent sites (latent sites: {sorted(template)})."
            )
        return groups

    def mass_mask(self, template: Any) -> np.ndarray | None:
        """For dense blocks over site groups: the ``(d, d)`` 0/1 pattern they (and the
        diagonal) make; ``None`` when the matrix is diagonal or dense throughout."""
        groups = self._blocks(template)
        if groups is None or not self.is_dense:
            return None
        layout = self._layout(template)
        d = max((stop for _, stop in layout.values()), default=0)
        mask = np.eye(d)
        for g in groups:
            idx = np.concatenate([np.arange(*layout[n]) for n in g])
            mask[np.ix_(idx, idx)] = 1.0
        return mask

    def _initial_imm_np(self, template: Any) -> np.ndarray | None:
        """The inverse mass matrix a chain starts warm-up with, as a NumPy array; ``None``
        for the identity (a vector of ones, or ``eye(d)`` when dense)."""
        d = ravel_pytree(template)[0].shape[0]
        imm = self.inverse_mass_matrix
        if isinstance(imm, Const):
            imm = imm.value
            if imm.shape not in ((d,), (d, d)):
                raise ValueError(
                    f"{type(self).__name__}: inverse_mass_matrix has shape {imm.shape}; the "
                    f"position has {d} unconstrained dimensions, so pass shape ({d},) or "
                    f"({d}, {d})."
                )
            return np.asarray(imm)
        if not self.is_dense or not isinstance(imm, tuple):
            return None
        out = np.eye(d)
        layout = self._layout(template)
        for names, const in imm:
            idx = np.concatenate([np.arange(*layout[n]) for n in names])
            block = np.asarray(const.value)
            if block.shape == (len(idx),):
                block = np.diag(block)
            if block.shape != (len(idx), len(idx)):
                raise ValueError(
                    f"{type(self).__name__}: inverse_mass_matrix[{names!r}] has shape "
                    f"{block.shape}; the sites {names} have {len(idx)} unconstrained "
                    f"dimensions, so pass shape ({len(idx)},) or ({len(idx)}, {len(idx)})."
                )
            out[np.ix_(idx, idx)] = block
        return out

    def initial_inverse_mass_matrix(self, template: Any, dtype: Any) -> Array:
        """The inverse mass matrix a chain starts warm-up with."""
        imm = self._initial_imm_np(template)
        if imm is not None:
            return jnp.asarray(imm, dtype)
        d = ravel_pytree(template)[0].shape[0]
        return jnp.eye(d, dtype=dtype) if self.is_dense else jnp.ones(d, dtype)

    # The pure functions of the kernel on flat positions: ``start(z, potential) -> state``
    # and ``transition(key, state, potential, step_size, imm, **options) -> (state, info)``.
    start: ClassVar[Callable[..., Any]]
    transition: ClassVar[Callable[..., Any]]
    state_type: ClassVar[type[RavelledState]]

    def options(self) -> dict[str, Any]:
        """The static keyword arguments this configuration passes to ``transition``."""
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

    def transition_stats(
        self,
        key: Array,
        state: Any,
        potential_flat: Callable[[Array], Array],
        step_size: Array,
        inverse_mass_matrix: Array,
    ) -> tuple[Any, dict[str, Array]]:
        """One transition on a flat position: the new state and the statistics named in
        ``info_fields``."""
        state, info = type(self).transition(
            key, state, potential_flat, step_size, inverse_mass_matrix, **self.options()
        )
        return state, {f: getattr(info, f) for f in self.info_fields or ()}

    # --- the kernel protocol (MCMCKernel) ---------------------------------------------
    def init(self, key: Array, position: Any, potential_fn: Callable) -> Any:
        """A chain's state at ``position`` (a pytree; the state holds it ravelled, and
        ``state.position`` gives it back). The key is not used."""
        del key
        z, potential_flat, spec = flatten_position(position, potential_fn)
        state = type(self).start(z, potential_flat)
        return state if spec is None else type(self).state_type(*_fields(state), spec=spec)

    def step(
        self, key: Array, state: Any, potential_fn: Callable, params: HMCParams
    ) -> tuple[Any, Any]:
        """One transition with ``params.step_size`` and ``params.inverse_mass_matrix``."""
        spec = state.spec
        potential_flat = potential_fn if spec is None else spec.flat_potential(potential_fn)
        new, info = type(self).transition(
            key,
            state,
            potential_flat,
            params.step_size,
            params.inverse_mass_matrix,
            **self.options(),
        )
        if spec is not None:
            new = type(self).state_type(*_fields(new), spec=spec)
        return new, info

    def adaptation(self, position: Any, num_warmup: int) -> WindowAdaptation:
        """Stan's windowed adaptation of the step size and the mass matrix."""
        imm = self._initial_imm_np(position)
        mask = self.mass_mask(position)
        return WindowAdaptation(
            num_warmup,
            step_size=self.step_size,
            target_accept_prob=self.target_accept_prob,
            dense_mass=self.is_dense,
            adapt_step_size=self.adapt_step_size,
            adapt_mass_matrix=self.adapt_mass_matrix,
            regularize=self.regularize_mass_matrix,
            find_heuristic_step_size=self.find_heuristic_step_size,
            inverse_mass_matrix=None if imm is None else Const(imm),
            mass_mask=None if mask is None else Const(mask),
        )

    def vectorized(self) -> _Kernel:
        return dataclasses.replace(self, batched=True)


def _fields(state: ChainPosition) -> tuple[Array, Array, Array]:
    return state.z, state.potential_energy, state.z_grad


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
    # NumPyro's NUTS accepts it and chooses its own trajectory lengths; so does this one.
    trajectory_length: float | None = _option(default=None)

    info_fields: ClassVar[tuple[str, ...]] = _INFO_FIELDS + ("tree_depth",)

    def __check_init__(self) -> None:
        if self.trajectory_length is not None:
            warnings.warn(
                "NUTS ignores trajectory_length (as NumPyro's NUTS does): it chooses each "
                "trajectory's length by the U-turn criterion. Use HMC for a fixed length.",
                UserWarning,
                stacklevel=3,
            )

    start = staticmethod(nuts_init)
    transition = staticmethod(nuts_kernel)
    state_type = NUTSState

    def options(self) -> dict[str, Any]:
        return {"max_tree_depth": self.max_tree_depth, "batched": self.batched}


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

    def options(self) -> dict[str, Any]:
        return {"num_steps": self.num_steps, "trajectory_length": self.trajectory_length}
