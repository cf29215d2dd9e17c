"""NUTS against the posteriordb reference posteriors (Stan, 10 x 10,000 draws).

For every scalar in ``reference.json``:

* ``|mean - ref_mean| <= 4 sqrt(mcse_ours^2 + mcse_ref^2)``,
* ``|sd - ref_sd| <= 0.1 ref_sd``,
* rank-normalised split R-hat ``< 1.01``.

Seeds are fixed and were not tuned. The model log densities are first checked against the
README's math written out with SciPy, so that a failure below points at the sampler rather
than at a model.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special as sp
import scipy.stats as st

import dists as D
from dists import constraints
from effects import sample
from inference import MCMC, NUTS, initialize_model, log_density, mcse_mean, rhat

from .models import POSTERIORS, Posterior, posteriordb_dir, stan_index

pytestmark = pytest.mark.skipif(
    posteriordb_dir() is None,
    reason="shared/posteriordb not found in any folder above tests/posteriordb "
    "(set $EFFAX_POSTERIORDB to its path)",
)

Z_BOUND = 4.0
SD_RTOL = 0.1
RHAT_MAX = 1.01
SEED = 20240601


# --------------------------------------------------------------------------------------
# the models' log densities, written out with SciPy
# --------------------------------------------------------------------------------------


def _np(d, key):
    return np.asarray(d[key], dtype=np.float64)


def _ref_log_density(name: str, d: dict, v: dict) -> float:
    """The README's log density at constrained values ``v`` (no Jacobians)."""
    norm = st.norm.logpdf
    if name.startswith("eight_schools"):
        y, sigma = _np(d, "y"), _np(d, "sigma")
        lp = norm(v["mu"], 0, 5) + st.halfcauchy.logpdf(v["tau"], scale=5)
        if "theta_trans" in v:
            lp += norm(v["theta_trans"]).sum()
            theta = v["mu"] + v["tau"] * v["theta_trans"]
        else:
            theta = v["theta"]
            lp += norm(theta, v["mu"], v["tau"]).sum()
        return lp + norm(y, theta, sigma).sum()
    if name == "sblrc-blr":
        X, y = _np(d, "X"), _np(d, "y")
        lp = norm(v["beta"], 0, 10).sum() + st.halfnorm.logpdf(v["sigma"], scale=10)
        return lp + norm(y, X @ v["beta"], v["sigma"]).sum()
    if name.startswith("kilpisjarvi"):
        x, y = _np(d, "x"), _np(d, "y")
        lp = norm(v["alpha"], d["pmualpha"], d["psalpha"]) + norm(
            v["beta"], d["pmubeta"], d["psbeta"]
        )
        return lp + norm(y, v["alpha"] + v["beta"] * x, v["sigma"]).sum()
    if name == "arK-arK":
        y, K = _np(d, "y"), d["K"]
        lp = norm(v["alpha"], 0, 10) + norm(v["beta"], 0, 10).sum()
        lp += st.halfcauchy.logpdf(v["sigma"], scale=2.5)
        for t in range(K, len(y)):
            m = v["alpha"] + sum(v["beta"][k - 1] * y[t - k] for k in range(1, K + 1))
            lp += norm(y[t], m, v["sigma"])
        return lp
    if name == "garch-garch11":
        y = _np(d, "y")
        beta1 = (1 - v["alpha1"]) * v["beta1_unit"]
        sigma = [d["sigma1"]]
        for t in range(1, len(y)):
            s2 = v["alpha0"] + v["alpha1"] * (y[t - 1] - v["mu"]) ** 2 + beta1 * sigma[-1] ** 2
            sigma.append(math.sqrt(s2))
        # flat priors; the factor is the Jacobian of beta1_unit -> beta1
        return norm(y, v["mu"], np.array(sigma)).sum() + math.log1p(-v["alpha1"])
    if name == "gp_pois_regr-gp_pois_regr":
        x, k = _np(d, "x"), _np(d, "k")
        lp = st.gamma.logpdf(v["rho"], 25, scale=1 / 4) + st.halfnorm.logpdf(v["alpha"], scale=2)
        lp += norm(v["f_tilde"]).sum()
        cov = v["alpha"] ** 2 * np.exp(-((x[:, None] - x[None]) ** 2) / (2 * v["rho"] ** 2))
        f = np.linalg.cholesky(cov + 1e-10 * np.eye(len(x))) @ v["f_tilde"]
        return lp + st.poisson.logpmf(k, np.exp(f)).sum()
    if name == "low_dim_gauss_mix-low_dim_gauss_mix":
        y, mu, sigma, theta = _np(d, "y"), v["mu"], v["sigma"], v["theta"]
        lp = norm(mu, 0, 2).sum() + st.halfnorm.logpdf(sigma, scale=2).sum()
        lp += st.beta.logpdf(theta, 5, 5)
        a = np.log(theta) + norm(y, mu[0], sigma[0])
        b = np.log1p(-theta) + norm(y, mu[1], sigma[1])
        return lp + sp.logsumexp(np.stack([a, b]), axis=0).sum()
    raise KeyError(name)


