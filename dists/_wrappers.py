"""Wrapper distributions: point masses, factors, improper priors, mixtures and
transformed distributions.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
from jax.nn import log_softmax
from jax.scipy.special import logsumexp

from . import _constraints as C
from ._discrete import Categorical
from ._distribution import Distribution, validate_sample
from ._transforms import Transform
from ._typing import Array, ArrayLike, PRNGKeyArray, Shape
from ._util import _float_dtype, as_float, is_concrete, promote_value, sum_rightmost


class Delta(Distribution):
    """Point mass at ``v``, with an optional extra ``log_density``.

    Args:
        v: the location of the mass; its rightmost ``event_dim`` dims are the event.
        log_density: the log density returned at ``v`` (batch shaped).
        event_dim: number of rightmost dims of ``v`` that form one event.

    Example:
        >>> import jax, dists as D
        >>> float(D.Delta(2.0).log_prob(2.0))
        0.0
    """

    arg_constraints: ClassVar = {"v": C.dependent, "log_density": C.real}
    has_rsample: ClassVar[bool] = True
    draws_need_key: ClassVar[bool] = False  # its draw is v: no key needed

    v: Array
    log_density: Array
    _event_dim: int = eqx.field(static=True)

    def __init__(
        self,
        v: ArrayLike = 0.0,
        log_density: ArrayLike = 0.0,
        event_dim: int = 0,
        *,
        validate_args: bool | None = None,
    ):
        v = jnp.asarray(v)
        event_dim = int(event_dim)
        if not 0 <= event_dim <= v.ndim:
            raise ValueError(
                f"Delta: `event_dim` must be between 0 and v.ndim={v.ndim}; found {event_dim}."
            )
        batch = v.shape[: v.ndim - event_dim]
        log_density = as_float(log_density)
        try:
            log_density = jnp.broadcast_to(log_density, batch)
        except ValueError as e:
            raise ValueError(
                f"Delta: `log_density` of shape {log_density.shape} does not broadcast to "
                f"the batch shape {batch} of v."
            ) from e
        self._set_validate(validate_args)
        self.v = v
        self.log_density = self._check_param(
            "log_density", log_density, validate_args=validate_args
        )
        self._event_dim = event_dim

    @property
    def batch_shape(self) -> Shape:
        return tuple(self.v.shape[: self.v.ndim - self._event_dim])

    @property
    def event_shape(self) -> Shape:
        return tuple(self.v.shape[self.v.ndim - self._event_dim :])

    @property
    def support(self) -> C.Constraint:  # type: ignore[override]
        return C.independent(C.real, self._event_dim)

    def sample(self, key: PRNGKeyArray | None, sample_shape: Shape = ()) -> Array:
        return jnp.broadcast_to(self.v, self.shape(sample_shape))

    def log_prob(self, value: ArrayLike) -> Array:
        value, v = promote_value(self._check_sample(value), self.v)
        hit = value == v
        dtype = self.log_density.dtype
        lp = jnp.where(hit, jnp.zeros((), dtype), jnp.full((), -jnp.inf, dtype))
        lp, log_density = promote_value(sum_rightmost(lp, self._event_dim), self.log_density)
        return lp + log_density

    @property
    def mean(self) -> Array:
        return self.v

    @property
    def variance(self) -> Array:
        return jnp.zeros_like(as_float(self.v))

    def entropy(self) -> Array:
        return -self.log_density


class Unit(Distribution):
    """Trivial distribution with an empty event whose ``log_prob`` is ``log_factor``.

    Used by ``factor`` to add an arbitrary term to a model's log density.

    Args:
        log_factor: the log density term, batch shaped.
    """

    arg_constraints: ClassVar = {"log_factor": C.real}
    support: ClassVar = C.real

    log_factor: Array

    def __init__(self, log_factor: ArrayLike, *, validate_args: bool | None = None):
        self._set_validate(validate_args)
        self.log_factor = self._check_param(
            "log_factor", as_float(log_factor), validate_args=validate_args
        )

    @property
    def event_shape(self) -> Shape:
        return (0,)

    def sample(self, key: PRNGKeyArray, sample_shape: Shape = ()) -> Array:
        return jnp.empty(self.shape(sample_shape), self.log_factor.dtype)

    def log_prob(self, value: ArrayLike) -> Array:
        shape = jnp.broadcast_shapes(self.batch_shape, jnp.shape(value)[:-1])
        return jnp.broadcast_to(self.log_factor, shape)


class ImproperUniform(Distribution):
    """Improper flat density (``log_prob`` is 0) on ``support``.

    Useful as a prior that only declares a support; it cannot be sampled.

    Args:
        support: the constraint the values satisfy.
        batch_shape: the batch shape.
        event_shape: the event shape (at least ``support.event_dim`` dims).
    """

    _support: C.Constraint
    _batch_shape: Shape = eqx.field(static=True)
    _event_shape: Shape = eqx.field(static=True)

    def __init__(
        self,
        support: C.Constraint,
        batch_shape: Sequence[int],
        event_shape: Sequence[int],
        *,
        validate_args: bool | None = None,
    ):
        batch_shape = tuple(int(s) for s in batch_shape)
        event_shape = tuple(int(s) for s in event_shape)
        if len(event_shape) < support.event_dim:
            raise ValueError(
                f"ImproperUniform: event_shape {event_shape} has fewer dims than the "
                f"support's event_dim {support.event_dim}; pass a longer event_shape."
            )
        self._support = support
        self._batch_shape = batch_shape
        self._event_shape = event_shape
        self._set_validate(validate_args)

    @property
    def support(self) -> C.Constraint:  # type: ignore[override]
        return self._support

    @property
    def is_discrete(self) -> bool:  # type: ignore[override]
        return self._support.is_discrete

    @property
    def batch_shape(self) -> Shape:
        return self._batch_shape

    @property
    def event_shape(self) -> Shape:
        return self._event_shape

    def sample(self, key: PRNGKeyArray, sample_shape: Shape = ()) -> Array:
        raise NotImplementedError(
            "ImproperUniform has no normalised density and cannot be sampled. Give the site "
            "a value (observe, substitute or an init strategy), or use a proper prior."
        )

    def log_prob(self, value: ArrayLike) -> Array:
        value = self._check_sample(value)
        n = max(value.ndim - len(self._event_shape), 0)
        shape = jnp.broadcast_shapes(self._batch_shape, value.shape[:n])
        dtype = value.dtype if jnp.issubdtype(value.dtype, jnp.floating) else float
        return jnp.zeros(shape, jnp.result_type(dtype))


# --------------------------------------------------------------------------------------
# Mixtures
# --------------------------------------------------------------------------------------


def _check_mixing(who: str, mixing: Distribution) -> Categorical:
    if not isinstance(mixing, Categorical):
        raise TypeError(
            f"{who}: `mixing_distribution` must be a Categorical; found "
            f"{type(mixing).__name__}. Pass Categorical(probs=...) or Categorical(logits=...)."
        )
    return mixing


def _gather_component(samples: Array, idx: Array, event_ndim: int) -> Array:
    """``samples[..., idx, *event]``: ``samples`` is ``S + B + (K,) + E``, ``idx`` is ``S + B``."""
    axis = samples.ndim - event_ndim - 1
    idx = idx.reshape(idx.shape + (1,) * (event_ndim + 1))
    idx = jnp.broadcast_to(idx, samples.shape[:axis] + (1,) + samples.shape[axis + 1 :])
    return jnp.take_along_axis(samples, idx, axis=axis).squeeze(axis)


class _MixtureBase(Distribution):
    """Abstract base: a finite mixture with ``Categorical`` weights.

    Subclasses give the per-component log densities, samples, means and variances with
    the component axis at position ``-1 - event_dim``.
    """

    mixing_distribution: eqx.AbstractVar[Categorical]

    @property
    def mixture_size(self) -> int:
        """Number of components ``K``."""
        return self.mixing_distribution.num_categories

    def _log_weights(self) -> Array:
        return log_softmax(self.mixing_distribution.logits, axis=-1)

    def _weights_event(self) -> Array:
        w = self.mixing_distribution.probs
        return w.reshape(w.shape + (1,) * len(self.event_shape))

    @abc.abstractmethod
    def _component_log_probs(self, value: Array) -> Array: ...

    @abc.abstractmethod
    def _component_samples(self, key: PRNGKeyArray, sample_shape: Shape) -> Array: ...

    @abc.abstractmethod
    def _component_means(self) -> Array: ...

    @abc.abstractmethod
    def _component_variances(self) -> Array: ...

    @abc.abstractmethod
    def _component_cdfs(self, value: Array) -> Array: ...

    def sample(self, key: PRNGKeyArray, sample_shape: Shape = ()) -> Array:
        k1, k2 = jax.random.split(key)
        samples = self._component_samples(k1, tuple(sample_shape))
        idx = self.mixing_distribution.expand(self.batch_shape).sample(k2, tuple(sample_shape))
        return _gather_component(samples, idx, len(self.event_shape))

    def log_prob(self, value: ArrayLike) -> Array:
        lp = self._component_log_probs(jnp.asarray(value))
        lp, log_w = promote_value(lp, self._log_weights())
        return logsumexp(lp + log_w, axis=-1)

    @property
    def mean(self) -> Array:
        axis = -1 - len(self.event_shape)
        w, means = promote_value(self._weights_event(), self._component_means())
        out = jnp.sum(w * means, axis=axis)
        return jnp.broadcast_to(out, self.batch_shape + self.event_shape)

    @property
    def variance(self) -> Array:
        # Law of total variance: E[Var] + Var[E].
        axis = -1 - len(self.event_shape)
        w, means, variances = promote_value(
            self._weights_event(), self._component_means(), self._component_variances()
        )
        second = jnp.sum(w * (variances + means**2), axis=axis)
        out = second - jnp.sum(w * means, axis=axis) ** 2
        return jnp.broadcast_to(out, self.batch_shape + self.event_shape)

    def cdf(self, value: ArrayLike) -> Array:
        if self.event_shape:
            raise self._missing("cdf for a non-scalar event")
        cdfs, probs = promote_value(
            self._component_cdfs(jnp.asarray(value)), self.mixing_distribution.probs
        )
        return jnp.sum(probs * cdfs, axis=-1)


class MixtureSameFamily(_MixtureBase):
    """Mixture of the ``K`` batch members of one ``component_distribution``.

    Args:
        mixing_distribution: ``Categorical`` over ``K`` components, batch shape ``B``.
        component_distribution: a distribution of batch shape ``B + (K,)``.

    Example:
        >>> import jax.numpy as jnp, dists as D
        >>> d = D.MixtureSameFamily(
        ...     D.Categorical(probs=jnp.array([0.3, 0.7])), D.Normal(jnp.array([-1.0, 1.0]), 1.0)
        ... )
        >>> d.batch_shape, d.event_shape
        ((), ())
    """

    mixing_distribution: Categorical
    component_distribution: Distribution

    def __init__(
        self,
        mixing_distribution: Distribution,
        component_distribution: Distribution,
        *,
        validate_args: bool | None = None,
    ):
        mixing = _check_mixing("MixtureSameFamily", mixing_distribution)
        cb = tuple(component_distribution.batch_shape)
        if not cb or cb[-1] != mixing.num_categories:
            raise ValueError(
                "MixtureSameFamily: the rightmost batch dim of `component_distribution` must "
                f"equal the number of mixture components {mixing.num_categories}; found "
                f"batch_shape {cb}."
            )
        try:
            jnp.broadcast_shapes(tuple(mixing.batch_shape), cb[:-1])
        except ValueError as e:
            raise ValueError(
                f"MixtureSameFamily: mixing batch_shape {tuple(mixing.batch_shape)} does not "
                f"broadcast with the component batch_shape {cb[:-1]} (less the last dim)."
            ) from e
        self.mixing_distribution = mixing
        self.component_distribution = component_distribution
        self._set_validate(validate_args)

    @property
    def batch_shape(self) -> Shape:
        cb = tuple(self.component_distribution.batch_shape)[:-1]
        return tuple(jnp.broadcast_shapes(tuple(self.mixing_distribution.batch_shape), cb))

    @property
    def event_shape(self) -> Shape:
        return tuple(self.component_distribution.event_shape)

    @property
    def support(self) -> C.Constraint:  # type: ignore[override]
        return self.component_distribution.support

    @property
    def is_discrete(self) -> bool:  # type: ignore[override]
        return self.component_distribution.is_discrete

    def _expand_value(self, value: Array) -> Array:
        return jnp.expand_dims(value, -1 - len(self.event_shape))

    def _component_log_probs(self, value: Array) -> Array:
        x = self._expand_value(value)
        if self._validate:
            validate_sample(self.component_distribution, x)
        return self.component_distribution.log_prob(x)

    def _component_samples(self, key: PRNGKeyArray, sample_shape: Shape) -> Array:
        comp = self.component_distribution
        full = self.batch_shape + (self.mixture_size,)
        # Expand (not broadcast) so that each mixing batch member gets its own draws.
        return comp.expand(full).sample(key, sample_shape)

    def _component_means(self) -> Array:
        return self.component_distribution.mean

    def _component_variances(self) -> Array:
        return self.component_distribution.variance

    def _component_cdfs(self, value: Array) -> Array:
        return self.component_distribution.cdf(self._expand_value(value))


class MixtureGeneral(_MixtureBase):
    """Finite mixture of different distributions with a shared event shape.

    Also exported as ``Mixture``.

    Args:
        mixing_distribution: ``Categorical`` over ``K`` components.
        component_distributions: a list of ``K`` distributions whose batch shapes broadcast
            together and whose event shapes are equal.
        support: the support of the mixture; by default the components' common support.

    Example:
        >>> import jax.numpy as jnp, dists as D
        >>> d = D.Mixture(
        ...     D.Categorical(probs=jnp.array([0.5, 0.5])), [D.Normal(0.0, 1.0), D.Normal(3.0, 2.0)]
        ... )
        >>> d.log_prob(jnp.zeros(4)).shape
        (4,)
    """

    mixing_distribution: Categorical
    component_distributions: tuple[Distribution, ...]
    _support: C.Constraint | None

    def __init__(
        self,
        mixing_distribution: Distribution,
        component_distributions: Sequence[Distribution] | Distribution,
        *,
        support: C.Constraint | None = None,
        validate_args: bool | None = None,
    ):
        mixing = _check_mixing("Mixture", mixing_distribution)
        if isinstance(component_distributions, Distribution):
            raise TypeError(
                "Mixture: `component_distributions` must be a list of distributions; to mix "
                "the batch members of one distribution use MixtureSameFamily."
            )
        comps = tuple(component_distributions)
        if len(comps) != mixing.num_categories:
            raise ValueError(
                f"Mixture: got {len(comps)} component distributions but the mixing "
                f"distribution has {mixing.num_categories} categories."
            )
        events = {tuple(c.event_shape) for c in comps}
        if len(events) != 1:
            raise ValueError(
                f"Mixture: component event shapes must be equal; found {sorted(events)}."
            )
        try:
            jnp.broadcast_shapes(tuple(mixing.batch_shape), *(tuple(c.batch_shape) for c in comps))
        except ValueError as e:
            raise ValueError(
                "Mixture: batch shapes of the mixing and component distributions do not "
                f"broadcast: {[tuple(mixing.batch_shape)] + [c.batch_shape for c in comps]}."
            ) from e
        if support is None:
            support = _common_support(comps)
        self.mixing_distribution = mixing
        self.component_distributions = comps
        self._support = support
        self._set_validate(validate_args)

    @property
    def batch_shape(self) -> Shape:
        shapes = [tuple(c.batch_shape) for c in self.component_distributions]
        return tuple(jnp.broadcast_shapes(tuple(self.mixing_distribution.batch_shape), *shapes))

    @property
    def event_shape(self) -> Shape:
        return tuple(self.component_distributions[0].event_shape)

    @property
    def support(self) -> C.Constraint:  # type: ignore[override]
        return self._support if self._support is not None else C.real

    @property
    def is_discrete(self) -> bool:  # type: ignore[override]
        return all(c.is_discrete for c in self.component_distributions)

    def _stack(self, arrays: list[Array], shape: Shape) -> Array:
        axis = len(shape) - len(self.event_shape)
        # One dtype, chosen explicitly (strict promotion mixes none): integer draws of
        # discrete components stay integers, a mix with floats becomes float.
        dtypes = {a.dtype for a in arrays}
        dtype = dtypes.pop() if len(dtypes) == 1 else _float_dtype(*arrays)
        return jnp.stack([jnp.broadcast_to(a, shape).astype(dtype) for a in arrays], axis=axis)

    def _component_log_probs(self, value: Array) -> Array:
        value = self._check_sample(value)
        lps = [_log_prob_in_support(c, value) for c in self.component_distributions]
        shape = jnp.broadcast_shapes(self.batch_shape, *(lp.shape for lp in lps))
        return self._stack(lps, shape)

    def _component_samples(self, key: PRNGKeyArray, sample_shape: Shape) -> Array:
        keys = jax.random.split(key, len(self.component_distributions))
        batch = self.batch_shape
        xs = [
            c.expand(batch).sample(k, sample_shape)
            for c, k in zip(self.component_distributions, keys)
        ]
        return self._stack(xs, self.shape(sample_shape))

    def _component_means(self) -> Array:
        return self._stack(
            [c.mean for c in self.component_distributions], self.batch_shape + self.event_shape
        )

    def _component_variances(self) -> Array:
        return self._stack(
            [c.variance for c in self.component_distributions],
            self.batch_shape + self.event_shape,
        )

    def _component_cdfs(self, value: Array) -> Array:
        cdfs = [c.cdf(value) for c in self.component_distributions]
        shape = jnp.broadcast_shapes(self.batch_shape, *(c.shape for c in cdfs))
        return self._stack(cdfs, shape)


Mixture = MixtureGeneral


def _log_prob_in_support(dist: Distribution, value: Array) -> Array:
    """``dist.log_prob(value)``, and ``-inf`` where ``value`` is outside ``dist.support``.

    Components of a general mixture can have different supports; outside its support a
    component's formula may give NaN (``log`` of a negative number) instead of ``-inf``.
    """
    lp = dist.log_prob(value)
    support = dist.support
    if isinstance(support, C._Dependent) or support is C.real:
        return lp
    ok = support(value)
    return jnp.where(ok, lp, jnp.full((), -jnp.inf, lp.dtype))


def _common_support(comps: tuple[Distribution, ...]) -> C.Constraint | None:
    """The components' support when they all share it, else ``None`` (unchecked)."""
    first = comps[0].support
    for c in comps[1:]:
        s = c.support
        if type(s) is not type(first):
            return None
        same = eqx.tree_equal(s, first)
        if is_concrete(same) and not bool(same):
            return None
    return first


