"""Tests of the continuous univariate families against SciPy and Monte Carlo error bounds.

Each family is one row of ``CASES``: how to build it from a dict of raw parameters, the
matching frozen SciPy distribution, the ranges that hypothesis draws the raw parameters
from, a fixed batch of two parameter sets for the sampling tests, and a bad parameter.
Raw parameters let dependent ones stay valid (``Uniform`` gets ``low`` and ``width``).
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.integrate as integrate
import scipy.special as sp
import scipy.stats as ss
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import dists as D

ALL_METHODS = ("cdf", "icdf", "mean", "variance", "entropy")
POS = (0.5, 5.0)
LOC = (-3.0, 3.0)


class _KumaraswamyRef(ss.rv_continuous):
    """Textbook density, CDF and quantile function (SciPy has no Kumaraswamy)."""

    def _pdf(self, x, a, b):
        return a * b * x ** (a - 1) * (1 - x**a) ** (b - 1)

    def _cdf(self, x, a, b):
        return 1 - (1 - x**a) ** b

    def _ppf(self, q, a, b):
        return (1 - (1 - q) ** (1 / b)) ** (1 / a)


_kumaraswamy = _KumaraswamyRef(a=0.0, b=1.0, name="kumaraswamy")


@dataclasses.dataclass(frozen=True)
class Case:
    make: Callable[..., D.Distribution]  # (raw params, **kwargs) -> distribution
    ref: Callable[[dict], Any]  # raw params -> frozen scipy distribution
    params: dict[str, tuple[float, float]]  # hypothesis ranges of the raw params
    fixed: dict[str, list[float]]  # a batch of two raw parameter sets for sampling
    bad: tuple[str, float, str]  # (raw param, invalid value, constructor arg named)
    outside: float  # a value outside the support for ``fixed``
    methods: tuple[str, ...] = ALL_METHODS
    rtol: float = 1e-7


def _tn_low(p):
    return p["loc"] + p["scale"] * p["a"]


CASES: dict[str, Case] = {
    "HalfNormal": Case(
        lambda p, **kw: D.HalfNormal(p["scale"], **kw),
        lambda p: ss.halfnorm(scale=p["scale"]),
        {"scale": POS},
        {"scale": [0.5, 2.0]},
        ("scale", -1.0, "scale"),
        -1.0,
    ),
    "LogNormal": Case(
        lambda p, **kw: D.LogNormal(p["loc"], p["scale"], **kw),
        lambda p: ss.lognorm(s=p["scale"], scale=np.exp(p["loc"])),
        {"loc": (-1.0, 1.0), "scale": (0.2, 1.5)},
        {"loc": [0.0, 1.0], "scale": [0.3, 0.5]},
        ("scale", 0.0, "scale"),
        -1.0,
    ),
    "StudentT": Case(
        lambda p, **kw: D.StudentT(p["df"], p["loc"], p["scale"], **kw),
        lambda p: ss.t(p["df"], p["loc"], p["scale"]),
        {"df": (0.5, 10.0), "loc": LOC, "scale": POS},
        {"df": [5.0, 9.0], "loc": [0.0, -2.0], "scale": [1.0, 0.5]},
        ("df", -1.0, "df"),
        np.nan,
        ("cdf", "mean", "variance", "entropy"),
    ),
    "Cauchy": Case(
        lambda p, **kw: D.Cauchy(p["loc"], p["scale"], **kw),
        lambda p: ss.cauchy(p["loc"], p["scale"]),
        {"loc": LOC, "scale": POS},
        {"loc": [0.0, 2.0], "scale": [1.0, 0.3]},
        ("scale", -1.0, "scale"),
        np.inf,
    ),
    "HalfCauchy": Case(
        lambda p, **kw: D.HalfCauchy(p["scale"], **kw),
        lambda p: ss.halfcauchy(scale=p["scale"]),
        {"scale": POS},
        {"scale": [1.0, 3.0]},
        ("scale", -1.0, "scale"),
        -1.0,
    ),
    "Laplace": Case(
        lambda p, **kw: D.Laplace(p["loc"], p["scale"], **kw),
        lambda p: ss.laplace(p["loc"], p["scale"]),
        {"loc": LOC, "scale": POS},
        {"loc": [0.0, -1.0], "scale": [1.0, 2.0]},
        ("scale", -1.0, "scale"),
        np.nan,
    ),
    "AsymmetricLaplace": Case(
        lambda p, **kw: D.AsymmetricLaplace(p["loc"], p["scale"], p["asymmetry"], **kw),
        lambda p: ss.laplace_asymmetric(p["asymmetry"], p["loc"], p["scale"]),
        {"loc": LOC, "scale": POS, "asymmetry": (0.3, 3.0)},
        {"loc": [0.0, 1.0], "scale": [1.0, 2.0], "asymmetry": [0.5, 2.0]},
        ("asymmetry", -1.0, "asymmetry"),
        np.nan,
    ),
    "Logistic": Case(
        lambda p, **kw: D.Logistic(p["loc"], p["scale"], **kw),
        lambda p: ss.logistic(p["loc"], p["scale"]),
        {"loc": LOC, "scale": POS},
        {"loc": [0.0, 1.0], "scale": [1.0, 0.5]},
        ("scale", -1.0, "scale"),
        np.nan,
    ),
    "Gumbel": Case(
        lambda p, **kw: D.Gumbel(p["loc"], p["scale"], **kw),
        lambda p: ss.gumbel_r(p["loc"], p["scale"]),
        {"loc": LOC, "scale": POS},
        {"loc": [0.0, 1.0], "scale": [1.0, 0.5]},
        ("scale", -1.0, "scale"),
        np.nan,
    ),
    "Uniform": Case(
        lambda p, **kw: D.Uniform(p["low"], p["low"] + p["width"], **kw),
        lambda p: ss.uniform(p["low"], p["width"]),
        {"low": LOC, "width": POS},
        {"low": [0.0, -2.0], "width": [1.0, 3.0]},
        ("width", -1.0, "high"),
        5.0,
    ),
    "LogUniform": Case(
        lambda p, **kw: D.LogUniform(p["low"], p["low"] * p["ratio"], **kw),
        lambda p: ss.loguniform(p["low"], p["low"] * p["ratio"]),
        {"low": (0.1, 3.0), "ratio": (1.5, 20.0)},
        {"low": [1.0, 0.5], "ratio": [10.0, 3.0]},
        ("low", -1.0, "low"),
        0.01,
    ),
    "Exponential": Case(
        lambda p, **kw: D.Exponential(p["rate"], **kw),
        lambda p: ss.expon(scale=1 / p["rate"]),
        {"rate": POS},
        {"rate": [1.0, 3.0]},
        ("rate", -1.0, "rate"),
        -1.0,
    ),
    "Weibull": Case(
        lambda p, **kw: D.Weibull(p["scale"], p["concentration"], **kw),
        lambda p: ss.weibull_min(c=p["concentration"], scale=p["scale"]),
        {"scale": POS, "concentration": (0.5, 5.0)},
        {"scale": [1.0, 2.0], "concentration": [0.8, 3.0]},
        ("concentration", -1.0, "concentration"),
        -1.0,
    ),
    "Pareto": Case(
        lambda p, **kw: D.Pareto(p["scale"], p["alpha"], **kw),
        lambda p: ss.pareto(b=p["alpha"], scale=p["scale"]),
        {"scale": POS, "alpha": (0.5, 6.0)},
        {"scale": [1.0, 2.0], "alpha": [5.0, 7.0]},
        ("alpha", -1.0, "alpha"),
        0.5,
    ),
    "Gamma": Case(
        lambda p, **kw: D.Gamma(p["concentration"], p["rate"], **kw),
        lambda p: ss.gamma(p["concentration"], scale=1 / p["rate"]),
        {"concentration": (0.5, 10.0), "rate": POS},
        {"concentration": [0.7, 4.0], "rate": [1.0, 2.0]},
        ("concentration", -1.0, "concentration"),
        -1.0,
        ("cdf", "mean", "variance", "entropy"),
    ),
    "InverseGamma": Case(
        lambda p, **kw: D.InverseGamma(p["concentration"], p["rate"], **kw),
        lambda p: ss.invgamma(p["concentration"], scale=p["rate"]),
        {"concentration": (0.5, 10.0), "rate": POS},
        {"concentration": [6.0, 9.0], "rate": [1.0, 2.0]},
        ("rate", -1.0, "rate"),
        -1.0,
        ("cdf", "mean", "variance", "entropy"),
    ),
    "Chi2": Case(
        lambda p, **kw: D.Chi2(p["df"], **kw),
        lambda p: ss.chi2(p["df"]),
        {"df": (0.5, 10.0)},
        {"df": [1.0, 5.0]},
        ("df", -1.0, "df"),
        -1.0,
        ("cdf", "mean", "variance", "entropy"),
    ),
    "Beta": Case(
        lambda p, **kw: D.Beta(p["c1"], p["c0"], **kw),
        lambda p: ss.beta(p["c1"], p["c0"]),
        {"c1": (0.5, 5.0), "c0": (0.5, 5.0)},
        {"c1": [0.5, 3.0], "c0": [2.0, 4.0]},
        ("c0", -1.0, "concentration0"),
        1.5,
        ("cdf", "mean", "variance", "entropy"),
    ),
    "Kumaraswamy": Case(
        lambda p, **kw: D.Kumaraswamy(p["c1"], p["c0"], **kw),
        lambda p: _kumaraswamy(p["c1"], p["c0"]),
        {"c1": (0.5, 5.0), "c0": (0.5, 5.0)},
        {"c1": [0.5, 3.0], "c0": [2.0, 4.0]},
        ("c1", -1.0, "concentration1"),
        1.5,
        ("cdf", "icdf"),  # moments: test_kumaraswamy_moments_by_quadrature
    ),
    "VonMises": Case(
        lambda p, **kw: D.VonMises(p["loc"], p["concentration"], **kw),
        lambda p: ss.vonmises(p["concentration"], p["loc"]),
        {"loc": (-1.0, 1.0), "concentration": (0.1, 20.0)},
        {"loc": [0.5, -2.5], "concentration": [0.5, 10.0]},
        ("concentration", -1.0, "concentration"),
        4.0,
        ("mean", "entropy"),  # SciPy's variance is the linear one; see test_von_mises_*
    ),
    "TruncatedNormal": Case(
        lambda p, **kw: D.TruncatedNormal(
            p["loc"], p["scale"], low=_tn_low(p), high=_tn_low(p) + p["scale"] * p["w"], **kw
        ),
        lambda p: ss.truncnorm(p["a"], p["a"] + p["w"], p["loc"], p["scale"]),
        {"loc": LOC, "scale": POS, "a": (-2.5, 1.5), "w": (0.3, 3.0)},
        {"loc": [0.0, 1.0], "scale": [1.0, 2.0], "a": [-1.0, 1.0], "w": [2.0, 0.5]},
        ("w", -1.0, "high"),
        100.0,
        rtol=1e-6,
    ),
    "TruncatedNormal-low": Case(
        lambda p, **kw: D.TruncatedNormal(p["loc"], p["scale"], low=_tn_low(p), **kw),
        lambda p: ss.truncnorm(p["a"], 30.0, p["loc"], p["scale"]),  # inf: SciPy entropy is NaN
        {"loc": LOC, "scale": POS, "a": (-2.0, 2.5)},
        {"loc": [0.0, 1.0], "scale": [1.0, 2.0], "a": [-0.5, 2.0]},
        ("scale", -1.0, "scale"),
        -100.0,
        rtol=1e-6,
    ),
    "TruncatedNormal-high": Case(
        lambda p, **kw: D.TruncatedNormal(
            p["loc"], p["scale"], high=p["loc"] + p["scale"] * p["b"], **kw
        ),
        lambda p: ss.truncnorm(-30.0, p["b"], p["loc"], p["scale"]),
        {"loc": LOC, "scale": POS, "b": (-2.5, 2.0)},
        {"loc": [0.0, 1.0], "scale": [1.0, 2.0], "b": [0.5, -2.0]},
        ("scale", -1.0, "scale"),
        100.0,
        rtol=1e-6,
    ),
}
NAMES = list(CASES)


def _scipy(fn, *args):
    """Call a SciPy reference with its own warnings silenced (it is the reference)."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return np.asarray(fn(*args), dtype=np.float64)


