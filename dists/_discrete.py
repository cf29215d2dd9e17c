"""Discrete distribution families.

Samples are integer arrays (as in NumPyro); ``log_prob`` accepts integer or float values.
Families parameterised by ``probs`` or ``logits`` store whichever was given, so that the
log mass is computed in the numerically better form, and expose both as properties.
"""

from __future__ import annotations

import functools
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
from jax.nn import log_sigmoid, log_softmax, sigmoid, softmax
from jax.scipy.special import betainc, gammaincc, gammaln, xlog1py, xlogy

from . import _constraints as C
from ._distribution import Distribution
from ._typing import Array, ArrayLike, PRNGKeyArray, Shape
from ._util import as_float, clamp_probs, is_concrete, promote_shapes, promote_value, softplus


def _betaln(a: Array, b: Array) -> Array:
    # jax.scipy.special.betaln loses about 6 digits in float64; gammaln does not.
    return gammaln(a) + gammaln(b) - gammaln(a + b)


def _int_dtype():
    return jnp.result_type(int)


def _pick(dist: str, probs: ArrayLike | None, logits: ArrayLike | None) -> tuple[str, Array]:
    """Return ``(name, param)`` of the one of ``probs``/``logits`` that was given."""
    if (probs is None) == (logits is None):
        found = "both" if probs is not None else "neither"
        raise ValueError(
            f"{dist}: pass exactly one of `probs` or `logits`; found {found}. "
            f"For example {dist}(probs=0.3) or {dist}(logits=-0.8)."
        )
    if logits is not None:
        return "logits", as_float(logits)
    return "probs", as_float(probs)


def _logits_from_probs(p: Array) -> Array:
    return jnp.log(p) - jnp.log1p(-p)


def _arange_support(n: int, batch_shape: Shape, expand: bool) -> Array:
    values = jnp.arange(n, dtype=_int_dtype()).reshape((n,) + (1,) * len(batch_shape))
    if expand:
        values = jnp.broadcast_to(values, (n,) + tuple(batch_shape))
    return values


def _homogeneous_count(dist: str, total_count: Array) -> int:
    """The single concrete ``total_count`` shared by the batch, for ``enumerate_support``."""
    if not is_concrete(total_count):
        raise ValueError(
            f"{dist}.enumerate_support needs a concrete total_count (not traced under jit); "
            "build the distribution outside jit or enumerate by hand."
        )
    flat = jnp.ravel(total_count)
    if flat.size and not bool(jnp.all(flat == flat[0])):
        raise ValueError(
            f"{dist}.enumerate_support needs the same total_count across the batch; "
            f"found total_count={total_count}."
        )
    return int(flat[0]) if flat.size else 0


def _cdf_where(value: ArrayLike, lower: int, upper: ArrayLike | None, inner: Array):
    """Clamp a discrete cdf: 0 below ``lower``, 1 at or above ``upper``."""
    value, inner, *bound = promote_value(value, inner, *(() if upper is None else (upper,)))
    out = jnp.where(value < lower, jnp.zeros_like(inner), inner)
    if upper is not None:
        out = jnp.where(value >= bound[0], jnp.ones_like(inner), out)
    return out


class _ProbsLogits(Distribution):
    """Abstract base for families parameterised by exactly one of ``probs``/``logits``."""

    _param: eqx.AbstractVar[Array]
    _is_logits: eqx.AbstractVar[bool]

    @property
    def batch_shape(self) -> Shape:
        return tuple(self._param.shape)

    @property
    def probs(self) -> Array:
        """Success probabilities (computed from ``logits`` when those were given)."""
        return sigmoid(self._param) if self._is_logits else self._param

    @property
    def logits(self) -> Array:
        """Log-odds (computed from ``probs`` when those were given)."""
        return self._param if self._is_logits else _logits_from_probs(self._param)

    def _log_p(self) -> Array:
        return log_sigmoid(self._param) if self._is_logits else jnp.log(self._param)

    def _log_1mp(self) -> Array:
        return log_sigmoid(-self._param) if self._is_logits else jnp.log1p(-self._param)


