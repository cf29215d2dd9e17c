# NumPyro's examples/zero_inflated_poisson.py: a zero-inflated Poisson regression of the
# number of fish caught, the gate and the rate each a linear model of the same covariates,
# fitted with NUTS, with the example's posterior predictive on a held-out split.
# The example reads Stata's fish.dta over the network; here the same five columns
# (livebait, camper, persons, child, intercept) and the counts are simulated with NumPy,
# and the train/test mask is drawn as the example draws it. (The example's SVI part,
# AutoDelta and AutoDiagonalNormal guides, is not ported: Effax has no SVI yet.)
import numpy as np

import jax.numpy as jnp
from jax.random import key
import jax.scipy as jsp

import numpyro
import numpyro.distributions as dist
from numpyro.infer import MCMC, NUTS, Predictive


def model(X, Y):
    D_X = X.shape[1]
    b1 = numpyro.sample("b1", dist.Normal(0.0, 1.0).expand([D_X]).to_event(1))
    b2 = numpyro.sample("b2", dist.Normal(0.0, 1.0).expand([D_X]).to_event(1))

    q = jsp.special.expit(jnp.dot(X, b1[:, None])).reshape(-1)
    lam = jnp.exp(jnp.dot(X, b2[:, None]).reshape(-1))

    with numpyro.plate("obs", X.shape[0]):
        numpyro.sample("Y", dist.ZeroInflatedPoisson(gate=q, rate=lam), obs=Y)


def run_mcmc(model, rng_key, num_warmup, num_samples, num_chains, X, Y):
    kernel = NUTS(model)
    mcmc = MCMC(
        kernel,
        num_warmup=num_warmup,
        num_samples=num_samples,
        num_chains=num_chains,
        progress_bar=False,
    )
    mcmc.run(rng_key, X, Y)
    mcmc.print_summary()
    return mcmc.get_samples()


# A stand-in for fish.dta (250 groups of visitors to a park): who used live bait, came
# with a camper, how many persons and children, and how many fish they caught, drawn from
# a zero-inflated Poisson regression.
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


def run(rng_key, num_warmup, num_samples, num_chains):
    X, count, rng = simulate_fish(42)
    mask = rng.standard_normal(len(count)) < 0.8
    X_train = jnp.asarray(X[mask])
    y_train = jnp.asarray(count[mask])
    # The first five held-out groups, for the posterior predictive.
    X_test = jnp.asarray(X[~mask][:5])

    posterior_samples = run_mcmc(
        model, rng_key, num_warmup, num_samples, num_chains, X_train, y_train
    )

    predictive = Predictive(model, posterior_samples=posterior_samples)
    predictions = predictive(key(1), X=X_test, Y=None)
    return {
        "b1": posterior_samples["b1"],
        "b2": posterior_samples["b2"],
        "Y_test": predictions["Y"],
    }


# The harness's settings for the Effax test run (one chain): (num_warmup, num_samples).
TEST_SIZES = (500, 2000)
