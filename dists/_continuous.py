"""Continuous univariate location-scale families (and their folded or log forms).

These have no shape parameter; the families with one are in ``_continuous2.py``. Every
family follows the pattern of ``_normal.py``: parameters are float arrays broadcast to
one batch shape, ``validate_args`` is a static flag, and ``sample`` draws by transforming
standard noise, so gradients flow through the draws (``has_rsample``). ``log_prob`` is
``-inf`` outside a bounded support, where the density formula alone would give a finite
wrong value or NaN.
"""

from __future__ import annotations

import math
from typing import ClassVar

import jax
import jax.numpy as jnp
from jax.scipy.special import expit, logit, ndtr, ndtri

from . import _constraints as C
from ._distribution import Distribution
from ._typing import Array, ArrayLike, PRNGKeyArray, Shape
from ._util import promote_value, softplus

EULER_GAMMA = 0.5772156649015329
_LOG_2PI = math.log(2 * math.pi)


def _outside_to_neg_inf(ok: Array, lp: Array) -> Array:
    """``lp`` where ``ok``, else ``-inf``: outside the support the density formula gives
    a finite wrong value or NaN, and SciPy (and a mask over padded data) expect ``-inf``."""
    return jnp.where(ok, lp, -jnp.inf)


class HalfNormal(Distribution):
    """Normal(0, ``scale``) folded onto the non-negative reals.

    Args:
        scale: positive scale of the underlying normal.

    Example:
        >>> import jax, dists as D
        >>> D.HalfNormal(1.0).sample(jax.random.key(0), (3,)).shape
        (3,)
    """

    arg_constraints: ClassVar = {"scale": C.positive}
    support: ClassVar = C.positive
    has_rsample: ClassVar[bool] = True

    scale: Array

    def __init__(self, scale: ArrayLike = 1.0, *, validate_args: bool | None = None):
        (self.scale,) = self._init_params(validate_args, scale=scale)

    def sample(self, key: PRNGKeyArray, sample_shape: Shape = ()) -> Array:
        eps = jax.random.normal(key, tuple(sample_shape) + self.batch_shape, self.scale.dtype)
        eps, scale = promote_value(eps, self.scale)
        return scale * jnp.abs(eps)

    def log_prob(self, value: ArrayLike) -> Array:
        value, scale = promote_value(self._check_sample(value), self.scale)
        z = value / scale
        lp = -0.5 * z**2 - jnp.log(scale) + 0.5 * math.log(2 / math.pi)
        return _outside_to_neg_inf(value >= 0, lp)

    @property
    def mean(self) -> Array:
        return self.scale * math.sqrt(2 / math.pi)

    @property
    def variance(self) -> Array:
        return self.scale**2 * (1 - 2 / math.pi)

    def entropy(self) -> Array:
        return 0.5 * math.log(math.pi / 2) + 0.5 + jnp.log(self.scale)

    def cdf(self, value: ArrayLike) -> Array:
        value, scale = promote_value(value, self.scale)
        return jnp.clip(2 * ndtr(value / scale) - 1, 0.0, 1.0)

    def icdf(self, q: ArrayLike) -> Array:
        q, scale = promote_value(q, self.scale)
        return scale * ndtri((1 + q) / 2)


