"""Continuous univariate families with a shape parameter.

They follow the pattern of ``_normal.py``, like those in ``_continuous.py``. The
gamma-type families (``Gamma``, ``InverseGamma``, ``Chi2``, ``Beta``, ``StudentT``)
sample with ``jax.random.gamma``/``beta``/``t``, which JAX differentiates implicitly, so
they are reparameterised. ``VonMises`` uses Best and Fisher's rejection sampler in one
vectorised ``lax.while_loop``. ``TruncatedNormal`` samples by the inverse CDF, evaluated
on the side of the normal where it keeps its precision.
"""

from __future__ import annotations

import math
from typing import ClassVar

import jax
import jax.numpy as jnp
from jax import lax
from jax.scipy.special import (
    betainc,
    betaln,
    digamma,
    gammainc,
    gammaincc,
    gammaln,
    i0e,
    i1e,
    log_ndtr,
    ndtr,
    ndtri,
    xlog1py,
    xlogy,
)

from . import _constraints as C
from ._continuous import EULER_GAMMA, _outside_to_neg_inf
from ._distribution import Distribution
from ._typing import Array, ArrayLike, PRNGKeyArray, Shape
from ._util import as_float, log1mexp, promote_value

_LOG_2PI = math.log(2 * math.pi)
_circular = C.interval(-math.pi, math.pi)


class StudentT(Distribution):
    """Student's t distribution with ``df`` degrees of freedom, shifted and scaled.

    Args:
        df: positive degrees of freedom.
        loc: location (the mean when ``df > 1``).
        scale: positive scale.

    ``mean`` is NaN for ``df <= 1``; ``variance`` is ``inf`` for ``1 < df <= 2`` and NaN
    for ``df <= 1``.

    Example:
        >>> import jax, dists as D
        >>> D.StudentT(3.0).sample(jax.random.key(0), (3,)).shape
        (3,)
    """

    arg_constraints: ClassVar = {"df": C.positive, "loc": C.real, "scale": C.positive}
    support: ClassVar = C.real
    has_rsample: ClassVar[bool] = True

    df: Array
    loc: Array
    scale: Array

    def __init__(
        self,
        df: ArrayLike,
        loc: ArrayLike = 0.0,
        scale: ArrayLike = 1.0,
        *,
        validate_args: bool | None = None,
    ):
        self.df, self.loc, self.scale = self._init_params(
            validate_args, df=df, loc=loc, scale=scale
        )

    def sample(self, key: PRNGKeyArray, sample_shape: Shape = ()) -> Array:
        shape = tuple(sample_shape) + self.batch_shape
        # jax.random.t combines df with draws of the full shape by rank promotion, so df
        # is broadcast to that shape first.
        t = jax.random.t(key, jnp.broadcast_to(self.df, shape), shape, self.df.dtype)
        t, loc, scale = promote_value(t, self.loc, self.scale)
        return loc + scale * t

    def log_prob(self, value: ArrayLike) -> Array:
        value, df, loc, scale = promote_value(
            self._check_sample(value), self.df, self.loc, self.scale
        )
        z = (value - loc) / scale
        half = 0.5 * (df + 1)
        return (
            gammaln(half)
            - gammaln(0.5 * df)
            - 0.5 * jnp.log(df * math.pi)
            - jnp.log(scale)
            - half * jnp.log1p(z**2 / df)
        )

    @property
    def mean(self) -> Array:
        return jnp.where(self.df > 1, self.loc, jnp.nan)

    @property
    def variance(self) -> Array:
        finite = self.scale**2 * self.df / (self.df - 2)
        return jnp.where(self.df > 2, finite, jnp.where(self.df > 1, jnp.inf, jnp.nan))

    def entropy(self) -> Array:
        half = 0.5 * (self.df + 1)
        return (
            half * (digamma(half) - digamma(0.5 * self.df))
            + 0.5 * jnp.log(self.df)
            + betaln(0.5 * self.df, 0.5)
            + jnp.log(self.scale)
        )

    def cdf(self, value: ArrayLike) -> Array:
        value, df, loc, scale = promote_value(value, self.df, self.loc, self.scale)
        z = (value - loc) / scale
        # P(|T| > |z|) is a regularised incomplete beta function of df / (df + z^2).
        tail = 0.5 * betainc(0.5 * df, 0.5, df / (df + z**2))
        return jnp.where(z > 0, 1 - tail, tail)


