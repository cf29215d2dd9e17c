# NumPyro's examples/zero_inflated_poisson.py, its SVI part: the same zero-inflated
# Poisson regression fitted by SVI with the AutoDelta and AutoDiagonalNormal guides
# (`run_svi` as in the example), with `Predictive(model, guide=..., params=...)`.
# The example reads Stata's fish.dta over the network; here the five columns and the
# counts are simulated with NumPy exactly as in the MCMC port (models/zero_inflated_poisson.py).
import numpy as np

import jax.numpy as jnp
from jax.random import PRNGKey
import jax.scipy as jsp

import numpyro
import numpyro.distributions as dist
from numpyro.infer import SVI, Predictive, Trace_ELBO, autoguide


def model(X, Y):
    D_X = X.shape[1]
    b1 = numpyro.sample("b1", dist.Normal(0.0, 1.0).expand([D_X]).to_event(1))
    b2 = numpyro.sample("b2", dist.Normal(0.0, 1.0).expand([D_X]).to_event(1))

    q = jsp.special.expit(jnp.dot(X, b1[:, None])).reshape(-1)
    lam = jnp.exp(jnp.dot(X, b2[:, None]).reshape(-1))

    with numpyro.plate("obs", X.shape[0]):
        numpyro.sample("Y", dist.ZeroInflatedPoisson(gate=q, rate=lam), obs=Y)


def run_svi(model, guide_family, maxiter, X, Y):
    if guide_family == "AutoDelta":
        guide = autoguide.AutoDelta(model)
    elif guide_family == "AutoDiagonalNormal":
        guide = autoguide.AutoDiagonalNormal(model)

    optimizer = numpyro.optim.Adam(0.001)
    svi = SVI(model, guide, optimizer, Trace_ELBO())
    svi_results = svi.run(PRNGKey(1), maxiter, X=X, Y=Y, progress_bar=False)
    params = svi_results.params

    return params, guide


def simulate_fish(seed, n=150):
    rng = np.random.default_rng(seed)
    livebait = rng.binomial(1, 0.86, size=n)
    camper = rng.binomial(1, 0.59, size=n)
    persons = rng.integers(1, 5, size=n)
    child = rng.binomial(persons - 1, 0.3)
    X = np.stack([livebait, camper, persons, child, np.ones(n)], axis=1).astype(float)
    gate = 1.0 / (1.0 + np.exp(-(X @ np.array([-0.5, -0.5, -0.8, 1.5, 1.0]))))
    rate = np.exp(X @ np.array([1.0, 0.5, 0.6, -1.2, -1.5]))
    count = np.where(rng.random(n) < gate, 0, rng.poisson(rate))
    return X, count, rng


def data():
    X, count, rng = simulate_fish(42)
    mask = rng.standard_normal(len(count)) < 0.8
    return jnp.asarray(X[mask]), jnp.asarray(count[mask]), jnp.asarray(X[~mask][:5])


def run(maxiter):
    X_train, y_train, X_test = data()
    params_delta, guide_delta = run_svi(model, "AutoDelta", maxiter, X_train, y_train)
    params_diag, guide_diag = run_svi(model, "AutoDiagonalNormal", maxiter, X_train, y_train)

    median = guide_diag.median(params_diag, X_train, y_train)
    predictive = Predictive(model, guide=guide_diag, params=params_diag, num_samples=1000)
    predictions = predictive(PRNGKey(2), X=X_test, Y=None)
    return {
        "delta": {"b1": params_delta["b1_auto_loc"], "b2": params_delta["b2_auto_loc"]},
        "diag_median": median,
        "Y_test": predictions["Y"],
    }
