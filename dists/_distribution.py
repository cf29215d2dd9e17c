"""The abstract distribution base and the generic shape wrappers.

Every distribution is an immutable ``eqx.Module``: its parameters are array leaves and
its configuration (``validate_args``, static shapes) is static. So distributions are
pytrees that pass through ``jax.jit`` and ``jax.vmap`` unchanged.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp

from . import _constraints as C
from ._typing import Array, ArrayLike, PRNGKeyArray, Shape
from ._util import as_float, is_concrete, sum_rightmost


def validate_param(
    dist_name: str, name: str, value: Array, constraint: C.Constraint, validate: bool
) -> Array:
    """Check ``value`` against ``constraint`` when ``validate`` is on.

    Concrete values raise ``ValueError`` naming the parameter and the bad value. Traced
    values (under ``jit``) get an ``eqx.error_if`` check that fires at run time. When
    ``validate`` is off nothing is checked, so there is no cost.
    """
    if not validate:
        return value
    ok = constraint(value)
    msg = (
        f"{dist_name}: parameter `{name}` must satisfy constraint {constraint!r}; "
        "pass a value inside the constraint"
    )
    if is_concrete(ok):
        if not bool(jnp.all(ok)):
            raise ValueError(f"{msg}. Found {name}={value}.")
        return value
    return eqx.error_if(value, ~jnp.all(ok), msg + ".")


def validate_sample(dist: Distribution, value: ArrayLike) -> Array:
    """Check that ``value`` lies in ``dist.support`` (used by ``log_prob`` under validation)."""
    value = jnp.asarray(value)
    ok = dist.support(value)
    msg = (
        f"{type(dist).__name__}: value is outside the support {dist.support!r}; "
        "pass values inside the support or turn off validate_args"
    )
    if is_concrete(ok):
        if not bool(jnp.all(ok)):
            raise ValueError(f"{msg}. Found value={value}.")
        return value
    return eqx.error_if(value, ~jnp.all(ok), msg + ".")


class Distribution(eqx.Module):
    """Abstract base of all distributions.

    Subclasses provide ``event_shape``, ``support``, ``sample`` and ``log_prob``; and,
    where a closed form exists, ``mean``, ``variance``, ``entropy``, ``cdf``, ``icdf`` and
    ``enumerate_support``. A family stores its parameters as fields named as in
    ``arg_constraints`` and builds them with ``_init_params``, which also sets
    ``validate_args``; ``batch_shape`` then follows from the parameter shapes. Families
    whose batch shape comes from elsewhere override ``batch_shape``.

    Constructor arguments follow NumPyro's names and order so that models port
    unchanged.
    """

    arg_constraints: ClassVar[dict[str, C.Constraint]] = {}
    support: ClassVar[C.Constraint] = C.real
    has_rsample: ClassVar[bool] = False
    is_discrete: ClassVar[bool] = False
    has_enumerate_support: ClassVar[bool] = False
    pytree_data_fields: ClassVar[tuple[str, ...]] = ()

    # Static, because it decides which checks are traced. Keyword-only with a default, so
    # that families declare their parameter fields after it and wrappers need not set it.
    _validate: bool = eqx.field(default=False, static=True, kw_only=True)

    def _init_params(self, validate_args: bool | None, **params: ArrayLike) -> tuple[Array, ...]:
        """Set ``validate_args``, then convert, broadcast and check the named parameters.

        Each parameter becomes a float array. Their batch dims (all but the rightmost
        ``arg_constraints[name].event_dim``) are broadcast to one batch shape; their event
        dims are kept. Each is then checked against ``arg_constraints[name]`` (see
        ``validate_param``), except ``dependent`` ones, which the family checks with
        ``_check_param`` once the parameters they depend on are known.

        Returns:
            The parameters, in the order given.
        """
        self._validate = bool(validate_args)
        arrays = {name: as_float(value) for name, value in params.items()}
        splits = {
            name: max(a.ndim - self.arg_constraints[name].event_dim, 0)
            for name, a in arrays.items()
        }
        batch = jnp.broadcast_shapes(*(a.shape[: splits[name]] for name, a in arrays.items()))
        out = []
        for name, a in arrays.items():
            a = jnp.broadcast_to(a, batch + a.shape[splits[name] :])
            if not isinstance(self.arg_constraints[name], C._Dependent):
                a = self._check_param(name, a)
            out.append(a)
        return tuple(out)

    def _check_param(
        self, name: str, value: Array, constraint: C.Constraint | None = None
    ) -> Array:
        """``validate_param`` for this family, against ``arg_constraints[name]`` by default."""
        if constraint is None:
            constraint = self.arg_constraints[name]
        return validate_param(type(self).__name__, name, value, constraint, self._validate)

    def _check_sample(self, value: ArrayLike) -> Array:
        """``value`` as an array, checked by ``validate_sample`` when ``validate_args`` is on."""
        return validate_sample(self, value) if self._validate else jnp.asarray(value)

    @property
    def batch_shape(self) -> Shape:
        """The parameters' broadcast shape, without their event dims."""
        shapes = []
        for name, constraint in self.arg_constraints.items():
            # Only stored fields: properties such as ``probs`` would compute a new array.
            value = vars(self).get(name)
            if value is not None:
                shapes.append(jnp.shape(value)[: max(jnp.ndim(value) - constraint.event_dim, 0)])
        return tuple(jnp.broadcast_shapes(*shapes))

    @property
    def event_shape(self) -> Shape:
        return ()

    @property
    def event_dim(self) -> int:
        return len(self.event_shape)

    @property
    def reparametrized_params(self) -> list[str]:
        return list(self.arg_constraints) if self.has_rsample else []

    @property
    def validate_args(self) -> bool:
        """Whether parameters and ``log_prob`` values are checked against constraints."""
        return self._validate

    def shape(self, sample_shape: Shape = ()) -> Shape:
        """``sample_shape + batch_shape + event_shape``."""
        return tuple(sample_shape) + tuple(self.batch_shape) + tuple(self.event_shape)

    @abc.abstractmethod
    def sample(self, key: PRNGKeyArray, sample_shape: Shape = ()) -> Array:
        """Draw samples of shape ``sample_shape + batch_shape + event_shape``."""

    def rsample(self, key: PRNGKeyArray, sample_shape: Shape = ()) -> Array:
        if not self.has_rsample:
            raise NotImplementedError(
                f"{type(self).__name__} has no reparameterised sampler; use sample()."
            )
        return self.sample(key, sample_shape)

    def sample_with_intermediates(
        self, key: PRNGKeyArray, sample_shape: Shape = ()
    ) -> tuple[Array, list]:
        return self.sample(key, sample_shape), []

    @abc.abstractmethod
    def log_prob(self, value: ArrayLike) -> Array:
        """Log density (or mass) of ``value``; shape ``sample_shape + batch_shape``."""

    def _missing(self, what: str):
        return NotImplementedError(f"{type(self).__name__} has no closed-form {what}.")

    @property
    def mean(self) -> Array:
        raise self._missing("mean")

    @property
    def variance(self) -> Array:
        raise self._missing("variance")

    def entropy(self) -> Array:
        raise self._missing("entropy")

    def cdf(self, value: ArrayLike) -> Array:
        raise self._missing("cdf")

    def icdf(self, q: ArrayLike) -> Array:
        raise self._missing("icdf")

    def enumerate_support(self, expand: bool = True) -> Array:
        raise NotImplementedError(f"{type(self).__name__} has no finite support to enumerate.")

    def expand(self, batch_shape: Sequence[int]) -> Distribution:
        """Broadcast the batch shape to ``batch_shape``."""
        batch_shape = tuple(batch_shape)
        if batch_shape == tuple(self.batch_shape):
            return self
        return ExpandedDistribution(self, batch_shape)

    def expand_by(self, sample_shape: Sequence[int]) -> Distribution:
        return self.expand(tuple(sample_shape) + tuple(self.batch_shape))

    def to_event(self, reinterpreted_batch_ndims: int | None = None) -> Distribution:
        """Reinterpret the rightmost batch dims as event dims (all of them by default)."""
        if reinterpreted_batch_ndims is None:
            reinterpreted_batch_ndims = len(self.batch_shape)
        if reinterpreted_batch_ndims == 0:
            return self
        return Independent(self, reinterpreted_batch_ndims)

    def mask(self, mask: ArrayLike | bool) -> Distribution:
        """Mask ``log_prob`` with a boolean array broadcastable to ``batch_shape``."""
        if isinstance(mask, bool) and mask:
            return self
        return MaskedDistribution(self, mask)