def _assert_match(ours, ref, rtol, atol=1e-9):
    """Equal finiteness pattern (SciPy says inf where we say NaN, or the other way, for
    undefined moments), and close values where finite."""
    ours = np.asarray(ours)
    ref = np.broadcast_to(ref, ours.shape)
    np.testing.assert_array_equal(np.isfinite(ours), np.isfinite(ref))
    ok = np.isfinite(ref)
    np.testing.assert_allclose(ours[ok], ref[ok], rtol=rtol, atol=atol)


def _fixed(case: Case) -> dict[str, jax.Array]:
    return {k: jnp.asarray(v, dtype=jnp.float64) for k, v in case.fixed.items()}


def _fixed_j(case: Case, j: int) -> dict[str, float]:
    return {k: v[j] for k, v in case.fixed.items()}


BATCH = (3,)


@st.composite
def _params_and_q(draw, case: Case):
    # One batch shape, so that each family compiles once; each parameter is a scalar or a
    # full batch, which exercises the broadcasting in the constructors.
    params = {}
    for name, (lo, hi) in case.params.items():
        pshape = BATCH if draw(st.booleans()) else ()
        params[name] = draw(hnp.arrays(np.float64, pshape, elements=st.floats(lo, hi)))
    q = draw(hnp.arrays(np.float64, BATCH, elements=st.floats(0.02, 0.98)))
    return params, q


