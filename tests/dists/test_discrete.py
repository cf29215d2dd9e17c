"""Tests of the discrete families against SciPy, hand computations and Monte Carlo bounds.

Each SciPy-backed family is one row of ``CASES``: how to build it from a dict of raw
parameters (arrays of shape ``(2,)``), the matching frozen SciPy distribution, hypothesis
strategies for the raw parameters, the largest value to test, and which methods to compare.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special as sp
import scipy.stats as ss
from hypothesis import given, settings, strategies as st

import dists as D

BATCH = 2


def _floats(lo, hi):
    return ("float", lo, hi)


def _ints(lo, hi):
    return ("int", lo, hi)


def _expit(x):
    return sp.expit(np.asarray(x))


@dataclasses.dataclass(frozen=True)
class Case:
    make: Callable[..., D.Distribution]
    ref: Callable[[dict], Any]
    params: dict[str, tuple]
    vmax: Callable[[dict], np.ndarray]  # largest value of interest, per batch member
    fixed: dict[str, list[float]]  # a batch of two raw parameter sets for sampling
    methods: tuple[str, ...] = ("cdf", "mean", "variance")


CASES: dict[str, Case] = {
    "bernoulli_probs": Case(
        lambda p, **kw: D.Bernoulli(probs=p["p"], **kw),
        lambda p: ss.bernoulli(p["p"]),
        {"p": _floats(0.01, 0.99)},
        lambda p: np.ones(BATCH),
        {"p": [0.2, 0.7]},
        ("cdf", "mean", "variance", "entropy"),
    ),
    "bernoulli_logits": Case(
        lambda p, **kw: D.Bernoulli(logits=p["l"], **kw),
        lambda p: ss.bernoulli(_expit(p["l"])),
        {"l": _floats(-4.0, 4.0)},
        lambda p: np.ones(BATCH),
        {"l": [-1.0, 2.0]},
        ("cdf", "mean", "variance", "entropy"),
    ),
    "binomial_probs": Case(
        lambda p, **kw: D.Binomial(p["n"], probs=p["p"], **kw),
        lambda p: ss.binom(p["n"], p["p"]),
        {"n": _ints(0, 12), "p": _floats(0.01, 0.99)},
        lambda p: p["n"],
        {"n": [5, 12], "p": [0.3, 0.8]},
    ),
    "binomial_logits": Case(
        lambda p, **kw: D.Binomial(p["n"], logits=p["l"], **kw),
        lambda p: ss.binom(p["n"], _expit(p["l"])),
        {"n": _ints(0, 12), "l": _floats(-4.0, 4.0)},
        lambda p: p["n"],
        {"n": [5, 12], "l": [-1.0, 1.5]},
    ),
    "poisson": Case(
        lambda p, **kw: D.Poisson(p["rate"], **kw),
        lambda p: ss.poisson(p["rate"]),
        {"rate": _floats(0.1, 10.0)},
        lambda p: np.full(BATCH, 25),
        {"rate": [0.7, 6.0]},
    ),
    "nb_probs": Case(
        lambda p, **kw: D.NegativeBinomialProbs(p["r"], p["p"], **kw),
        lambda p: ss.nbinom(p["r"], 1 - p["p"]),
        {"r": _floats(0.3, 8.0), "p": _floats(0.05, 0.8)},
        lambda p: np.full(BATCH, 30),
        {"r": [2.0, 5.5], "p": [0.3, 0.6]},
    ),
    "nb_logits": Case(
        lambda p, **kw: D.NegativeBinomialLogits(p["r"], p["l"], **kw),
        lambda p: ss.nbinom(p["r"], 1 - _expit(p["l"])),
        {"r": _floats(0.3, 8.0), "l": _floats(-3.0, 1.0)},
        lambda p: np.full(BATCH, 30),
        {"r": [2.0, 5.5], "l": [-1.0, 0.5]},
    ),
    "nb2": Case(
        lambda p, **kw: D.NegativeBinomial2(p["mu"], p["c"], **kw),
        lambda p: ss.nbinom(p["c"], p["c"] / (p["mu"] + p["c"])),
        {"mu": _floats(0.2, 10.0), "c": _floats(0.3, 8.0)},
        lambda p: np.full(BATCH, 30),
        {"mu": [1.5, 7.0], "c": [2.0, 0.8]},
    ),
    "gamma_poisson": Case(
        lambda p, **kw: D.GammaPoisson(p["c"], p["rate"], **kw),
        lambda p: ss.nbinom(p["c"], p["rate"] / (1 + p["rate"])),
        {"c": _floats(0.3, 8.0), "rate": _floats(0.2, 5.0)},
        lambda p: np.full(BATCH, 30),
        {"c": [2.0, 4.0], "rate": [0.5, 2.0]},
    ),
    "geometric_probs": Case(
        lambda p, **kw: D.Geometric(probs=p["p"], **kw),
        lambda p: ss.geom(p["p"], loc=-1),
        {"p": _floats(0.05, 0.99)},
        lambda p: np.full(BATCH, 30),
        {"p": [0.2, 0.6]},
        ("cdf", "mean", "variance", "entropy"),
    ),
    "geometric_logits": Case(
        lambda p, **kw: D.Geometric(logits=p["l"], **kw),
        lambda p: ss.geom(_expit(p["l"]), loc=-1),
        {"l": _floats(-3.0, 4.0)},
        lambda p: np.full(BATCH, 30),
        {"l": [-1.0, 1.0]},
        ("cdf", "mean", "variance", "entropy"),
    ),
    "discrete_uniform": Case(
        lambda p, **kw: D.DiscreteUniform(p["low"], p["low"] + p["w"], **kw),
        lambda p: ss.randint(p["low"], p["low"] + p["w"] + 1),
        {"low": _ints(-5, 5), "w": _ints(0, 6)},
        lambda p: p["low"] + p["w"],
        {"low": [-2, 3], "w": [4, 1]},
        ("cdf", "mean", "variance", "entropy"),
    ),
    "beta_binomial": Case(
        lambda p, **kw: D.BetaBinomial(p["a"], p["b"], p["n"], **kw),
        lambda p: ss.betabinom(p["n"], p["a"], p["b"]),
        {"a": _floats(0.3, 5.0), "b": _floats(0.3, 5.0), "n": _ints(0, 10)},
        lambda p: p["n"],
        {"a": [0.8, 3.0], "b": [2.0, 1.5], "n": [6, 10]},
        ("mean", "variance"),
    ),
}


def _elem(spec):
    kind, lo, hi = spec
    if kind == "float":
        return st.floats(lo, hi, allow_nan=False, allow_infinity=False)
    return st.integers(lo, hi)


def _raw_params(case: Case):
    return st.fixed_dictionaries(
        {
            k: st.lists(_elem(s), min_size=BATCH, max_size=BATCH).map(np.asarray)
            for k, s in case.params.items()
        }
    )


def _values(data, case: Case, p: dict, lo_pad: int = 0, hi_pad: int = 0) -> np.ndarray:
    """A (3, BATCH) array of integer values, per batch member within [low - lo_pad, vmax]."""
    vmax = np.asarray(case.vmax(p)).astype(int)
    vmin = np.asarray(p["low"]).astype(int) if "low" in p else np.zeros(BATCH, int)
    cols = [
        data.draw(st.lists(st.integers(int(a) - lo_pad, int(b) + hi_pad), min_size=3, max_size=3))
        for a, b in zip(vmin, vmax)
    ]
    return np.asarray(cols).T


@pytest.mark.parametrize("name", list(CASES))
@settings(deadline=None)
@given(data=st.data())
def test_against_scipy(name, data):
    case = CASES[name]
    p = data.draw(_raw_params(case))
    d = case.make(p)
    ref = _Quiet(case.ref(p))
    assert d.batch_shape == (BATCH,)
    assert d.is_discrete
    x = _values(data, case, p)
    np.testing.assert_allclose(d.log_prob(x), ref.logpmf(x), rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(d.log_prob(jnp.asarray(x, float)), ref.logpmf(x), rtol=1e-7)
    if "cdf" in case.methods:
        xc = _values(data, case, p, lo_pad=2, hi_pad=2)
        np.testing.assert_allclose(d.cdf(xc), ref.cdf(xc), rtol=1e-6, atol=1e-12)
    if "mean" in case.methods:
        np.testing.assert_allclose(d.mean, ref.mean(), rtol=1e-7)
    if "variance" in case.methods:
        np.testing.assert_allclose(d.variance, ref.var(), rtol=1e-7, atol=1e-12)
    if "entropy" in case.methods:
        np.testing.assert_allclose(d.entropy(), ref.entropy(), rtol=1e-6, atol=1e-10)


class _Quiet:
    """A frozen SciPy distribution whose methods do not warn (degenerate parameters make
    some of SciPy's unused higher moments divide by zero)."""

    def __init__(self, ref):
        self.ref = ref

    def __getattr__(self, name):
        method = getattr(self.ref, name)

        def call(*args):
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore", RuntimeWarning)
                return method(*args)

        return call


def _check_moments(x: np.ndarray, mean: np.ndarray, var: np.ndarray) -> None:
    """Sample mean and variance within 5 Monte Carlo standard errors."""
    x = np.asarray(x, float)
    n = x.shape[0]
    np.testing.assert_array_less(np.abs(x.mean(0) - mean), 5 * np.sqrt(var / n) + 1e-12)
    m4 = np.mean((x - x.mean(0)) ** 4, axis=0)
    se_var = np.sqrt(np.maximum(m4 - x.var(0) ** 2, 0) / n)
    np.testing.assert_array_less(np.abs(x.var(0) - var), 5 * se_var + 1e-12)


@pytest.mark.parametrize("name", list(CASES))
def test_sample_moments(name):
    case = CASES[name]
    p = {k: np.asarray(v) for k, v in case.fixed.items()}
    d = case.make(p)
    x = d.sample(jax.random.key(1), (20000,))
    assert x.shape == (20000, BATCH)
    assert jnp.issubdtype(x.dtype, jnp.integer)
    assert bool(jnp.all(d.support(x)))
    _check_moments(x, np.asarray(d.mean), np.asarray(d.variance))


# --------------------------------------------------------------------------------------
# Categorical, Multinomial, zero-inflated Poisson, ordered logistic
# --------------------------------------------------------------------------------------


def _simplex(k):
    return st.lists(st.floats(0.05, 1.0), min_size=k, max_size=k).map(
        lambda w: np.asarray(w) / np.sum(w)
    )


@settings(deadline=None)
@given(data=st.data(), k=st.sampled_from([1, 4]), use_logits=st.booleans())
def test_categorical_brute_force(data, k, use_logits):
    p = np.stack([data.draw(_simplex(k)) for _ in range(BATCH)])
    d = D.Categorical(logits=np.log(p) + 1.3) if use_logits else D.Categorical(probs=p)
    assert d.batch_shape == (BATCH,) and d.event_shape == ()
    x = np.asarray(data.draw(st.lists(st.integers(0, k - 1), min_size=BATCH, max_size=BATCH)))
    np.testing.assert_allclose(d.log_prob(x), np.log(p[np.arange(BATCH), x]), rtol=1e-10)
    np.testing.assert_allclose(d.probs, p, rtol=1e-10)
    kk = np.arange(k)
    mean = (p * kk).sum(-1)
    np.testing.assert_allclose(d.mean, mean, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(d.variance, (p * kk**2).sum(-1) - mean**2, atol=1e-10)
    np.testing.assert_allclose(d.entropy(), -(p * np.log(p)).sum(-1), rtol=1e-10, atol=1e-12)
    # Broadcasting a sample dim over the batch.
    xs = np.tile(np.arange(k)[:, None], (1, BATCH))
    np.testing.assert_allclose(d.log_prob(xs), np.log(p.T), rtol=1e-10)


@settings(deadline=None)
@given(data=st.data(), k=st.sampled_from([2, 4]), n=st.integers(0, 8), seed=st.integers(0, 99))
def test_multinomial_against_scipy(data, k, n, seed):
    p = data.draw(_simplex(k))
    rng = np.random.default_rng(seed)
    x = rng.multinomial(n, p, size=3)
    for d in (D.Multinomial(n, probs=p), D.Multinomial(n, logits=np.log(p) - 0.4)):
        assert d.event_shape == (k,) and d.batch_shape == ()
        np.testing.assert_allclose(d.log_prob(x), ss.multinomial(n, p).logpmf(x), rtol=1e-8)
        np.testing.assert_allclose(d.mean, n * p, rtol=1e-10)
        np.testing.assert_allclose(d.variance, n * p * (1 - p), rtol=1e-10)


def test_multinomial_sample():
    p = np.array([[0.1, 0.2, 0.7], [0.5, 0.5, 0.0]])
    d = D.Multinomial(np.array([10, 4]), probs=p)
    x = d.sample(jax.random.key(2), (20000,))
    assert x.shape == (20000, 2, 3)
    np.testing.assert_array_equal(x.sum(-1), np.broadcast_to([10, 4], (20000, 2)))
    assert bool(jnp.all(x[..., 1, 2] == 0))
    _check_moments(x.reshape(20000, 6), np.ravel(d.mean), np.ravel(d.variance))


@settings(deadline=None)
@given(
    gate=st.floats(0.0, 0.95),
    rate=st.floats(0.1, 8.0),
    x=st.lists(st.integers(0, 20), min_size=4, max_size=4),
)
def test_zero_inflated_poisson_by_hand(gate, rate, x):
    d = D.ZeroInflatedPoisson(gate, rate)
    x = np.asarray(x)
    pois = ss.poisson(rate).pmf(x)
    expected = np.log(np.where(x == 0, gate + (1 - gate) * pois, (1 - gate) * pois))
    np.testing.assert_allclose(d.log_prob(x), expected, rtol=1e-8)
    ks = np.arange(200)
    pmf = np.exp(np.asarray(d.log_prob(ks)))
    np.testing.assert_allclose(pmf.sum(), 1.0, rtol=1e-8)
    np.testing.assert_allclose(d.mean, (pmf * ks).sum(), rtol=1e-8)
    np.testing.assert_allclose(d.variance, (pmf * ks**2).sum() - float(d.mean) ** 2, rtol=1e-7)


def test_zero_inflated_poisson_sample():
    d = D.ZeroInflatedPoisson(np.array([0.2, 0.6]), np.array([3.0, 1.5]))
    x = d.sample(jax.random.key(3), (20000,))
    _check_moments(x, np.asarray(d.mean), np.asarray(d.variance))


@settings(deadline=None)
@given(
    eta=st.floats(-3.0, 3.0),
    gaps=st.sampled_from([1, 3]).flatmap(
        lambda m: st.lists(st.floats(0.1, 2.0), min_size=m, max_size=m)
    ),
    start=st.floats(-2.0, 1.0),
    data=st.data(),
)
def test_ordered_logistic_by_hand(eta, gaps, start, data):
    cut = start + np.cumsum(gaps)
    d = D.OrderedLogistic(eta, cut)
    k = len(cut) + 1
    cdf = np.concatenate([[0.0], sp.expit(cut - eta), [1.0]])
    probs = np.diff(cdf)
    x = np.asarray(data.draw(st.lists(st.integers(0, k - 1), min_size=3, max_size=3)))
    np.testing.assert_allclose(d.log_prob(x), np.log(probs[x]), rtol=1e-8)
    np.testing.assert_allclose(d.probs, probs, rtol=1e-8, atol=1e-14)
    np.testing.assert_allclose(d.mean, (probs * np.arange(k)).sum(), rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(d.entropy(), -(probs * np.log(probs)).sum(), rtol=1e-7)


def test_ordered_logistic_batch_and_sample():
    d = D.OrderedLogistic(np.array([-1.0, 0.0, 2.0]), np.array([-0.5, 0.5, 1.0]))
    assert d.batch_shape == (3,) and d.event_shape == ()
    x = d.sample(jax.random.key(4), (20000,))
    assert x.shape == (20000, 3)
    _check_moments(x, np.asarray(d.mean), np.asarray(d.variance))


# --------------------------------------------------------------------------------------
# enumerate_support and the generic shape wrappers
# --------------------------------------------------------------------------------------


ENUMERABLE = {
    "bernoulli": (lambda: D.Bernoulli(probs=np.full((2, 3), 0.3)), np.arange(2)),
    "binomial": (lambda: D.Binomial(3, logits=np.zeros((2, 3))), np.arange(4)),
    "categorical": (lambda: D.Categorical(probs=np.full((2, 3, 4), 0.25)), np.arange(4)),
    "discrete_uniform": (lambda: D.DiscreteUniform(np.ones((2, 3)), 4), np.arange(1, 5)),
    "beta_binomial": (lambda: D.BetaBinomial(np.full((2, 3), 2.0), 0.5, 5), np.arange(6)),
    "ordered_logistic": (
        lambda: D.OrderedLogistic(np.zeros((2, 3)), np.array([-1.0, 0.0, 1.0])),
        np.arange(4),
    ),
}


@pytest.mark.parametrize("name", list(ENUMERABLE))
def test_enumerate_support(name):
    make, values = ENUMERABLE[name]
    d = make()
    assert d.has_enumerate_support
    n = len(values)
    full = d.enumerate_support()
    assert full.shape == (n, 2, 3)
    np.testing.assert_array_equal(full[:, 1, 2], values)
    small = d.enumerate_support(expand=False)
    assert small.shape == (n, 1, 1)
    np.testing.assert_array_equal(small[:, 0, 0], values)
    # The enumerated values carry all the mass.
    lp = d.log_prob(full)
    assert lp.shape == (n, 2, 3)
    np.testing.assert_allclose(jax.scipy.special.logsumexp(lp, axis=0), 0.0, atol=1e-10)
    ex = d.expand((4, 2, 3)).enumerate_support(expand=False)
    assert ex.shape == (n, 1, 1, 1)


def test_enumerate_support_errors():
    with pytest.raises(ValueError, match="total_count"):
        D.Binomial(np.array([2, 3]), probs=0.5).enumerate_support()
    with pytest.raises(ValueError, match="bounds"):
        D.DiscreteUniform(np.array([0, 1]), 3).enumerate_support()
    with pytest.raises(NotImplementedError):
        D.Poisson(1.0).enumerate_support()


def test_expand_to_event_mask_independent():
    d = D.Bernoulli(probs=np.array([0.1, 0.5, 0.8]))
    x = np.array([[0, 1, 1], [1, 0, 0]])
    lp = np.asarray(d.log_prob(x))
    e = d.expand((2, 3))
    assert e.batch_shape == (2, 3)
    assert e.sample(jax.random.key(0), (5,)).shape == (5, 2, 3)
    np.testing.assert_allclose(e.log_prob(x), lp)
    ind = d.to_event(1)
    assert ind.batch_shape == () and ind.event_shape == (3,)
    np.testing.assert_allclose(ind.log_prob(x), lp.sum(-1))
    ind2 = D.Independent(e, 2)
    assert ind2.event_shape == (2, 3)
    np.testing.assert_allclose(ind2.log_prob(x), lp.sum())
    m = d.mask(np.array([True, False, True]))
    np.testing.assert_allclose(m.log_prob(x), lp * np.array([1, 0, 1]))
    c = D.Categorical(logits=np.zeros((3, 5))).expand((2, 3))
    assert c.sample(jax.random.key(0), (4,)).shape == (4, 2, 3)
    mult = D.Multinomial(5, probs=np.full((3, 2), 0.5)).to_event(1)
    assert mult.event_shape == (3, 2) and mult.batch_shape == ()
    y = np.array([[0, 5], [2, 3], [4, 1]])
    np.testing.assert_allclose(mult.log_prob(y), mult.base_dist.log_prob(y).sum())


# --------------------------------------------------------------------------------------
# Validation, probs/logits handling, jit and vmap
# --------------------------------------------------------------------------------------


def test_exactly_one_of_probs_logits():
    for cls in (D.Bernoulli, D.Categorical, D.Geometric):
        with pytest.raises(ValueError, match="exactly one of `probs` or `logits`"):
            cls()
        with pytest.raises(ValueError, match="exactly one"):
            cls(probs=np.array([0.5, 0.5]), logits=np.zeros(2))
    with pytest.raises(ValueError, match="exactly one"):
        D.Binomial(3)
    with pytest.raises(ValueError, match="exactly one"):
        D.Multinomial(3)


def test_probs_logits_properties():
    d = D.Bernoulli(logits=np.array([-1.0, 2.0]))
    np.testing.assert_allclose(d.probs, sp.expit([-1.0, 2.0]))
    d = D.Binomial(4, probs=np.array([0.2, 0.9]))
    np.testing.assert_allclose(d.logits, sp.logit([0.2, 0.9]))
    d = D.Geometric(probs=0.3)
    np.testing.assert_allclose(d.logits, sp.logit(0.3))
    c = D.Categorical(logits=np.array([0.0, 1.0, 2.0]))
    np.testing.assert_allclose(c.probs, sp.softmax([0.0, 1.0, 2.0]))
    nb = D.NegativeBinomialProbs(3.0, 0.4)
    np.testing.assert_allclose(nb.logits, sp.logit(0.4))
    np.testing.assert_allclose(D.NegativeBinomialLogits(3.0, 0.5).probs, sp.expit(0.5))


@pytest.mark.parametrize(
    "make, name",
    [
        (lambda: D.Bernoulli(probs=np.array([0.2, 1.5]), validate_args=True), "probs"),
        (lambda: D.Binomial(3, probs=-0.1, validate_args=True), "probs"),
        (lambda: D.Binomial(2.5, probs=0.1, validate_args=True), "total_count"),
        (lambda: D.Categorical(probs=np.array([0.2, 0.2]), validate_args=True), "probs"),
        (lambda: D.Categorical(probs=np.array([1.2, -0.2]), validate_args=True), "probs"),
        (lambda: D.Multinomial(3, probs=np.array([0.5, 0.6]), validate_args=True), "probs"),
        (lambda: D.Poisson(-1.0, validate_args=True), "rate"),
        (lambda: D.NegativeBinomialProbs(-1.0, 0.3, validate_args=True), "total_count"),
        (lambda: D.NegativeBinomial2(2.0, 0.0, validate_args=True), "concentration"),
        (lambda: D.GammaPoisson(1.0, -2.0, validate_args=True), "rate"),
        (lambda: D.Geometric(probs=1.1, validate_args=True), "probs"),
        (lambda: D.DiscreteUniform(3, 1, validate_args=True), "high"),
        (lambda: D.BetaBinomial(-1.0, 1.0, 3, validate_args=True), "concentration1"),
        (lambda: D.ZeroInflatedPoisson(1.5, 1.0, validate_args=True), "gate"),
        (
            lambda: D.OrderedLogistic(0.0, np.array([1.0, 0.0]), validate_args=True),
            "cutpoints",
        ),
    ],
)
def test_bad_params_raise(make, name):
    with pytest.raises(ValueError, match=f"`{name}`.*Found {name}="):
        make()


@pytest.mark.parametrize(
    "make, bad",
    [
        (lambda: D.Bernoulli(probs=0.3, validate_args=True), 2),
        (lambda: D.Binomial(3, probs=0.3, validate_args=True), 4),
        (lambda: D.Binomial(3, probs=0.3, validate_args=True), 1.5),
        (lambda: D.Categorical(probs=np.array([0.5, 0.5]), validate_args=True), 2),
        (
            lambda: D.Multinomial(3, probs=np.array([0.5, 0.5]), validate_args=True),
            np.array([1, 1]),
        ),
        (lambda: D.Poisson(2.0, validate_args=True), -1),
        (lambda: D.Geometric(probs=0.3, validate_args=True), 0.5),
        (lambda: D.DiscreteUniform(0, 3, validate_args=True), 4),
        (lambda: D.ZeroInflatedPoisson(0.3, 1.0, validate_args=True), -2),
        (lambda: D.OrderedLogistic(0.0, np.array([0.0, 1.0]), validate_args=True), 3),
    ],
)
def test_out_of_support_raises(make, bad):
    d = make()
    with pytest.raises(ValueError, match="outside the support"):
        d.log_prob(bad)


def test_jit_and_vmap():
    ps = jnp.array([0.1, 0.4, 0.8])
    direct = D.Binomial(5, probs=ps).log_prob(2)
    mapped = jax.vmap(lambda p: D.Binomial(5, probs=p).log_prob(2))(ps)
    np.testing.assert_allclose(mapped, direct)
    # vmap over a batched distribution passed as a pytree.
    rates = jnp.array([0.5, 1.0, 4.0])
    out = jax.vmap(lambda d: d.log_prob(3))(D.Poisson(rates))
    np.testing.assert_allclose(out, D.Poisson(rates).log_prob(3))
    cat = D.Categorical(logits=jnp.array([[0.0, 1.0, 2.0], [1.0, 0.0, -1.0]]))
    out = jax.vmap(lambda d, x: d.log_prob(x))(cat, jnp.array([2, 0]))
    np.testing.assert_allclose(out, cat.log_prob(jnp.array([2, 0])))

    @jax.jit
    def f(d, x):
        return d.log_prob(x), d.sample(jax.random.key(0), (3,))

    for d, x, expected in [
        (D.Categorical(probs=jnp.array([0.2, 0.3, 0.5])), 1, np.log(0.3)),
        (
            D.OrderedLogistic(0.3, jnp.array([-1.0, 1.0]), validate_args=True),
            1,
            np.log(sp.expit(0.7) - sp.expit(-1.3)),
        ),
    ]:
        lp, s = f(d, x)
        np.testing.assert_allclose(lp, expected)
        assert s.shape == (3,) + d.batch_shape + d.event_shape
    # Families with costly samplers: log_prob only.
    for d, x, expected in [
        (
            D.Multinomial(4, logits=jnp.zeros(3)),
            jnp.array([1, 2, 1]),
            ss.multinomial(4, [1 / 3] * 3).logpmf([1, 2, 1]),
        ),
        (D.BetaBinomial(2.0, 3.0, 5, validate_args=True), 2, ss.betabinom(5, 2, 3).logpmf(2)),
    ]:
        np.testing.assert_allclose(jax.jit(lambda d, x: d.log_prob(x))(d, x), expected)
    # A traced invalid parameter is caught at run time.
    with pytest.raises(Exception, match="probs"):
        jax.jit(lambda p: D.Bernoulli(probs=p, validate_args=True).log_prob(1))(1.5)


def test_grad_through_log_prob():
    g = jax.grad(lambda l: D.Bernoulli(logits=l).log_prob(1))(0.3)
    np.testing.assert_allclose(g, 1 - sp.expit(0.3))
    g = jax.grad(lambda r: D.Poisson(r).log_prob(3))(2.0)
    np.testing.assert_allclose(g, 3 / 2.0 - 1)
