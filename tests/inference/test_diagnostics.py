"""MCMC diagnostics, the summary table and ArviZ export.

The diagnostics follow the same algorithms as ArviZ (Vehtari et al. 2021), so they are
compared with ArviZ to round-off on the same draws. Besides, a few checks against known
answers: ESS of an AR(1) process, HPDI of a standard normal.
"""

import sys

import jax.numpy as jnp
import numpy as np
import pytest
import scipy.signal
import scipy.stats

from inference._arviz import from_samples, to_arviz
from inference._diagnostics import (
    autocorrelation,
    autocovariance,
    effective_sample_size,
    ess_bulk,
    ess_mean,
    ess_tail,
    hpdi,
    mcse_mean,
    mcse_sd,
    quantiles,
    rhat,
    split_chains,
    split_rhat,
)
from inference._summary import format_summary, print_summary, summary

az = pytest.importorskip("arviz")

RTOL = 1e-9


def ar1(rng, chains, draws, phi, shape=()):
    """Stationary AR(1) chains x_t = phi x_{t-1} + e_t, shaped (chains, draws, *shape)."""
    e = rng.normal(size=(chains, draws) + shape)
    e[:, 0] /= np.sqrt(1.0 - phi**2)  # start in the stationary distribution
    return scipy.signal.lfilter([1.0], [1.0, -phi], e, axis=1)


def _cases():
    rng = np.random.default_rng(20210101)
    shifted = rng.normal(size=(4, 300, 2)) + np.array([0.0, 0.0, 0.3, 1.0])[:, None, None]
    return {
        "iid": rng.normal(size=(4, 500, 3)),
        "ar1": ar1(rng, 4, 400, 0.9, (2,)),
        "antithetic": ar1(rng, 3, 300, -0.5, (2,)),
        "shifted": shifted,
        "cauchy": rng.standard_cauchy(size=(4, 250, 2)),
        "odd_draws": rng.standard_t(3, size=(3, 101, 2)),
        "short": rng.normal(size=(2, 11, 2)),
        "ties": rng.poisson(1.0, size=(4, 200, 2)).astype(float),
    }


CASES = _cases()


def _arviz_stat(fn, x, **kwargs):
    """ArviZ diagnostic of (chains, draws, *shape) draws, as an array of ``shape``."""
    ds = az.convert_to_dataset({"x": x})
    return np.asarray(fn(ds, **kwargs)["x"].values)


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize(
    "ours, theirs, kwargs",
    [
        (rhat, az.rhat, {"method": "rank"}),
        (split_rhat, az.rhat, {"method": "split"}),
        (ess_bulk, az.ess, {"method": "bulk"}),
        (ess_tail, az.ess, {"method": "tail"}),
        (ess_mean, az.ess, {"method": "mean"}),
        (mcse_mean, az.mcse, {"method": "mean"}),
        (mcse_sd, az.mcse, {"method": "sd"}),
    ],
    ids=["rhat", "split_rhat", "ess_bulk", "ess_tail", "ess_mean", "mcse_mean", "mcse_sd"],
)
def test_matches_arviz(case, ours, theirs, kwargs):
    x = CASES[case]
    expected = _arviz_stat(theirs, x, **kwargs)
    got = ours(x)
    assert got.shape == x.shape[2:]
    np.testing.assert_allclose(got, expected, rtol=RTOL)


@pytest.mark.parametrize("case", sorted(CASES))
def test_hpdi_matches_arviz_hdi(case):
    x = CASES[case]
    expected = _arviz_stat(az.hdi, x, hdi_prob=0.9)  # (*shape, 2)
    pooled = x.reshape((-1,) + x.shape[2:])
    got = hpdi(pooled, prob=0.9, axis=0)
    np.testing.assert_allclose(np.moveaxis(got, 0, -1), expected, rtol=RTOL)


def test_shifted_chains_have_large_rhat():
    x = CASES["shifted"]
    assert np.all(rhat(x) > 1.05)
    assert np.all(rhat(CASES["iid"]) < 1.01)


