"""A Gaussian mixture with enumerated assignments against NumPyro with funsor, on the
same data.

Both frameworks run NUTS on the mixture with its assignments enumerated, and
``infer_discrete`` at temperature 0 for the MAP assignments. The model is the one of
``examples/gmm.py`` (and its data), but for its locations, which are ordered (as Stan's
``ordered`` type, with the same normal priors), so that the posterior has one labelling and the
means of the two components can be compared; it is written once (:func:`gmm_for`) and
built with each framework's modules. Checked:

* the posterior means of the continuous sites (``weights``, ``scale``, ``locs``) agree
  within 4 combined Monte Carlo standard errors (``inference.mcse_mean`` of each run);
* the MAP assignments at the same continuous values are the same, and are each point's
  argmax of ``log w_k + log Normal(x | loc_k, scale)`` (computed with SciPy).

NumPyro is not installed in CI, so the comparison runs twice: against a stored NumPyro
summary (``references/gmm_numpyro.json``, made by running this file as a script with
NumPyro and funsor installed), which runs everywhere, and against NumPyro live in the
same process, skipped without NumPyro or funsor.

    PYTHONPATH=.:/path/to/funsor python tests/enum/test_gmm_numpyro.py
"""

from __future__ import annotations

import functools
import json
import runpy
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

HERE = Path(__file__).resolve().parent
REFERENCE = HERE / "references" / "gmm_numpyro.json"
EXAMPLE = HERE.parents[1] / "examples" / "gmm.py"
N, DATA_SEED = 100, 0
K = 2
SITES = ("weights", "scale", "locs")
# The test's runs, one chain each: a few seconds per framework.
TEST_WARMUP, TEST_SAMPLES = 400, 1000
Z = 4.0  # combined MCSE


def data() -> np.ndarray:
    return np.asarray(_example()["synthetic"](N, DATA_SEED)[0], np.float64)


@functools.cache
def _example() -> dict:
    return runpy.run_path(str(EXAMPLE), run_name="gmm_example")


def summarise(draws: dict[str, np.ndarray], num_chains: int) -> dict[str, dict[str, list]]:
    """Each site's posterior mean and its MCSE (``draws``: chain-major ``(chains * n, ...)``)."""
    from inference import mcse_mean

    out = {}
    for name in SITES:
        x = np.asarray(draws[name], np.float64)
        grouped = x.reshape((num_chains, -1) + x.shape[1:])
        out[name] = {
            "mean": np.atleast_1d(x.mean(0)).tolist(),
            "mcse": np.atleast_1d(mcse_mean(grouped)).tolist(),
        }
    return out


def assert_means_agree(ours: dict, theirs: dict) -> None:
    problems = []
    for name in SITES:
        a, b = np.asarray(ours[name]["mean"]), np.asarray(theirs[name]["mean"])
        bound = Z * np.hypot(ours[name]["mcse"], theirs[name]["mcse"])
        for i in np.flatnonzero(~(np.abs(a - b) <= bound)):  # a NaN fails too
            problems.append(f"{name}[{i}]: {a[i]:.4g} against {b[i]:.4g}, bound {bound[i]:.3g}")
    assert not problems, "; ".join(problems)


def argmax_oracle(values: dict, x: np.ndarray) -> np.ndarray:
    """Each point's most probable component given the continuous values (SciPy)."""
    w, locs, scale = (np.asarray(values[k], np.float64) for k in ("weights", "locs", "scale"))
    log_joint = np.log(w) + stats.norm.logpdf(x[:, None], locs, scale)
    return np.argmax(log_joint, axis=1)


def gmm_for(numpyro, dist, config_enumerate):
    """The mixture, built with one framework's ``numpyro``-like module, distributions and
    ``config_enumerate``: the same source for both."""

    @config_enumerate
    def gmm(x):
        weights = numpyro.sample("weights", dist.Dirichlet(0.5 * jnp.ones(K)))
        scale = numpyro.sample("scale", dist.LogNormal(0.0, 2.0))
        # Ordered locations with independent Normal(0, 10) priors, as Stan's
        # `ordered[K] locs; locs ~ normal(0, 10);` (a flat density on the ordered vectors,
        # and the prior added as a factor).
        ordered = dist.ImproperUniform(dist.constraints.ordered_vector, (), (K,))
        locs = numpyro.sample("locs", ordered)
        numpyro.factor("locs_prior", dist.Normal(0.0, 10.0).log_prob(locs).sum())
        with numpyro.plate("data", x.shape[0]):
            z = numpyro.sample("z", dist.Categorical(weights))
            numpyro.sample("obs", dist.Normal(locs[z], scale), obs=x)

    return gmm


# --------------------------------------------------------------------------------------
# Effax.


def effax_gmm():
    import dists
    import effects
    from handlers import config_enumerate

    return gmm_for(effects, dists, config_enumerate)