def _check_batch_shape(base_shape: Shape, batch_shape: Shape, who: str) -> None:
    if len(batch_shape) < len(base_shape):
        raise ValueError(
            f"{who}: cannot expand batch_shape {base_shape} to the shorter {batch_shape}."
        )
    for b, e in zip(base_shape[::-1], batch_shape[::-1]):
        if b != 1 and b != e:
            raise ValueError(
                f"{who}: cannot expand batch_shape {base_shape} to {batch_shape}: "
                f"dimension of size {b} does not broadcast to {e}."
            )


class ExpandedDistribution(Distribution):
    """``base`` with its batch shape broadcast to ``batch_shape``."""

    base_dist: Distribution
    _batch_shape: Shape = eqx.field(static=True)

    def __init__(self, base_dist: Distribution, batch_shape: Sequence[int]):
        batch_shape = tuple(int(s) for s in batch_shape)
        if isinstance(base_dist, ExpandedDistribution):
            base_dist = base_dist.base_dist
        _check_batch_shape(tuple(base_dist.batch_shape), batch_shape, "expand")
        self.base_dist = base_dist
        self._batch_shape = batch_shape

    @property
    def batch_shape(self) -> Shape:
        return self._batch_shape

    @property
    def event_shape(self) -> Shape:
        return self.base_dist.event_shape

    @property
    def support(self):  # type: ignore[override]
        return self.base_dist.support

    @property
    def has_rsample(self):  # type: ignore[override]
        return self.base_dist.has_rsample

    @property
    def is_discrete(self):  # type: ignore[override]
        return self.base_dist.is_discrete

    @property
    def has_enumerate_support(self):  # type: ignore[override]
        return self.base_dist.has_enumerate_support

    @property
    def validate_args(self) -> bool:
        return self.base_dist.validate_args

    def sample(self, key, sample_shape=()):
        sample_shape = tuple(sample_shape)
        base_batch = tuple(self.base_dist.batch_shape)
        event = tuple(self.event_shape)
        extra = len(self._batch_shape) - len(base_batch)
        tail = self._batch_shape[extra:]
        # Dims where the base has size 1 and the target does not need independent draws,
        # so they are drawn as extra sample dims ``r`` and then merged with the base dims.
        r = tuple(t if b == 1 else 1 for b, t in zip(base_batch, tail))
        lead = sample_shape + self._batch_shape[:extra]
        x = self.base_dist.sample(key, lead + r)
        nl, nb = len(lead), len(base_batch)
        # x: lead + r + base_batch + event  ->  interleave (r_i, b_i) pairs, then merge.
        perm = list(range(nl))
        for i in range(nb):
            perm += [nl + i, nl + nb + i]
        perm += list(range(nl + 2 * nb, x.ndim))
        x = jnp.transpose(x, perm)
        return jnp.reshape(x, lead + tail + event)

    def log_prob(self, value):
        lp = self.base_dist.log_prob(value)
        shape = jnp.broadcast_shapes(jnp.shape(lp), self._batch_shape)
        return jnp.broadcast_to(lp, shape)

    def enumerate_support(self, expand=True):
        values = self.base_dist.enumerate_support(expand=False)
        # values: (n,) + (1,)*len(base batch) + event
        n = values.shape[0]
        values = jnp.reshape(values, (n,) + (1,) * len(self._batch_shape) + tuple(self.event_shape))
        if expand:
            values = jnp.broadcast_to(values, (n,) + self._batch_shape + tuple(self.event_shape))
        return values

    def _bcast(self, x):
        return jnp.broadcast_to(x, self._batch_shape + tuple(self.event_shape))

    @property
    def mean(self):
        return self._bcast(self.base_dist.mean)

    @property
    def variance(self):
        return self._bcast(self.base_dist.variance)

    def entropy(self):
        return jnp.broadcast_to(self.base_dist.entropy(), self._batch_shape)

    def cdf(self, value):
        return self.base_dist.cdf(value)

    def icdf(self, q):
        return self.base_dist.icdf(q)