class Bernoulli(_ProbsLogits):
    """Bernoulli distribution on ``{0, 1}``.

    Args:
        probs: probability of 1. Exactly one of ``probs`` and ``logits``.
        logits: log-odds of 1.

    Example:
        >>> import jax, dists as D
        >>> D.Bernoulli(probs=0.3).sample(jax.random.key(0), (2,)).shape
        (2,)
    """

    arg_constraints: ClassVar = {"probs": C.unit_interval, "logits": C.real}
    support: ClassVar = C.boolean
    is_discrete: ClassVar[bool] = True
    has_enumerate_support: ClassVar[bool] = True

    _param: Array
    _is_logits: bool = eqx.field(static=True)

    def __init__(
        self,
        probs: ArrayLike | None = None,
        logits: ArrayLike | None = None,
        *,
        validate_args: bool | None = None,
    ):
        name, param = _pick("Bernoulli", probs, logits)
        (self._param,) = self._init_params(validate_args, **{name: param})
        self._is_logits = name == "logits"

    def sample(self, key: PRNGKeyArray, sample_shape: Shape = ()) -> Array:
        shape = tuple(sample_shape) + self.batch_shape
        # jax.random.bernoulli compares draws of the full shape with probs by rank
        # promotion, so probs is broadcast to that shape first.
        probs = jnp.broadcast_to(self.probs, shape)
        return jax.random.bernoulli(key, probs, shape).astype(_int_dtype())

    def log_prob(self, value: ArrayLike) -> Array:
        value, param = promote_value(self._check_sample(value), self._param)
        if self._is_logits:
            return value * param - softplus(param)
        return xlogy(value, param) + xlog1py(1 - value, -param)

    @property
    def mean(self) -> Array:
        return self.probs

    @property
    def variance(self) -> Array:
        p = self.probs
        return p * (1 - p)

    def entropy(self) -> Array:
        if self._is_logits:
            return softplus(self._param) - self.probs * self._param
        p = self._param
        return -xlogy(p, p) - xlog1py(1 - p, -p)

    def cdf(self, value: ArrayLike) -> Array:
        shape = jnp.broadcast_shapes(jnp.shape(value), self.batch_shape)
        inner = jnp.broadcast_to(1 - self.probs, shape)
        return _cdf_where(value, 0, 1, inner)

    def enumerate_support(self, expand: bool = True) -> Array:
        return _arange_support(2, self.batch_shape, expand)


class Binomial(_ProbsLogits):
    """Binomial distribution: successes in ``total_count`` trials.

    Args:
        total_count: number of trials (non-negative integer).
        probs: success probability. Exactly one of ``probs`` and ``logits``.
        logits: log-odds of success.
    """

    arg_constraints: ClassVar = {
        "total_count": C.nonnegative_integer,
        "probs": C.unit_interval,
        "logits": C.real,
    }
    is_discrete: ClassVar[bool] = True
    has_enumerate_support: ClassVar[bool] = True

    total_count: Array
    _param: Array
    _is_logits: bool = eqx.field(static=True)

    def __init__(
        self,
        total_count: ArrayLike = 1,
        probs: ArrayLike | None = None,
        logits: ArrayLike | None = None,
        *,
        validate_args: bool | None = None,
    ):
        name, param = _pick("Binomial", probs, logits)
        self.total_count, self._param = self._init_params(
            validate_args, total_count=total_count, **{name: param}
        )
        self._is_logits = name == "logits"

    @property
    def support(self) -> C.Constraint:  # type: ignore[override]
        return C.integer_interval(0, self.total_count)

    def sample(self, key: PRNGKeyArray, sample_shape: Shape = ()) -> Array:
        shape = tuple(sample_shape) + self.batch_shape
        x = jax.random.binomial(key, self.total_count, self.probs, shape, self._param.dtype)
        return x.astype(_int_dtype())

    def log_prob(self, value: ArrayLike) -> Array:
        k, n, param = promote_value(self._check_sample(value), self.total_count, self._param)
        log_comb = gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1)
        if self._is_logits:
            return log_comb + k * param - n * softplus(param)
        return log_comb + xlogy(k, param) + xlog1py(n - k, -param)

    @property
    def mean(self) -> Array:
        return self.total_count * self.probs

    @property
    def variance(self) -> Array:
        p = self.probs
        return self.total_count * p * (1 - p)

    def cdf(self, value: ArrayLike) -> Array:
        k, n, p = promote_value(value, self.total_count, self.probs)
        k = jnp.floor(k)
        # P(X <= k) = I_{1-p}(n - k, k + 1) for 0 <= k < n.
        inner = betainc(jnp.maximum(n - k, 1.0), jnp.maximum(k + 1, 1.0), 1 - p)
        return _cdf_where(k, 0, n, inner)

    def enumerate_support(self, expand: bool = True) -> Array:
        n = _homogeneous_count("Binomial", self.total_count)
        return _arange_support(n + 1, self.batch_shape, expand)


