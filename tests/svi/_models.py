"""Small models with known answers, shared by the SVI tests."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import dists as D
from effects import param, plate, sample

# Conjugate normal-normal: mu ~ N(M0, S0), x_i ~ N(mu, SIGMA), SIGMA known.
M0, S0, SIGMA = 0.5, 2.0, 1.5


def normal_data(n: int = 10, seed: int = 0) -> jax.Array:
    rng = np.random.default_rng(seed)
    return jnp.asarray(rng.normal(1.3, SIGMA, size=n))


def normal_model(x):
    mu = sample("mu", D.Normal(M0, S0))
    with plate("N", x.shape[0]):
        sample("x", D.Normal(mu, SIGMA), obs=x)


def normal_guide(x):
    m = param("m", 0.0)
    s = param("s", 1.0, constraint=D.constraints.positive)
    sample("mu", D.Normal(m, s))


def exact_posterior(x) -> tuple[float, float]:
    x = np.asarray(x)
    prec = 1 / S0**2 + len(x) / SIGMA**2
    mean = (M0 / S0**2 + x.sum() / SIGMA**2) / prec
    return float(mean), float(prec**-0.5)


def log_evidence(x) -> float:
    from scipy.stats import multivariate_normal

    x = np.asarray(x)
    n = len(x)
    cov = SIGMA**2 * np.eye(n) + S0**2 * np.ones((n, n))
    return float(multivariate_normal(np.full(n, M0), cov).logpdf(x))


def closed_form_elbo(x, m: float, s: float) -> float:
    """The ELBO of guide N(m, s) for the normal-normal model, exactly."""
    x = np.asarray(x)
    lik = np.sum(-0.5 * np.log(2 * np.pi * SIGMA**2) - ((x - m) ** 2 + s**2) / (2 * SIGMA**2))
    prior = -0.5 * np.log(2 * np.pi * S0**2) - ((m - M0) ** 2 + s**2) / (2 * S0**2)
    entropy = 0.5 * np.log(2 * np.pi * np.e * s**2)
    return float(lik + prior + entropy)