@pytest.mark.parametrize("phi, chains, draws", [(0.5, 4, 5000), (0.9, 4, 20000), (-0.3, 4, 5000)])
def test_ess_of_ar1_is_close_to_theory(phi, chains, draws):
    # The integrated autocorrelation time of AR(1) is (1 + phi) / (1 - phi).
    x = ar1(np.random.default_rng(1), chains, draws, phi)
    expected = chains * draws * (1.0 - phi) / (1.0 + phi)
    for fn in (effective_sample_size, ess_mean, ess_bulk):
        assert fn(x) == pytest.approx(expected, rel=0.15), fn.__name__


def test_autocorrelation_of_ar1_and_direct_sum():
    x = ar1(np.random.default_rng(2), 1, 50_000, 0.8)[0]
    rho = autocorrelation(x)
    np.testing.assert_allclose(rho[:5], 0.8 ** np.arange(5), atol=0.03)
    # The FFT result equals the direct biased sum.
    y = np.random.default_rng(3).normal(size=(3, 40))
    c = y - y.mean(axis=1, keepdims=True)
    direct = np.stack(
        [[(c[i, : 40 - t] * c[i, t:]).sum() / 40 for t in range(40)] for i in range(3)]
    )
    np.testing.assert_allclose(autocovariance(y, axis=1), direct, atol=1e-12)
    np.testing.assert_allclose(autocovariance(y.T, axis=0), direct.T, atol=1e-12)


def test_basic_ess_is_ess_mean_without_split():
    x = CASES["ar1"]
    np.testing.assert_allclose(effective_sample_size(split_chains(x)), ess_mean(x), rtol=1e-12)
    assert split_chains(x).shape == (8, 200, 2)


def test_hpdi_of_standard_normal():
    x = np.random.default_rng(4).normal(size=200_000)
    lo, hi = hpdi(x, prob=0.9)
    z = scipy.stats.norm.ppf(0.95)  # 1.645
    assert lo == pytest.approx(-z, abs=0.03)
    assert hi == pytest.approx(z, abs=0.03)


def test_quantiles():
    x = np.random.default_rng(5).normal(size=(1000, 3))
    q = quantiles(x, [0.05, 0.5, 0.95])
    assert q.shape == (3, 3)
    np.testing.assert_allclose(q, np.quantile(x, [0.05, 0.5, 0.95], axis=0))


def test_vectorised_over_params_and_accepts_jax_arrays():
    x = CASES["iid"]
    for fn in (rhat, ess_bulk, ess_tail, mcse_mean, mcse_sd):
        per_param = np.array([fn(x[..., i]) for i in range(x.shape[-1])])
        np.testing.assert_allclose(fn(x), per_param, rtol=1e-12)
        np.testing.assert_allclose(fn(jnp.asarray(x)), fn(x), rtol=1e-12)
    assert rhat(np.zeros((2, 10, 2, 3)) + np.arange(10)[:, None, None]).shape == (2, 3)


def test_degenerate_draws():
    const = np.ones((3, 20))
    assert np.isnan(rhat(const)) and np.isnan(split_rhat(const))
    assert ess_bulk(const) == ess_tail(const) == ess_mean(const) == 60.0
    assert mcse_mean(const) == 0.0 and np.isnan(mcse_sd(const))
    short = np.random.default_rng(6).normal(size=(4, 3))
    assert np.isnan(rhat(short)) and np.isnan(ess_bulk(short))
    with_nan = np.random.default_rng(7).normal(size=(2, 20, 2))
    with_nan[0, 3, 1] = np.nan
    assert np.isfinite(ess_bulk(with_nan)[0]) and np.isnan(ess_bulk(with_nan)[1])
    # One chain: R-hat compares its two halves (ArviZ returns NaN here).
    one = np.random.default_rng(8).normal(size=(1, 400))
    assert abs(rhat(one) - 1.0) < 0.02
    # A missing chain axis is a shape error: the annotation's TypeError under the test
    # suite's type checking, our own ValueError without it.
    with pytest.raises((TypeError, ValueError), match="chains"):
        rhat(np.zeros(10))
    with pytest.raises(ValueError, match="prob"):
        hpdi(np.zeros(10), prob=1.5)