@functools.cache
def effax_draws() -> dict[str, np.ndarray]:
    from inference import MCMC, NUTS

    mcmc = MCMC(
        NUTS(effax_gmm()),
        num_warmup=TEST_WARMUP,
        num_samples=TEST_SAMPLES,
        progress_bar=False,
    )
    mcmc.run(jax.random.key(0), jnp.asarray(data()))
    return {k: np.asarray(v) for k, v in mcmc.get_samples().items()}


def effax_map(values: dict) -> np.ndarray:
    from handlers import seed, substitute, trace
    from inference import infer_discrete

    values = {k: jnp.asarray(v, jnp.float64) for k, v in values.items()}
    model = infer_discrete(substitute(effax_gmm(), data=values), temperature=0)
    return np.asarray(trace(seed(model, 0)).get_trace(jnp.asarray(data()))["z"].value)


# --------------------------------------------------------------------------------------
# NumPyro with funsor: the same model in NumPyro's spelling.


def numpyro_gmm():
    import numpyro
    import numpyro.distributions as dist
    from numpyro.contrib.funsor import config_enumerate

    return gmm_for(numpyro, dist, config_enumerate)


def numpyro_draws(seed: int, warmup: int, samples: int, chains: int) -> dict[str, np.ndarray]:
    from numpyro.infer import MCMC, NUTS

    mcmc = MCMC(
        NUTS(numpyro_gmm()),
        num_warmup=warmup,
        num_samples=samples,
        num_chains=chains,
        chain_method="sequential",
        progress_bar=False,
    )
    with _numpyro_promotion():
        mcmc.run(jax.random.PRNGKey(seed), jnp.asarray(data()))
    return {k: np.asarray(v) for k, v in mcmc.get_samples().items()}


def numpyro_map(values: dict) -> np.ndarray:
    from numpyro import handlers
    from numpyro.contrib.funsor import infer_discrete

    values = {k: jnp.asarray(v, jnp.float64) for k, v in values.items()}
    model = handlers.substitute(numpyro_gmm(), data=values)
    model = infer_discrete(model, first_available_dim=-2, temperature=0)
    with _numpyro_promotion():
        tr = handlers.trace(handlers.seed(model, 0)).get_trace(jnp.asarray(data()))
    return np.asarray(tr["z"]["value"])


def _numpyro_promotion():
    # NumPyro's code relies on JAX's default promotion rules; the suite's are strict.
    import contextlib

    stack = contextlib.ExitStack()
    stack.enter_context(jax.numpy_dtype_promotion("standard"))
    stack.enter_context(jax.numpy_rank_promotion("allow"))
    return stack


# --------------------------------------------------------------------------------------
# The tests.


def test_gmm_posterior_matches_numpyro_reference():
    reference = json.loads(REFERENCE.read_text())
    assert reference["data"] == {"n": N, "seed": DATA_SEED}
    np.testing.assert_allclose(data()[:3], reference["data_head"], rtol=1e-12)
    assert_means_agree(summarise(effax_draws(), 1), reference["summary"])


def test_gmm_map_assignments_match_numpyro_reference():
    reference = json.loads(REFERENCE.read_text())
    values = reference["map"]["at"]
    z = effax_map(values)
    np.testing.assert_array_equal(z, reference["map"]["z"])
    np.testing.assert_array_equal(z, argmax_oracle(values, data()))


def test_gmm_matches_numpyro_live():
    pytest.importorskip("numpyro")
    pytest.importorskip("funsor")
    ours = effax_draws()
    theirs = numpyro_draws(1, TEST_WARMUP, TEST_SAMPLES, 1)  # another key: independent chains
    assert_means_agree(summarise(ours, 1), summarise(theirs, 1))
    # The MAP assignments at Effax's posterior mean, in both frameworks.
    values = {k: ours[k].mean(0) for k in SITES}
    z = effax_map(values)
    np.testing.assert_array_equal(z, numpyro_map(values))
    np.testing.assert_array_equal(z, argmax_oracle(values, data()))


def make_reference(chains: int = 4, warmup: int = 1000, samples: int = 5000) -> dict:
    """NumPyro's long-run summary and MAP assignments (at its posterior mean)."""
    import funsor
    import numpyro

    numpyro.enable_x64()
    draws = numpyro_draws(0, warmup, samples, chains)
    values = {k: draws[k].mean(0).tolist() for k in SITES}
    return {
        "data": {"n": N, "seed": DATA_SEED},
        "data_head": data()[:3].tolist(),
        "summary": summarise(draws, chains),
        "map": {"at": values, "z": numpyro_map(values).tolist()},
        "_settings": {
            "framework": (
                f"numpyro {numpyro.__version__}, funsor {funsor.__version__}, "
                f"jax {jax.__version__}, float64"
            ),
            "chains": chains,
            "warmup": warmup,
            "samples": samples,
            "seed": 0,
        },
    }


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parents[1]))  # the repository root, for `inference`
    jax.config.update("jax_enable_x64", True)
    REFERENCE.parent.mkdir(exist_ok=True)
    REFERENCE.write_text(json.dumps(make_reference(), indent=1) + "\n")
    print(f"wrote {REFERENCE}")
