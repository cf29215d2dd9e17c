"""Multivariate distribution families: Gaussian, low-rank Gaussian, Dirichlet, LKJ,
Gaussian random walk and multivariate Student-t.
"""

from __future__ import annotations

import math
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
from jax.scipy.linalg import cho_solve, solve_triangular
from jax.scipy.special import digamma, gammaln, xlogy

from . import _constraints as C
from ._distribution import Distribution
from ._linalg import add_diag, cholesky_of_inverse
from ._typing import Array, ArrayLike, PRNGKeyArray, Shape
from ._util import _cast, _float_dtype, as_float, promote_shapes, promote_value

_LOG_2PI = math.log(2 * math.pi)


def _matvec(m: Array, v: Array) -> Array:
    return jnp.matmul(m, v[..., None])[..., 0]


def _tril_solve(lower: Array, b: Array) -> Array:
    """Solve ``lower @ x = b`` for the vector ``b``, broadcasting the batch dims."""
    batch = jnp.broadcast_shapes(lower.shape[:-2], b.shape[:-1])
    n = lower.shape[-1]
    # One dtype for both (a float32 value against a float64 factor solves in float64).
    dtype = _float_dtype(lower, b)
    lower = jnp.broadcast_to(_cast(lower, dtype), batch + (n, n))
    b = jnp.broadcast_to(_cast(b, dtype), batch + (n,))
    return solve_triangular(lower, b[..., None], lower=True)[..., 0]


def _log_diag_sum(lower: Array) -> Array:
    return jnp.sum(jnp.log(jnp.diagonal(lower, axis1=-2, axis2=-1)), axis=-1)


def _check_square(dist: str, name: str, m: Array) -> None:
    if m.ndim < 2 or m.shape[-1] != m.shape[-2]:
        raise ValueError(
            f"{dist}: `{name}` must be a (batch of) square matrices of shape (..., n, n); "
            f"found shape {m.shape}."
        )


def _loc_vector(dist: str, loc: ArrayLike, n: int) -> Array:
    loc = as_float(loc)
    if loc.ndim == 0:
        loc = jnp.broadcast_to(loc, (n,))
    if loc.shape[-1] != n:
        raise ValueError(
            f"{dist}: `loc` must end in the event size {n}; found shape {loc.shape}. "
            "Pass a loc of shape (..., n) or a scalar."
        )
    return loc