def _evaluate(name, params, x, q):
    """Every closed form of one family. Run eagerly on one batch shape, so that the
    compiled kernels of the elementwise operations are shared between families."""
    case = CASES[name]
    d = case.make(params)
    out = {"log_prob": d.log_prob(x), "mean": d.mean, "entropy": d.entropy()}
    out["variance"] = d.variance
    if "cdf" in case.methods:
        out["cdf"] = d.cdf(x)
    if "icdf" in case.methods:
        out["icdf"] = d.icdf(q)
    return out


# ---------------------------------------------------------------------------------------
# Closed forms against SciPy


@pytest.mark.parametrize("name", NAMES)
@settings(deadline=None)
@given(data=st.data())
def test_against_scipy(name, data):
    case = CASES[name]
    params, q = data.draw(_params_and_q(case))
    assert case.make(params).batch_shape == np.broadcast_shapes(
        *(np.shape(v) for v in params.values())
    )
    ref = case.ref(params)
    x = -math.pi + 2 * math.pi * q if name == "VonMises" else _scipy(ref.ppf, q)
    full = {k: np.broadcast_to(v, BATCH) for k, v in params.items()}
    ours = _evaluate(name, full, x, q)
    for k in ours:
        assert ours[k].shape == BATCH, k
    _assert_match(ours["log_prob"], _scipy(ref.logpdf, x), case.rtol)
    if "cdf" in case.methods:
        _assert_match(ours["cdf"], _scipy(ref.cdf, x), case.rtol)
    if "icdf" in case.methods:
        _assert_match(ours["icdf"], x, case.rtol)
    for method, ref_method in [("mean", ref.mean), ("variance", ref.var), ("entropy", ref.entropy)]:
        if method in case.methods:
            _assert_match(ours[method], _scipy(ref_method), case.rtol)