class LogNormal(Distribution):
    """``exp(Normal(loc, scale))``.

    Args:
        loc: mean of the logarithm.
        scale: positive standard deviation of the logarithm.

    Example:
        >>> import jax, dists as D
        >>> D.LogNormal(0.0, 1.0).sample(jax.random.key(0), (3,)).shape
        (3,)
    """

    arg_constraints: ClassVar = {"loc": C.real, "scale": C.positive}
    support: ClassVar = C.positive
    has_rsample: ClassVar[bool] = True

    loc: Array
    scale: Array

    def __init__(
        self, loc: ArrayLike = 0.0, scale: ArrayLike = 1.0, *, validate_args: bool | None = None
    ):
        self.loc, self.scale = self._init_params(validate_args, loc=loc, scale=scale)

    def sample(self, key: PRNGKeyArray, sample_shape: Shape = ()) -> Array:
        eps = jax.random.normal(key, tuple(sample_shape) + self.batch_shape, self.loc.dtype)
        eps, loc, scale = promote_value(eps, self.loc, self.scale)
        return jnp.exp(loc + scale * eps)

    def log_prob(self, value: ArrayLike) -> Array:
        value, loc, scale = promote_value(self._check_sample(value), self.loc, self.scale)
        log_x = jnp.log(value)
        z = (log_x - loc) / scale
        lp = -0.5 * z**2 - jnp.log(scale) - 0.5 * _LOG_2PI - log_x
        return _outside_to_neg_inf(value > 0, lp)

    @property
    def mean(self) -> Array:
        return jnp.exp(self.loc + self.scale**2 / 2)

    @property
    def variance(self) -> Array:
        return jnp.expm1(self.scale**2) * jnp.exp(2 * self.loc + self.scale**2)

    def entropy(self) -> Array:
        return self.loc + 0.5 + 0.5 * _LOG_2PI + jnp.log(self.scale)

    def cdf(self, value: ArrayLike) -> Array:
        value, loc, scale = promote_value(value, self.loc, self.scale)
        return ndtr((jnp.log(value) - loc) / scale)

    def icdf(self, q: ArrayLike) -> Array:
        q, loc, scale = promote_value(q, self.loc, self.scale)
        return jnp.exp(loc + scale * ndtri(q))


class Cauchy(Distribution):
    """Cauchy distribution with median ``loc`` and half-width ``scale``.

    Args:
        loc: location (median).
        scale: positive scale.

    ``mean`` and ``variance`` are undefined and returned as NaN.

    Example:
        >>> import jax, dists as D
        >>> D.Cauchy(0.0, 1.0).sample(jax.random.key(0), (3,)).shape
        (3,)
    """

    arg_constraints: ClassVar = {"loc": C.real, "scale": C.positive}
    support: ClassVar = C.real
    has_rsample: ClassVar[bool] = True

    loc: Array
    scale: Array

    def __init__(
        self, loc: ArrayLike = 0.0, scale: ArrayLike = 1.0, *, validate_args: bool | None = None
    ):
        self.loc, self.scale = self._init_params(validate_args, loc=loc, scale=scale)

    def sample(self, key: PRNGKeyArray, sample_shape: Shape = ()) -> Array:
        eps = jax.random.cauchy(key, tuple(sample_shape) + self.batch_shape, self.loc.dtype)
        eps, loc, scale = promote_value(eps, self.loc, self.scale)
        return loc + scale * eps

    def log_prob(self, value: ArrayLike) -> Array:
        value, loc, scale = promote_value(self._check_sample(value), self.loc, self.scale)
        z = (value - loc) / scale
        return -math.log(math.pi) - jnp.log(scale) - jnp.log1p(z**2)

    @property
    def mean(self) -> Array:
        return jnp.full(self.batch_shape, jnp.nan, self.loc.dtype)

    @property
    def variance(self) -> Array:
        return jnp.full(self.batch_shape, jnp.nan, self.loc.dtype)

    def entropy(self) -> Array:
        return math.log(4 * math.pi) + jnp.log(self.scale)

    def cdf(self, value: ArrayLike) -> Array:
        value, loc, scale = promote_value(value, self.loc, self.scale)
        z = (value - loc) / scale
        return 0.5 + jnp.arctan(z) / math.pi

    def icdf(self, q: ArrayLike) -> Array:
        q, loc, scale = promote_value(q, self.loc, self.scale)
        return loc + scale * jnp.tan(math.pi * (q - 0.5))