class Categorical(Distribution):
    """Categorical distribution over ``{0, ..., K-1}``; the last parameter dim is ``K``.

    Args:
        probs: event probabilities (a simplex). Exactly one of ``probs`` and ``logits``.
        logits: unnormalised log probabilities.

    Example:
        >>> import jax, jax.numpy as jnp, dists as D
        >>> D.Categorical(probs=jnp.array([0.2, 0.8])).sample(jax.random.key(0), (3,)).shape
        (3,)
    """

    arg_constraints: ClassVar = {"probs": C.simplex, "logits": C.real_vector}
    is_discrete: ClassVar[bool] = True
    has_enumerate_support: ClassVar[bool] = True

    _param: Array
    _is_logits: bool = eqx.field(static=True)

    def __init__(
        self,
        probs: ArrayLike | None = None,
        logits: ArrayLike | None = None,
        *,
        validate_args: bool | None = None,
    ):
        name, param = _pick("Categorical", probs, logits)
        if param.ndim < 1:
            raise ValueError(
                "Categorical: `probs`/`logits` need at least one dimension (the categories); "
                f"found a scalar of shape {param.shape}."
            )
        (self._param,) = self._init_params(validate_args, **{name: param})
        self._is_logits = name == "logits"

    @property
    def num_categories(self) -> int:
        return int(self._param.shape[-1])

    @property
    def batch_shape(self) -> Shape:
        return tuple(self._param.shape[:-1])

    @property
    def support(self) -> C.Constraint:  # type: ignore[override]
        return C.integer_interval(0, self.num_categories - 1)

    @property
    def probs(self) -> Array:
        """Normalised category probabilities."""
        return softmax(self._param, axis=-1) if self._is_logits else self._param

    @property
    def logits(self) -> Array:
        """Log probabilities (unnormalised when ``logits`` were given)."""
        return self._param if self._is_logits else jnp.log(self._param)

    def _log_probs(self) -> Array:
        if self._is_logits:
            return log_softmax(self._param, axis=-1)
        return jnp.log(self._param)

    def sample(self, key: PRNGKeyArray, sample_shape: Shape = ()) -> Array:
        shape = tuple(sample_shape) + self.batch_shape
        return jax.random.categorical(key, self.logits, axis=-1, shape=shape).astype(_int_dtype())

    def log_prob(self, value: ArrayLike) -> Array:
        value = self._check_sample(value)
        idx = jnp.asarray(value).astype(_int_dtype())
        lp = self._log_probs()
        k = self.num_categories
        shape = jnp.broadcast_shapes(idx.shape, self.batch_shape)
        idx = jnp.broadcast_to(idx, shape)
        lp = jnp.broadcast_to(lp, shape + (k,))
        out = jnp.take_along_axis(lp, jnp.clip(idx, 0, k - 1)[..., None], axis=-1)[..., 0]
        return jnp.where((idx >= 0) & (idx < k), out, jnp.full((), -jnp.inf, out.dtype))

    @property
    def mean(self) -> Array:
        """Mean of the category index."""
        p, k = promote_shapes(self.probs, jnp.arange(self.num_categories, dtype=self._param.dtype))
        return jnp.sum(p * k, axis=-1)

    @property
    def variance(self) -> Array:
        """Variance of the category index."""
        p, k = promote_shapes(self.probs, jnp.arange(self.num_categories, dtype=self._param.dtype))
        m = jnp.sum(p * k, axis=-1)
        return jnp.sum(p * k**2, axis=-1) - m**2

    def entropy(self) -> Array:
        lp = self._log_probs()
        return -jnp.sum(jnp.where(lp == -jnp.inf, 0.0, jnp.exp(lp) * lp), axis=-1)

    def enumerate_support(self, expand: bool = True) -> Array:
        return _arange_support(self.num_categories, self.batch_shape, expand)


class _MultinomialSupport(C.Constraint):
    """Non-negative integer vectors summing to ``total_count``."""

    is_discrete: ClassVar[bool] = True
    total_count: Array

    @property
    def event_dim(self) -> int:
        return 1

    def __call__(self, x):
        x = jnp.asarray(x)
        ok = jnp.all((x >= 0) & (x == jnp.floor(x)), axis=-1)
        total, n = promote_value(jnp.sum(x, axis=-1), self.total_count)
        ok, same = promote_shapes(ok, total == n)
        return ok & same


@functools.partial(jax.jit, static_argnums=3)
def _multinomial_sample(key: PRNGKeyArray, total_count: Array, probs: Array, shape: Shape):
    """Sequential conditional binomials: ``x_j ~ Bin(n_left, p_j / mass left at j)``.

    Jitted at module level so that eager calls reuse the compiled scan.
    """
    k = probs.shape[-1]
    p = jnp.broadcast_to(probs, shape + (k,))
    n = jnp.broadcast_to(total_count, shape)
    if k == 1:
        return n[..., None].astype(_int_dtype())
    remaining = jnp.cumsum(p[..., ::-1], axis=-1)[..., ::-1]
    safe = jnp.where(remaining > 0, remaining, 1.0)
    q = jnp.clip(jnp.where(remaining > 0, p / safe, 0.0), 0.0, 1.0)
    q = jnp.moveaxis(q[..., :-1], -1, 0)
    keys = jax.random.split(key, k - 1)

    def step(n_left, kq):
        kk, qj = kq
        x = jnp.minimum(jax.random.binomial(kk, n_left, qj, shape, p.dtype), n_left)
        return n_left - x, x

    n_left, xs = jax.lax.scan(step, n, (keys, q))
    x = jnp.concatenate([jnp.moveaxis(xs, 0, -1), n_left[..., None]], axis=-1)
    return x.astype(_int_dtype())


