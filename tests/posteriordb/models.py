"""Effax versions of the posteriordb posteriors in ``shared/posteriordb``.

Each model follows the math in ``shared/posteriordb/README.md`` (which transcribes the Stan
programs). A :class:`Posterior` ties a model to its folder, to a function that turns the
folder's ``data.json`` into model arguments, and to the sampler settings the reference test
uses. Stan names such as ``theta[1]`` are mapped to ``theta[0]`` by :func:`stan_index`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import dists as D
from dists import constraints
from effects import deterministic, factor, plate, sample

# --------------------------------------------------------------------------------------
# locating the data
# --------------------------------------------------------------------------------------

_ENV = "EFFAX_POSTERIORDB"


@cache
def posteriordb_dir() -> Path | None:
    """The ``shared/posteriordb`` folder, or ``None`` when there is none.

    ``$EFFAX_POSTERIORDB`` wins when set. Otherwise every folder above this file is tried,
    so both ``/work/main/../shared`` (a checkout beside ``shared/``) and a ``shared/`` inside
    the repository are found.
    """
    env = os.environ.get(_ENV)
    if env:
        p = Path(env).expanduser().resolve()
        return p if p.is_dir() else None
    here = Path(__file__).resolve()
    for parent in here.parents:
        cand = parent / "shared" / "posteriordb"
        if (cand / "README.md").is_file() or cand.is_dir():
            return cand
    return None


def load_json(posterior: str, which: str) -> dict[str, Any]:
    root = posteriordb_dir()
    if root is None:
        raise FileNotFoundError(
            "shared/posteriordb not found above tests/posteriordb; set $EFFAX_POSTERIORDB."
        )
    with open(root / posterior / f"{which}.json") as f:
        return json.load(f)


_STAN_NAME = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?:\[([0-9, ]+)\])?$")


def stan_index(name: str) -> tuple[str, tuple[int, ...]]:
    """``"theta[1]" -> ("theta", (0,))``, ``"mu" -> ("mu", ())``: Stan's 1-based names."""
    m = _STAN_NAME.match(name)
    if m is None:
        raise ValueError(f"cannot parse the Stan parameter name {name!r}")
    idx = () if m.group(2) is None else tuple(int(i) - 1 for i in m.group(2).split(","))
    return m.group(1), idx


def _f(x: Any) -> jax.Array:
    """Data as an array of the default float dtype (float64 under the test conftest)."""
    return jnp.asarray(np.asarray(x, dtype=np.float64), dtype=jnp.result_type(float))


# --------------------------------------------------------------------------------------
# models
# --------------------------------------------------------------------------------------


def eight_schools_noncentered(sigma, y=None):
    mu = sample("mu", D.Normal(0.0, 5.0))
    tau = sample("tau", D.HalfCauchy(5.0))
    with plate("J", sigma.shape[0]):
        theta_trans = sample("theta_trans", D.Normal(0.0, 1.0))
        theta = deterministic("theta", mu + tau * theta_trans)
        sample("y", D.Normal(theta, sigma), obs=y)


def eight_schools_centered(sigma, y=None):
    mu = sample("mu", D.Normal(0.0, 5.0))
    tau = sample("tau", D.HalfCauchy(5.0))
    with plate("J", sigma.shape[0]):
        theta = sample("theta", D.Normal(mu, tau))
        sample("y", D.Normal(theta, sigma), obs=y)


def blr(X, y=None):
    beta = sample("beta", D.Normal(0.0, 10.0).expand((X.shape[1],)).to_event(1))
    sigma = sample("sigma", D.HalfNormal(10.0))
    with plate("N", X.shape[0]):
        sample("y", D.Normal(X @ beta, sigma), obs=y)


def kilpisjarvi(x, pmualpha, psalpha, pmubeta, psbeta, y=None):
    alpha = sample("alpha", D.Normal(pmualpha, psalpha))
    beta = sample("beta", D.Normal(pmubeta, psbeta))
    # Stan: real<lower=0> sigma with no prior statement -- flat on (0, inf).
    sigma = sample("sigma", D.ImproperUniform(constraints.positive, (), ()))
    with plate("N", x.shape[0]):
        sample("y", D.Normal(alpha + beta * x, sigma), obs=y)


def ark(lags, y):
    """AR(K): ``y[t] ~ Normal(alpha + sum_k beta[k] y[t-k], sigma)`` for ``t > K``.

    ``lags[t, k - 1] = y_full[t + K - k]`` holds the K previous values for each observed
    ``y[t] = y_full[t + K]`` (see :func:`ark_data`); passing them as data keeps ``K`` out of
    the traced arguments.
    """
    alpha = sample("alpha", D.Normal(0.0, 10.0))
    beta = sample("beta", D.Normal(0.0, 10.0).expand((lags.shape[1],)).to_event(1))
    sigma = sample("sigma", D.HalfCauchy(2.5))
    with plate("T", y.shape[0]):
        sample("y", D.Normal(alpha + lags @ beta, sigma), obs=y)


def ark_data(d: dict) -> tuple[tuple, dict]:
    y, K = _f(d["y"]), int(d["K"])
    T = y.shape[0]
    lags = jnp.stack([y[K - k : T - k] for k in range(1, K + 1)], axis=-1)
    return (lags, y[K:]), {}