class Independent(Distribution):
    """Reinterpret the rightmost ``reinterpreted_batch_ndims`` batch dims as event dims."""

    base_dist: Distribution
    reinterpreted_batch_ndims: int = eqx.field(static=True)

    def __init__(self, base_dist: Distribution, reinterpreted_batch_ndims: int):
        n = int(reinterpreted_batch_ndims)
        if not 0 <= n <= len(base_dist.batch_shape):
            raise ValueError(
                f"Independent: reinterpreted_batch_ndims must be between 0 and the base "
                f"batch rank {len(base_dist.batch_shape)}, got {n}."
            )
        self.base_dist = base_dist
        self.reinterpreted_batch_ndims = n

    @property
    def batch_shape(self) -> Shape:
        bs = tuple(self.base_dist.batch_shape)
        return bs[: len(bs) - self.reinterpreted_batch_ndims]

    @property
    def event_shape(self) -> Shape:
        bs = tuple(self.base_dist.batch_shape)
        return bs[len(bs) - self.reinterpreted_batch_ndims :] + tuple(self.base_dist.event_shape)

    @property
    def support(self):  # type: ignore[override]
        return C.independent(self.base_dist.support, self.reinterpreted_batch_ndims)

    @property
    def has_rsample(self):  # type: ignore[override]
        return self.base_dist.has_rsample

    @property
    def is_discrete(self):  # type: ignore[override]
        return self.base_dist.is_discrete

    @property
    def has_enumerate_support(self):  # type: ignore[override]
        return False

    @property
    def validate_args(self) -> bool:
        return self.base_dist.validate_args

    def sample(self, key, sample_shape=()):
        return self.base_dist.sample(key, sample_shape)

    def log_prob(self, value):
        return sum_rightmost(self.base_dist.log_prob(value), self.reinterpreted_batch_ndims)

    @property
    def mean(self):
        return self.base_dist.mean

    @property
    def variance(self):
        return self.base_dist.variance

    def entropy(self):
        return sum_rightmost(self.base_dist.entropy(), self.reinterpreted_batch_ndims)

    def to_event(self, reinterpreted_batch_ndims=None):
        if reinterpreted_batch_ndims is None:
            reinterpreted_batch_ndims = len(self.batch_shape)
        if reinterpreted_batch_ndims == 0:
            return self
        return Independent(
            self.base_dist, self.reinterpreted_batch_ndims + reinterpreted_batch_ndims
        )


