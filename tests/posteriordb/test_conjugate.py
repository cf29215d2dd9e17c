"""HMC and NUTS on conjugate models whose posteriors are known in closed form (float64).

The posterior mean must be within 4 MCSE of the analytic mean and the posterior sd within
10% of the analytic sd, with R-hat below 1.01. Seeds are fixed and were not tuned.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dists as D
from effects import plate, sample
from inference import HMC, MCMC, NUTS, mcse_mean, rhat

NUM_CHAINS = 4
NUM_WARMUP = 500
NUM_SAMPLES = 1500

# normal-normal with known noise sd
M0, S0, NOISE = 1.0, 2.0, 1.5
Y_NORMAL = np.random.default_rng(1).normal(2.5, NOISE, size=20)

# beta-binomial
A0, B0, TRIALS, SUCCESSES = 2.0, 3.0, 30, 11


def normal_normal(y):
    mu = sample("mu", D.Normal(M0, S0))
    with plate("N", y.shape[0]):
        sample("y", D.Normal(mu, NOISE), obs=y)


def beta_binomial(k):
    p = sample("p", D.Beta(A0, B0))
    sample("k", D.Binomial(TRIALS, probs=p), obs=k)


def _normal_normal_posterior() -> tuple[float, float]:
    precision = 1 / S0**2 + len(Y_NORMAL) / NOISE**2
    mean = (M0 / S0**2 + Y_NORMAL.sum() / NOISE**2) / precision
    return mean, math.sqrt(1 / precision)


def _beta_binomial_posterior() -> tuple[float, float]:
    a, b = A0 + SUCCESSES, B0 + TRIALS - SUCCESSES
    return a / (a + b), math.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))


CASES = {
    "normal_normal": (normal_normal, "mu", lambda: jnp.asarray(Y_NORMAL), _normal_normal_posterior),
    "beta_binomial": (
        beta_binomial,
        "p",
        lambda: jnp.asarray(float(SUCCESSES)),
        _beta_binomial_posterior,
    ),
}


# HMC's default trajectory length (2 pi, as in NumPyro) is a full period of the dynamics on a
# unit-scaled Gaussian: once the mass matrix is adapted, near-Gaussian posteriors like these
# are sampled with proposals that come back to where they started (split R-hat ~1.04-1.08
# with NumPyro 0.22 and Effax alike). A length well below pi avoids that periodicity.
KERNELS = {
    "HMC": lambda model: HMC(model, trajectory_length=1.0),
    "NUTS": lambda model: NUTS(model),
}


@pytest.mark.parametrize("kernel", sorted(KERNELS))
@pytest.mark.parametrize("case", sorted(CASES))
def test_conjugate_posterior(kernel, case):
    model, site, data, posterior = CASES[case]
    mcmc = MCMC(
        KERNELS[kernel](model),
        num_warmup=NUM_WARMUP,
        num_samples=NUM_SAMPLES,
        num_chains=NUM_CHAINS,
        chain_method="vectorized",
        progress_bar=False,
    )
    mcmc.run(jax.random.key(7), data())
    x = np.asarray(mcmc.get_samples(group_by_chain=True)[site], dtype=np.float64)
    assert x.shape == (NUM_CHAINS, NUM_SAMPLES)
    mean, sd = posterior()
    mcse = float(mcse_mean(x))
    msg = f"mean {x.mean():.5f} (exact {mean:.5f}, mcse {mcse:.2g}), sd {x.std():.5f} ({sd:.5f})"
    assert abs(x.mean() - mean) <= 4 * mcse, msg
    assert abs(x.std(ddof=1) - sd) <= 0.1 * sd, msg
    assert float(rhat(x)) < 1.01, msg
