# NumPyro's examples/proportion_test.py: is the purchase rate higher among customers who
# got a sales call? A logistic regression with a MultivariateNormal prior on the
# coefficients (a scalar `loc` broadcast to the covariance's size). The example draws its
# data with dist.Bernoulli(...).sample, whose draws differ between frameworks, so
# make_dataset draws the same Bernoulli variables with NumPy instead, at a hundredth of
# the example's 100,000 customers.
import numpy as np

import jax.numpy as jnp
from jax.scipy.special import expit

import numpyro
import numpyro.distributions as dist
from numpyro.infer import MCMC, NUTS


def make_dataset(seed) -> tuple[jnp.ndarray, jnp.ndarray]:
    """
    Make simulated dataset where potential customers who get a
    sales calls have ~2% higher chance of making another purchase.
    """
    rng = np.random.default_rng(seed)

    num_calls = 514
    num_no_calls = 486

    made_purchase_got_called = rng.binomial(1, 0.084, size=(num_calls,))
    made_purchase_no_calls = rng.binomial(1, 0.061, size=(num_no_calls,))

    made_purchase = jnp.concatenate([made_purchase_got_called, made_purchase_no_calls])

    is_female = rng.binomial(1, 0.5, size=(num_calls + num_no_calls,))
    got_called = jnp.concatenate([jnp.ones(num_calls), jnp.zeros(num_no_calls)])
    design_matrix = jnp.hstack(
        [
            jnp.ones((num_no_calls + num_calls, 1)),
            got_called.reshape(-1, 1),
            is_female.reshape(-1, 1),
        ]
    )

    return design_matrix, made_purchase


def model(design_matrix: jnp.ndarray, outcome: jnp.ndarray = None) -> None:
    """
    Model definition: Log odds of making a purchase is a linear combination
    of covariates. Specify a Normal prior over regression coefficients.
    :param design_matrix: Covariates. All categorical variables have been one-hot
        encoded.
    :param outcome: Binary response variable. In this case, whether or not the
        customer made a purchase.
    """

    beta = numpyro.sample(
        "coefficients",
        dist.MultivariateNormal(loc=0.0, covariance_matrix=jnp.eye(design_matrix.shape[1])),
    )
    logits = design_matrix.dot(beta)

    with numpyro.plate("data", design_matrix.shape[0]):
        numpyro.sample("obs", dist.Bernoulli(logits=logits), obs=outcome)


def run(rng_key, num_warmup, num_samples, num_chains):
    design_matrix, response = make_dataset(3)
    kernel = NUTS(model)
    mcmc = MCMC(
        kernel,
        num_warmup=num_warmup,
        num_samples=num_samples,
        num_chains=num_chains,
        progress_bar=False,
    )
    mcmc.run(rng_key, design_matrix, response)

    # 0th column is intercept (not getting called)
    # 1st column is effect of getting called
    # 2nd column is effect of gender (should be none since assigned at random)
    coef = mcmc.get_samples()["coefficients"]
    # The effect on the purchase probability that the example's print_results reports.
    baseline_response = expit(coef[:, 0])
    response_with_calls = expit(coef[:, 0] + coef[:, 1])
    return {"coefficients": coef, "impact": response_with_calls - baseline_response}


# The harness's settings for the Effax test run (one chain): (num_warmup, num_samples).
TEST_SIZES = (500, 2000)
