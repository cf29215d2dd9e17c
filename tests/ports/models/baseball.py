# NumPyro's examples/baseball.py: batting averages of Efron and Morris's 18 players from
# their first 45 at-bats of 1970, under complete, no, and partial pooling (the last on the
# probability scale and on the logit scale), each fitted with NUTS, with the example's
# posterior predictive (Predictive) and pointwise log-likelihood (log_likelihood).
import numpy as np

import jax.random as random

import numpyro
import numpyro.distributions as dist
from numpyro.infer import MCMC, NUTS, Predictive, log_likelihood

# Efron, B. and Morris, C. (1975), "Data analysis using Stein's estimator and its
# generalizations", JASA 70, 311-319, Table 1: hits in the first 45 at-bats of the 1970
# season (the "train" split of numpyro.examples.datasets' BASEBALL, EfronMorrisBB.txt).
player_names = [
    "Roberto Clemente",
    "Frank Robinson",
    "Frank Howard",
    "Jay Johnstone",
    "Ken Berry",
    "Jim Spencer",
    "Don Kessinger",
    "Luis Alvarado",
    "Ron Santo",
    "Ron Swaboda",
    "Rico Petrocelli",
    "Ellie Rodriguez",
    "George Scott",
    "Del Unser",
    "Billy Williams",
    "Bert Campaneris",
    "Thurman Munson",
    "Max Alvis",
]
hits_1970 = [18, 17, 16, 15, 14, 14, 13, 12, 11, 11, 10, 10, 10, 10, 10, 9, 8, 7]
train = np.stack([np.array([45, h]) for h in hits_1970])


def fully_pooled(at_bats, hits=None):
    r"""
    Number of hits in $K$ at bats for each player has a Binomial
    distribution with a common probability of success, $\phi$.

    :param (jnp.ndarray) at_bats: Number of at bats for each player.
    :param (jnp.ndarray) hits: Number of hits for the given at bats.
    :return: Number of hits predicted by the model.
    """
    phi_prior = dist.Uniform(0, 1)
    phi = numpyro.sample("phi", phi_prior)
    num_players = at_bats.shape[0]
    with numpyro.plate("num_players", num_players):
        return numpyro.sample("obs", dist.Binomial(at_bats, probs=phi), obs=hits)


def not_pooled(at_bats, hits=None):
    r"""
    Number of hits in $K$ at bats for each player has a Binomial
    distribution with independent probability of success, $\phi_i$.

    :param (jnp.ndarray) at_bats: Number of at bats for each player.
    :param (jnp.ndarray) hits: Number of hits for the given at bats.
    :return: Number of hits predicted by the model.
    """
    num_players = at_bats.shape[0]
    with numpyro.plate("num_players", num_players):
        phi_prior = dist.Uniform(0, 1)
        phi = numpyro.sample("phi", phi_prior)
        return numpyro.sample("obs", dist.Binomial(at_bats, probs=phi), obs=hits)


def partially_pooled(at_bats, hits=None):
    r"""
    Number of hits has a Binomial distribution with independent
    probability of success, $\phi_i$. Each $\phi_i$ follows a Beta
    distribution with concentration parameters $c_1$ and $c_2$, where
    $c_1 = m * kappa$, $c_2 = (1 - m) * kappa$, $m ~ Uniform(0, 1)$,
    and $kappa ~ Pareto(1, 1.5)$.

    :param (jnp.ndarray) at_bats: Number of at bats for each player.
    :param (jnp.ndarray) hits: Number of hits for the given at bats.
    :return: Number of hits predicted by the model.
    """
    m = numpyro.sample("m", dist.Uniform(0, 1))
    kappa = numpyro.sample("kappa", dist.Pareto(1, 1.5))
    num_players = at_bats.shape[0]
    with numpyro.plate("num_players", num_players):
        phi_prior = dist.Beta(m * kappa, (1 - m) * kappa)
        phi = numpyro.sample("phi", phi_prior)
        return numpyro.sample("obs", dist.Binomial(at_bats, probs=phi), obs=hits)


def partially_pooled_with_logit(at_bats, hits=None):
    r"""
    Number of hits has a Binomial distribution with a logit link function.
    The logits $\alpha$ for each player is normally distributed with the
    mean and scale parameters sharing a common prior.

    :param (jnp.ndarray) at_bats: Number of at bats for each player.
    :param (jnp.ndarray) hits: Number of hits for the given at bats.
    :return: Number of hits predicted by the model.
    """
    loc = numpyro.sample("loc", dist.Normal(-1, 1))
    scale = numpyro.sample("scale", dist.HalfCauchy(1))
    num_players = at_bats.shape[0]
    with numpyro.plate("num_players", num_players):
        alpha = numpyro.sample("alpha", dist.Normal(loc, scale))
        return numpyro.sample("obs", dist.Binomial(at_bats, logits=alpha), obs=hits)


def run_inference(model, at_bats, hits, rng_key, num_warmup, num_samples, num_chains):
    kernel = NUTS(model)
    mcmc = MCMC(
        kernel,
        num_warmup=num_warmup,
        num_samples=num_samples,
        num_chains=num_chains,
        progress_bar=False,
    )
    mcmc.run(rng_key, at_bats, hits)
    return mcmc.get_samples()


# The example's `predict`, returning the posterior predictive hits and the pointwise
# log-likelihood draws instead of printing them (at the training data, since the
# rest-of-season split is not embedded).
def predict(model, at_bats, hits, z, rng_key):
    predictions = Predictive(model, posterior_samples=z)(rng_key, at_bats)["obs"]
    post_loglik = log_likelihood(model, z, at_bats, hits)["obs"]
    return predictions, post_loglik


# The latent sites compared for each model. `kappa` (Pareto(1, 1.5) prior) is left out:
# the likelihood tends to a constant as kappa grows, so its posterior keeps the prior's
# tail, whose variance is infinite, and its mean and sd have no Monte Carlo error bound.
SITES = {
    "fully_pooled": ("phi",),
    "not_pooled": ("phi",),
    "partially_pooled": ("m", "phi"),
    "partially_pooled_with_logit": ("loc", "scale", "alpha"),
}


# The models compared with NumPyro (two of the four, to keep the test short; the other
# two have conjugate posteriors, which tests/ports/test_baseball.py checks exactly).
MODELS = (partially_pooled, partially_pooled_with_logit)


def run(rng_key, num_warmup, num_samples, num_chains, models=MODELS):
    at_bats, hits = train[:, 0], train[:, 1]
    out = {}
    for i, model in enumerate(models):
        key, key_predict = random.split(random.fold_in(rng_key, i + 1))
        zs = run_inference(model, at_bats, hits, key, num_warmup, num_samples, num_chains)
        for site in SITES[model.__name__]:
            out[f"{model.__name__}.{site}"] = zs[site]
        predictions, post_loglik = predict(model, at_bats, hits, zs, key_predict)
        out[f"{model.__name__}.obs"] = predictions
        out[f"{model.__name__}.log_lik"] = post_loglik
    return out


# The harness's settings for the Effax test run (one chain): (num_warmup, num_samples).
TEST_SIZES = (400, 1500)
