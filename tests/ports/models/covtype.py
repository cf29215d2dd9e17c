# A logistic regression in the style of NumPyro's examples/covtype.py: the features are
# standardised and given an intercept, the most frequent class is made the positive label
# (jnp.unique with return_counts, then argmax), and the model is covtype's own `model`
# (a subsampling plate whose index selects the data rows), fitted with NUTS and a dense
# mass matrix (`--algo NUTS --dense-mass`). The covtype data set (581,012 rows, 54
# features) is downloaded by the example; here 400 rows of 4 features and 3 classes are
# simulated with NumPy. `model_to_event` is the same regression as NumPyro users also
# write it, with `.to_event(1)` in place of the plate; tests/ports/test_covtype.py checks
# both against a brute-force posterior.
import numpy as np

import jax.numpy as jnp

import numpyro
import numpyro.distributions as dist
from numpyro.infer import MCMC, NUTS


def simulate_covtype(seed, n=400, num_features=4):
    rng = np.random.default_rng(seed)
    features = rng.normal(loc=[10.0, -3.0, 0.0, 250.0], scale=[2.0, 1.0, 0.5, 40.0], size=(n, 4))
    features = features[:, :num_features]
    z = (features - features.mean(0)) / features.std(0)
    # class 1 is the most frequent; its odds against classes 0 and 2 depend on the features
    logits = np.stack([np.zeros(n), 0.7 + z @ np.array([1.0, -0.5, 0.0, 0.3]), -0.5 + z[:, 0]], 1)
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    labels = (rng.random(n)[:, None] > p.cumsum(1)).sum(1)
    return features, labels


def _load_dataset():
    features, labels = simulate_covtype(0)

    # normalize features and add intercept
    features = (features - features.mean(0)) / features.std(0)
    features = jnp.hstack([features, jnp.ones((features.shape[0], 1))])

    # make binary feature
    _, counts = jnp.unique(labels, return_counts=True)
    specific_category = jnp.argmax(counts)
    labels = labels == specific_category

    return features, labels


def model(data, labels, subsample_size=None):
    dim = data.shape[1]
    coefs = numpyro.sample("coefs", dist.Normal(jnp.zeros(dim), jnp.ones(dim)))
    with numpyro.plate("N", data.shape[0], subsample_size=subsample_size) as idx:
        logits = jnp.dot(data[idx], coefs)
        return numpyro.sample("obs", dist.Bernoulli(logits=logits), obs=labels[idx])


def model_to_event(data, labels):
    dim = data.shape[1]
    coefs = numpyro.sample("coefs", dist.Normal(0.0, 1.0).expand([dim]).to_event(1))
    logits = jnp.dot(data, coefs)
    return numpyro.sample("obs", dist.Bernoulli(logits=logits).to_event(1), obs=labels)


def run(rng_key, num_warmup, num_samples, num_chains, model=model):
    features, labels = _load_dataset()
    kernel = NUTS(model, dense_mass=True)
    mcmc = MCMC(
        kernel,
        num_warmup=num_warmup,
        num_samples=num_samples,
        num_chains=num_chains,
        progress_bar=False,
    )
    mcmc.run(rng_key, features, labels, extra_fields=("accept_prob",))
    accept_prob = mcmc.get_extra_fields()["accept_prob"]
    assert accept_prob.shape == (num_samples * num_chains,)
    return {"coefs": mcmc.get_samples()["coefs"]}


# The harness's settings for the Effax test run (one chain): (num_warmup, num_samples).
TEST_SIZES = (500, 2000)