class MultivariateNormal(Distribution):
    """Multivariate normal distribution.

    Give exactly one of ``covariance_matrix``, ``precision_matrix`` or ``scale_tril``; the
    lower Cholesky factor of the covariance is stored as ``scale_tril``.

    Args:
        loc: mean, shape ``batch + (n,)`` (or a scalar broadcast to ``(n,)``).
        covariance_matrix: positive-definite covariance, shape ``batch + (n, n)``.
        precision_matrix: positive-definite inverse covariance.
        scale_tril: lower-triangular factor with positive diagonal.

    Example:
        >>> import jax, jax.numpy as jnp, dists as D
        >>> d = D.MultivariateNormal(jnp.zeros(2), scale_tril=jnp.eye(2))
        >>> d.sample(jax.random.key(0), (3,)).shape
        (3, 2)
    """

    arg_constraints: ClassVar = {
        "loc": C.real_vector,
        "covariance_matrix": C.positive_definite,
        "precision_matrix": C.positive_definite,
        "scale_tril": C.lower_cholesky,
    }
    support: ClassVar = C.real_vector
    has_rsample: ClassVar[bool] = True

    loc: Array
    scale_tril: Array

    def __init__(
        self,
        loc: ArrayLike = 0.0,
        covariance_matrix: ArrayLike | None = None,
        precision_matrix: ArrayLike | None = None,
        scale_tril: ArrayLike | None = None,
        *,
        validate_args: bool | None = None,
    ):
        given = {
            "covariance_matrix": covariance_matrix,
            "precision_matrix": precision_matrix,
            "scale_tril": scale_tril,
        }
        given = {k: as_float(m) for k, m in given.items() if m is not None}
        if len(given) != 1:
            raise ValueError(
                "MultivariateNormal: pass exactly one of `covariance_matrix`, "
                f"`precision_matrix` or `scale_tril`; found {sorted(given) or 'none'}."
            )
        ((name, m),) = given.items()
        _check_square("MultivariateNormal", name, m)
        (m,) = self._init_params(validate_args, **{name: m})
        if name == "covariance_matrix":
            tril = jnp.linalg.cholesky(m)
        elif name == "precision_matrix":
            tril = cholesky_of_inverse(m)
        else:
            tril = m
        n = tril.shape[-1]
        loc = _loc_vector("MultivariateNormal", loc, n)
        # One float dtype for both, as ``_init_params`` gives the parameters of a family.
        dtype = _float_dtype(loc, tril)
        loc, tril = _cast(loc, dtype), _cast(tril, dtype)
        batch = jnp.broadcast_shapes(loc.shape[:-1], tril.shape[:-2])
        self.loc = self._check_param(
            "loc", jnp.broadcast_to(loc, batch + (n,)), validate_args=validate_args
        )
        self.scale_tril = jnp.broadcast_to(tril, batch + (n, n))

    @property
    def event_shape(self) -> Shape:
        return tuple(self.loc.shape[-1:])

    def sample(self, key: PRNGKeyArray, sample_shape: Shape = ()) -> Array:
        eps = jax.random.normal(key, self.shape(sample_shape), self.loc.dtype)
        mv, loc = promote_value(_matvec(self.scale_tril, eps), self.loc)
        return loc + mv

    def log_prob(self, value: ArrayLike) -> Array:
        value, loc = promote_value(self._check_sample(value), self.loc)
        z = _tril_solve(self.scale_tril, value - loc)
        n = self.event_shape[0]
        sq, half_log_det = promote_value(jnp.sum(z**2, axis=-1), _log_diag_sum(self.scale_tril))
        return -0.5 * sq - half_log_det - 0.5 * n * _LOG_2PI

    @property
    def mean(self) -> Array:
        return self.loc

    @property
    def variance(self) -> Array:
        return jnp.sum(self.scale_tril**2, axis=-1)

    @property
    def covariance_matrix(self) -> Array:
        return jnp.matmul(self.scale_tril, jnp.swapaxes(self.scale_tril, -1, -2))

    @property
    def precision_matrix(self) -> Array:
        n = self.event_shape[0]
        eye = jnp.broadcast_to(jnp.eye(n, dtype=self.loc.dtype), self.scale_tril.shape)
        return cho_solve((self.scale_tril, True), eye)

    def entropy(self) -> Array:
        n = self.event_shape[0]
        return 0.5 * n * (1 + _LOG_2PI) + _log_diag_sum(self.scale_tril)