class Multinomial(Distribution):
    """Multinomial distribution: counts of ``total_count`` categorical draws.

    Args:
        total_count: number of draws (non-negative integer), batch shaped.
        probs: category probabilities (last dim ``K``). Exactly one of ``probs``/``logits``.
        logits: unnormalised log probabilities.
    """

    arg_constraints: ClassVar = {
        "total_count": C.nonnegative_integer,
        "probs": C.simplex,
        "logits": C.real_vector,
    }
    is_discrete: ClassVar[bool] = True

    total_count: Array
    _param: Array
    _is_logits: bool = eqx.field(static=True)

    def __init__(
        self,
        total_count: ArrayLike = 1,
        probs: ArrayLike | None = None,
        logits: ArrayLike | None = None,
        *,
        validate_args: bool | None = None,
    ):
        name, param = _pick("Multinomial", probs, logits)
        if param.ndim < 1:
            raise ValueError(
                "Multinomial: `probs`/`logits` need at least one dimension (the categories); "
                f"found a scalar of shape {param.shape}."
            )
        self.total_count, self._param = self._init_params(
            validate_args, total_count=total_count, **{name: param}
        )
        self._is_logits = name == "logits"

    @property
    def event_shape(self) -> Shape:
        return tuple(self._param.shape[-1:])

    @property
    def support(self) -> C.Constraint:  # type: ignore[override]
        return _MultinomialSupport(self.total_count)

    @property
    def probs(self) -> Array:
        return softmax(self._param, axis=-1) if self._is_logits else self._param

    @property
    def logits(self) -> Array:
        return self._param if self._is_logits else jnp.log(self._param)

    def sample(self, key: PRNGKeyArray, sample_shape: Shape = ()) -> Array:
        shape = tuple(sample_shape) + self.batch_shape
        return _multinomial_sample(key, self.total_count, self.probs, shape)

    def log_prob(self, value: ArrayLike) -> Array:
        value = self._check_sample(value)
        if self._is_logits:
            x, lp = promote_value(value, log_softmax(self._param, axis=-1))
            term = jnp.sum(jnp.where(x == 0, 0.0, x * lp), axis=-1)
        else:
            x, p = promote_value(value, self._param)
            term = jnp.sum(xlogy(x, p), axis=-1)
        log_x_fact, term, n = promote_value(
            jnp.sum(gammaln(x + 1), axis=-1), term, self.total_count
        )
        return gammaln(n + 1) - log_x_fact + term

    @property
    def mean(self) -> Array:
        return self.total_count[..., None] * self.probs

    @property
    def variance(self) -> Array:
        p = self.probs
        return self.total_count[..., None] * p * (1 - p)


class Poisson(Distribution):
    """Poisson distribution with mean ``rate``.

    Args:
        rate: the mean (non-negative).
        is_sparse: accepted for NumPyro compatibility; has no effect.
    """

    arg_constraints: ClassVar = {"rate": C.nonnegative}
    support: ClassVar = C.nonnegative_integer
    is_discrete: ClassVar[bool] = True

    rate: Array
    is_sparse: bool = eqx.field(static=True)

    def __init__(
        self, rate: ArrayLike, *, is_sparse: bool = False, validate_args: bool | None = None
    ):
        (self.rate,) = self._init_params(validate_args, rate=rate)
        self.is_sparse = bool(is_sparse)

    def sample(self, key: PRNGKeyArray, sample_shape: Shape = ()) -> Array:
        shape = tuple(sample_shape) + self.batch_shape
        return jax.random.poisson(key, self.rate, shape, dtype=_int_dtype())

    def log_prob(self, value: ArrayLike) -> Array:
        k, rate = promote_value(self._check_sample(value), self.rate)
        return xlogy(k, rate) - rate - gammaln(k + 1)

    @property
    def mean(self) -> Array:
        return self.rate

    @property
    def variance(self) -> Array:
        return self.rate

    def cdf(self, value: ArrayLike) -> Array:
        k, rate = promote_value(value, self.rate)
        k = jnp.floor(k)
        inner = gammaincc(jnp.maximum(k + 1, 1.0), rate)
        return _cdf_where(k, 0, None, inner)


# --- negative binomial family: one parameterisation (r, log-odds l) shared by all ---
#   P(k) = C(k + r - 1, k) sigmoid(-l)^r sigmoid(l)^k,  mean = r e^l.


def _nb_log_prob(value: ArrayLike, r: Array, log_p: Array, log_1mp: Array) -> Array:
    k, r, log_p, log_1mp = promote_value(value, r, log_p, log_1mp)
    log_comb = gammaln(r + k) - gammaln(k + 1) - gammaln(r)
    return log_comb + r * log_1mp + jnp.where(k == 0, 0.0, k * log_p)