def _test_point(name: str, rng: np.random.Generator) -> dict:
    """A point inside the support, near the posterior."""
    u = rng.uniform
    if name.startswith("eight_schools"):
        v = {"mu": u(-5, 10), "tau": u(0.5, 8)}
        key = "theta_trans" if name.endswith("noncentered") else "theta"
        v[key] = rng.normal(size=8)
        return v
    if name == "sblrc-blr":
        return {"beta": 1 + 0.001 * rng.normal(size=5), "sigma": u(0.8, 1.3)}
    if name.startswith("kilpisjarvi"):
        return {"alpha": u(-80, -40), "beta": u(0.01, 0.025), "sigma": u(0.9, 1.3)}
    if name == "arK-arK":
        return {"alpha": u(-0.02, 0.02), "beta": rng.normal(0, 0.3, 5), "sigma": u(0.1, 0.2)}
    if name == "garch-garch11":
        return {"mu": u(4.9, 5.2), "alpha0": u(0.5, 2), "alpha1": u(0.3, 0.8), "beta1_unit": u()}
    if name == "gp_pois_regr-gp_pois_regr":
        return {"rho": u(4, 7), "alpha": u(1.5, 4), "f_tilde": rng.normal(size=11)}
    if name == "low_dim_gauss_mix-low_dim_gauss_mix":
        return {"mu": np.sort(rng.normal(0, 3, 2)), "sigma": u(0.8, 1.2, 2), "theta": u(0.4, 0.8)}
    raise KeyError(name)


@pytest.mark.parametrize("name", sorted(POSTERIORS))
def test_log_density_matches_math(name):
    p = POSTERIORS[name]
    args, kwargs = p.args()
    rng = np.random.default_rng(0)
    for _ in range(3):
        point = _test_point(name, rng)
        params = {k: jnp.asarray(val) for k, val in point.items()}
        ours, _ = log_density(p.model, args, kwargs, params)
        ref = _ref_log_density(name, p.data(), point)
        np.testing.assert_allclose(float(ours), ref, rtol=1e-9, atol=1e-8)


# --------------------------------------------------------------------------------------
# NUTS against the reference draws
# --------------------------------------------------------------------------------------


def test_improper_uniform_site_initialises():
    """Three posteriors here have flat priors; the default init strategy must start them."""

    def model():
        sample("sigma", D.ImproperUniform(constraints.positive, (), ()))

    info = initialize_model(jax.random.key(0), model)
    assert bool(info.param_info.z["sigma"].shape == ())


def _run_nuts(p: Posterior, **kernel_kwargs) -> MCMC:
    args, kwargs = p.args()
    mcmc = MCMC(
        NUTS(p.model, **{**p.kernel_kwargs, **kernel_kwargs}),
        num_warmup=p.num_warmup,
        num_samples=p.num_samples,
        num_chains=p.num_chains,
        chain_method="vectorized",
        progress_bar=False,
    )
    mcmc.run(jax.random.key(SEED), *args, **kwargs)
    return mcmc


def compare_with_reference(p: Posterior, samples: dict) -> tuple[list[str], list[str]]:
    """Per-scalar comparison lines and the failures among them."""
    lines, failures = [], []
    for stan_name, ref in p.reference().items():
        site, idx = stan_index(stan_name)
        x = np.asarray(samples[site], dtype=np.float64)[(slice(None), slice(None)) + idx]
        mean, sd = x.mean(), x.std(ddof=1)
        mcse = float(mcse_mean(x))
        z = (mean - ref["mean"]) / math.hypot(mcse, ref["mcse_mean"])
        sd_err = (sd - ref["sd"]) / ref["sd"]
        r = float(rhat(x))
        line = (
            f"{stan_name:>10}: mean {mean: .5g} (ref {ref['mean']: .5g}, z {z:+.2f}), "
            f"sd {sd:.4g} (ref {ref['sd']:.4g}, {100 * sd_err:+.1f}%), rhat {r:.4f}"
        )
        lines.append(line)
        if not (abs(z) <= Z_BOUND and abs(sd_err) <= SD_RTOL and r < RHAT_MAX):
            failures.append(line)
    return lines, failures


_REFERENCE_CASES = [
    pytest.param(name, marks=[pytest.mark.slow] if p.slow else [], id=name)
    for name, p in sorted(POSTERIORS.items())
    if name != "eight_schools-eight_schools_centered"
]


@pytest.mark.parametrize("name", _REFERENCE_CASES)
def test_nuts_matches_reference(name):
    p = POSTERIORS[name]
    mcmc = _run_nuts(p)
    lines, failures = compare_with_reference(p, mcmc.get_samples(group_by_chain=True))
    print(f"\n{name}\n" + "\n".join(lines))
    assert not failures, f"{name}: outside the bounds:\n" + "\n".join(failures)


def test_eight_schools_centered_reports_divergences():
    """The funnel makes NUTS diverge at the default target_accept_prob; that must show."""
    p = POSTERIORS["eight_schools-eight_schools_centered"]
    mcmc = _run_nuts(p)
    diverging = np.asarray(mcmc.get_extra_fields(group_by_chain=True)["diverging"])
    assert diverging.shape == (p.num_chains, p.num_samples)
    assert diverging.dtype == np.bool_
    assert diverging.sum() > 0