class LowRankMultivariateNormal(Distribution):
    """Normal with covariance ``cov_factor @ cov_factor.T + diag(cov_diag)``.

    ``log_prob`` uses the Woodbury identity through the ``k x k`` capacitance matrix
    ``I + W^T D^{-1} W``, so its cost is linear in the event size ``n``.

    Args:
        loc: mean, shape ``batch + (n,)``.
        cov_factor: the factor ``W``, shape ``batch + (n, k)``.
        cov_diag: the positive diagonal ``D``, shape ``batch + (n,)``.
    """

    arg_constraints: ClassVar = {
        "loc": C.real_vector,
        "cov_factor": C.independent(C.real, 2),
        "cov_diag": C.positive_vector,
    }
    support: ClassVar = C.real_vector
    has_rsample: ClassVar[bool] = True

    loc: Array
    cov_factor: Array
    cov_diag: Array

    def __init__(
        self,
        loc: ArrayLike,
        cov_factor: ArrayLike,
        cov_diag: ArrayLike,
        *,
        validate_args: bool | None = None,
    ):
        cov_factor, cov_diag = as_float(cov_factor), as_float(cov_diag)
        if cov_factor.ndim < 2 or cov_diag.ndim < 1:
            raise ValueError(
                "LowRankMultivariateNormal: `cov_factor` must have shape (..., n, k) and "
                f"`cov_diag` shape (..., n); found {cov_factor.shape} and {cov_diag.shape}."
            )
        n = cov_factor.shape[-2]
        if cov_diag.shape[-1] != n:
            raise ValueError(
                f"LowRankMultivariateNormal: `cov_diag` must end in n={n} (from cov_factor "
                f"of shape {cov_factor.shape}); found shape {cov_diag.shape}."
            )
        loc = _loc_vector("LowRankMultivariateNormal", loc, n)
        self.loc, self.cov_factor, self.cov_diag = self._init_params(
            validate_args, loc=loc, cov_factor=cov_factor, cov_diag=cov_diag
        )

    @property
    def event_shape(self) -> Shape:
        return tuple(self.loc.shape[-1:])

    def _capacitance_tril(self) -> Array:
        w = self.cov_factor
        wt_dinv = jnp.swapaxes(w, -1, -2) / self.cov_diag[..., None, :]
        # I + W^T D^-1 W, with the identity added to the diagonal (not broadcast).
        cap = add_diag(jnp.matmul(wt_dinv, w), 1.0)
        return jnp.linalg.cholesky(cap)

    def _log_det(self) -> Array:
        log_det_cap = 2 * _log_diag_sum(self._capacitance_tril())
        return log_det_cap + jnp.sum(jnp.log(self.cov_diag), axis=-1)

    def sample(self, key: PRNGKeyArray, sample_shape: Shape = ()) -> Array:
        k1, k2 = jax.random.split(key)
        shape = tuple(sample_shape) + self.batch_shape
        k = self.cov_factor.shape[-1]
        eps_w = jax.random.normal(k1, shape + (k,), self.loc.dtype)
        eps_d = jax.random.normal(k2, shape + self.event_shape, self.loc.dtype)
        mv, eps_d, loc, sd = promote_value(
            _matvec(self.cov_factor, eps_w), eps_d, self.loc, jnp.sqrt(self.cov_diag)
        )
        return loc + mv + sd * eps_d

    def log_prob(self, value: ArrayLike) -> Array:
        value, loc, cov_diag = promote_value(self._check_sample(value), self.loc, self.cov_diag)
        diff = value - loc
        dinv_diff = diff / cov_diag
        w_t = jnp.swapaxes(self.cov_factor, -1, -2)
        z = _tril_solve(self._capacitance_tril(), _matvec(w_t, dinv_diff))
        maha = jnp.sum(diff * dinv_diff, axis=-1) - jnp.sum(z**2, axis=-1)
        n = self.event_shape[0]
        maha, log_det = promote_value(maha, self._log_det())
        return -0.5 * (n * _LOG_2PI + log_det + maha)

    @property
    def mean(self) -> Array:
        return self.loc

    @property
    def variance(self) -> Array:
        return jnp.sum(self.cov_factor**2, axis=-1) + self.cov_diag

    @property
    def covariance_matrix(self) -> Array:
        w = self.cov_factor
        return add_diag(jnp.matmul(w, jnp.swapaxes(w, -1, -2)), self.cov_diag)

    @property
    def precision_matrix(self) -> Array:
        # Woodbury: D^{-1} - D^{-1} W C^{-1} W^T D^{-1}, C the capacitance.
        w = self.cov_factor
        dinv = 1 / self.cov_diag
        dinv_w = dinv[..., None] * w
        a = solve_triangular(self._capacitance_tril(), jnp.swapaxes(dinv_w, -1, -2), lower=True)
        return add_diag(-jnp.matmul(jnp.swapaxes(a, -1, -2), a), dinv)

    @property
    def scale_tril(self) -> Array:
        return jnp.linalg.cholesky(self.covariance_matrix)

    def entropy(self) -> Array:
        n = self.event_shape[0]
        return 0.5 * n * (1 + _LOG_2PI) + 0.5 * self._log_det()