def test_kumaraswamy_moments_by_quadrature():
    # SciPy has no Kumaraswamy: integrate the textbook density numerically instead.
    for a, b in [(0.7, 2.0), (3.0, 1.5)]:
        d = D.Kumaraswamy(a, b)
        pdf = lambda t: a * b * t ** (a - 1) * (1 - t**a) ** (b - 1)
        m1 = integrate.quad(lambda t: t * pdf(t), 0, 1)[0]
        m2 = integrate.quad(lambda t: t * t * pdf(t), 0, 1)[0]
        ent = integrate.quad(lambda t: -sp.xlogy(pdf(t), pdf(t)), 0, 1)[0]
        np.testing.assert_allclose(d.mean, m1, rtol=1e-7)
        np.testing.assert_allclose(d.variance, m2 - m1**2, rtol=1e-7)
        np.testing.assert_allclose(d.entropy(), ent, rtol=1e-7)


NO_CLOSED_FORM = {
    "StudentT": ["icdf"],
    "Gamma": ["icdf"],
    "InverseGamma": ["icdf"],
    "Chi2": ["icdf"],
    "Beta": ["icdf"],
    "VonMises": ["cdf", "icdf"],
}


@pytest.mark.parametrize("name", list(NO_CLOSED_FORM))
def test_missing_closed_forms_raise(name):
    d = CASES[name].make(_fixed(CASES[name]))
    for method in NO_CLOSED_FORM[name]:
        with pytest.raises(NotImplementedError, match=method):
            getattr(d, method)(jnp.asarray(0.5))