def _nb_sample(key: PRNGKeyArray, r: Array, odds: Array, shape: Shape) -> Array:
    k1, k2 = jax.random.split(key)
    g, odds = promote_value(jax.random.gamma(k1, r, shape, r.dtype), odds)
    lam = g * odds
    return jax.random.poisson(k2, lam, shape, dtype=_int_dtype())


def _nb_cdf(value: ArrayLike, r: Array, q: Array) -> Array:
    """``P(X <= k) = I_q(r, k + 1)`` with ``q = 1 - p`` the failure probability."""
    k, r, q = promote_value(value, r, q)
    k = jnp.floor(k)
    inner = betainc(r, jnp.maximum(k + 1, 1.0), q)
    return _cdf_where(k, 0, None, inner)


class GammaPoisson(Distribution):
    """Poisson with a Gamma(``concentration``, ``rate``) distributed mean.

    Args:
        concentration: shape of the Gamma mixing distribution (positive).
        rate: rate of the Gamma mixing distribution (positive).
    """

    arg_constraints: ClassVar = {"concentration": C.positive, "rate": C.positive}
    support: ClassVar = C.nonnegative_integer
    is_discrete: ClassVar[bool] = True

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
        return _nb_sample(key, self.concentration, 1 / self.rate, shape)

    def log_prob(self, value: ArrayLike) -> Array:
        value = self._check_sample(value)
        log1p_rate = jnp.log1p(self.rate)
        return _nb_log_prob(
            value,
            self.concentration,
            -log1p_rate,
            jnp.log(self.rate) - log1p_rate,
        )

    @property
    def mean(self) -> Array:
        return self.concentration / self.rate

    @property
    def variance(self) -> Array:
        return self.concentration / self.rate**2 * (1 + self.rate)

    def cdf(self, value: ArrayLike) -> Array:
        return _nb_cdf(value, self.concentration, self.rate / (1 + self.rate))


class NegativeBinomialProbs(Distribution):
    """Negative binomial: the number of outcomes of probability ``probs`` seen before
    ``total_count`` outcomes of the other kind (NumPyro/PyTorch convention; the mean is
    ``total_count * probs / (1 - probs)``).

    Args:
        total_count: number of stopping outcomes (positive, need not be an integer).
        probs: probability of the counted outcome, in ``[0, 1)``.
    """

    arg_constraints: ClassVar = {"total_count": C.positive, "probs": C.unit_interval}
    support: ClassVar = C.nonnegative_integer
    is_discrete: ClassVar[bool] = True

    total_count: Array
    probs: Array

    def __init__(
        self, total_count: ArrayLike, probs: ArrayLike, *, validate_args: bool | None = None
    ):
        self.total_count, self.probs = self._init_params(
            validate_args, total_count=total_count, probs=probs
        )

    @property
    def logits(self) -> Array:
        return _logits_from_probs(self.probs)

    def sample(self, key: PRNGKeyArray, sample_shape: Shape = ()) -> Array:
        shape = tuple(sample_shape) + self.batch_shape
        return _nb_sample(key, self.total_count, self.probs / (1 - self.probs), shape)

    def log_prob(self, value: ArrayLike) -> Array:
        value = self._check_sample(value)
        return _nb_log_prob(value, self.total_count, jnp.log(self.probs), jnp.log1p(-self.probs))

    @property
    def mean(self) -> Array:
        return self.total_count * self.probs / (1 - self.probs)

    @property
    def variance(self) -> Array:
        return self.total_count * self.probs / (1 - self.probs) ** 2

    def cdf(self, value: ArrayLike) -> Array:
        return _nb_cdf(value, self.total_count, 1 - self.probs)


class NegativeBinomialLogits(Distribution):
    """Negative binomial parameterised by the log-odds ``logits`` of the counted outcome.

    Args:
        total_count: number of stopping outcomes (positive).
        logits: log-odds of the counted outcome; mean is ``total_count * exp(logits)``.
    """

    arg_constraints: ClassVar = {"total_count": C.positive, "logits": C.real}
    support: ClassVar = C.nonnegative_integer
    is_discrete: ClassVar[bool] = True

    total_count: Array
    logits: Array

    def __init__(
        self, total_count: ArrayLike, logits: ArrayLike, *, validate_args: bool | None = None
    ):
        self.total_count, self.logits = self._init_params(
            validate_args, total_count=total_count, logits=logits
        )

    @property
    def probs(self) -> Array:
        return sigmoid(self.logits)

    def sample(self, key: PRNGKeyArray, sample_shape: Shape = ()) -> Array:
        shape = tuple(sample_shape) + self.batch_shape
        return _nb_sample(key, self.total_count, jnp.exp(self.logits), shape)

    def log_prob(self, value: ArrayLike) -> Array:
        value = self._check_sample(value)
        return _nb_log_prob(
            value, self.total_count, log_sigmoid(self.logits), log_sigmoid(-self.logits)
        )

    @property
    def mean(self) -> Array:
        return self.total_count * jnp.exp(self.logits)

    @property
    def variance(self) -> Array:
        return self.mean / sigmoid(-self.logits)

    def cdf(self, value: ArrayLike) -> Array:
        return _nb_cdf(value, self.total_count, sigmoid(-self.logits))