class Weibull(Distribution):
    """Weibull distribution.

    Args:
        scale: positive scale ``lambda``.
        concentration: positive shape ``k``; the density is proportional to
            ``x**(k-1) * exp(-(x / lambda)**k)``.

    Example:
        >>> import jax, dists as D
        >>> D.Weibull(1.0, 2.0).sample(jax.random.key(0), (3,)).shape
        (3,)
    """

    arg_constraints: ClassVar = {"scale": C.positive, "concentration": C.positive}
    support: ClassVar = C.positive
    has_rsample: ClassVar[bool] = True

    scale: Array
    concentration: Array

    def __init__(
        self, scale: ArrayLike, concentration: ArrayLike, *, validate_args: bool | None = None
    ):
        self.scale, self.concentration = self._init_params(
            validate_args, scale=scale, concentration=concentration
        )

    def sample(self, key: PRNGKeyArray, sample_shape: Shape = ()) -> Array:
        shape = tuple(sample_shape) + self.batch_shape
        e = jax.random.exponential(key, shape, self.scale.dtype)
        e, scale, k = promote_value(e, self.scale, self.concentration)
        return scale * e ** (1 / k)

    def log_prob(self, value: ArrayLike) -> Array:
        value, scale, k = promote_value(self._check_sample(value), self.scale, self.concentration)
        log_z = jnp.log(value) - jnp.log(scale)
        lp = jnp.log(k) - jnp.log(scale) + (k - 1) * log_z - jnp.exp(k * log_z)
        return _outside_to_neg_inf(value >= 0, lp)

    @property
    def mean(self) -> Array:
        return self.scale * jnp.exp(gammaln(1 + 1 / self.concentration))

    @property
    def variance(self) -> Array:
        k = self.concentration
        return self.scale**2 * (jnp.exp(gammaln(1 + 2 / k)) - jnp.exp(2 * gammaln(1 + 1 / k)))

    def entropy(self) -> Array:
        k = self.concentration
        return EULER_GAMMA * (1 - 1 / k) + jnp.log(self.scale / k) + 1

    def cdf(self, value: ArrayLike) -> Array:
        value, scale, k = promote_value(value, self.scale, self.concentration)
        z = jnp.maximum(value, 0) / scale
        return -jnp.expm1(-(z**k))

    def icdf(self, q: ArrayLike) -> Array:
        q, scale, k = promote_value(q, self.scale, self.concentration)
        return scale * (-jnp.log1p(-q)) ** (1 / k)


class Pareto(Distribution):
    """Pareto (type I) distribution on ``[scale, inf)``.

    Args:
        scale: positive minimum value.
        alpha: positive tail index; ``mean`` is ``inf`` for ``alpha <= 1`` and
            ``variance`` is ``inf`` for ``alpha <= 2``.

    Example:
        >>> import jax, dists as D
        >>> D.Pareto(1.0, 3.0).sample(jax.random.key(0), (3,)).shape
        (3,)
    """

    arg_constraints: ClassVar = {"scale": C.positive, "alpha": C.positive}
    has_rsample: ClassVar[bool] = True

    scale: Array
    alpha: Array

    def __init__(self, scale: ArrayLike, alpha: ArrayLike, *, validate_args: bool | None = None):
        self.scale, self.alpha = self._init_params(validate_args, scale=scale, alpha=alpha)

    @property
    def support(self) -> C.Constraint:  # type: ignore[override]
        return C.greater_than_eq(self.scale)

    def sample(self, key: PRNGKeyArray, sample_shape: Shape = ()) -> Array:
        shape = tuple(sample_shape) + self.batch_shape
        e = jax.random.exponential(key, shape, self.scale.dtype)
        e, scale, alpha = promote_value(e, self.scale, self.alpha)
        return scale * jnp.exp(e / alpha)

    def log_prob(self, value: ArrayLike) -> Array:
        value, scale, alpha = promote_value(self._check_sample(value), self.scale, self.alpha)
        lp = jnp.log(alpha) + alpha * jnp.log(scale) - (alpha + 1) * jnp.log(value)
        return _outside_to_neg_inf(value >= scale, lp)

    @property
    def mean(self) -> Array:
        a = self.alpha
        return jnp.where(a > 1, a * self.scale / (a - 1), jnp.inf)

    @property
    def variance(self) -> Array:
        a = self.alpha
        return jnp.where(a > 2, self.scale**2 * a / ((a - 1) ** 2 * (a - 2)), jnp.inf)

    def entropy(self) -> Array:
        return jnp.log(self.scale / self.alpha) + 1 + 1 / self.alpha

    def cdf(self, value: ArrayLike) -> Array:
        value, scale, alpha = promote_value(value, self.scale, self.alpha)
        value = jnp.maximum(value, scale)
        return -jnp.expm1(alpha * (jnp.log(scale) - jnp.log(value)))

    def icdf(self, q: ArrayLike) -> Array:
        q, scale, alpha = promote_value(q, self.scale, self.alpha)
        return scale * jnp.exp(-jnp.log1p(-q) / alpha)


