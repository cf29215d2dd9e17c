# NumPyro's examples/horseshoe_regression.py: sparse linear and logistic regression under
# a horseshoe prior (non-centred: betas = tau * lambdas * unscaled_betas, recorded by a
# deterministic site), on the example's synthetic data at 8 covariates instead of 32.
# The local and global scales have heavy posterior tails (a half-Cauchy prior's tail
# times a likelihood that decays only like 1 / scale), so their sds are not finite; the
# port compares the betas, the noise precision and the logarithms of the scales.
import numpy as np
from scipy.special import expit

import jax.numpy as jnp

import numpyro
import numpyro.distributions as dist
from numpyro.diagnostics import summary
from numpyro.infer import MCMC, NUTS


# regression model with continuous-valued outputs/responses
def model_normal_likelihood(X, Y):
    D_X = X.shape[1]

    # sample from horseshoe prior
    lambdas = numpyro.sample("lambdas", dist.HalfCauchy(jnp.ones(D_X)))
    tau = numpyro.sample("tau", dist.HalfCauchy(jnp.ones(1)))

    # note that in practice for a normal likelihood we would probably want to
    # integrate out the coefficients (as is done for example in sparse_regression.py).
    # however, this trick wouldn't be applicable to other likelihoods
    # (e.g. bernoulli, see below) so we don't make use of it here.
    unscaled_betas = numpyro.sample("unscaled_betas", dist.Normal(0.0, jnp.ones(D_X)))
    scaled_betas = numpyro.deterministic("betas", tau * lambdas * unscaled_betas)

    # compute mean function using linear coefficients
    mean_function = jnp.dot(X, scaled_betas)

    prec_obs = numpyro.sample("prec_obs", dist.Gamma(3.0, 1.0))
    sigma_obs = 1.0 / jnp.sqrt(prec_obs)

    # observe data
    numpyro.sample("Y", dist.Normal(mean_function, sigma_obs), obs=Y)


# regression model with binary-valued outputs/responses
def model_bernoulli_likelihood(X, Y):
    D_X = X.shape[1]

    # sample from horseshoe prior
    lambdas = numpyro.sample("lambdas", dist.HalfCauchy(jnp.ones(D_X)))
    tau = numpyro.sample("tau", dist.HalfCauchy(jnp.ones(1)))

    # note that this reparameterization (i.e. coordinate transformation) improves
    # posterior geometry and makes NUTS sampling more efficient
    unscaled_betas = numpyro.sample("unscaled_betas", dist.Normal(0.0, jnp.ones(D_X)))
    scaled_betas = numpyro.deterministic("betas", tau * lambdas * unscaled_betas)

    # compute mean function using linear coefficients
    mean_function = jnp.dot(X, scaled_betas)

    # observe data
    numpyro.sample("Y", dist.Bernoulli(logits=mean_function), obs=Y)


# helper function for HMC inference
def run_inference(model, num_warmup, num_samples, num_chains, rng_key, X, Y):
    kernel = NUTS(model)
    mcmc = MCMC(
        kernel,
        num_warmup=num_warmup,
        num_samples=num_samples,
        num_chains=num_chains,
        progress_bar=False,
    )

    mcmc.run(rng_key, X, Y)
    mcmc.print_summary(exclude_deterministic=False)

    samples = mcmc.get_samples()
    summary_dict = summary(samples, group_by_chain=False)

    return samples, summary_dict


# create artificial regression dataset with 3 non-zero regression coefficients (the
# example's get_data, with np.random.default_rng(0) in place of np.random.seed(0))
def get_data(N=50, D_X=3, sigma_obs=0.05, response="continuous"):
    assert response in ["continuous", "binary"]
    assert D_X >= 3

    rng = np.random.default_rng(0)
    X = rng.standard_normal((N, D_X))

    # the response only depends on X_0, X_1, and X_2
    W = np.array([2.0, -1.0, 0.50])
    Y = jnp.dot(X[:, :3], W)
    Y -= jnp.mean(Y)

    if response == "continuous":
        Y += sigma_obs * rng.standard_normal(N)
    elif response == "binary":
        Y = rng.binomial(1, expit(Y))

    assert X.shape == (N, D_X)
    assert Y.shape == (N,)

    return X, Y


def run(rng_key, num_warmup, num_samples, num_chains):
    N, D_X = 50, 8
    out = {}

    # first generate and analyze data with continuous-valued responses
    X, Y = get_data(N=N, D_X=D_X, response="continuous")
    samples, summary = run_inference(
        model_normal_likelihood, num_warmup, num_samples, num_chains, rng_key, X, Y
    )
    # the example prints these; they must agree with the draws
    assert np.allclose(summary["betas"]["mean"], np.mean(samples["betas"], 0))
    assert np.allclose(summary["lambdas"]["median"], np.median(samples["lambdas"], 0))
    out["normal.betas"] = samples["betas"]
    out["normal.prec_obs"] = samples["prec_obs"]
    out["normal.log_lambdas"] = jnp.log(samples["lambdas"])
    out["normal.log_tau"] = jnp.log(samples["tau"])

    # next generate and analyze data with binary-valued responses
    # (note we use more data for the case of binary-valued responses,
    # since each response carries less information than a real number)
    X, Y = get_data(N=4 * N, D_X=D_X, response="binary")
    samples, summary = run_inference(
        model_bernoulli_likelihood, num_warmup, num_samples, num_chains, rng_key, X, Y
    )
    out["bernoulli.betas"] = samples["betas"]
    out["bernoulli.log_lambdas"] = jnp.log(samples["lambdas"])
    out["bernoulli.log_tau"] = jnp.log(samples["tau"])
    return out


# The harness's settings for the Effax test run (one chain): (num_warmup, num_samples).
TEST_SIZES = (400, 1500)