class NegativeBinomial2(Distribution):
    """Negative binomial parameterised by its ``mean`` and ``concentration``.

    Variance is ``mean + mean**2 / concentration``. Equals
    ``GammaPoisson(concentration, concentration / mean)``.

    Args:
        mean: the mean (positive).
        concentration: the dispersion parameter (positive).
    """

    arg_constraints: ClassVar = {"mean": C.positive, "concentration": C.positive}
    support: ClassVar = C.nonnegative_integer
    is_discrete: ClassVar[bool] = True

    _mean: Array
    concentration: Array

    def __init__(
        self, mean: ArrayLike, concentration: ArrayLike, *, validate_args: bool | None = None
    ):
        self._mean, self.concentration = self._init_params(
            validate_args, mean=mean, concentration=concentration
        )

    @property
    def rate(self) -> Array:
        """Rate of the equivalent Gamma mixing distribution."""
        return self.concentration / self._mean

    @property
    def probs(self) -> Array:
        return self._mean / (self._mean + self.concentration)

    @property
    def logits(self) -> Array:
        return jnp.log(self._mean) - jnp.log(self.concentration)

    def sample(self, key: PRNGKeyArray, sample_shape: Shape = ()) -> Array:
        shape = tuple(sample_shape) + self.batch_shape
        return _nb_sample(key, self.concentration, self._mean / self.concentration, shape)

    def log_prob(self, value: ArrayLike) -> Array:
        value = self._check_sample(value)
        log_total = jnp.log(self._mean + self.concentration)
        return _nb_log_prob(
            value,
            self.concentration,
            jnp.log(self._mean) - log_total,
            jnp.log(self.concentration) - log_total,
        )

    @property
    def mean(self) -> Array:
        return self._mean

    @property
    def variance(self) -> Array:
        return self._mean + self._mean**2 / self.concentration

    def cdf(self, value: ArrayLike) -> Array:
        q = self.concentration / (self._mean + self.concentration)
        return _nb_cdf(value, self.concentration, q)


class Geometric(_ProbsLogits):
    """Geometric distribution: number of failures before the first success.

    Args:
        probs: success probability, in ``(0, 1]``. Exactly one of ``probs``/``logits``.
        logits: log-odds of success.
    """

    arg_constraints: ClassVar = {"probs": C.unit_interval, "logits": C.real}
    support: ClassVar = C.nonnegative_integer
    is_discrete: ClassVar[bool] = True

    _param: Array
    _is_logits: bool = eqx.field(static=True)

    def __init__(
        self,
        probs: ArrayLike | None = None,
        logits: ArrayLike | None = None,
        *,
        validate_args: bool | None = None,
    ):
        name, param = _pick("Geometric", probs, logits)
        (self._param,) = self._init_params(validate_args, **{name: param})
        self._is_logits = name == "logits"

    def sample(self, key: PRNGKeyArray, sample_shape: Shape = ()) -> Array:
        shape = tuple(sample_shape) + self.batch_shape
        dtype = self._param.dtype
        u = jax.random.uniform(key, shape, dtype, minval=jnp.finfo(dtype).tiny)
        u, log_1mp = promote_value(u, self._log_1mp())
        # Inverse cdf: P(X >= k) = (1 - p)^k, so X = floor(log U / log(1 - p)).
        return jnp.floor(jnp.log(u) / log_1mp).astype(_int_dtype())

    def log_prob(self, value: ArrayLike) -> Array:
        k, log_1mp, log_p = promote_value(self._check_sample(value), self._log_1mp(), self._log_p())
        return jnp.where(k == 0, 0.0, k * log_1mp) + log_p

    @property
    def mean(self) -> Array:
        p = self.probs
        return (1 - p) / p

    @property
    def variance(self) -> Array:
        p = self.probs
        return (1 - p) / p**2

    def entropy(self) -> Array:
        p = self.probs
        return -(xlog1py(1 - p, -p) + xlogy(p, p)) / p

    def cdf(self, value: ArrayLike) -> Array:
        k, log_1mp = promote_value(value, self._log_1mp())
        k = jnp.floor(k)
        inner = -jnp.expm1((k + 1) * log_1mp)
        return _cdf_where(k, 0, None, inner)