class Gamma(Distribution):
    """Gamma distribution with shape ``concentration`` and inverse scale ``rate``.

    Args:
        concentration: positive shape ``a``.
        rate: positive rate ``b``; the mean is ``a / b``.

    ``icdf`` is not available (JAX has no inverse incomplete gamma function).

    Example:
        >>> import jax, dists as D
        >>> D.Gamma(2.0, 1.0).sample(jax.random.key(0), (3,)).shape
        (3,)
    """

    arg_constraints: ClassVar = {"concentration": C.positive, "rate": C.positive}
    support: ClassVar = C.positive
    has_rsample: ClassVar[bool] = True

    concentration: Array
    rate: Array

    def __init__(
        self,
        concentration: ArrayLike,
        rate: ArrayLike = 1.0,
        *,
        validate_args: bool | None = None,
    ):
        self.concentration, self.rate = self._init_params(
            validate_args, concentration=concentration, rate=rate
        )

    def sample(self, key: PRNGKeyArray, sample_shape: Shape = ()) -> Array:
        shape = tuple(sample_shape) + self.batch_shape
        g = jax.random.gamma(key, self.concentration, shape, self.concentration.dtype)
        g, rate = promote_value(g, self.rate)
        return g / rate

    def log_prob(self, value: ArrayLike) -> Array:
        value, a, b = promote_value(self._check_sample(value), self.concentration, self.rate)
        lp = xlogy(a - 1, value) + a * jnp.log(b) - b * value - gammaln(a)
        return _outside_to_neg_inf(value >= 0, lp)

    @property
    def mean(self) -> Array:
        return self.concentration / self.rate

    @property
    def variance(self) -> Array:
        return self.concentration / self.rate**2

    def entropy(self) -> Array:
        a = self.concentration
        return a - jnp.log(self.rate) + gammaln(a) + (1 - a) * digamma(a)

    def cdf(self, value: ArrayLike) -> Array:
        value, a, b = promote_value(value, self.concentration, self.rate)
        return gammainc(a, b * jnp.maximum(value, 0))


class InverseGamma(Distribution):
    """Distribution of ``1 / X`` for ``X ~ Gamma(concentration, rate)``.

    Args:
        concentration: positive shape ``a``.
        rate: positive scale ``b`` of the inverse gamma; the mean is ``b / (a - 1)``.

    ``mean`` is ``inf`` for ``a <= 1`` and ``variance`` is ``inf`` for ``a <= 2``.

    Example:
        >>> import jax, dists as D
        >>> D.InverseGamma(3.0, 1.0).sample(jax.random.key(0), (3,)).shape
        (3,)
    """

    arg_constraints: ClassVar = {"concentration": C.positive, "rate": C.positive}
    support: ClassVar = C.positive
    has_rsample: ClassVar[bool] = True

    concentration: Array
    rate: Array

    def __init__(
        self,
        concentration: ArrayLike,
        rate: ArrayLike = 1.0,
        *,
        validate_args: bool | None = None,
    ):
        self.concentration, self.rate = self._init_params(
            validate_args, concentration=concentration, rate=rate
        )

    def sample(self, key: PRNGKeyArray, sample_shape: Shape = ()) -> Array:
        shape = tuple(sample_shape) + self.batch_shape
        g = jax.random.gamma(key, self.concentration, shape, self.concentration.dtype)
        g, rate = promote_value(g, self.rate)
        return rate / g

    def log_prob(self, value: ArrayLike) -> Array:
        value, a, b = promote_value(self._check_sample(value), self.concentration, self.rate)
        lp = a * jnp.log(b) - gammaln(a) - (a + 1) * jnp.log(value) - b / value
        return _outside_to_neg_inf(value > 0, lp)

    @property
    def mean(self) -> Array:
        a = self.concentration
        return jnp.where(a > 1, self.rate / (a - 1), jnp.inf)

    @property
    def variance(self) -> Array:
        a = self.concentration
        return jnp.where(a > 2, self.rate**2 / ((a - 1) ** 2 * (a - 2)), jnp.inf)

    def entropy(self) -> Array:
        a = self.concentration
        return a + jnp.log(self.rate) + gammaln(a) - (1 + a) * digamma(a)

    def cdf(self, value: ArrayLike) -> Array:
        value, a, b = promote_value(value, self.concentration, self.rate)
        return gammaincc(a, b / value)