def test_von_mises_circular_variance():
    kappa = np.array([0.1, 1.0, 5.0, 50.0])
    d = D.VonMises(0.3, kappa)
    np.testing.assert_allclose(d.variance, 1 - sp.i1(kappa) / sp.i0(kappa), rtol=1e-10)
    # Large concentrations must not overflow in log_prob.
    assert jnp.isfinite(D.VonMises(0.0, 1e4).log_prob(0.01))


def test_truncated_normal_far_tail():
    # The whole interval sits 8 to 9 standard deviations above the mean: Phi(b) - Phi(a)
    # cancels in the naive formula, but not in the mirrored one.
    d = D.TruncatedNormal(0.0, 1.0, low=8.0, high=9.0)
    ref = ss.truncnorm(8.0, 9.0)
    x = np.array([8.01, 8.3, 8.9, 7.0])
    q = np.array([0.1, 0.5, 0.9])

    @jax.jit
    def run(dd):
        return dd.log_prob(x), dd.cdf(x), dd.icdf(q), dd.mean, dd.sample(jax.random.key(1), (999,))

    lp, cdf, icdf, mean, s = run(d)
    np.testing.assert_allclose(lp[:3], ref.logpdf(x[:3]), rtol=1e-8)
    assert lp[3] == -jnp.inf  # outside the interval the density is zero
    np.testing.assert_allclose(cdf, ref.cdf(x), rtol=1e-7, atol=1e-12)
    np.testing.assert_allclose(icdf, ref.ppf(q))
    np.testing.assert_allclose(mean, ref.mean(), rtol=1e-8)
    assert bool(jnp.all((s >= 8.0) & (s <= 9.0)))


def test_dependent_supports():
    assert bool(D.Uniform(0.0, 2.0).support(1.0)) and not bool(D.Uniform(0.0, 2.0).support(3.0))
    assert D.Uniform(0.0, 2.0).log_prob(3.0) == -jnp.inf
    assert not bool(D.Pareto(2.0, 3.0).support(1.0))
    assert D.Pareto(2.0, 3.0).log_prob(1.0) == -jnp.inf
    assert not bool(D.TruncatedNormal(low=0.0).support(-1.0))
    assert not bool(D.TruncatedNormal(high=0.0).support(1.0))
    assert bool(D.TruncatedNormal().support(1e3))