# --------------------------------------------------------------------------------------
# summary


def _samples():
    rng = np.random.default_rng(9)
    return {"mu": rng.normal(size=(2, 400)), "theta": rng.normal(size=(2, 400, 3)) + 5.0}


def test_summary_contents():
    samples = _samples()
    out = summary(samples, prob=0.9)
    assert set(out) == {"mu", "theta"}
    expected_keys = {"mean", "std", "median", "5.0%", "95.0%", "n_eff", "ess_bulk"}
    assert expected_keys | {"ess_tail", "r_hat", "mcse_mean"} == set(out["theta"])
    theta = samples["theta"]
    flat = theta.reshape(-1, 3)
    stats = out["theta"]
    assert all(v.shape == (3,) for v in stats.values())
    assert out["mu"]["mean"].shape == ()
    np.testing.assert_allclose(stats["mean"], flat.mean(0))
    np.testing.assert_allclose(stats["std"], flat.std(0, ddof=1))
    np.testing.assert_allclose(stats["median"], np.median(flat, 0))
    np.testing.assert_allclose(stats["5.0%"], hpdi(flat, 0.9)[0])
    np.testing.assert_allclose(stats["95.0%"], hpdi(flat, 0.9)[1])
    np.testing.assert_allclose(stats["r_hat"], rhat(theta))
    np.testing.assert_allclose(stats["ess_bulk"], ess_bulk(theta))
    np.testing.assert_allclose(stats["n_eff"], ess_bulk(theta))
    np.testing.assert_allclose(stats["ess_tail"], ess_tail(theta))
    np.testing.assert_allclose(stats["mcse_mean"], mcse_mean(theta))
    assert set(summary(samples, prob=0.5)["mu"]) >= {"25.0%", "75.0%"}


def test_summary_without_chain_axis():
    samples = _samples()
    pooled = {"theta": samples["theta"][0]}
    out = summary(pooled, group_by_chain=False)["theta"]
    np.testing.assert_allclose(out["r_hat"], rhat(samples["theta"][:1]))
    with pytest.raises(ValueError, match="group_by_chain=False"):
        summary({"mu": np.zeros(10)})


def test_printed_table(capsys):
    samples = _samples()
    text = print_summary(samples, divergences=3)
    assert capsys.readouterr().out.strip() == text.strip()
    lines = text.splitlines()
    table, tail = lines[:-2], lines[-2:]
    assert tail == ["", "Number of divergences: 3"]
    assert table[0].split() == [
        "mean",
        "std",
        "median",
        "5.0%",
        "95.0%",
        "mcse_mean",
        "ess_bulk",
        "ess_tail",
        "r_hat",
    ]
    assert [line.split()[0] for line in table[1:]] == ["mu", "theta[0]", "theta[1]", "theta[2]"]
    assert len({len(line) for line in table}) == 1  # aligned columns
    assert all(len(line.split()) == 10 for line in table[1:])
    # Divergences counted from per-draw flags in the extra fields; no line without them.
    flags = np.zeros((2, 400), bool)
    flags[0, :5] = True
    assert format_summary(samples, extra={"diverging": flags}).endswith("divergences: 5")
    assert "divergences" not in format_summary(samples)


# --------------------------------------------------------------------------------------
# ArviZ export


class FakeMCMC:
    """Duck-typed stand-in for the MCMC driver."""

    chains, draws = 2, 30

    def __init__(self):
        rng = np.random.default_rng(10)
        c, d = self.chains, self.draws
        self.samples = {"mu": rng.normal(size=(c, d)), "theta": rng.normal(size=(c, d, 3))}
        self.extra = {
            "diverging": rng.uniform(size=(c, d)) < 0.1,
            "accept_prob": rng.uniform(size=(c, d)),
            "num_steps": rng.integers(1, 8, size=(c, d)),
            "energy": rng.normal(size=(c, d)),
            "potential_energy": rng.normal(size=(c, d)),
            "tree_depth": rng.integers(1, 4, size=(c, d)),
            "step_size": np.full((c,), 0.1),  # one per chain: not a per-draw statistic
        }
        self.y = rng.normal(size=5)
        self.loglik = {"y": rng.normal(size=(c, d, 5))}

    def get_samples(self, group_by_chain=False):
        assert group_by_chain
        return {k: jnp.asarray(v) for k, v in self.samples.items()}

    def get_extra_fields(self, group_by_chain=False):
        assert group_by_chain
        return self.extra