class Chi2(Distribution):
    """Chi-squared distribution with ``df`` degrees of freedom (``Gamma(df / 2, 1 / 2)``).

    Args:
        df: positive degrees of freedom.

    Example:
        >>> import jax, dists as D
        >>> D.Chi2(3.0).sample(jax.random.key(0), (3,)).shape
        (3,)
    """

    arg_constraints: ClassVar = {"df": C.positive}
    support: ClassVar = C.positive
    has_rsample: ClassVar[bool] = True

    df: Array

    def __init__(self, df: ArrayLike, *, validate_args: bool | None = None):
        (self.df,) = self._init_params(validate_args, df=df)

    def sample(self, key: PRNGKeyArray, sample_shape: Shape = ()) -> Array:
        shape = tuple(sample_shape) + self.batch_shape
        return 2 * jax.random.gamma(key, 0.5 * self.df, shape, self.df.dtype)

    def log_prob(self, value: ArrayLike) -> Array:
        value, df = promote_value(self._check_sample(value), self.df)
        h = 0.5 * df
        lp = xlogy(h - 1, value) - 0.5 * value - h * math.log(2) - gammaln(h)
        return _outside_to_neg_inf(value >= 0, lp)

    @property
    def mean(self) -> Array:
        return self.df

    @property
    def variance(self) -> Array:
        return 2 * self.df

    def entropy(self) -> Array:
        h = 0.5 * self.df
        return h + math.log(2) + gammaln(h) + (1 - h) * digamma(h)

    def cdf(self, value: ArrayLike) -> Array:
        value, df = promote_value(value, self.df)
        return gammainc(0.5 * df, 0.5 * jnp.maximum(value, 0))


class Beta(Distribution):
    """Beta distribution on ``[0, 1]``.

    Args:
        concentration1: positive ``alpha`` (the exponent of ``x``).
        concentration0: positive ``beta`` (the exponent of ``1 - x``).

    Example:
        >>> import jax, dists as D
        >>> D.Beta(2.0, 3.0).sample(jax.random.key(0), (3,)).shape
        (3,)
    """

    arg_constraints: ClassVar = {"concentration1": C.positive, "concentration0": C.positive}
    support: ClassVar = C.unit_interval
    has_rsample: ClassVar[bool] = True

    concentration1: Array
    concentration0: Array

    def __init__(
        self,
        concentration1: ArrayLike,
        concentration0: ArrayLike,
        *,
        validate_args: bool | None = None,
    ):
        self.concentration1, self.concentration0 = self._init_params(
            validate_args, concentration1=concentration1, concentration0=concentration0
        )

    def sample(self, key: PRNGKeyArray, sample_shape: Shape = ()) -> Array:
        shape = tuple(sample_shape) + self.batch_shape
        a, b = self.concentration1, self.concentration0
        return jax.random.beta(key, a, b, shape, a.dtype)

    def log_prob(self, value: ArrayLike) -> Array:
        value, a, b = promote_value(
            self._check_sample(value), self.concentration1, self.concentration0
        )
        lp = xlogy(a - 1, value) + xlog1py(b - 1, -value) - betaln(a, b)
        return _outside_to_neg_inf((value >= 0) & (value <= 1), lp)

    @property
    def mean(self) -> Array:
        return self.concentration1 / (self.concentration1 + self.concentration0)

    @property
    def variance(self) -> Array:
        a, b = self.concentration1, self.concentration0
        t = a + b
        return a * b / (t**2 * (t + 1))

    def entropy(self) -> Array:
        a, b = self.concentration1, self.concentration0
        return (
            betaln(a, b)
            - (a - 1) * digamma(a)
            - (b - 1) * digamma(b)
            + (a + b - 2) * digamma(a + b)
        )

    def cdf(self, value: ArrayLike) -> Array:
        value, a, b = promote_value(value, self.concentration1, self.concentration0)
        return betainc(a, b, jnp.clip(value, 0.0, 1.0))


