# NumPyro's examples/hmm.py: the semi-supervised HMM, its forward algorithm written by hand
# with lax.scan and added with numpyro.factor. The data are simulated with NumPy (the same
# procedure as the example's simulate_data), so that both frameworks fit the same words.
import numpy as np

import jax.numpy as jnp
from jax import lax
from jax.scipy.special import logsumexp

import numpyro
import numpyro.distributions as dist
from numpyro.infer import MCMC, NUTS


def simulate_data(seed, num_categories, num_words, num_supervised_data, num_unsupervised_data):
    rng = np.random.default_rng(seed)
    transition_prior = np.ones(num_categories)
    emission_prior = np.repeat(0.1, num_words)
    transition_prob = rng.dirichlet(transition_prior, size=num_categories)
    emission_prob = rng.dirichlet(emission_prior, size=num_categories)
    start_prob = np.repeat(1.0 / num_categories, num_categories)
    categories, words = [], []
    for t in range(num_supervised_data + num_unsupervised_data):
        if t == 0 or t == num_supervised_data:
            category = rng.choice(num_categories, p=start_prob)
        else:
            category = rng.choice(num_categories, p=transition_prob[category])
        words.append(rng.choice(num_words, p=emission_prob[category]))
        categories.append(category)
    categories, words = np.array(categories), np.array(words)
    return (
        transition_prior,
        emission_prior,
        transition_prob,
        emission_prob,
        categories[:num_supervised_data],
        words[:num_supervised_data],
        words[num_supervised_data:],
    )


def forward_one_step(prev_log_prob, curr_word, transition_log_prob, emission_log_prob):
    log_prob_tmp = jnp.expand_dims(prev_log_prob, axis=1) + transition_log_prob
    log_prob = log_prob_tmp + emission_log_prob[:, curr_word]
    return logsumexp(log_prob, axis=0)


def forward_log_prob(
    init_log_prob, words, transition_log_prob, emission_log_prob, unroll_loop=False
):
    def scan_fn(log_prob, word):
        return (
            forward_one_step(log_prob, word, transition_log_prob, emission_log_prob),
            None,  # we don't need to collect during scan
        )

    if unroll_loop:
        log_prob = init_log_prob
        for word in words:
            log_prob = forward_one_step(log_prob, word, transition_log_prob, emission_log_prob)
    else:
        log_prob, _ = lax.scan(scan_fn, init_log_prob, words)
    return log_prob


def semi_supervised_hmm(
    transition_prior,
    emission_prior,
    supervised_categories,
    supervised_words,
    unsupervised_words,
    unroll_loop=False,
):
    num_categories, num_words = transition_prior.shape[0], emission_prior.shape[0]
    transition_prob = numpyro.sample(
        "transition_prob",
        dist.Dirichlet(jnp.broadcast_to(transition_prior, (num_categories, num_categories))),
    )
    emission_prob = numpyro.sample(
        "emission_prob",
        dist.Dirichlet(jnp.broadcast_to(emission_prior, (num_categories, num_words))),
    )

    # models supervised data;
    # here we don't make any assumption about the first supervised category, in other words,
    # we place a flat/uniform prior on it.
    numpyro.sample(
        "supervised_categories",
        dist.Categorical(transition_prob[supervised_categories[:-1]]),
        obs=supervised_categories[1:],
    )
    numpyro.sample(
        "supervised_words",
        dist.Categorical(emission_prob[supervised_categories]),
        obs=supervised_words,
    )

    # computes log prob of unsupervised data
    transition_log_prob = jnp.log(transition_prob)
    emission_log_prob = jnp.log(emission_prob)
    init_log_prob = emission_log_prob[:, unsupervised_words[0]]
    log_prob = forward_log_prob(
        init_log_prob,
        unsupervised_words[1:],
        transition_log_prob,
        emission_log_prob,
        unroll_loop,
    )
    log_prob = logsumexp(log_prob, axis=0, keepdims=True)
    # inject log_prob to potential function
    numpyro.factor("forward_log_prob", log_prob)


def run(rng_key, num_warmup, num_samples, num_chains):
    (
        transition_prior,
        emission_prior,
        transition_prob,
        emission_prob,
        supervised_categories,
        supervised_words,
        unsupervised_words,
    ) = simulate_data(1, 3, 10, 60, 100)
    kernel = NUTS(semi_supervised_hmm)
    mcmc = MCMC(
        kernel,
        num_warmup=num_warmup,
        num_samples=num_samples,
        num_chains=num_chains,
        progress_bar=False,
    )
    # As in the example: the last argument is a Python bool, positionally.
    mcmc.run(
        rng_key,
        transition_prior,
        emission_prior,
        supervised_categories,
        supervised_words,
        unsupervised_words,
        False,
    )
    samples = mcmc.get_samples()
    return {k: samples[k] for k in ("transition_prob", "emission_prob")}


# The harness's settings for the Effax test run (one chain): (num_warmup, num_samples).
TEST_SIZES = (500, 2000)
