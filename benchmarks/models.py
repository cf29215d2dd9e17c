"""The benchmark models, each written twice (NumPyro and Effax), and their data.

The two versions of a model are the same program up to the imports: same priors, same
parameterisation, same site names, so the samplers see the same posterior. Data are
generated once per process with fixed seeds and shared by both frameworks.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as nd
from jax.scipy.special import logsumexp

import dists as D
import effects

# --------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------


class EightSchools(NamedTuple):
    sigma: jax.Array
    y: jax.Array


def eight_schools_data() -> EightSchools:
    return EightSchools(
        sigma=jnp.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0]),
        y=jnp.array([28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0]),
    )


class Logistic(NamedTuple):
    X: jax.Array  # (N, D), last column the bias
    y: jax.Array  # (N,) in {0., 1.}


def logistic_data(n: int = 50_000, d: int = 55, seed: int = 0) -> Logistic:
    """Synthetic data shaped like covtype: standard-normal features and a bias column,
    true weights drawn from N(0, 1), labels Bernoulli(sigmoid(X w))."""
    rng = np.random.default_rng(seed)
    X = np.concatenate([rng.standard_normal((n, d - 1)), np.ones((n, 1))], axis=1)
    w = rng.standard_normal(d)
    p = 1.0 / (1.0 + np.exp(-(X @ w)))
    y = (rng.random(n) < p).astype(np.float32)
    return Logistic(jnp.asarray(X, jnp.float32), jnp.asarray(y, jnp.float32))


class HMMData(NamedTuple):
    transition_prior: jax.Array  # (K,)
    emission_prior: jax.Array  # (V,)
    supervised_categories: jax.Array  # (S,) int
    supervised_words: jax.Array  # (S,) int
    unsupervised_words: jax.Array  # (U,) int


def hmm_data(
    num_categories: int = 3,
    num_words: int = 10,
    num_supervised: int = 100,
    num_unsupervised: int = 500,
    seed: int = 2,
) -> HMMData:
    """The simulation of NumPyro's ``examples/hmm.py`` (same procedure, same seed 2).

    Transition rows ~ Dirichlet(1), emission rows ~ Dirichlet(0.1); the hidden chain
    restarts from a uniform start at t = 0 and at the first unsupervised step.
    """
    rng_key = jax.random.PRNGKey(seed)
    rng_key, k_tr, k_em = jax.random.split(rng_key, 3)
    transition_prior = jnp.ones(num_categories)
    emission_prior = jnp.repeat(0.1, num_words)
    transition_prob = nd.Dirichlet(transition_prior).sample(k_tr, (num_categories,))
    emission_prob = nd.Dirichlet(emission_prior).sample(k_em, (num_categories,))
    start_prob = jnp.repeat(1.0 / num_categories, num_categories)
    categories, words = [], []
    category = None
    for t in range(num_supervised + num_unsupervised):
        rng_key, k_tr, k_em = jax.random.split(rng_key, 3)
        if t == 0 or t == num_supervised:
            category = nd.Categorical(start_prob).sample(k_tr)
        else:
            category = nd.Categorical(transition_prob[category]).sample(k_tr)
        word = nd.Categorical(emission_prob[category]).sample(k_em)
        categories.append(category)
        words.append(word)
    categories, words = jnp.stack(categories), jnp.stack(words)
    return HMMData(
        transition_prior,
        emission_prior,
        categories[:num_supervised],
        words[:num_supervised],
        words[num_supervised:],
    )


# --------------------------------------------------------------------------------------
# NumPyro models
# --------------------------------------------------------------------------------------


def np_eight_schools(sigma, y=None):
    mu = numpyro.sample("mu", nd.Normal(0.0, 5.0))
    tau = numpyro.sample("tau", nd.HalfCauchy(5.0))
    with numpyro.plate("J", sigma.shape[0]):
        theta_trans = numpyro.sample("theta_trans", nd.Normal(0.0, 1.0))
        theta = numpyro.deterministic("theta", mu + tau * theta_trans)
        numpyro.sample("obs", nd.Normal(theta, sigma), obs=y)


def np_logistic(X, y=None):
    w = numpyro.sample("w", nd.Normal(jnp.zeros(X.shape[1]), 1.0).to_event(1))
    with numpyro.plate("N", X.shape[0]):
        numpyro.sample("obs", nd.Bernoulli(logits=X @ w), obs=y)


def _forward_log_prob(init_log_prob, words, transition_log_prob, emission_log_prob):
    """The forward algorithm (NumPyro's example): log p(words, last state) per state."""

    def step(log_prob, word):
        log_prob = logsumexp(log_prob[:, None] + transition_log_prob, axis=0)
        return log_prob + emission_log_prob[:, word], None

    log_prob, _ = jax.lax.scan(step, init_log_prob, words)
    return log_prob


def np_hmm(
    transition_prior, emission_prior, supervised_categories, supervised_words, unsupervised_words
):
    K, V = transition_prior.shape[0], emission_prior.shape[0]
    transition_prob = numpyro.sample(
        "transition_prob", nd.Dirichlet(jnp.broadcast_to(transition_prior, (K, K)))
    )
    emission_prob = numpyro.sample(
        "emission_prob", nd.Dirichlet(jnp.broadcast_to(emission_prior, (K, V)))
    )
    # The first supervised category has a flat prior, as in NumPyro's example.
    numpyro.sample(
        "supervised_categories",
        nd.Categorical(transition_prob[supervised_categories[:-1]]),
        obs=supervised_categories[1:],
    )
    numpyro.sample(
        "supervised_words",
        nd.Categorical(emission_prob[supervised_categories]),
        obs=supervised_words,
    )
    transition_log_prob = jnp.log(transition_prob)
    emission_log_prob = jnp.log(emission_prob)
    init_log_prob = emission_log_prob[:, unsupervised_words[0]]
    log_prob = _forward_log_prob(
        init_log_prob, unsupervised_words[1:], transition_log_prob, emission_log_prob
    )
    numpyro.factor("forward_log_prob", logsumexp(log_prob))


# --------------------------------------------------------------------------------------
# Effax models (the same programs with Effax's imports)
# --------------------------------------------------------------------------------------


def fx_eight_schools(sigma, y=None):
    mu = effects.sample("mu", D.Normal(0.0, 5.0))
    tau = effects.sample("tau", D.HalfCauchy(5.0))
    with effects.plate("J", sigma.shape[0]):
        theta_trans = effects.sample("theta_trans", D.Normal(0.0, 1.0))
        theta = effects.deterministic("theta", mu + tau * theta_trans)
        effects.sample("obs", D.Normal(theta, sigma), obs=y)


def fx_logistic(X, y=None):
    w = effects.sample("w", D.Normal(jnp.zeros(X.shape[1]), 1.0).to_event(1))
    with effects.plate("N", X.shape[0]):
        effects.sample("obs", D.Bernoulli(logits=X @ w), obs=y)


def fx_hmm(
    transition_prior, emission_prior, supervised_categories, supervised_words, unsupervised_words
):
    K, V = transition_prior.shape[0], emission_prior.shape[0]
    transition_prob = effects.sample(
        "transition_prob", D.Dirichlet(jnp.broadcast_to(transition_prior, (K, K)))
    )
    emission_prob = effects.sample(
        "emission_prob", D.Dirichlet(jnp.broadcast_to(emission_prior, (K, V)))
    )
    effects.sample(
        "supervised_categories",
        D.Categorical(probs=transition_prob[supervised_categories[:-1]]),
        obs=supervised_categories[1:],
    )
    effects.sample(
        "supervised_words",
        D.Categorical(probs=emission_prob[supervised_categories]),
        obs=supervised_words,
    )
    transition_log_prob = jnp.log(transition_prob)
    emission_log_prob = jnp.log(emission_prob)

    def step(log_prob, word):
        log_prob = logsumexp(log_prob[:, None] + transition_log_prob, axis=0)
        return log_prob + emission_log_prob[:, word], None

    # Effax's effect-aware scan: under the potential's handlers it threads their states
    # through the loop (the body performs no effects here, so the math is NumPyro's).
    init_log_prob = emission_log_prob[:, unsupervised_words[0]]
    log_prob, _ = effects.scan(step, init_log_prob, unsupervised_words[1:])
    effects.factor("forward_log_prob", logsumexp(log_prob))


# --------------------------------------------------------------------------------------
# a gradient that costs almost nothing: what the sampler itself costs per step
# --------------------------------------------------------------------------------------


def np_std_normal(loc):
    numpyro.sample("x", nd.Normal(loc, 1.0).to_event(1))


def fx_std_normal(loc):
    effects.sample("x", D.Normal(loc, 1.0).to_event(1))


# name -> (numpyro model, effax model, data factory, latent sites for ESS)
BENCHMARKS = {
    "eight_schools": (
        np_eight_schools,
        fx_eight_schools,
        eight_schools_data,
        ("mu", "tau", "theta_trans"),
    ),
    "logistic_regression": (np_logistic, fx_logistic, logistic_data, ("w",)),
    "hmm": (np_hmm, fx_hmm, hmm_data, ("transition_prob", "emission_prob")),
}