class Kumaraswamy(Distribution):
    """Kumaraswamy distribution on ``[0, 1]``: density ``a b x^(a-1) (1 - x^a)^(b-1)``.

    Args:
        concentration1: positive ``a``.
        concentration0: positive ``b``.

    Example:
        >>> import jax, dists as D
        >>> D.Kumaraswamy(2.0, 3.0).sample(jax.random.key(0), (3,)).shape
        (3,)
    """

    arg_constraints: ClassVar = {"concentration1": C.positive, "concentration0": C.positive}
    support: ClassVar = C.unit_interval
    has_rsample: ClassVar[bool] = True

    concentration1: Array
    concentration0: Array

    def __init__(
        self,
        concentration1: ArrayLike,
        concentration0: ArrayLike,
        *,
        validate_args: bool | None = None,
    ):
        self.concentration1, self.concentration0 = self._init_params(
            validate_args, concentration1=concentration1, concentration0=concentration0
        )

    def sample(self, key: PRNGKeyArray, sample_shape: Shape = ()) -> Array:
        shape = tuple(sample_shape) + self.batch_shape
        u = jax.random.uniform(key, shape, self.concentration1.dtype)
        return self.icdf(u)

    def log_prob(self, value: ArrayLike) -> Array:
        value, a, b = promote_value(
            self._check_sample(value), self.concentration1, self.concentration0
        )
        lp = jnp.log(a) + jnp.log(b) + xlogy(a - 1, value) + xlog1py(b - 1, -(value**a))
        return _outside_to_neg_inf((value >= 0) & (value <= 1), lp)

    @property
    def mean(self) -> Array:
        a, b = self.concentration1, self.concentration0
        return b * jnp.exp(betaln(1 + 1 / a, b))

    @property
    def variance(self) -> Array:
        a, b = self.concentration1, self.concentration0
        return b * jnp.exp(betaln(1 + 2 / a, b)) - self.mean**2

    def entropy(self) -> Array:
        a, b = self.concentration1, self.concentration0
        harmonic_b = digamma(b + 1) + EULER_GAMMA
        return (1 - 1 / b) + (1 - 1 / a) * harmonic_b - jnp.log(a * b)

    def cdf(self, value: ArrayLike) -> Array:
        value, a, b = promote_value(value, self.concentration1, self.concentration0)
        x = jnp.clip(value, 0.0, 1.0)
        return -jnp.expm1(b * jnp.log1p(-(x**a)))

    def icdf(self, q: ArrayLike) -> Array:
        q, a, b = promote_value(q, self.concentration1, self.concentration0)
        # 1 - (1 - q)^(1/b) computed with expm1/log1p so that small q keeps its precision.
        t = -jnp.expm1(jnp.log1p(-q) / b)
        return jnp.exp(jnp.log(t) / a)