class HalfCauchy(Distribution):
    """Cauchy(0, ``scale``) folded onto the non-negative reals.

    Args:
        scale: positive scale.

    ``mean`` and ``variance`` are infinite.

    Example:
        >>> import jax, dists as D
        >>> D.HalfCauchy(1.0).sample(jax.random.key(0), (3,)).shape
        (3,)
    """

    arg_constraints: ClassVar = {"scale": C.positive}
    support: ClassVar = C.positive
    has_rsample: ClassVar[bool] = True

    scale: Array

    def __init__(self, scale: ArrayLike = 1.0, *, validate_args: bool | None = None):
        (self.scale,) = self._init_params(validate_args, scale=scale)

    def sample(self, key: PRNGKeyArray, sample_shape: Shape = ()) -> Array:
        eps = jax.random.cauchy(key, tuple(sample_shape) + self.batch_shape, self.scale.dtype)
        eps, scale = promote_value(eps, self.scale)
        return scale * jnp.abs(eps)

    def log_prob(self, value: ArrayLike) -> Array:
        value, scale = promote_value(self._check_sample(value), self.scale)
        z = value / scale
        lp = math.log(2 / math.pi) - jnp.log(scale) - jnp.log1p(z**2)
        return _outside_to_neg_inf(value >= 0, lp)

    @property
    def mean(self) -> Array:
        return jnp.full(self.batch_shape, jnp.inf, self.scale.dtype)

    @property
    def variance(self) -> Array:
        return jnp.full(self.batch_shape, jnp.inf, self.scale.dtype)

    def entropy(self) -> Array:
        return math.log(2 * math.pi) + jnp.log(self.scale)

    def cdf(self, value: ArrayLike) -> Array:
        value, scale = promote_value(value, self.scale)
        z = jnp.maximum(value, 0) / scale
        return 2 * jnp.arctan(z) / math.pi

    def icdf(self, q: ArrayLike) -> Array:
        q, scale = promote_value(q, self.scale)
        return scale * jnp.tan(0.5 * math.pi * q)


class Laplace(Distribution):
    """Laplace (double exponential) distribution.

    Args:
        loc: location (mean and median).
        scale: positive scale; the variance is ``2 * scale**2``.

    Example:
        >>> import jax, dists as D
        >>> D.Laplace(0.0, 1.0).sample(jax.random.key(0), (3,)).shape
        (3,)
    """

    arg_constraints: ClassVar = {"loc": C.real, "scale": C.positive}
    support: ClassVar = C.real
    has_rsample: ClassVar[bool] = True

    loc: Array
    scale: Array

    def __init__(
        self, loc: ArrayLike = 0.0, scale: ArrayLike = 1.0, *, validate_args: bool | None = None
    ):
        self.loc, self.scale = self._init_params(validate_args, loc=loc, scale=scale)

    def sample(self, key: PRNGKeyArray, sample_shape: Shape = ()) -> Array:
        eps = jax.random.laplace(key, tuple(sample_shape) + self.batch_shape, self.loc.dtype)
        eps, loc, scale = promote_value(eps, self.loc, self.scale)
        return loc + scale * eps

    def log_prob(self, value: ArrayLike) -> Array:
        value, loc, scale = promote_value(self._check_sample(value), self.loc, self.scale)
        z = (value - loc) / scale
        return -jnp.abs(z) - jnp.log(2 * scale)

    @property
    def mean(self) -> Array:
        return self.loc

    @property
    def variance(self) -> Array:
        return 2 * self.scale**2

    def entropy(self) -> Array:
        return 1 + jnp.log(2 * self.scale)

    def cdf(self, value: ArrayLike) -> Array:
        value, loc, scale = promote_value(value, self.loc, self.scale)
        z = (value - loc) / scale
        return 0.5 - 0.5 * jnp.sign(z) * jnp.expm1(-jnp.abs(z))

    def icdf(self, q: ArrayLike) -> Array:
        q, loc, scale = promote_value(q, self.loc, self.scale)
        d = q - 0.5
        return loc - scale * jnp.sign(d) * jnp.log1p(-2 * jnp.abs(d))