class FakeMCMCWithData(FakeMCMC):
    def observed_data(self):
        return {"y": self.y}

    def log_likelihood(self):
        return self.loglik


def test_from_samples_groups_and_dims():
    m = FakeMCMC()
    idata = from_samples(
        m.samples,
        sample_stats={"diverging": np.zeros((2, 30), int), "lp": np.zeros((2, 30))},
        observed_data={"y": m.y},
        log_likelihood=m.loglik,
        prior={"mu": np.zeros((1, 50))},
        coords={"school": ["a", "b", "c"]},
        dims={"theta": ["school"], "y": ["obs"]},
    )
    assert set(idata.groups()) == {
        "posterior",
        "sample_stats",
        "observed_data",
        "log_likelihood",
        "prior",
    }
    assert set(idata.posterior.data_vars) == {"mu", "theta"}
    assert idata.posterior["theta"].dims == ("chain", "draw", "school")
    assert list(idata.posterior["school"].values) == ["a", "b", "c"]
    assert idata.posterior["mu"].dims == ("chain", "draw")
    assert idata.log_likelihood["y"].dims == ("chain", "draw", "obs")
    assert idata.observed_data["y"].dims == ("obs",)
    assert idata.sample_stats["diverging"].dtype == bool
    with pytest.raises(ValueError, match="chains, draws"):
        from_samples({"mu": np.zeros(10)})


def test_to_arviz_with_fake_mcmc():
    m = FakeMCMCWithData()
    prior = {"mu": np.zeros(40), "y": np.zeros((40, 5))}
    post_pred = {"y": np.ones((m.chains * m.draws, 5))}
    idata = to_arviz(m, prior=prior, posterior_predictive=post_pred, dims={"y": ["obs"]})
    assert set(idata.groups()) == {
        "posterior",
        "sample_stats",
        "observed_data",
        "log_likelihood",
        "prior",
        "prior_predictive",
        "posterior_predictive",
    }
    assert idata.posterior["theta"].dims == ("chain", "draw", "theta_dim_0")
    assert idata.posterior.sizes["chain"] == 2 and idata.posterior.sizes["draw"] == 30
    stats = idata.sample_stats
    assert set(stats.data_vars) == {
        "diverging",
        "acceptance_rate",
        "n_steps",
        "energy",
        "lp",
        "tree_depth",
    }
    assert stats["diverging"].dtype == bool
    assert int(stats["diverging"].sum()) == int(m.extra["diverging"].sum())
    np.testing.assert_allclose(stats["lp"].values, -m.extra["potential_energy"])
    np.testing.assert_allclose(stats["acceptance_rate"].values, m.extra["accept_prob"])
    assert set(idata.prior.data_vars) == {"mu"}
    assert idata.prior["mu"].shape == (1, 40)
    assert idata.prior_predictive["y"].dims == ("chain", "draw", "obs")
    assert idata.posterior_predictive["y"].shape == (2, 30, 5)
    np.testing.assert_allclose(idata.log_likelihood["y"].values, m.loglik["y"])
    np.testing.assert_allclose(idata.observed_data["y"].values, m.y)


def test_to_arviz_optional_groups():
    idata = to_arviz(FakeMCMC())  # no observed_data / log_likelihood methods
    assert set(idata.groups()) == {"posterior", "sample_stats"}
    idata = to_arviz(FakeMCMCWithData(), log_likelihood=False)
    assert "log_likelihood" not in idata.groups()
    assert "observed_data" in idata.groups()


def test_missing_arviz_gives_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "arviz", None)  # makes `import arviz` fail
    with pytest.raises(ImportError, match="pip install arviz"):
        from_samples({"mu": np.zeros((2, 10))})