def _von_mises_centred(key: PRNGKeyArray, kappa: Array, shape: Shape) -> Array:
    """Draws from VonMises(0, kappa) by Best and Fisher's (1979) rejection sampler.

    All elements are proposed together in each pass of a ``while_loop``; accepted ones
    are frozen, and the loop stops when every element has been accepted (the acceptance
    rate is above 0.65 for any kappa, so few passes are needed).
    """
    dtype = kappa.dtype
    # Rejection sampling is not differentiable in kappa (and while_loop has no reverse
    # mode), so no gradient is sent back through it.
    kappa = jnp.broadcast_to(lax.stop_gradient(kappa), shape)
    # Below 1e-8 the density is uniform to rounding; flooring kappa keeps r finite.
    k = jnp.maximum(kappa, 1e-8)
    s = 0.5 / k
    r = s + jnp.sqrt(1 + s * s)

    def body(carry):
        i, done, theta = carry
        u = jax.random.uniform(jax.random.fold_in(key, i), (3,) + shape, dtype)
        z = jnp.cos(math.pi * u[0])
        f = (1 + r * z) / (r + z)
        c = k * (r - f)
        accept = (c * (2 - c) > u[1]) | (jnp.log(c / u[1]) + 1 - c >= 0)
        proposal = jnp.where(u[2] < 0.5, -1.0, 1.0) * jnp.arccos(jnp.clip(f, -1, 1))
        return i + 1, done | accept, jnp.where(done, theta, proposal)

    init = (jnp.asarray(0, jnp.uint32), jnp.zeros(shape, bool), jnp.zeros(shape, dtype))
    _, _, theta = lax.while_loop(lambda c: ~jnp.all(c[1]), body, init)
    # For very large kappa the envelope loses precision (r - f cancels); there the
    # distribution is normal with variance 1 / kappa to rounding.
    big = 1e6 if dtype == jnp.float64 else 1e4
    eps = jax.random.normal(jax.random.fold_in(key, jnp.uint32(2**31)), shape, dtype)
    return jnp.where(kappa > big, eps / jnp.sqrt(jnp.maximum(kappa, big)), theta)


def von_mises_centered(
    key: PRNGKeyArray, concentration: ArrayLike, shape: Shape = (), dtype=jnp.float64
) -> Array:
    """Draws from ``VonMises(0, concentration)``, NumPyro's helper of that name.

    Args:
        key: a PRNG key.
        concentration: the non-negative ``kappa``, broadcast to ``shape``.
        shape: the shape of the draws; by default that of ``concentration``.
        dtype: the float type of the draws (float64 becomes float32 unless x64 is on).

    Example:
        >>> import jax
        >>> from dists.util import von_mises_centered
        >>> von_mises_centered(jax.random.key(0), 2.0, (3,)).shape
        (3,)
    """
    dtype = jax.dtypes.canonicalize_dtype(dtype)
    kappa = as_float(concentration).astype(dtype)
    shape = tuple(shape) or kappa.shape
    return _von_mises_centred(key, jnp.broadcast_to(kappa, shape), shape)


class VonMises(Distribution):
    """Von Mises (circular normal) distribution on ``[-pi, pi]``.

    Args:
        loc: circular mean.
        concentration: non-negative concentration ``kappa`` (0 is the uniform
            distribution on the circle).

    ``variance`` is the circular variance ``1 - I1(kappa) / I0(kappa)``. Sampling uses
    rejection, so it is not reparameterised (``has_rsample`` is False).

    Example:
        >>> import jax, dists as D
        >>> D.VonMises(0.0, 2.0).sample(jax.random.key(0), (3,)).shape
        (3,)
    """

    arg_constraints: ClassVar = {"loc": C.real, "concentration": C.nonnegative}
    support: ClassVar = _circular
    has_rsample: ClassVar[bool] = False

    loc: Array
    concentration: Array

    def __init__(
        self, loc: ArrayLike, concentration: ArrayLike, *, validate_args: bool | None = None
    ):
        self.loc, self.concentration = self._init_params(
            validate_args, loc=loc, concentration=concentration
        )

    def sample(self, key: PRNGKeyArray, sample_shape: Shape = ()) -> Array:
        shape = tuple(sample_shape) + self.batch_shape
        theta = _von_mises_centred(key, self.concentration, shape)
        theta, loc = promote_value(theta, self.loc)
        return jnp.remainder(loc + theta + math.pi, 2 * math.pi) - math.pi

    def log_prob(self, value: ArrayLike) -> Array:
        value, loc, k = promote_value(self._check_sample(value), self.loc, self.concentration)
        # log I0(k) = log(i0e(k)) + k; folding the + k into cos - 1 avoids overflow.
        return k * (jnp.cos(value - loc) - 1) - _LOG_2PI - jnp.log(i0e(k))

    @property
    def mean(self) -> Array:
        return self.loc

    @property
    def variance(self) -> Array:
        k = self.concentration
        return 1 - i1e(k) / i0e(k)

    def entropy(self) -> Array:
        k = self.concentration
        return _LOG_2PI + jnp.log(i0e(k)) + k * (1 - i1e(k) / i0e(k))