class AsymmetricLaplace(Distribution):
    """Laplace distribution with different decay rates on each side of ``loc``.

    Args:
        loc: location (the mode).
        scale: positive overall scale.
        asymmetry: positive; the left side has scale ``scale * asymmetry`` and the right
            side ``scale / asymmetry``. ``asymmetry = 1`` is ``Laplace(loc, scale)``.

    Example:
        >>> import jax, dists as D
        >>> D.AsymmetricLaplace(0.0, 1.0, 2.0).sample(jax.random.key(0), (3,)).shape
        (3,)
    """

    arg_constraints: ClassVar = {"loc": C.real, "scale": C.positive, "asymmetry": C.positive}
    support: ClassVar = C.real
    has_rsample: ClassVar[bool] = True

    loc: Array
    scale: Array
    asymmetry: Array

    def __init__(
        self,
        loc: ArrayLike = 0.0,
        scale: ArrayLike = 1.0,
        asymmetry: ArrayLike = 1.0,
        *,
        validate_args: bool | None = None,
    ):
        self.loc, self.scale, self.asymmetry = self._init_params(
            validate_args, loc=loc, scale=scale, asymmetry=asymmetry
        )

    @property
    def left_scale(self) -> Array:
        return self.scale * self.asymmetry

    @property
    def right_scale(self) -> Array:
        return self.scale / self.asymmetry

    def sample(self, key: PRNGKeyArray, sample_shape: Shape = ()) -> Array:
        # The difference of two independent exponentials with scales r and l has exactly
        # this density, so no branching on a uniform is needed.
        shape = (2,) + tuple(sample_shape) + self.batch_shape
        e = jax.random.exponential(key, shape, self.loc.dtype)
        e0, e1, loc, left, right = promote_value(
            e[0], e[1], self.loc, self.left_scale, self.right_scale
        )
        return loc + right * e0 - left * e1

    def log_prob(self, value: ArrayLike) -> Array:
        value, loc, left, right = promote_value(
            self._check_sample(value), self.loc, self.left_scale, self.right_scale
        )
        z = value - loc
        side = jnp.where(z < 0, left, right)
        return -jnp.abs(z) / side - jnp.log(left + right)

    @property
    def mean(self) -> Array:
        return self.loc + self.right_scale - self.left_scale

    @property
    def variance(self) -> Array:
        return self.left_scale**2 + self.right_scale**2

    def entropy(self) -> Array:
        return 1 + jnp.log(self.left_scale + self.right_scale)

    def cdf(self, value: ArrayLike) -> Array:
        value, loc, left, right = promote_value(value, self.loc, self.left_scale, self.right_scale)
        z = value - loc
        total = left + right
        below = left / total * jnp.exp(jnp.minimum(z, 0) / left)
        above = 1 - right / total * jnp.exp(-jnp.maximum(z, 0) / right)
        return jnp.where(z < 0, below, above)

    def icdf(self, q: ArrayLike) -> Array:
        q, loc, left, right = promote_value(q, self.loc, self.left_scale, self.right_scale)
        total = left + right
        p_left = left / total
        below = left * jnp.log(jnp.minimum(q, p_left) / p_left)
        above = -right * jnp.log((1 - jnp.maximum(q, p_left)) / (1 - p_left))
        return loc + jnp.where(q < p_left, below, above)


class Logistic(Distribution):
    """Logistic distribution.

    Args:
        loc: location (mean and median).
        scale: positive scale; the variance is ``(pi * scale)**2 / 3``.

    Example:
        >>> import jax, dists as D
        >>> D.Logistic(0.0, 1.0).sample(jax.random.key(0), (3,)).shape
        (3,)
    """

    arg_constraints: ClassVar = {"loc": C.real, "scale": C.positive}
    support: ClassVar = C.real
    has_rsample: ClassVar[bool] = True

    loc: Array
    scale: Array

    def __init__(
        self, loc: ArrayLike = 0.0, scale: ArrayLike = 1.0, *, validate_args: bool | None = None
    ):
        self.loc, self.scale = self._init_params(validate_args, loc=loc, scale=scale)

    def sample(self, key: PRNGKeyArray, sample_shape: Shape = ()) -> Array:
        eps = jax.random.logistic(key, tuple(sample_shape) + self.batch_shape, self.loc.dtype)
        eps, loc, scale = promote_value(eps, self.loc, self.scale)
        return loc + scale * eps

    def log_prob(self, value: ArrayLike) -> Array:
        value, loc, scale = promote_value(self._check_sample(value), self.loc, self.scale)
        z = (value - loc) / scale
        return -z - jnp.log(scale) - 2 * softplus(-z)

    @property
    def mean(self) -> Array:
        return self.loc

    @property
    def variance(self) -> Array:
        return (math.pi * self.scale) ** 2 / 3

    def entropy(self) -> Array:
        return jnp.log(self.scale) + 2

    def cdf(self, value: ArrayLike) -> Array:
        value, loc, scale = promote_value(value, self.loc, self.scale)
        return expit((value - loc) / scale)

    def icdf(self, q: ArrayLike) -> Array:
        q, loc, scale = promote_value(q, self.loc, self.scale)
        return loc + scale * logit(q)