class Dirichlet(Distribution):
    """Dirichlet distribution on the simplex.

    Args:
        concentration: positive concentrations, shape ``batch + (K,)``.
    """

    arg_constraints: ClassVar = {"concentration": C.positive_vector}
    support: ClassVar = C.simplex
    has_rsample: ClassVar[bool] = True

    concentration: Array

    def __init__(self, concentration: ArrayLike, *, validate_args: bool | None = None):
        if jnp.ndim(concentration) < 1:
            raise ValueError(
                "Dirichlet: `concentration` needs at least one dimension (the categories); "
                f"found shape {jnp.shape(concentration)}."
            )
        (self.concentration,) = self._init_params(validate_args, concentration=concentration)

    @property
    def event_shape(self) -> Shape:
        return tuple(self.concentration.shape[-1:])

    def sample(self, key: PRNGKeyArray, sample_shape: Shape = ()) -> Array:
        shape = tuple(sample_shape) + self.batch_shape
        return jax.random.dirichlet(key, self.concentration, shape, self.concentration.dtype)

    def log_prob(self, value: ArrayLike) -> Array:
        value, a = promote_value(self._check_sample(value), self.concentration)
        log_norm = jnp.sum(gammaln(a), axis=-1) - gammaln(jnp.sum(a, axis=-1))
        return jnp.sum(xlogy(a - 1, value), axis=-1) - log_norm

    @property
    def mean(self) -> Array:
        a = self.concentration
        return a / jnp.sum(a, axis=-1, keepdims=True)

    @property
    def variance(self) -> Array:
        a = self.concentration
        a0 = jnp.sum(a, axis=-1, keepdims=True)
        return a * (a0 - a) / (a0**2 * (a0 + 1))

    def entropy(self) -> Array:
        a = self.concentration
        k = a.shape[-1]
        a0 = jnp.sum(a, axis=-1)
        log_b = jnp.sum(gammaln(a), axis=-1) - gammaln(a0)
        return log_b + (a0 - k) * digamma(a0) - jnp.sum((a - 1) * digamma(a), axis=-1)


def _lkj_log_normalizer(dimension: int, concentration: Array) -> Array:
    """Log of the LKJ normaliser (the same for the Cholesky factor and the matrix).

    Row ``i`` of ``L`` is a point ``w`` of the unit ball in ``R^i`` (its diagonal entry is
    ``sqrt(1 - |w|^2)``). The density factorises over rows, with row ``i`` proportional to
    ``(1 - |w|^2)^(a_i - 1)``, ``a_i = eta + (d - 1 - i) / 2``, whose integral over the
    ball is ``pi^(i/2) Gamma(a_i) / Gamma(a_i + i/2)``.
    """
    eta, i = promote_shapes(
        concentration[..., None], jnp.arange(1, dimension, dtype=concentration.dtype)
    )
    a = eta + (dimension - 1 - i) / 2
    terms = 0.5 * i * math.log(math.pi) + gammaln(a) - gammaln(a + i / 2)
    return jnp.sum(terms, axis=-1)