# ---------------------------------------------------------------------------------------
# Samplers: Monte Carlo error bounds and a KS test against SciPy, on fixed keys.

N = 20_000


def _draw(d, key):
    # One vjp gives both the draws and the pathwise gradient of their mean with respect
    # to every parameter. Eager, so that families sharing a sampler (jax.random.gamma)
    # share its compiled code.
    if d.has_rsample:
        x, pullback = jax.vjp(lambda dd: dd.rsample(key, (N,)), d)
        (grads,) = pullback(jnp.full_like(x, 1 / x.size))
    else:
        # Rejection samplers are not reparameterised, but a shift of the draw still is.
        x, pullback = jax.vjp(lambda dd: dd.sample(key, (N,)), d)
        (grads,) = pullback(jnp.cos(x) / x.size)
    return x, d.support(x), d.log_prob(x[:5]), d.mean, d.variance, grads


@pytest.mark.parametrize("name", NAMES)
def test_sample_moments_and_ks(name):
    case = CASES[name]
    d = case.make(_fixed(case))
    x, in_support, lp, means, variances, grads = _draw(d, jax.random.key(0))
    assert x.shape == (N, 2) and x.dtype == jnp.float64
    grads = [g for g in jax.tree.leaves(grads) if g.dtype == jnp.float64]
    assert grads and all(bool(jnp.all(jnp.isfinite(g))) for g in grads)
    assert any(bool(jnp.any(g != 0)) for g in grads)
    assert bool(jnp.all(in_support))
    assert lp.shape == (5, 2) and bool(jnp.all(jnp.isfinite(lp)))
    x = np.asarray(x)
    for j in range(2):
        pj = _fixed_j(case, j)
        ref = case.ref(pj)
        xj = x[:, j]
        mean, var = float(means[j]), float(variances[j])
        if name == "VonMises":
            # Circular statistics: E cos(X - loc) = 1 - circular variance.
            c = np.cos(xj - pj["loc"])
            assert abs(c.mean() - (1 - var)) < 5 * c.std() / math.sqrt(N)
            xj = np.remainder(xj - pj["loc"] + np.pi, 2 * np.pi) - np.pi
            ref = ss.vonmises(pj["concentration"])
        elif math.isfinite(var):
            assert abs(xj.mean() - mean) < 5 * math.sqrt(var / N), (j, xj.mean(), mean)
        p = ss.kstest(xj, lambda t: _scipy(ref.cdf, t)).pvalue
        assert p > 1e-3, (j, p)


def test_von_mises_extreme_concentrations():
    d = D.VonMises(jnp.array([0.0, 1.0, 3.0]), jnp.array([0.0, 1e-10, 1e7]))
    x = jax.jit(lambda dd: dd.sample(jax.random.key(2), (4000,)))(d)
    assert bool(jnp.all(jnp.isfinite(x)))
    # kappa = 0 and 1e-10: uniform on the circle.
    for j in range(2):
        assert ss.kstest(np.asarray(x[:, j]), ss.uniform(-np.pi, 2 * np.pi).cdf).pvalue > 1e-3
    # kappa = 1e7: normal around loc with sd 1 / sqrt(kappa).
    z = (np.asarray(x[:, 2]) - 3.0) * math.sqrt(1e7)
    assert ss.kstest(z, ss.norm.cdf).pvalue > 1e-3


# ---------------------------------------------------------------------------------------
# Validation


def test_bad_parameter_message():
    with pytest.raises(ValueError, match=r"Gamma.*`concentration`.*concentration=-1\.0"):
        D.Gamma(-1.0, 1.0, validate_args=True)


def _inside(case: Case) -> jax.Array:
    """The medians of the two fixed parameter sets (inside the support of each).

    A JAX array, not NumPy: jax 0.10 fails on a NumPy array closed over by jit and mapped
    by vmap into a custom_jvp function such as ``xlogy`` ("non-canonical constant").
    """
    return jnp.array([float(case.ref(_fixed_j(case, j)).median()) for j in range(2)])