class DiscreteUniform(Distribution):
    """Uniform distribution on the integers ``low, low + 1, ..., high``.

    Args:
        low: smallest value (integer).
        high: largest value (integer, ``>= low``).
    """

    arg_constraints: ClassVar = {"low": C.real, "high": C.real}
    is_discrete: ClassVar[bool] = True
    has_enumerate_support: ClassVar[bool] = True

    low: Array
    high: Array

    def __init__(
        self, low: ArrayLike = 0, high: ArrayLike = 1, *, validate_args: bool | None = None
    ):
        low, high = self._init_params(validate_args, low=low, high=high)
        # Stricter than ``arg_constraints`` (kept as in NumPyro): integers, low <= high.
        self.low = self._check_param(
            "low",
            low,
            C.integer_interval(-jnp.inf, jnp.inf),
            validate_args=validate_args,
            describe="Integer",
        )
        self.high = self._check_param(
            "high",
            high,
            C.integer_greater_than(low),
            validate_args=validate_args,
            describe="IntegerGreaterThanEq(low)",
        )

    @property
    def support(self) -> C.Constraint:  # type: ignore[override]
        return C.integer_interval(self.low, self.high)

    def _n(self) -> Array:
        return self.high - self.low + 1

    def sample(self, key: PRNGKeyArray, sample_shape: Shape = ()) -> Array:
        shape = tuple(sample_shape) + self.batch_shape
        u = jax.random.uniform(key, shape, self.low.dtype)
        u, low, n = promote_value(u, self.low, self._n())
        x = low + jnp.minimum(jnp.floor(u * n), n - 1)
        return x.astype(_int_dtype())

    def log_prob(self, value: ArrayLike) -> Array:
        x, low, high, n = promote_value(self._check_sample(value), self.low, self.high, self._n())
        inside = (x >= low) & (x <= high)
        lp = -jnp.log(n)
        return jnp.where(inside, lp, jnp.full((), -jnp.inf, lp.dtype))

    @property
    def mean(self) -> Array:
        return (self.low + self.high) / 2

    @property
    def variance(self) -> Array:
        return (self._n() ** 2 - 1) / 12

    def entropy(self) -> Array:
        return jnp.log(self._n())

    def cdf(self, value: ArrayLike) -> Array:
        k, low, n = promote_value(value, self.low, self._n())
        k = jnp.floor(k)
        return jnp.clip((k - low + 1) / n, 0.0, 1.0)

    def enumerate_support(self, expand: bool = True) -> Array:
        if not is_concrete((self.low, self.high)):
            raise ValueError(
                "DiscreteUniform.enumerate_support needs concrete bounds (not traced under "
                "jit); build the distribution outside jit."
            )
        lo, hi = jnp.ravel(self.low), jnp.ravel(self.high)
        if lo.size and not (bool(jnp.all(lo == lo[0])) and bool(jnp.all(hi == hi[0]))):
            raise ValueError(
                "DiscreteUniform.enumerate_support needs the same bounds across the batch; "
                f"found low={self.low}, high={self.high}."
            )
        low, high = (int(lo[0]), int(hi[0])) if lo.size else (0, 0)
        return low + _arange_support(high - low + 1, self.batch_shape, expand)


class BetaBinomial(Distribution):
    """Binomial whose success probability is Beta(``concentration1``, ``concentration0``).

    Args:
        concentration1: first Beta parameter (positive).
        concentration0: second Beta parameter (positive).
        total_count: number of trials (non-negative integer).
    """

    arg_constraints: ClassVar = {
        "concentration1": C.positive,
        "concentration0": C.positive,
        "total_count": C.nonnegative_integer,
    }
    is_discrete: ClassVar[bool] = True
    has_enumerate_support: ClassVar[bool] = True

    concentration1: Array
    concentration0: Array
    total_count: Array

    def __init__(
        self,
        concentration1: ArrayLike,
        concentration0: ArrayLike,
        total_count: ArrayLike = 1,
        *,
        validate_args: bool | None = None,
    ):
        self.concentration1, self.concentration0, self.total_count = self._init_params(
            validate_args,
            concentration1=concentration1,
            concentration0=concentration0,
            total_count=total_count,
        )

    @property
    def support(self) -> C.Constraint:  # type: ignore[override]
        return C.integer_interval(0, self.total_count)

    def sample(self, key: PRNGKeyArray, sample_shape: Shape = ()) -> Array:
        shape = tuple(sample_shape) + self.batch_shape
        k1, k2 = jax.random.split(key)
        a, b = self.concentration1, self.concentration0
        p = jax.random.beta(k1, a, b, shape, a.dtype)
        x = jax.random.binomial(k2, self.total_count, clamp_probs(p), shape, a.dtype)
        return x.astype(_int_dtype())

    def log_prob(self, value: ArrayLike) -> Array:
        k, n, a, b = promote_value(
            self._check_sample(value), self.total_count, self.concentration1, self.concentration0
        )
        log_comb = gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1)
        return log_comb + _betaln(k + a, n - k + b) - _betaln(a, b)

    @property
    def mean(self) -> Array:
        a, b = self.concentration1, self.concentration0
        return self.total_count * a / (a + b)

    @property
    def variance(self) -> Array:
        n, a, b = self.total_count, self.concentration1, self.concentration0
        s = a + b
        return n * a * b * (s + n) / (s**2 * (s + 1))

    def enumerate_support(self, expand: bool = True) -> Array:
        n = _homogeneous_count("BetaBinomial", self.total_count)
        return _arange_support(n + 1, self.batch_shape, expand)