def _lkj_onion(key: PRNGKeyArray, eta: Array, d: int, shape: Shape) -> Array:
    """Onion method: row ``i`` is ``sqrt(y) u`` with ``y ~ Beta(i/2, a_i)``, ``u`` uniform on
    the unit sphere of ``R^i``, and diagonal ``sqrt(1 - y)``."""
    k1, k2 = jax.random.split(key)
    eta_row, i = promote_shapes(eta[..., None], jnp.arange(d, dtype=eta.dtype))
    a = jnp.where(i == 0, 1.0, i / 2)
    b = eta_row + (d - 1 - i) / 2
    y = jax.random.beta(k1, a, b, shape + (d,), eta.dtype)
    y = jnp.where(i == 0, 0.0, y)
    z = jnp.tril(jax.random.normal(k2, shape + (d, d), eta.dtype), -1)
    norm = jnp.linalg.norm(z, axis=-1, keepdims=True)
    u = z / jnp.where(norm > 0, norm, 1.0)
    diag = jnp.sqrt(jnp.clip(1 - y, 0.0, 1.0))
    return add_diag(u * jnp.sqrt(y)[..., None], diag)


def _lkj_cvine(key: PRNGKeyArray, eta: Array, d: int, shape: Shape) -> Array:
    """C-vine method: the partial correlation in column ``j`` is a symmetric Beta on
    ``(-1, 1)`` with parameter ``eta + (d - 2 - j) / 2``; rows are built by stick breaking."""
    eta_row, j = promote_shapes(eta[..., None], jnp.arange(d, dtype=eta.dtype))
    beta = jnp.where(j <= d - 2, eta_row + (d - 2 - j) / 2, 1.0)[..., None, :]
    r = 2 * jax.random.beta(key, beta, beta, shape + (d, d), eta.dtype) - 1
    rho = jnp.tril(r, -1)
    # Remaining squared length before column j: prod_{k<j} (1 - rho_k^2).
    left = jnp.cumprod(1 - rho**2, axis=-1)
    left = jnp.concatenate([jnp.ones_like(left[..., :1]), left[..., :-1]], axis=-1)
    diag = jnp.sqrt(jnp.diagonal(left, axis1=-2, axis2=-1))
    return add_diag(rho * jnp.sqrt(left), diag)


class _LKJBase(Distribution):
    """The parameters, checks and sampler shared by LKJCholesky and LKJ."""

    arg_constraints: ClassVar = {"concentration": C.positive}
    has_rsample: ClassVar[bool] = False

    dimension: int = eqx.field(static=True)
    concentration: Array
    sample_method: str = eqx.field(static=True)

    def __init__(
        self,
        dimension: int,
        concentration: ArrayLike = 1.0,
        sample_method: str = "onion",
        *,
        validate_args: bool | None = None,
    ):
        name = type(self).__name__
        if int(dimension) < 1:
            raise ValueError(f"{name}: `dimension` must be a positive integer; found {dimension}.")
        if sample_method not in ("onion", "cvine"):
            raise ValueError(
                f"{name}: `sample_method` must be 'onion' or 'cvine'; found {sample_method!r}."
            )
        self.dimension = int(dimension)
        (self.concentration,) = self._init_params(validate_args, concentration=concentration)
        self.sample_method = sample_method

    @property
    def event_shape(self) -> Shape:
        return (self.dimension, self.dimension)

    def _sample_tril(self, key: PRNGKeyArray, sample_shape: Shape) -> Array:
        shape = tuple(sample_shape) + self.batch_shape
        eta = jnp.broadcast_to(self.concentration, shape)
        if self.dimension == 1:
            return jnp.ones(shape + (1, 1), self.concentration.dtype)
        if self.sample_method == "onion":
            return _lkj_onion(key, eta, self.dimension, shape)
        return _lkj_cvine(key, eta, self.dimension, shape)

    def _log_normalizer(self) -> Array:
        return _lkj_log_normalizer(self.dimension, self.concentration)