@pytest.mark.parametrize("name", NAMES)
def test_validation(name):
    case = CASES[name]
    raw, bad_value, arg = case.bad
    good = _fixed(case)
    bad = {**good, raw: jnp.full((2,), bad_value)}
    with pytest.raises(ValueError, match=f"`{arg}`"):
        case.make(bad, validate_args=True)
    d = case.make(good, validate_args=True)
    assert d.validate_args
    with pytest.raises(ValueError, match="outside the support"):
        d.log_prob(case.outside)
    # By default the concrete bad parameter raises too, but log_prob values are unchecked.
    with pytest.raises(ValueError, match=f"`{arg}`"):
        case.make(bad)
    # Validation off: nothing is checked, nothing raises, and the density is zero outside
    # the support (VonMises is periodic: its log_prob is defined on the whole line).
    off = case.make(bad, validate_args=False)
    assert not off.validate_args and not case.make(good).validate_args
    if math.isfinite(case.outside) and name != "VonMises":
        assert bool(jnp.all(case.make(good).log_prob(case.outside) == -jnp.inf))


def test_out_of_support_under_jit():
    d = D.Exponential(1.0, validate_args=True)
    with pytest.raises(Exception, match="outside the support"):
        jax.block_until_ready(jax.jit(lambda x: d.log_prob(x))(-1.0))


# ---------------------------------------------------------------------------------------
# Reparameterisation and pytrees


@pytest.mark.parametrize("name", NAMES)
def test_rsample_flag(name):
    # Gradients of the draws are checked in test_sample_moments_and_ks.
    d = CASES[name].make(_fixed(CASES[name]))
    assert d.has_rsample == (name != "VonMises")
    if not d.has_rsample:
        with pytest.raises(NotImplementedError):
            d.rsample(jax.random.key(0))


@pytest.mark.parametrize("name", NAMES)
def test_vmap_and_jit(name):
    case = CASES[name]
    params = _fixed(case)
    d = case.make(params)
    x = _inside(case)
    lp = d.log_prob(x)
    assert lp.shape == (2,) and bool(jnp.all(jnp.isfinite(lp)))

    @jax.jit  # a distribution as an argument of jit
    def run(dd, p):
        return (
            dd.log_prob(x),
            dd.log_prob(x[0]),
            jax.vmap(lambda pp, xx: case.make(pp).log_prob(xx))(p, x),  # built inside vmap
            # A batched distribution passed through vmap as a pytree, with a fixed value.
            jax.vmap(lambda d1: d1.log_prob(x[0]))(dd),
        )

    jitted, jitted0, built, mapped = run(d, params)
    np.testing.assert_allclose(jitted, lp, rtol=1e-12)
    np.testing.assert_allclose(built, lp, rtol=1e-12)
    np.testing.assert_allclose(mapped, jitted0, rtol=1e-12)


# Every family validates through the same ``validate_param``; these three cover a plain
# constraint, a constraint that depends on another parameter, and optional bounds.
@pytest.mark.parametrize("name", ["Gamma", "Uniform", "TruncatedNormal-low"])
def test_runtime_validation_under_jit_and_vmap(name):
    case = CASES[name]
    params = _fixed(case)
    x = _inside(case)
    raw, bad_value, arg = case.bad
    bad = {**params, raw: jnp.full((2,), bad_value)}
    run = jax.jit(lambda p: case.make(p, validate_args=True).log_prob(x))
    np.testing.assert_allclose(run(params), case.make(params).log_prob(x), rtol=1e-12)
    with pytest.raises(Exception, match=arg):
        jax.block_until_ready(run(bad))
    # Built inside vmap the parameters are tracers, so the check is also deferred.
    mapped = jax.vmap(lambda p, xx: case.make(p, validate_args=True).log_prob(xx))
    with pytest.raises(Exception, match=arg):
        jax.block_until_ready(mapped(bad, x))
