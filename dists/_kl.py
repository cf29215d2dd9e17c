"""Kullback-Leibler divergences in closed form, dispatched on the pair of families.

``kl_divergence(p, q)`` is ``KL(p || q) = E_p[log p(x) - log q(x)]``, one value per batch
element (event dims summed). New pairs are added with ``register_kl(P, Q)`` as in NumPyro.
Dispatch is by ``functools.singledispatch`` on ``p``'s class (its MRO), then on ``q``'s:
the registry lives in those dispatchers, not in a module-level container.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax.numpy as jnp
from jax.scipy.special import betaln, digamma, gammaln
from jaxtyping import Array

from ._continuous import Exponential, Laplace
from ._continuous2 import Beta, Gamma
from ._discrete import Bernoulli
from ._distribution import Distribution, ExpandedDistribution, Independent
from ._multivariate import Dirichlet, LowRankMultivariateNormal, MultivariateNormal
from ._normal import Normal
from ._util import sum_rightmost


def _no_pair(p: Any) -> Any:
    return None


# p's class -> a dispatcher on q's class (see register_kl).
_tables = functools.singledispatch(_no_pair)


def _missing(q: Any, p: Any) -> Array:
    raise NotImplementedError(
        f"kl_divergence: no closed form is registered for KL({type(p).__name__} || "
        f"{type(q).__name__}). Fix: register one with "
        f"`@dists.register_kl({type(p).__name__}, {type(q).__name__})`, or estimate the KL "
        "by Monte Carlo (Trace_ELBO instead of TraceMeanField_ELBO)."
    )


def register_kl(type_p: type, type_q: type) -> Callable[[Callable], Callable]:
    """Register ``fn(p, q) -> KL(p || q)`` for ``p`` of class ``type_p`` and ``q`` of
    class ``type_q`` (subclasses included).

    Example:
        >>> import dists as D
        >>> @D.register_kl(D.Normal, D.Laplace)
        ... def _kl_normal_laplace(p, q):
        ...     raise NotImplementedError
        >>> _kl_normal_laplace.__name__
        '_kl_normal_laplace'
    """

    def decorator(fn: Callable) -> Callable:
        table = _tables.registry.get(type_p)
        if table is None or table is _no_pair:
            inner = functools.singledispatch(_missing)
            _tables.register(type_p, lambda p, inner=inner: inner)
        else:
            inner = table(None)
        inner.register(type_q, lambda q, p, fn=fn: fn(p, q))
        return fn

    return decorator


def kl_divergence(p: Distribution, q: Distribution) -> Array:
    """``KL(p || q)`` in closed form, of shape ``broadcast(p.batch_shape, q.batch_shape)``.

    Raises ``NotImplementedError`` for a pair with no registered closed form.

    Example:
        >>> import dists as D
        >>> round(float(D.kl_divergence(D.Normal(0.0, 1.0), D.Normal(1.0, 1.0))), 3)
        0.5
    """
    # The most specific class of p whose table has an entry for q's class (a table for
    # `Normal` may lack `ExpandedDistribution`, which the table for `Distribution` has).
    for cls in type(p).__mro__:
        table = _tables.registry.get(cls)
        if table is None or table is _no_pair:
            continue
        inner = table(None)
        impl = inner.dispatch(type(q))
        if impl is not inner.registry[object]:
            return impl(q, p)
    return _missing(q, p)


def _batch(p: Distribution, q: Distribution, kl: Array) -> Array:
    shape = jnp.broadcast_shapes(tuple(p.batch_shape), tuple(q.batch_shape))
    kl = jnp.asarray(kl)
    # Explicit left-padding: rank promotion may be refused.
    kl = jnp.reshape(kl, (1,) * (len(shape) - kl.ndim) + kl.shape) if kl.ndim < len(shape) else kl
    return jnp.broadcast_to(kl, shape)


def _pad(x: Array, ndim: int) -> Array:
    x = jnp.asarray(x)
    return jnp.reshape(x, (1,) * (ndim - x.ndim) + x.shape) if x.ndim < ndim else x


def _same_rank(*xs: Any) -> list[Array]:
    arrs = [jnp.asarray(x) for x in xs]
    n = max(a.ndim for a in arrs)
    return [_pad(a, n) for a in arrs]


@register_kl(Normal, Normal)
def _kl_normal_normal(p, q):
    pl, ps, ql, qs = _same_rank(p.loc, p.scale, q.loc, q.scale)
    var_ratio = (ps / qs) ** 2
    t1 = ((pl - ql) / qs) ** 2
    return 0.5 * (var_ratio + t1 - 1 - jnp.log(var_ratio))


@register_kl(Laplace, Laplace)
def _kl_laplace_laplace(p, q):
    pl, ps, ql, qs = _same_rank(p.loc, p.scale, q.loc, q.scale)
    d = jnp.abs(pl - ql)
    return jnp.log(qs / ps) + d / qs + ps / qs * jnp.exp(-d / ps) - 1


@register_kl(Exponential, Exponential)
def _kl_exponential_exponential(p, q):
    pr, qr = _same_rank(p.rate, q.rate)
    ratio = qr / pr
    return ratio - jnp.log(ratio) - 1


@register_kl(Gamma, Gamma)
def _kl_gamma_gamma(p, q):
    pa, pb, qa, qb = _same_rank(p.concentration, p.rate, q.concentration, q.rate)
    return (
        (pa - qa) * digamma(pa)
        - gammaln(pa)
        + gammaln(qa)
        + qa * (jnp.log(pb) - jnp.log(qb))
        + pa * (qb - pb) / pb
    )


@register_kl(Beta, Beta)
def _kl_beta_beta(p, q):
    pa, pb, qa, qb = _same_rank(
        p.concentration1, p.concentration0, q.concentration1, q.concentration0
    )
    ps = pa + pb
    return (
        betaln(qa, qb)
        - betaln(pa, pb)
        + (pa - qa) * digamma(pa)
        + (pb - qb) * digamma(pb)
        + (qa - pa + qb - pb) * digamma(ps)
    )


@register_kl(Bernoulli, Bernoulli)
def _kl_bernoulli_bernoulli(p, q):
    pl, ql = _same_rank(p.logits, q.logits)
    pp = jnp.exp(-jnp.logaddexp(jnp.zeros((), pl.dtype), -pl))  # sigmoid, stably
    # log p - log q for x = 1 and x = 0, in terms of logits.
    log1 = -jnp.logaddexp(0.0, -pl) + jnp.logaddexp(0.0, -ql)
    log0 = -jnp.logaddexp(0.0, pl) + jnp.logaddexp(0.0, ql)
    return pp * log1 + (1 - pp) * log0


@register_kl(Dirichlet, Dirichlet)
def _kl_dirichlet_dirichlet(p, q):
    pc, qc = _same_rank(p.concentration, q.concentration)
    p0 = jnp.sum(pc, -1)
    q0 = jnp.sum(qc, -1)
    return (
        gammaln(p0)
        - gammaln(q0)
        - jnp.sum(gammaln(pc) - gammaln(qc), -1)
        + jnp.sum((pc - qc) * (digamma(pc) - digamma(p0)[..., None]), -1)
    )


def _gaussian(d: Any, who: str) -> tuple[Array, Array]:
    """``(loc, scale_tril)`` of a Gaussian vector: a ``MultivariateNormal``, a
    ``LowRankMultivariateNormal`` (the Cholesky factor of its dense covariance) or a
    ``Normal`` with one reinterpreted batch dim (``Normal(...).to_event(1)``, a diagonal
    factor); anything else is not a pair with a closed form here."""
    if isinstance(d, (MultivariateNormal, LowRankMultivariateNormal)):
        return d.loc, d.scale_tril
    if isinstance(d, Independent) and d.reinterpreted_batch_ndims == 1:
        base = d.base_dist
        if isinstance(base, ExpandedDistribution):
            base = base.base_dist
        if isinstance(base, Normal):
            shape = tuple(d.batch_shape) + tuple(d.event_shape)
            loc = jnp.broadcast_to(base.loc, shape)
            scale = jnp.broadcast_to(base.scale, shape)
            eye = jnp.eye(shape[-1], dtype=scale.dtype)
            return loc, scale[..., None] * jnp.reshape(eye, (1,) * (len(shape) - 1) + eye.shape)
    raise NotImplementedError(
        f"kl_divergence: no closed form for {who} {type(d).__name__} against a "
        "multivariate normal (the Gaussian pairs are MultivariateNormal, "
        "LowRankMultivariateNormal and Normal(...).to_event(1)). Fix: register the pair "
        "with dists.register_kl, or estimate the KL by Monte Carlo."
    )


def _kl_gaussian(p: Any, q: Any) -> Array:
    """``KL(N(m_p, L_p L_p') || N(m_q, L_q L_q'))`` from the two Cholesky factors:
    ``(|L_q^-1 L_p|_F^2 + |L_q^-1 (m_q - m_p)|^2 - n) / 2 + log|L_q| - log|L_p|``."""
    from jax.scipy.linalg import solve_triangular

    p_loc, p_tril = _gaussian(p, "p =")
    q_loc, q_tril = _gaussian(q, "q =")
    n = p_loc.shape[-1]
    if q_loc.shape[-1] != n:
        raise ValueError(
            f"kl_divergence: the two multivariate normals ({type(p).__name__}, "
            f"{type(q).__name__}) have event sizes {n} and {q_loc.shape[-1]}; they must match."
        )
    batch = jnp.broadcast_shapes(tuple(p.batch_shape), tuple(q.batch_shape))
    pt = jnp.broadcast_to(p_tril, batch + (n, n))
    qt = jnp.broadcast_to(q_tril, batch + (n, n))
    diff = jnp.broadcast_to(q_loc, batch + (n,)) - jnp.broadcast_to(p_loc, batch + (n,))
    m = solve_triangular(qt, pt, lower=True)  # Lq^-1 Lp
    y = solve_triangular(qt, diff[..., None], lower=True)[..., 0]
    log_det_p = jnp.sum(jnp.log(jnp.diagonal(pt, axis1=-2, axis2=-1)), -1)
    log_det_q = jnp.sum(jnp.log(jnp.diagonal(qt, axis1=-2, axis2=-1)), -1)
    return 0.5 * (jnp.sum(m**2, (-2, -1)) + jnp.sum(y**2, -1) - n) + log_det_q - log_det_p


# Every pair of Gaussian vectors, dense, low-rank or diagonal (``Normal(...).to_event(1)``
# against a dense or low-rank one; two diagonal ones go through Independent-Independent).
for _p, _q in [
    (MultivariateNormal, MultivariateNormal),
    (MultivariateNormal, LowRankMultivariateNormal),
    (LowRankMultivariateNormal, MultivariateNormal),
    (LowRankMultivariateNormal, LowRankMultivariateNormal),
    (Independent, MultivariateNormal),
    (Independent, LowRankMultivariateNormal),
    (MultivariateNormal, Independent),
    (LowRankMultivariateNormal, Independent),
]:
    register_kl(_p, _q)(_kl_gaussian)


@register_kl(Independent, Independent)
def _kl_independent_independent(p, q):
    if p.reinterpreted_batch_ndims != q.reinterpreted_batch_ndims:
        raise NotImplementedError(
            "kl_divergence: two Independent distributions with different "
            f"reinterpreted_batch_ndims ({p.reinterpreted_batch_ndims} and "
            f"{q.reinterpreted_batch_ndims}) have no registered closed form. Fix: give both "
            "the same event dims (e.g. `.to_event(n)` on both)."
        )
    kl = kl_divergence(p.base_dist, q.base_dist)
    return sum_rightmost(kl, p.reinterpreted_batch_ndims)


@register_kl(ExpandedDistribution, Distribution)
def _kl_expanded_any(p, q):
    return _batch(p, q, kl_divergence(p.base_dist, q))


@register_kl(Distribution, ExpandedDistribution)
def _kl_any_expanded(p, q):
    return _batch(p, q, kl_divergence(p, q.base_dist))