class Gumbel(Distribution):
    """Gumbel (type-I extreme value, maximum) distribution.

    Args:
        loc: location (the mode).
        scale: positive scale.

    Example:
        >>> import jax, dists as D
        >>> D.Gumbel(0.0, 1.0).sample(jax.random.key(0), (3,)).shape
        (3,)
    """

    arg_constraints: ClassVar = {"loc": C.real, "scale": C.positive}
    support: ClassVar = C.real
    has_rsample: ClassVar[bool] = True

    loc: Array
    scale: Array

    def __init__(
        self, loc: ArrayLike = 0.0, scale: ArrayLike = 1.0, *, validate_args: bool | None = None
    ):
        self.loc, self.scale = self._init_params(validate_args, loc=loc, scale=scale)

    def sample(self, key: PRNGKeyArray, sample_shape: Shape = ()) -> Array:
        eps = jax.random.gumbel(key, tuple(sample_shape) + self.batch_shape, self.loc.dtype)
        eps, loc, scale = promote_value(eps, self.loc, self.scale)
        return loc + scale * eps

    def log_prob(self, value: ArrayLike) -> Array:
        value, loc, scale = promote_value(self._check_sample(value), self.loc, self.scale)
        z = (value - loc) / scale
        return -(z + jnp.exp(-z)) - jnp.log(scale)

    @property
    def mean(self) -> Array:
        return self.loc + EULER_GAMMA * self.scale

    @property
    def variance(self) -> Array:
        return (math.pi * self.scale) ** 2 / 6

    def entropy(self) -> Array:
        return jnp.log(self.scale) + EULER_GAMMA + 1

    def cdf(self, value: ArrayLike) -> Array:
        value, loc, scale = promote_value(value, self.loc, self.scale)
        z = (value - loc) / scale
        return jnp.exp(-jnp.exp(-z))

    def icdf(self, q: ArrayLike) -> Array:
        q, loc, scale = promote_value(q, self.loc, self.scale)
        return loc - scale * jnp.log(-jnp.log(q))


class Uniform(Distribution):
    """Uniform distribution on ``[low, high]``.

    Args:
        low: lower bound.
        high: upper bound, greater than ``low``.

    Example:
        >>> import jax, dists as D
        >>> D.Uniform(0.0, 2.0).sample(jax.random.key(0), (3,)).shape
        (3,)
    """

    arg_constraints: ClassVar = {"low": C.dependent, "high": C.dependent}
    has_rsample: ClassVar[bool] = True

    low: Array
    high: Array

    def __init__(
        self, low: ArrayLike = 0.0, high: ArrayLike = 1.0, *, validate_args: bool | None = None
    ):
        low, high = self._init_params(validate_args, low=low, high=high)
        # Both are ``dependent`` in arg_constraints (as in NumPyro); check them here.
        self.low = self._check_param("low", low, C.real, validate_args=validate_args)
        self.high = self._check_param(
            "high",
            high,
            C.greater_than(low),
            validate_args=validate_args,
            describe="GreaterThan(low)",
        )

    @property
    def support(self) -> C.Constraint:  # type: ignore[override]
        return C.interval(self.low, self.high)

    def sample(self, key: PRNGKeyArray, sample_shape: Shape = ()) -> Array:
        u = jax.random.uniform(key, tuple(sample_shape) + self.batch_shape, self.low.dtype)
        u, low, high = promote_value(u, self.low, self.high)
        return low + (high - low) * u

    def log_prob(self, value: ArrayLike) -> Array:
        value, low, high = promote_value(self._check_sample(value), self.low, self.high)
        lp = -jnp.log(high - low)
        return _outside_to_neg_inf((value >= low) & (value <= high), lp)

    @property
    def mean(self) -> Array:
        return (self.low + self.high) / 2

    @property
    def variance(self) -> Array:
        return (self.high - self.low) ** 2 / 12

    def entropy(self) -> Array:
        return jnp.log(self.high - self.low)

    def cdf(self, value: ArrayLike) -> Array:
        value, low, high = promote_value(value, self.low, self.high)
        return jnp.clip((value - low) / (high - low), 0.0, 1.0)

    def icdf(self, q: ArrayLike) -> Array:
        q, low, high = promote_value(q, self.low, self.high)
        return low + (high - low) * q