def _log_normal_pdf(z: Array) -> Array:
    return -0.5 * z**2 - 0.5 * _LOG_2PI


class TruncatedNormal(Distribution):
    """Normal(``loc``, ``scale``) restricted to ``[low, high]``.

    Args:
        loc: location of the untruncated normal.
        scale: positive scale of the untruncated normal.
        low: lower bound, or ``None`` (or ``-inf``) for no lower bound (keyword only).
        high: upper bound, greater than ``low``, or ``None`` (or ``inf``) for none
            (keyword only).

    The normal CDF loses precision near 1, so when the whole interval lies above the
    mean the computations use the mirror image ``Phi(-x)`` instead.

    Example:
        >>> import jax, dists as D
        >>> D.TruncatedNormal(0.0, 1.0, low=0.0).sample(jax.random.key(0), (3,)).shape
        (3,)
    """

    arg_constraints: ClassVar = {
        "loc": C.real,
        "scale": C.positive,
        "low": C.dependent,
        "high": C.dependent,
    }
    has_rsample: ClassVar[bool] = True

    loc: Array
    scale: Array
    low: Array | None
    high: Array | None

    def __init__(
        self,
        loc: ArrayLike = 0.0,
        scale: ArrayLike = 1.0,
        *,
        low: ArrayLike | None = None,
        high: ArrayLike | None = None,
        validate_args: bool | None = None,
    ):
        bounds = {k: b for k, b in (("low", low), ("high", high)) if b is not None}
        self.loc, self.scale, *arrays = self._init_params(
            validate_args, loc=loc, scale=scale, **bounds
        )
        given = dict(zip(bounds, arrays))
        self.low = given.get("low")
        self.high = given.get("high")
        # The bounds are ``dependent`` in arg_constraints; check them here. An infinite
        # bound on its own side is no bound, and is computed correctly.
        if self.low is not None:
            self.low = self._check_param(
                "low",
                self.low,
                C.less_than(jnp.inf),
                validate_args=validate_args,
                describe="LessThan(inf)",
            )
        if self.high is not None:
            if self.low is None:
                cons, what = C.greater_than(-jnp.inf), "GreaterThan(-inf)"
            else:
                cons, what = C.greater_than(self.low), "GreaterThan(low)"
            self.high = self._check_param(
                "high", self.high, cons, validate_args=validate_args, describe=what
            )

    @property
    def support(self) -> C.Constraint:  # type: ignore[override]
        if self.low is None and self.high is None:
            return C.real
        if self.high is None:
            return C.greater_than(self.low)
        if self.low is None:
            return C.less_than(self.high)
        return C.interval(self.low, self.high)

    def _std_bounds(self) -> tuple[Array | None, Array | None]:
        a = None if self.low is None else (self.low - self.loc) / self.scale
        b = None if self.high is None else (self.high - self.loc) / self.scale
        return a, b

    def _log_mass(self) -> Array:
        """``log(Phi(b) - Phi(a))``, the log probability of the kept interval."""
        a, b = self._std_bounds()
        if a is None and b is None:
            return jnp.zeros_like(self.loc)
        if a is None:
            return log_ndtr(b)
        if b is None:
            return log_ndtr(-a)
        flip = a > 0
        lo, hi = jnp.where(flip, -b, a), jnp.where(flip, -a, b)
        log_hi = log_ndtr(hi)
        return log_hi + log1mexp(log_ndtr(lo) - log_hi)

    def _promoted(self, x: ArrayLike) -> tuple[Array, Array, Array, Array | None, Array | None]:
        """``x``, ``loc``, ``scale`` and the standardised bounds (``None`` where there is
        none), in one dtype and rank (``promote_value``)."""
        a, b = self._std_bounds()
        x, loc, scale, *bounds = promote_value(
            x, self.loc, self.scale, *(t for t in (a, b) if t is not None)
        )
        given = iter(bounds)
        a = None if a is None else next(given)
        b = None if b is None else next(given)
        return x, loc, scale, a, b

    def _std_icdf(self, q: Array, a: Array | None, b: Array | None) -> Array:
        """The standardised icdf at ``q``, given the standardised bounds of ``q``'s rank."""
        if a is None and b is None:
            return ndtri(q)
        if a is None:
            return jnp.minimum(ndtri(q * ndtr(b)), b)
        if b is None:
            return jnp.maximum(-ndtri((1 - q) * ndtr(-a)), a)
        flip = a > 0
        lo, hi = jnp.where(flip, -b, a), jnp.where(flip, -a, b)
        p_lo = ndtr(lo)
        x = ndtri(p_lo + jnp.where(flip, 1 - q, q) * (ndtr(hi) - p_lo))
        return jnp.clip(jnp.where(flip, -x, x), a, b)

    def _density_terms(self) -> tuple[Array, Array]:
        """``phi(a) - phi(b)`` and ``a phi(a) - b phi(b)``, each divided by the mass."""
        a, b = self._std_bounds()
        log_mass = self._log_mass()
        d1 = jnp.zeros_like(self.loc)
        d2 = jnp.zeros_like(self.loc)
        if a is not None:
            pa = jnp.exp(_log_normal_pdf(a) - log_mass)
            d1, d2 = d1 + pa, d2 + a * pa
        if b is not None:
            pb = jnp.exp(_log_normal_pdf(b) - log_mass)
            d1, d2 = d1 - pb, d2 - b * pb
        return d1, d2

    def sample(self, key: PRNGKeyArray, sample_shape: Shape = ()) -> Array:
        shape = tuple(sample_shape) + self.batch_shape
        dtype = self.loc.dtype
        u = jax.random.uniform(key, shape, dtype, minval=jnp.finfo(dtype).tiny)
        u, loc, scale, a, b = self._promoted(u)
        return loc + scale * self._std_icdf(u, a, b)

    def _in_bounds(self, value: Array) -> Array:
        value, *bounds = promote_value(value, *(t for t in (self.low, self.high) if t is not None))
        given = iter(bounds)
        ok = jnp.ones(jnp.shape(value), bool)
        if self.low is not None:
            ok = ok & (value >= next(given))
        if self.high is not None:
            ok = ok & (value <= next(given))
        return ok

    def log_prob(self, value: ArrayLike) -> Array:
        value = self._check_sample(value)
        x, loc, scale, log_mass = promote_value(value, self.loc, self.scale, self._log_mass())
        z = (x - loc) / scale
        lp = _log_normal_pdf(z) - jnp.log(scale) - log_mass
        return jnp.where(self._in_bounds(value), lp, -jnp.inf)

    @property
    def mean(self) -> Array:
        d1, _ = self._density_terms()
        return self.loc + self.scale * d1

    @property
    def variance(self) -> Array:
        d1, d2 = self._density_terms()
        return self.scale**2 * (1 + d2 - d1**2)

    def entropy(self) -> Array:
        _, d2 = self._density_terms()
        return 0.5 * (_LOG_2PI + 1) + jnp.log(self.scale) + self._log_mass() + 0.5 * d2

    def cdf(self, value: ArrayLike) -> Array:
        value, loc, scale, a, b = self._promoted(value)
        z = (value - loc) / scale
        if a is None and b is None:
            return ndtr(z)
        if a is None:
            out = jnp.exp(log_ndtr(jnp.minimum(z, b)) - log_ndtr(b))
        elif b is None:
            out = 1 - jnp.exp(log_ndtr(-jnp.maximum(z, a)) - log_ndtr(-a))
        else:
            z = jnp.clip(z, a, b)
            flip = a > 0
            mass = jnp.where(flip, ndtr(-a) - ndtr(-b), ndtr(b) - ndtr(a))
            upper = (ndtr(-a) - ndtr(-z)) / mass
            lower = (ndtr(z) - ndtr(a)) / mass
            out = jnp.where(flip, upper, lower)
        return jnp.clip(out, 0.0, 1.0)

    def icdf(self, q: ArrayLike) -> Array:
        q, loc, scale, a, b = self._promoted(q)
        return loc + scale * self._std_icdf(q, a, b)