def garch11(y, sigma1):
    """GARCH(1,1) with flat priors on the constrained supports, as in the Stan program.

    ``beta1`` lives on ``(0, 1 - alpha1)``; it is written as ``(1 - alpha1) * u`` with
    ``u`` uniform on (0, 1), and ``log(1 - alpha1)`` (the Jacobian of ``u -> beta1``) is
    added so that the density of ``(alpha1, beta1)`` is flat on the triangle.
    """
    mu = sample("mu", D.ImproperUniform(constraints.real, (), ()))
    alpha0 = sample("alpha0", D.ImproperUniform(constraints.positive, (), ()))
    alpha1 = sample("alpha1", D.Uniform(0.0, 1.0))
    u = sample("beta1_unit", D.Uniform(0.0, 1.0))
    factor("beta1_jacobian", jnp.log1p(-alpha1))
    beta1 = deterministic("beta1", (1.0 - alpha1) * u)

    def step(sigma_prev, y_prev):
        sigma_t = jnp.sqrt(alpha0 + alpha1 * (y_prev - mu) ** 2 + beta1 * sigma_prev**2)
        return sigma_t, sigma_t

    sigma1 = jnp.asarray(sigma1, dtype=y.dtype)
    _, sigma_rest = jax.lax.scan(step, sigma1, y[:-1])
    sigma = jnp.concatenate([sigma1[None], sigma_rest])
    with plate("T", y.shape[0]):
        sample("y", D.Normal(mu, sigma), obs=y)


def gp_pois_regr(x, k=None):
    rho = sample("rho", D.Gamma(25.0, 4.0))
    alpha = sample("alpha", D.HalfNormal(2.0))
    n = x.shape[0]
    f_tilde = sample("f_tilde", D.Normal(0.0, 1.0).expand((n,)).to_event(1))
    diff = x[:, None] - x[None, :]
    cov = alpha**2 * jnp.exp(-(diff**2) / (2.0 * rho**2)) + 1e-10 * jnp.eye(n, dtype=x.dtype)
    f = deterministic("f", jnp.linalg.cholesky(cov) @ f_tilde)
    with plate("N", n):
        sample("k", D.Poisson(jnp.exp(f)), obs=k)


def low_dim_gauss_mix(y):
    """Two-component normal mixture with ordered means (Stan's ``ordered[2] mu``).

    The ``Normal(0, 2)`` prior is applied to the ordered vector without renormalisation,
    as Stan does: a flat density on the ordered support plus a factor.
    """
    mu = sample("mu", D.ImproperUniform(constraints.ordered_vector, (), (2,)))
    factor("mu_prior", jnp.sum(D.Normal(0.0, 2.0).log_prob(mu)))
    sigma = sample("sigma", D.HalfNormal(2.0).expand((2,)).to_event(1))
    theta = sample("theta", D.Beta(5.0, 5.0))
    mixing = D.Categorical(probs=jnp.stack([theta, 1.0 - theta]))
    with plate("N", y.shape[0]):
        sample("y", D.MixtureSameFamily(mixing, D.Normal(mu, sigma)), obs=y)


# --------------------------------------------------------------------------------------
# the registry
# --------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Posterior:
    """One posteriordb posterior and how the reference test samples it."""

    name: str  # folder in shared/posteriordb
    model: Callable
    make_args: Callable[[dict], tuple[tuple, dict]]  # data.json -> (args, kwargs)
    num_chains: int = 4
    num_warmup: int = 1000
    num_samples: int = 1000
    kernel_kwargs: dict = dataclasses.field(default_factory=dict)
    slow: bool = False

    def data(self) -> dict[str, Any]:
        return load_json(self.name, "data")

    def reference(self) -> dict[str, dict[str, float]]:
        return load_json(self.name, "reference")["params"]

    def args(self) -> tuple[tuple, dict]:
        return self.make_args(self.data())


def _eight_schools_args(d):
    return (_f(d["sigma"]),), {"y": _f(d["y"])}


POSTERIORS: dict[str, Posterior] = {
    p.name: p
    for p in [
        # Cheap, but tau has a heavy right tail: the sd of tau is estimated slowly (its
        # relative error is about sqrt(kurtosis / 4 ESS)), so take more draws.
        Posterior(
            "eight_schools-eight_schools_noncentered",
            eight_schools_noncentered,
            _eight_schools_args,
            num_samples=4000,
            kernel_kwargs={"target_accept_prob": 0.95},
        ),
        Posterior(
            "eight_schools-eight_schools_centered",
            eight_schools_centered,
            _eight_schools_args,
            num_samples=500,
            num_warmup=500,
        ),
        Posterior("sblrc-blr", blr, lambda d: ((_f(d["X"]),), {"y": _f(d["y"])})),
        Posterior(
            "kilpisjarvi_mod-kilpisjarvi",
            kilpisjarvi,
            lambda d: (
                (_f(d["x"]), _f(d["pmualpha"]), _f(d["psalpha"]), _f(d["pmubeta"])),
                {"psbeta": _f(d["psbeta"]), "y": _f(d["y"])},
            ),
            # ~170 leapfrog steps per draw even with a dense mass matrix (NumPyro: ~200): the
            # regularised mass matrix cannot undo the -0.996 correlation of alpha and beta.
            kernel_kwargs={"dense_mass": True},
            slow=True,
        ),
        Posterior("arK-arK", ark, ark_data),
        Posterior(
            "garch-garch11",
            garch11,
            lambda d: ((_f(d["y"]), _f(d["sigma1"])), {}),
            slow=True,
        ),
        Posterior(
            "gp_pois_regr-gp_pois_regr",
            gp_pois_regr,
            lambda d: ((_f(d["x"]),), {"k": jnp.asarray(d["k"], dtype=jnp.result_type(float))}),
            kernel_kwargs={"target_accept_prob": 0.95},
            slow=True,
        ),
        Posterior(
            "low_dim_gauss_mix-low_dim_gauss_mix",
            low_dim_gauss_mix,
            lambda d: ((_f(d["y"]),), {}),
            slow=True,
        ),
    ]
}