class MaskedDistribution(Distribution):
    """``base`` whose ``log_prob`` is zero where ``mask`` is False."""

    base_dist: Distribution
    _mask: Array

    def __init__(self, base_dist: Distribution, mask: ArrayLike | bool):
        mask = jnp.asarray(mask, dtype=bool)
        try:
            jnp.broadcast_shapes(mask.shape, tuple(base_dist.batch_shape))
        except ValueError as e:
            raise ValueError(
                f"mask: mask of shape {mask.shape} does not broadcast with batch_shape "
                f"{tuple(base_dist.batch_shape)}."
            ) from e
        self.base_dist = base_dist
        self._mask = mask

    @property
    def batch_shape(self) -> Shape:
        return jnp.broadcast_shapes(self._mask.shape, tuple(self.base_dist.batch_shape))

    @property
    def event_shape(self) -> Shape:
        return self.base_dist.event_shape

    @property
    def support(self):  # type: ignore[override]
        return self.base_dist.support

    @property
    def has_rsample(self):  # type: ignore[override]
        return self.base_dist.has_rsample

    @property
    def is_discrete(self):  # type: ignore[override]
        return self.base_dist.is_discrete

    @property
    def has_enumerate_support(self):  # type: ignore[override]
        return self.base_dist.has_enumerate_support

    def sample(self, key, sample_shape=()):
        x = self.base_dist.sample(key, sample_shape)
        return jnp.broadcast_to(x, tuple(sample_shape) + self.batch_shape + self.event_shape)

    def log_prob(self, value):
        lp = self.base_dist.log_prob(value)
        shape = jnp.broadcast_shapes(jnp.shape(lp), self._mask.shape)
        # where() rather than multiply, so a -inf or NaN under the mask gives 0, not NaN.
        return jnp.where(self._mask, lp, jnp.zeros((), jnp.result_type(lp))) * jnp.ones(
            shape, jnp.result_type(lp)
        )

    def enumerate_support(self, expand=True):
        return self.base_dist.enumerate_support(expand)

    @property
    def mean(self):
        return self.base_dist.mean

    @property
    def variance(self):
        return self.base_dist.variance

    def mask(self, mask):
        if isinstance(mask, bool) and mask:
            return self
        return MaskedDistribution(self.base_dist, self._mask & jnp.asarray(mask, dtype=bool))
