"""MCMC convergence diagnostics: R-hat, effective sample size, MCSE, HPDI.

These run on the host after sampling, in NumPy float64. Every function takes draws shaped
``(chains, draws, *params)`` (NumPy or JAX arrays) and is vectorised over ``*params``.

The algorithms follow Vehtari, Gelman, Simpson, Carpenter and Bürkner (2021),
"Rank-normalization, folding, and localization: an improved R-hat for assessing
convergence of MCMC", Bayesian Analysis 16(2):

* chains are split in half, so that a trend within one chain shows up as disagreement
  between halves;
* the bulk diagnostics use rank-normalised draws, ``z = Φ⁻¹((r - 3/8) / (S + 1/4))`` with
  ``r`` the average rank of a draw among all ``S`` draws;
* the tail R-hat uses the same on the draws folded about their median, ``|θ - median θ|``
  (the median of the draws the split keeps: an odd-length chain loses its middle draw);
* the effective sample size combines the chains' autocorrelations through the within- and
  between-chain variances (their eq. 10) and truncates the sum with Geyer's initial
  monotone sequence.

A diagnostic is NaN where it is undefined: fewer than four draws per chain, a NaN among the
draws, or (for R-hat and the sd MCSE) draws that are all the same value. Draws that are all
the same value have an effective sample size equal to the number of draws, as in ArviZ.
"""

from collections.abc import Sequence

import numpy as np
import scipy.special
import scipy.stats
from jaxtyping import ArrayLike, Float, Shaped

__all__ = [
    "autocorrelation",
    "autocovariance",
    "effective_sample_size",
    "ess_bulk",
    "ess_mean",
    "ess_tail",
    "hpdi",
    "mcse_mean",
    "mcse_sd",
    "nested_rhat",
    "nested_rhat_from_moments",
    "quantiles",
    "rhat",
    "rhat_from_moments",
    "split_chains",
    "split_gelman_rubin",
    "split_rhat",
]

_MIN_DRAWS = 4


# --------------------------------------------------------------------------------------
# helpers


def _draws(x: ArrayLike, fn: str) -> tuple[np.ndarray, tuple[int, ...]]:
    """Float64 draws reshaped to ``(chains, draws, P)``, and the parameter shape."""
    a = np.asarray(x)
    if a.ndim < 2:
        raise ValueError(
            f"{fn} expects draws shaped (chains, draws, *params); got shape {a.shape}. "
            "For a single chain, add the chain axis with `x[None]`."
        )
    a = a.astype(np.float64)
    return a.reshape(a.shape[0], a.shape[1], -1), a.shape[2:]


def _out(values: np.ndarray, param_shape: tuple[int, ...]) -> np.ndarray:
    return np.asarray(values, dtype=np.float64).reshape(param_shape)


def _split(a: np.ndarray) -> np.ndarray:
    """(M, N, P) -> (2M, N // 2, P); the middle draw of an odd-length chain is dropped."""
    half = a.shape[1] // 2
    return np.concatenate([a[:, :half], a[:, a.shape[1] - half :]], axis=0)


def _nans(param_shape: tuple[int, ...]) -> np.ndarray:
    """The result for chains shorter than ``_MIN_DRAWS``: too short to say anything."""
    return np.full(param_shape, np.nan)


def _undefined(a: np.ndarray) -> np.ndarray:
    """Params whose draws hold a NaN."""
    return np.isnan(a).any(axis=(0, 1))


def _constant(a: np.ndarray) -> np.ndarray:
    return np.all(a == a[:1, :1], axis=(0, 1))


def _z_scale(a: np.ndarray) -> np.ndarray:
    """Rank-normalise (M, N, P) draws over all chains, per param (Blom's offsets)."""
    m, n, p = a.shape
    flat = a.reshape(m * n, p)
    ranks = scipy.stats.rankdata(flat, method="average", axis=0)
    z = scipy.special.ndtri((ranks - 0.375) / (m * n + 0.25))
    return z.reshape(m, n, p)