class ZeroInflatedPoisson(Distribution):
    """Poisson(``rate``) with extra mass ``gate`` at zero.

    Args:
        gate: probability of a structural zero, in ``[0, 1]``.
        rate: Poisson mean (positive).
    """

    arg_constraints: ClassVar = {"gate": C.unit_interval, "rate": C.positive}
    support: ClassVar = C.nonnegative_integer
    is_discrete: ClassVar[bool] = True

    gate: Array
    rate: Array

    def __init__(
        self, gate: ArrayLike, rate: ArrayLike = 1.0, *, validate_args: bool | None = None
    ):
        self.gate, self.rate = self._init_params(validate_args, gate=gate, rate=rate)

    def sample(self, key: PRNGKeyArray, sample_shape: Shape = ()) -> Array:
        shape = tuple(sample_shape) + self.batch_shape
        k1, k2 = jax.random.split(key)
        # Broadcast first: jax.random.bernoulli would rank-promote gate against the draws.
        zero = jax.random.bernoulli(k1, jnp.broadcast_to(self.gate, shape), shape)
        x = jax.random.poisson(k2, self.rate, shape, dtype=_int_dtype())
        return jnp.where(zero, jnp.zeros_like(x), x)

    def log_prob(self, value: ArrayLike) -> Array:
        k, gate, rate = promote_value(self._check_sample(value), self.gate, self.rate)
        pois = xlogy(k, rate) - rate - gammaln(k + 1)
        at_zero = jnp.log(gate + (1 - gate) * jnp.exp(-rate))
        return jnp.where(k == 0, at_zero, jnp.log1p(-gate) + pois)

    @property
    def mean(self) -> Array:
        return (1 - self.gate) * self.rate

    @property
    def variance(self) -> Array:
        return (1 - self.gate) * self.rate * (1 + self.gate * self.rate)


class OrderedLogistic(Distribution):
    """Ordinal regression: ``P(Y <= k) = sigmoid(cutpoints[k] - predictor)``.

    Takes values ``0, ..., K`` where ``K = cutpoints.shape[-1]``.

    Args:
        predictor: the linear predictor, batch shaped.
        cutpoints: increasing cut points, shape ``batch + (K,)``.
    """

    arg_constraints: ClassVar = {"predictor": C.real, "cutpoints": C.ordered_vector}
    is_discrete: ClassVar[bool] = True
    has_enumerate_support: ClassVar[bool] = True

    predictor: Array
    cutpoints: Array

    def __init__(
        self, predictor: ArrayLike, cutpoints: ArrayLike, *, validate_args: bool | None = None
    ):
        if jnp.ndim(cutpoints) < 1:
            raise ValueError(
                "OrderedLogistic: `cutpoints` needs a last dimension of cut points; "
                f"found shape {jnp.shape(cutpoints)}."
            )
        self.predictor, self.cutpoints = self._init_params(
            validate_args, predictor=predictor, cutpoints=cutpoints
        )

    @property
    def support(self) -> C.Constraint:  # type: ignore[override]
        return C.integer_interval(0, self.cutpoints.shape[-1])

    @property
    def probs(self) -> Array:
        """Category probabilities, shape ``batch + (K + 1,)``."""
        cum = sigmoid(self.cutpoints - self.predictor[..., None])
        zeros = jnp.zeros_like(cum[..., :1])
        cum = jnp.concatenate([zeros, cum, zeros + 1], axis=-1)
        return jnp.clip(jnp.diff(cum, axis=-1), 0.0, 1.0)

    @property
    def logits(self) -> Array:
        return jnp.log(self.probs)

    def _categorical(self) -> Categorical:
        return Categorical(probs=self.probs)

    def sample(self, key: PRNGKeyArray, sample_shape: Shape = ()) -> Array:
        return self._categorical().sample(key, sample_shape)

    def log_prob(self, value: ArrayLike) -> Array:
        value = self._check_sample(value)
        return self._categorical().log_prob(value)

    @property
    def mean(self) -> Array:
        return self._categorical().mean

    @property
    def variance(self) -> Array:
        return self._categorical().variance

    def entropy(self) -> Array:
        return self._categorical().entropy()

    def enumerate_support(self, expand: bool = True) -> Array:
        return _arange_support(self.cutpoints.shape[-1] + 1, self.batch_shape, expand)