class LKJCholesky(_LKJBase):
    """LKJ distribution on lower Cholesky factors ``L`` of correlation matrices.

    The density of ``L`` (w.r.t. its strictly-lower entries) is proportional to
    ``prod_i L_ii^(d - i - 1 + 2 (concentration - 1))``, which corresponds to
    ``det(L L^T)^(concentration - 1)`` on the correlation matrix.

    Args:
        dimension: matrix size ``d``.
        concentration: the shape parameter ``eta > 0`` (1 gives uniform correlations).
        sample_method: ``"onion"`` (default) or ``"cvine"``.
    """

    support: ClassVar = C.corr_cholesky

    def sample(self, key: PRNGKeyArray, sample_shape: Shape = ()) -> Array:
        return self._sample_tril(key, sample_shape)

    def log_prob(self, value: ArrayLike) -> Array:
        value = self._check_sample(value)
        d = self.dimension
        diag = jnp.diagonal(jnp.asarray(value), axis1=-2, axis2=-1)
        eta, i = promote_shapes(
            self.concentration[..., None], jnp.arange(d, dtype=self.concentration.dtype)
        )
        power = (d - 1 - i) + 2 * (eta - 1)
        log_diag, power = promote_value(jnp.log(diag), power)
        lp, log_norm = promote_value(jnp.sum(power * log_diag, axis=-1), self._log_normalizer())
        return lp - log_norm


class LKJ(_LKJBase):
    """LKJ distribution on correlation matrices: density ``∝ det(C)^(concentration - 1)``.

    Args:
        dimension: matrix size ``d``.
        concentration: the shape parameter ``eta > 0``.
        sample_method: ``"onion"`` (default) or ``"cvine"``.
    """

    support: ClassVar = C.corr_matrix

    def sample(self, key: PRNGKeyArray, sample_shape: Shape = ()) -> Array:
        tril = self._sample_tril(key, sample_shape)
        return jnp.matmul(tril, jnp.swapaxes(tril, -1, -2))

    def log_prob(self, value: ArrayLike) -> Array:
        value = self._check_sample(value)
        log_det = 2 * _log_diag_sum(jnp.linalg.cholesky(as_float(value)))
        log_det, eta, log_norm = promote_value(log_det, self.concentration, self._log_normalizer())
        return (eta - 1) * log_det - log_norm

    @property
    def mean(self) -> Array:
        eye = jnp.eye(self.dimension, dtype=self.concentration.dtype)
        return jnp.broadcast_to(eye, self.batch_shape + self.event_shape)


class GaussianRandomWalk(Distribution):
    """Random walk with independent ``Normal(0, scale)`` increments, starting from 0.

    Args:
        scale: standard deviation of each increment, batch shaped.
        num_steps: number of steps (the event size).
    """

    arg_constraints: ClassVar = {"scale": C.positive}
    support: ClassVar = C.real_vector
    has_rsample: ClassVar[bool] = True

    scale: Array
    num_steps: int = eqx.field(static=True)

    def __init__(
        self, scale: ArrayLike = 1.0, num_steps: int = 1, *, validate_args: bool | None = None
    ):
        if int(num_steps) < 1:
            raise ValueError(
                f"GaussianRandomWalk: `num_steps` must be a positive integer; found {num_steps}."
            )
        (self.scale,) = self._init_params(validate_args, scale=scale)
        self.num_steps = int(num_steps)

    @property
    def event_shape(self) -> Shape:
        return (self.num_steps,)

    def sample(self, key: PRNGKeyArray, sample_shape: Shape = ()) -> Array:
        eps = jax.random.normal(key, self.shape(sample_shape), self.scale.dtype)
        walk, scale = promote_value(jnp.cumsum(eps, axis=-1), self.scale[..., None])
        return walk * scale

    def log_prob(self, value: ArrayLike) -> Array:
        x, scale = promote_value(self._check_sample(value), self.scale[..., None])
        steps = jnp.concatenate([x[..., :1], jnp.diff(x, axis=-1)], axis=-1)
        z = steps / scale
        n = self.num_steps
        return -0.5 * jnp.sum(z**2, axis=-1) - n * (jnp.log(scale[..., 0]) + 0.5 * _LOG_2PI)

    @property
    def mean(self) -> Array:
        return jnp.zeros(self.batch_shape + self.event_shape, self.scale.dtype)

    @property
    def variance(self) -> Array:
        steps, scale = promote_shapes(
            jnp.arange(1, self.num_steps + 1, dtype=self.scale.dtype), self.scale[..., None]
        )
        return steps * scale**2