class LogUniform(Distribution):
    """Distribution whose logarithm is uniform on ``[log(low), log(high)]``.

    Args:
        low: positive lower bound.
        high: upper bound, greater than ``low``.

    Example:
        >>> import jax, dists as D
        >>> D.LogUniform(1.0, 10.0).sample(jax.random.key(0), (3,)).shape
        (3,)
    """

    arg_constraints: ClassVar = {"low": C.positive, "high": C.dependent}
    has_rsample: ClassVar[bool] = True

    low: Array
    high: Array

    def __init__(self, low: ArrayLike, high: ArrayLike, *, validate_args: bool | None = None):
        self.low, high = self._init_params(validate_args, low=low, high=high)
        self.high = self._check_param(
            "high",
            high,
            C.greater_than(self.low),
            validate_args=validate_args,
            describe="GreaterThan(low)",
        )

    @property
    def support(self) -> C.Constraint:  # type: ignore[override]
        return C.interval(self.low, self.high)

    def _log_ratio(self) -> Array:
        return jnp.log(self.high) - jnp.log(self.low)

    def sample(self, key: PRNGKeyArray, sample_shape: Shape = ()) -> Array:
        u = jax.random.uniform(key, tuple(sample_shape) + self.batch_shape, self.low.dtype)
        return self.icdf(u)

    def log_prob(self, value: ArrayLike) -> Array:
        value, low, high, log_ratio = promote_value(
            self._check_sample(value), self.low, self.high, self._log_ratio()
        )
        lp = -jnp.log(value) - jnp.log(log_ratio)
        return _outside_to_neg_inf((value >= low) & (value <= high), lp)

    @property
    def mean(self) -> Array:
        return (self.high - self.low) / self._log_ratio()

    @property
    def variance(self) -> Array:
        r = self._log_ratio()
        return (self.high**2 - self.low**2) / (2 * r) - ((self.high - self.low) / r) ** 2

    def entropy(self) -> Array:
        return 0.5 * (jnp.log(self.low) + jnp.log(self.high)) + jnp.log(self._log_ratio())

    def cdf(self, value: ArrayLike) -> Array:
        value, low, log_ratio = promote_value(value, self.low, self._log_ratio())
        frac = (jnp.log(value) - jnp.log(low)) / log_ratio
        return jnp.clip(frac, 0.0, 1.0)

    def icdf(self, q: ArrayLike) -> Array:
        q, low, log_ratio = promote_value(q, self.low, self._log_ratio())
        return jnp.exp(jnp.log(low) + q * log_ratio)


class Exponential(Distribution):
    """Exponential distribution with ``rate`` (mean ``1 / rate``).

    Args:
        rate: positive rate.

    Example:
        >>> import jax, dists as D
        >>> D.Exponential(2.0).sample(jax.random.key(0), (3,)).shape
        (3,)
    """

    arg_constraints: ClassVar = {"rate": C.positive}
    support: ClassVar = C.positive
    has_rsample: ClassVar[bool] = True

    rate: Array

    def __init__(self, rate: ArrayLike = 1.0, *, validate_args: bool | None = None):
        (self.rate,) = self._init_params(validate_args, rate=rate)

    def sample(self, key: PRNGKeyArray, sample_shape: Shape = ()) -> Array:
        shape = tuple(sample_shape) + self.batch_shape
        e, rate = promote_value(jax.random.exponential(key, shape, self.rate.dtype), self.rate)
        return e / rate

    def log_prob(self, value: ArrayLike) -> Array:
        value, rate = promote_value(self._check_sample(value), self.rate)
        return _outside_to_neg_inf(value >= 0, jnp.log(rate) - rate * value)

    @property
    def mean(self) -> Array:
        return 1 / self.rate

    @property
    def variance(self) -> Array:
        return 1 / self.rate**2

    def entropy(self) -> Array:
        return 1 - jnp.log(self.rate)

    def cdf(self, value: ArrayLike) -> Array:
        value, rate = promote_value(value, self.rate)
        return -jnp.expm1(-rate * jnp.maximum(value, 0))

    def icdf(self, q: ArrayLike) -> Array:
        q, rate = promote_value(q, self.rate)
        return -jnp.log1p(-q) / rate