def _fft_autocov_last(a: np.ndarray) -> np.ndarray:
    """Biased autocovariance (divisor n) along the last axis, via zero-padded FFT."""
    n = a.shape[-1]
    centred = a - a.mean(axis=-1, keepdims=True)
    # Padding to at least 2n - 1 turns the circular correlation into the linear one.
    n_fft = 1 << max(1, (2 * n - 1).bit_length())
    spec = np.fft.rfft(centred, n=n_fft, axis=-1)
    acov = np.fft.irfft(spec * np.conj(spec), n=n_fft, axis=-1)[..., :n]
    return acov / n


# --------------------------------------------------------------------------------------
# autocorrelation


def autocovariance(x: Shaped[ArrayLike, "..."], axis: int = 0) -> Float[np.ndarray, "..."]:
    """Autocovariance of a series along ``axis``, computed with the FFT.

    The lag-``t`` value is ``(1/n) Σ_{i<n-t} (x_i - x̄)(x_{i+t} - x̄)``, the biased estimator
    that MCMC effective-sample-size estimates are built on. The result has the shape of
    ``x``.

    Example:
        >>> import numpy as np
        >>> autocovariance(np.array([1.0, 2.0, 3.0, 4.0]))
        array([ 1.25  ,  0.3125, -0.375 , -0.5625])
    """
    a = np.moveaxis(np.asarray(x, dtype=np.float64), axis, -1)
    return np.asarray(np.moveaxis(_fft_autocov_last(a), -1, axis))


def autocorrelation(x: Shaped[ArrayLike, "..."], axis: int = 0) -> Float[np.ndarray, "..."]:
    """Autocorrelation of a series along ``axis``: the autocovariance over its lag-0 value.

    A constant series gives NaN.

    Example:
        >>> import numpy as np
        >>> autocorrelation(np.array([1.0, 2.0, 3.0, 4.0]))
        array([ 1.  ,  0.25, -0.3 , -0.45])
    """
    acov = np.moveaxis(autocovariance(x, axis), axis, -1)
    with np.errstate(divide="ignore", invalid="ignore"):
        acorr = acov / acov[..., :1]
    return np.asarray(np.moveaxis(acorr, -1, axis))


# --------------------------------------------------------------------------------------
# R-hat