class MultivariateStudentT(Distribution):
    """Multivariate Student-t with ``df`` degrees of freedom.

    Args:
        df: degrees of freedom (positive), batch shaped.
        loc: location, shape ``batch + (n,)``.
        scale_tril: lower-triangular scale factor, shape ``batch + (n, n)``.
    """

    arg_constraints: ClassVar = {
        "df": C.positive,
        "loc": C.real_vector,
        "scale_tril": C.lower_cholesky,
    }
    support: ClassVar = C.real_vector
    has_rsample: ClassVar[bool] = True

    df: Array
    loc: Array
    scale_tril: Array

    def __init__(
        self,
        df: ArrayLike,
        loc: ArrayLike = 0.0,
        scale_tril: ArrayLike | None = None,
        *,
        validate_args: bool | None = None,
    ):
        if scale_tril is None:
            raise ValueError(
                "MultivariateStudentT: `scale_tril` is required (a lower-triangular matrix "
                "of shape (..., n, n))."
            )
        tril = as_float(scale_tril)
        _check_square("MultivariateStudentT", "scale_tril", tril)
        n = tril.shape[-1]
        loc = _loc_vector("MultivariateStudentT", loc, n)
        self.df, self.loc, self.scale_tril = self._init_params(
            validate_args, df=df, loc=loc, scale_tril=tril
        )

    @property
    def event_shape(self) -> Shape:
        return tuple(self.loc.shape[-1:])

    def sample(self, key: PRNGKeyArray, sample_shape: Shape = ()) -> Array:
        k1, k2 = jax.random.split(key)
        shape = tuple(sample_shape) + self.batch_shape
        eps = jax.random.normal(k1, shape + self.event_shape, self.loc.dtype)
        chi2 = 2 * jax.random.gamma(k2, self.df / 2, shape, self.df.dtype)
        chi2, df = promote_value(chi2, self.df)
        scale = jnp.sqrt(df / chi2)
        scaled, loc = promote_value(scale[..., None] * _matvec(self.scale_tril, eps), self.loc)
        return loc + scaled

    def log_prob(self, value: ArrayLike) -> Array:
        value, loc = promote_value(self._check_sample(value), self.loc)
        n = self.event_shape[0]
        z = _tril_solve(self.scale_tril, value - loc)
        maha, nu, log_diag = promote_value(
            jnp.sum(z**2, axis=-1), self.df, _log_diag_sum(self.scale_tril)
        )
        return (
            gammaln((nu + n) / 2)
            - gammaln(nu / 2)
            - 0.5 * n * jnp.log(nu * math.pi)
            - log_diag
            - 0.5 * (nu + n) * jnp.log1p(maha / nu)
        )

    @property
    def mean(self) -> Array:
        """``loc`` where ``df > 1``, NaN otherwise."""
        ok = (self.df > 1)[..., None]
        return jnp.where(ok, self.loc, jnp.nan)

    @property
    def variance(self) -> Array:
        """``df / (df - 2) * diag(scale_tril @ scale_tril.T)`` for ``df > 2``; inf for
        ``1 < df <= 2``; NaN for ``df <= 1``."""
        nu = self.df[..., None]
        var = jnp.sum(self.scale_tril**2, axis=-1)
        out = jnp.where(nu > 2, var * nu / jnp.where(nu > 2, nu - 2, 1.0), jnp.inf)
        return jnp.where(nu > 1, out, jnp.nan)

    @property
    def covariance_matrix(self) -> Array:
        tril = self.scale_tril
        nu = self.df[..., None, None]
        cov = jnp.matmul(tril, jnp.swapaxes(tril, -1, -2))
        return jnp.where(nu > 2, cov * nu / jnp.where(nu > 2, nu - 2, 1.0), jnp.inf)