# --------------------------------------------------------------------------------------
# Transformed distributions
# --------------------------------------------------------------------------------------


class TransformedDistribution(Distribution):
    """The distribution of ``transforms[-1](... transforms[0](x))`` with ``x ~ base``.

    The event dim of the result is the larger of what the base and the transforms need;
    base batch dims are reinterpreted as event dims when a transform acts on more dims
    than the base's event. ``log_prob`` subtracts each transform's log-det-Jacobian summed
    over the event dims.

    Args:
        base_distribution: the distribution of ``x``.
        transforms: a ``Transform`` or a list of them, applied in order.

    Example:
        >>> import jax.numpy as jnp, dists as D
        >>> d = D.TransformedDistribution(D.Normal(0.0, 1.0), D.ExpTransform())
        >>> d.support
        Positive
    """

    base_dist: Distribution
    transforms: tuple[Transform, ...]
    _in_event_dims: tuple[int, ...] = eqx.field(static=True)
    _batch_shape: Shape = eqx.field(static=True)
    _event_shape: Shape = eqx.field(static=True)

    def __init__(
        self,
        base_distribution: Distribution,
        transforms: Transform | Sequence[Transform],
        *,
        validate_args: bool | None = None,
    ):
        if isinstance(transforms, Transform):
            transforms = [transforms]
        transforms = tuple(transforms)
        for t in transforms:
            if not isinstance(t, Transform):
                raise TypeError(
                    "TransformedDistribution: `transforms` must be a Transform or a list of "
                    f"them; found {type(t).__name__}."
                )
        base = base_distribution
        if isinstance(base, TransformedDistribution):
            transforms = base.transforms + transforms
            base = base.base_dist
        base_event_dim = len(base.event_shape)
        # How many base batch dims must become event dims so each transform gets at least
        # the event dims its domain needs.
        e, extra = base_event_dim, 0
        for t in transforms:
            d = t.domain.event_dim
            if e < d:
                extra += d - e
                e = d
            e += t.codomain.event_dim - d
        base_shape = tuple(base.shape())
        if len(base_shape) < base_event_dim + extra:
            raise ValueError(
                f"TransformedDistribution: the transforms need {base_event_dim + extra} event "
                f"dims but the base distribution has shape {base_shape}; expand the base "
                "distribution first."
            )
        shape = base_shape
        for t in transforms:
            shape = tuple(t.forward_shape(shape))
        inv_shape = shape
        for t in reversed(transforms):
            inv_shape = tuple(t.inverse_shape(inv_shape))
        if inv_shape != base_shape:
            base = base.expand(inv_shape[: len(inv_shape) - base_event_dim])
        if extra > 0:
            base = base.to_event(extra)
        in_dims, e = [], base_event_dim + extra
        for t in transforms:
            in_dims.append(e)
            e += t.codomain.event_dim - t.domain.event_dim
        self.base_dist = base
        self.transforms = transforms
        self._in_event_dims = tuple(in_dims)
        self._batch_shape = shape[: len(shape) - e]
        self._event_shape = shape[len(shape) - e :]
        self._set_validate(validate_args)

    @property
    def batch_shape(self) -> Shape:
        return self._batch_shape

    @property
    def event_shape(self) -> Shape:
        return self._event_shape

    @property
    def has_rsample(self) -> bool:  # type: ignore[override]
        return self.base_dist.has_rsample

    @property
    def support(self) -> C.Constraint:  # type: ignore[override]
        if not self.transforms:
            return self.base_dist.support
        codomain = self.transforms[-1].codomain
        extra = len(self._event_shape) - codomain.event_dim
        return C.independent(codomain, extra) if extra > 0 else codomain

    def sample(self, key: PRNGKeyArray, sample_shape: Shape = ()) -> Array:
        x = self.base_dist.sample(key, sample_shape)
        for t in self.transforms:
            x = t(x)
        return x

    def sample_with_intermediates(
        self, key: PRNGKeyArray, sample_shape: Shape = ()
    ) -> tuple[Array, list]:
        x = self.base_dist.sample(key, sample_shape)
        intermediates = []
        for t in self.transforms:
            x_new = t(x)
            intermediates.append([x, None])
            x = x_new
        return x, intermediates

    def log_prob(self, value: ArrayLike) -> Array:
        value = self._check_sample(value)
        y = jnp.asarray(value)
        lp = jnp.zeros((), as_float(y).dtype)
        for t, e_in in zip(reversed(self.transforms), reversed(self._in_event_dims)):
            x = t.inv(y)
            ldj = t.log_abs_det_jacobian(x, y)
            lp, ldj = promote_value(lp, sum_rightmost(ldj, e_in - t.domain.event_dim))
            lp = lp - ldj
            y = x
        lp, base_lp = promote_value(lp, self.base_dist.log_prob(y))
        return lp + base_lp