def _rhat_core(a: np.ndarray) -> np.ndarray:
    """Gelman-Rubin R-hat of (M, N, P) chains (no splitting), per param."""
    n = a.shape[1]
    within = a.var(axis=1, ddof=1).mean(axis=0)
    between_over_n = a.mean(axis=1).var(axis=0, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.sqrt(((n - 1) / n * within + between_over_n) / within)
    return np.where(_constant(a), np.nan, out)


def split_chains(x: Shaped[ArrayLike, "chains draws *params"]) -> Float[np.ndarray, "..."]:
    """Split each chain in half: ``(M, N, ...) -> (2M, N // 2, ...)``.

    The middle draw of an odd-length chain is dropped.

    Example:
        >>> import numpy as np
        >>> split_chains(np.arange(10.0).reshape(2, 5)).tolist()
        [[0.0, 1.0], [5.0, 6.0], [3.0, 4.0], [8.0, 9.0]]
    """
    a, shape = _draws(x, "split_chains")
    s = _split(a)
    return s.reshape(s.shape[:2] + shape)


def split_rhat(x: Shaped[ArrayLike, "chains draws *params"]) -> Float[np.ndarray, "*params"]:
    """Classic split R-hat (Gelman et al., BDA3) on the raw draws.

    Example:
        >>> import numpy as np
        >>> x = np.random.default_rng(0).normal(size=(4, 1000))
        >>> bool(abs(split_rhat(x) - 1.0) < 0.01)
        True
    """
    a, shape = _draws(x, "split_rhat")
    if a.shape[1] < _MIN_DRAWS:
        return _nans(shape)
    out = _rhat_core(_split(a))
    return _out(np.where(_undefined(a), np.nan, out), shape)


split_gelman_rubin = split_rhat


def rhat(x: Shaped[ArrayLike, "chains draws *params"]) -> Float[np.ndarray, "*params"]:
    """Rank-normalised split R-hat: the larger of the bulk and the folded (tail) R-hat.

    This is the R-hat recommended by Vehtari et al. (2021); values above about 1.01 suggest
    the chains have not mixed. A single chain is allowed (its halves are compared).

    Example:
        >>> import numpy as np
        >>> x = np.random.default_rng(0).normal(size=(4, 1000, 2))
        >>> rhat(x).shape
        (2,)
    """
    a, shape = _draws(x, "rhat")
    if a.shape[1] < _MIN_DRAWS:
        return _nans(shape)
    s = _split(a)
    bulk = _rhat_core(_z_scale(s))
    # Fold about the median of the draws that the split keeps.
    tail = _rhat_core(_z_scale(np.abs(s - np.median(s.reshape(-1, s.shape[2]), axis=0))))
    out = np.maximum(bulk, tail)
    return _out(np.where(_undefined(a) | _constant(a), np.nan, out), shape)


# --------------------------------------------------------------------------------------
# effective sample size


def _ess_core(a: np.ndarray) -> np.ndarray:
    """ESS of (M, N, P) chains, per param, without splitting or rank normalisation.

    Combined autocorrelation (Vehtari et al. 2021, eq. 10):
    ``ρ_t = 1 - (W - mean_m acov_m(t)) / var⁺`` with ``W`` the mean within-chain variance
    and ``var⁺ = (N-1)/N W + B/N``. The sum ``τ = -1 + 2 Σ ρ_t`` is truncated by Geyer's
    initial positive sequence: pairs ``P_k = ρ_{2k} + ρ_{2k+1}`` (``2k < N - 2``) are
    looked at until one is not positive, and those before it are made monotone (each capped
    by the one before it). Of the last pair looked at, only ``ρ_{2k}`` enters, once (the
    "improved" estimate of Vehtari et al., which lowers the variance for antithetic
    chains). ``τ`` is bounded below by ``1 / log10(MN)``. These are the conventions of
    Stan, the posterior R package and ArviZ.
    """
    m, n, p = a.shape
    acov = _fft_autocov_last(np.moveaxis(a, 1, -1))  # (M, P, N)
    mean_acov = acov.mean(axis=0).T  # (N, P)
    within = mean_acov[0] * n / (n - 1)
    var_plus = within * (n - 1) / n
    if m > 1:
        var_plus = var_plus + a.mean(axis=1).var(axis=0, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = 1.0 - (within - mean_acov) / var_plus
    rho[0] = 1.0

    # Pairs considered: (ρ_0, ρ_1) always, then (ρ_{2k}, ρ_{2k+1}) for 2k < n - 2.
    n_pairs = max(1, (n - 1) // 2)
    even = rho[0 : 2 * n_pairs : 2]
    pairs = even + rho[1 : 2 * n_pairs : 2]  # (K, P)
    idx = np.arange(n_pairs)[:, None]
    # Pair k is looked at while every earlier pair was positive.
    earlier_positive = np.concatenate(
        [np.ones((1, p), bool), np.cumprod(pairs[:-1] > 0, axis=0).astype(bool)]
    )
    last = earlier_positive.sum(axis=0) - 1  # the last pair looked at
    # The pairs before the last are all positive; make them monotone (each capped by the
    # one before it) and count them whole.
    before_last = idx < last
    capped = np.minimum.accumulate(np.where(before_last, pairs, np.inf), axis=0)
    total = np.where(before_last, capped, 0.0).sum(axis=0)
    # Of the last pair only the even term counts, and only once: where it is positive, or
    # where the pair is non-negative (pair 0 always). This is the "improved" estimate of
    # Vehtari et al., which lowers the variance for antithetic chains.
    last_even = np.take_along_axis(even, last[None], axis=0)[0]
    last_pair = np.take_along_axis(pairs, last[None], axis=0)[0]
    counted = (last_even > 0) | (last == 0) | (last_pair >= 0)
    tau = -1.0 + 2.0 * total + np.where(counted, last_even, 0.0)
    tau = np.maximum(tau, 1.0 / np.log10(m * n))
    ess = m * n / tau
    # Draws that are all the same value: ESS is taken as the number of draws, as in ArviZ.
    return np.where(_constant(a), float(m * n), ess)


def effective_sample_size(
    x: Shaped[ArrayLike, "chains draws *params"],
) -> Float[np.ndarray, "*params"]:
    """Effective sample size of the raw draws, chains not split (the NumPyro quantity).

    Uses the multi-chain autocorrelation estimate and Geyer's initial monotone sequence
    (see the module docstring). For convergence checks prefer :func:`ess_bulk` and
    :func:`ess_tail`.

    Example:
        >>> import numpy as np
        >>> x = np.random.default_rng(0).normal(size=(4, 500))
        >>> bool(1500 < effective_sample_size(x) < 2500)
        True
    """
    a, shape = _draws(x, "effective_sample_size")
    if a.shape[1] < _MIN_DRAWS:
        return _nans(shape)
    return _out(np.where(_undefined(a), np.nan, _ess_core(a)), shape)


def ess_mean(x: Shaped[ArrayLike, "chains draws *params"]) -> Float[np.ndarray, "*params"]:
    """Effective sample size for the posterior mean: split chains, raw draws.

    This is ArviZ's ``ess(method="mean")`` and the ESS that :func:`mcse_mean` uses.

    Example:
        >>> import numpy as np
        >>> x = np.random.default_rng(0).normal(size=(4, 500, 3))
        >>> ess_mean(x).shape
        (3,)
    """
    a, shape = _draws(x, "ess_mean")
    if a.shape[1] < _MIN_DRAWS:
        return _nans(shape)
    return _out(np.where(_undefined(a), np.nan, _ess_core(_split(a))), shape)


def ess_bulk(x: Shaped[ArrayLike, "chains draws *params"]) -> Float[np.ndarray, "*params"]:
    """Bulk effective sample size: split chains, rank-normalised draws.

    Example:
        >>> import numpy as np
        >>> x = np.random.default_rng(0).standard_cauchy(size=(4, 500))
        >>> bool(1500 < ess_bulk(x) < 2500)
        True
    """
    a, shape = _draws(x, "ess_bulk")
    if a.shape[1] < _MIN_DRAWS:
        return _nans(shape)
    s = _split(a)
    z = np.where(_constant(s), s, _z_scale(s))
    return _out(np.where(_undefined(a), np.nan, _ess_core(z)), shape)


def ess_tail(x: Shaped[ArrayLike, "chains draws *params"]) -> Float[np.ndarray, "*params"]:
    """Tail effective sample size: the smaller ESS of the 5% and 95% quantile indicators.

    The indicators ``I(θ ≤ q)`` (``q`` the pooled sample quantile, linear interpolation) are
    computed on the split chains.

    Example:
        >>> import numpy as np
        >>> x = np.random.default_rng(0).normal(size=(4, 500))
        >>> bool(ess_tail(x) > 1000)
        True
    """
    a, shape = _draws(x, "ess_tail")
    if a.shape[1] < _MIN_DRAWS:
        return _nans(shape)
    pooled = a.reshape(-1, a.shape[2])
    q05, q95 = np.quantile(pooled, [0.05, 0.95], axis=0)
    ess05 = _ess_core(_split((a <= q05).astype(np.float64)))
    ess95 = _ess_core(_split((a <= q95).astype(np.float64)))
    return _out(np.where(_undefined(a), np.nan, np.minimum(ess05, ess95)), shape)


# --------------------------------------------------------------------------------------
# Monte Carlo standard errors


def mcse_mean(x: Shaped[ArrayLike, "chains draws *params"]) -> Float[np.ndarray, "*params"]:
    """Monte Carlo standard error of the posterior mean: ``sd / sqrt(ess_mean)``.

    Example:
        >>> import numpy as np
        >>> x = np.random.default_rng(0).normal(size=(4, 2500))
        >>> round(float(mcse_mean(x)), 3)  # about 1 / sqrt(10000)
        0.01
    """
    a, shape = _draws(x, "mcse_mean")
    if a.shape[1] < _MIN_DRAWS:
        return _nans(shape)
    sd = a.reshape(-1, a.shape[2]).std(axis=0, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = sd / np.sqrt(_ess_core(_split(a)))
    return _out(np.where(_undefined(a), np.nan, out), shape)


def mcse_sd(x: Shaped[ArrayLike, "chains draws *params"]) -> Float[np.ndarray, "*params"]:
    """Monte Carlo standard error of the posterior standard deviation (delta method).

    With ``c = θ - mean θ``, the variance estimate ``v = E[c²]`` has standard error
    ``sqrt((E[c⁴] - v²) / ess)``, where ``ess`` is :func:`ess_mean` of ``c²``; the delta
    method for ``sd = sqrt(v)`` divides that variance by ``4 v``.

    Example:
        >>> import numpy as np
        >>> x = np.random.default_rng(0).normal(size=(4, 2500))
        >>> round(float(mcse_sd(x)), 3)  # about 1 / sqrt(2 * 10000)
        0.007
    """
    a, shape = _draws(x, "mcse_sd")
    if a.shape[1] < _MIN_DRAWS:
        return _nans(shape)
    c2 = (a - a.mean(axis=(0, 1))) ** 2
    ev = c2.mean(axis=(0, 1))
    ess = _ess_core(_split(c2))
    with np.errstate(divide="ignore", invalid="ignore"):
        var_v = ((c2**2).mean(axis=(0, 1)) - ev**2) / ess
        out = np.sqrt(var_v / ev / 4.0)
    return _out(np.where(_undefined(a) | _constant(a), np.nan, out), shape)


# --------------------------------------------------------------------------------------
# intervals


def hpdi(x: Shaped[ArrayLike, "..."], prob: float = 0.9, axis: int = 0) -> Float[np.ndarray, "..."]:
    """Highest posterior density interval: the shortest interval holding ``prob`` of draws.

    Of the intervals ``[x_(i), x_(i+k)]`` between sorted draws ``x_(0) <= ... <= x_(n-1)``
    with ``k = floor(prob n)``, returns the narrowest (the first, on ties). The result has
    ``x``'s shape with ``axis`` replaced by 2: lower then upper bound.

    Example:
        >>> import numpy as np
        >>> hpdi(np.array([0.0, 1.0, 2.0, 3.0, 10.0]), prob=0.6).tolist()
        [0.0, 3.0]
    """
    if not 0.0 < prob < 1.0:
        raise ValueError(f"hpdi needs 0 < prob < 1; got prob={prob}.")
    a = np.sort(np.moveaxis(np.asarray(x, dtype=np.float64), axis, 0), axis=0)
    n = a.shape[0]
    k = int(np.floor(prob * n))
    if n == 0 or k == 0:
        raise ValueError(
            f"hpdi needs at least one draw inside the interval; got {n} draws with "
            f"prob={prob}. Pass more draws or a larger prob."
        )
    widths = a[k:] - a[: n - k]
    start = np.argmin(widths, axis=0)[None]
    lower = np.take_along_axis(a, start, axis=0)[0]
    upper = np.take_along_axis(a, start + k, axis=0)[0]
    return np.asarray(np.stack([lower, upper], axis=axis))


def quantiles(
    x: Shaped[ArrayLike, "..."],
    q: float | Sequence[float] | ArrayLike = (0.05, 0.5, 0.95),
    axis: int = 0,
) -> Float[np.ndarray, "..."]:
    """Sample quantiles along ``axis`` (linear interpolation), stacked on a new first axis.

    Example:
        >>> import numpy as np
        >>> quantiles(np.arange(11.0), [0.1, 0.5]).tolist()
        [1.0, 5.0]
    """
    qs = np.asarray(q, dtype=np.float64)
    return np.asarray(np.quantile(np.asarray(x, dtype=np.float64), qs, axis=axis))


# --------------------------------------------------------------------------------------
# R-hat from per-chain moments (streaming runs) and nested R-hat


def _moment_arrays(
    count: ArrayLike, mean: ArrayLike, variance: ArrayLike, fn: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = np.asarray(count, np.float64)
    m = np.asarray(mean, np.float64)
    v = np.asarray(variance, np.float64)
    if m.ndim < 1 or m.shape != v.shape or n.shape != m.shape[:1]:
        raise ValueError(
            f"{fn} expects count shaped (chains,) and mean and variance shaped "
            f"(chains, *params); got count {n.shape}, mean {m.shape}, variance {v.shape}."
        )
    if not np.all(n == n[:1]):
        raise ValueError(f"{fn} expects every chain to have the same number of draws; got {n}.")
    return n, m, v


def rhat_from_moments(
    count: Shaped[ArrayLike, " chains"],
    mean: Shaped[ArrayLike, " chains *params"],
    variance: Shaped[ArrayLike, " chains *params"],
) -> Float[np.ndarray, "*params"]:
    """Gelman-Rubin R-hat (chains not split) from each chain's draw count, mean and
    variance (divisor ``count - 1``), as a streaming run keeps them.

    ``sqrt(((N - 1) / N W + B / N) / W)`` with ``W`` the mean within-chain variance and
    ``B / N`` the variance of the chain means (BDA3, section 11.4).

    Example:
        >>> import numpy as np
        >>> x = np.random.default_rng(0).normal(size=(4, 500))
        >>> r = rhat_from_moments(np.full(4, 500), x.mean(1), x.var(1, ddof=1))
        >>> bool(abs(r - 1) < 0.01)
        True
    """
    n, m, v = _moment_arrays(count, mean, variance, "rhat_from_moments")
    if m.shape[0] < 2 or n[0] < 2:
        return np.full(m.shape[1:], np.nan)
    w = v.mean(axis=0)
    b_over_n = m.var(axis=0, ddof=1)
    var_plus = (n[0] - 1.0) / n[0] * w + b_over_n
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(np.where(w > 0, np.sqrt(var_plus / w), np.nan), np.float64)


def nested_rhat_from_moments(
    count: Shaped[ArrayLike, " chains"],
    mean: Shaped[ArrayLike, " chains *params"],
    variance: Shaped[ArrayLike, " chains *params"],
    num_superchains: int,
) -> Float[np.ndarray, "*params"]:
    """Nested R-hat (Margossian et al. 2023) from per-chain moments; superchain ``k`` is
    chains ``k * M .. (k + 1) * M - 1``, ``M = chains / num_superchains``. See
    :func:`nested_rhat`.

    Example:
        >>> import numpy as np
        >>> x = np.random.default_rng(0).normal(size=(8, 50))
        >>> r = nested_rhat_from_moments(np.full(8, 50), x.mean(1), x.var(1, ddof=1), 4)
        >>> bool(abs(r - 1) < 0.05)
        True
    """
    n, m, v = _moment_arrays(count, mean, variance, "nested_rhat_from_moments")
    chains = m.shape[0]
    k = num_superchains
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 2 or chains % k:
        raise ValueError(
            f"nested R-hat needs num_superchains an int >= 2 that divides the number of "
            f"chains ({chains}); got {num_superchains!r}."
        )
    per = chains // k
    ms = m.reshape((k, per) + m.shape[1:])
    vs = v.reshape((k, per) + v.shape[1:])
    super_mean = ms.mean(axis=1)  # equal chain lengths: the mean of a superchain's draws
    between_super = super_mean.var(axis=0, ddof=1)  # B-nu (eq. 17)
    between_chain = ms.var(axis=1, ddof=1) if per > 1 else np.zeros_like(super_mean)
    within_chain = vs.mean(axis=1) if n[0] > 1 else np.zeros_like(super_mean)
    within_super = (between_chain + within_chain).mean(axis=0)  # W-nu (eq. 18)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(np.sqrt(1.0 + between_super / within_super), np.float64)


def nested_rhat(
    x: Shaped[ArrayLike, "chains draws *params"], num_superchains: int
) -> Float[np.ndarray, "*params"]:
    """Nested R-hat of Margossian, Hoffman, Sountsov, Riou-Durand, Vehtari and Gelman
    (2023), for many short chains grouped into superchains.

    The ``M`` chains of each of the ``K`` superchains are consecutive (chains started
    from one point belong together). With chain means ``m_kc``, variances ``s2_kc``
    (divisor ``N - 1``) and superchain means ``m_k``::

        B_nu = var_k(m_k)                                  (divisor K - 1)
        W_nu = mean_k( var_c(m_kc) + mean_c(s2_kc) )       (var_c: divisor M - 1; 0 if M = 1)
        nR = sqrt(1 + B_nu / W_nu)

    With one draw per chain the within-chain term is 0.

    Example:
        >>> import numpy as np
        >>> x = np.random.default_rng(0).normal(size=(8, 100, 2))
        >>> nested_rhat(x, num_superchains=4).shape
        (2,)
    """
    a, shape = _draws(x, "nested_rhat")
    n = a.shape[1]
    var = a.var(axis=1, ddof=1) if n > 1 else np.zeros((a.shape[0], a.shape[2]))
    out = nested_rhat_from_moments(np.full(a.shape[0], n), a.mean(axis=1), var, num_superchains)
    return _out(out, shape)
