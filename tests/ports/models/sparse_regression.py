# NumPyro's examples/sparse_regression.py: the sparse quadratic regression of Agrawal et
# al. (2019, "The kernel interaction trick"), its coefficients integrated out into a GP
# with a quadratic kernel, at small sizes (N=30 points, P=6 dimensions, S=2 active).
# The hyperparameters are a dict of Python floats passed to the model as the example
# passes them. The port compares the logarithms of the scales (their posteriors have
# heavy tails), sigma, and the per-draw posterior means of the P singleton coefficients
# theta_i from the example's own compute_singleton_mean_variance under vmap.
import numpy as np

from jax import vmap
import jax.numpy as jnp

import numpyro
import numpyro.distributions as dist
from numpyro.infer import MCMC, NUTS


def dot(X, Z):
    return jnp.dot(X, Z[..., None])[..., 0]


# The kernel that corresponds to our quadratic regressor.
def kernel(X, Z, eta1, eta2, c, jitter=1.0e-4):
    eta1sq = jnp.square(eta1)
    eta2sq = jnp.square(eta2)
    k1 = 0.5 * eta2sq * jnp.square(1.0 + dot(X, Z))
    k2 = -0.5 * eta2sq * dot(jnp.square(X), jnp.square(Z))
    k3 = (eta1sq - eta2sq) * dot(X, Z)
    k4 = jnp.square(c) - 0.5 * eta2sq
    if X.shape == Z.shape:
        k4 += jitter * jnp.eye(X.shape[0])
    return k1 + k2 + k3 + k4


# Most of the model code is concerned with constructing the sparsity inducing prior.
def model(X, Y, hypers):
    S, P, N = hypers["expected_sparsity"], X.shape[1], X.shape[0]

    sigma = numpyro.sample("sigma", dist.HalfNormal(hypers["alpha3"]))
    phi = sigma * (S / jnp.sqrt(N)) / (P - S)
    eta1 = numpyro.sample("eta1", dist.HalfCauchy(phi))

    msq = numpyro.sample("msq", dist.InverseGamma(hypers["alpha1"], hypers["beta1"]))
    xisq = numpyro.sample("xisq", dist.InverseGamma(hypers["alpha2"], hypers["beta2"]))

    eta2 = jnp.square(eta1) * jnp.sqrt(xisq) / msq

    lam = numpyro.sample("lambda", dist.HalfCauchy(jnp.ones(P)))
    kappa = jnp.sqrt(msq) * lam / jnp.sqrt(msq + jnp.square(eta1 * lam))

    # compute kernel
    kX = kappa * X
    k = kernel(kX, kX, eta1, eta2, hypers["c"]) + sigma**2 * jnp.eye(N)
    assert k.shape == (N, N)

    # sample Y according to the standard gaussian process formula
    numpyro.sample(
        "Y",
        dist.MultivariateNormal(loc=jnp.zeros(X.shape[0]), covariance_matrix=k),
        obs=Y,
    )


# Compute the mean and variance of coefficient theta_i (where i = dimension) for a
# MCMC sample of the kernel hyperparameters (eta1, xisq, ...).
# Compare to theorem 5.1 in reference [1].
def compute_singleton_mean_variance(X, Y, dimension, msq, lam, eta1, xisq, c, sigma):
    P, N = X.shape[1], X.shape[0]

    probe = jnp.zeros((2, P))
    probe = probe.at[:, dimension].set(jnp.array([1.0, -1.0]))

    eta2 = jnp.square(eta1) * jnp.sqrt(xisq) / msq
    kappa = jnp.sqrt(msq) * lam / jnp.sqrt(msq + jnp.square(eta1 * lam))

    kX = kappa * X
    kprobe = kappa * probe

    k_xx = kernel(kX, kX, eta1, eta2, c) + sigma**2 * jnp.eye(N)
    k_xx_inv = jnp.linalg.inv(k_xx)
    k_probeX = kernel(kprobe, kX, eta1, eta2, c)
    k_prbprb = kernel(kprobe, kprobe, eta1, eta2, c)

    vec = jnp.array([0.50, -0.50])
    mu = jnp.matmul(k_probeX, jnp.matmul(k_xx_inv, Y))
    mu = jnp.dot(mu, vec)

    var = k_prbprb - jnp.matmul(k_probeX, jnp.matmul(k_xx_inv, jnp.transpose(k_probeX)))
    var = jnp.matmul(var, vec)
    var = jnp.dot(var, vec)

    return mu, var


# Helper function for doing HMC inference
def run_inference(model, num_warmup, num_samples, num_chains, rng_key, X, Y, hypers):
    kernel = NUTS(model)
    mcmc = MCMC(
        kernel,
        num_warmup=num_warmup,
        num_samples=num_samples,
        num_chains=num_chains,
        progress_bar=False,
    )
    mcmc.run(rng_key, X, Y, hypers)
    return mcmc.get_samples()


# Create artificial regression dataset where only S out of P feature
# dimensions contain signal and where there is a single pairwise interaction
# between the first and second dimensions. (The example's get_data, with
# np.random.default_rng(0) in place of np.random.seed(0).)
def get_data(N=20, S=2, P=10, sigma_obs=0.05):
    assert S < P and P > 1 and S > 0
    rng = np.random.default_rng(0)

    X = rng.standard_normal((N, P))
    # generate S coefficients with non-negligible magnitude
    W = 0.5 + 2.5 * rng.random(S)
    # generate data using the S coefficients and a single pairwise interaction
    Y = np.sum(X[:, 0:S] * W, axis=-1) + X[:, 0] * X[:, 1] + sigma_obs * rng.standard_normal(N)
    Y -= jnp.mean(Y)
    Y_std = jnp.std(Y)

    assert X.shape == (N, P)
    assert Y.shape == (N,)

    return X, Y / Y_std, W / Y_std, 1.0 / Y_std


def run(rng_key, num_warmup, num_samples, num_chains):
    num_data, num_dimensions, active_dimensions = 30, 6, 2
    X, Y, expected_thetas, expected_pairwise = get_data(
        N=num_data, P=num_dimensions, S=active_dimensions
    )

    # setup hyperparameters
    hypers = {
        "expected_sparsity": max(1.0, num_dimensions / 10),
        "alpha1": 3.0,
        "beta1": 1.0,
        "alpha2": 3.0,
        "beta2": 1.0,
        "alpha3": 1.0,
        "c": 1.0,
    }

    # do inference
    samples = run_inference(model, num_warmup, num_samples, num_chains, rng_key, X, Y, hypers)

    # the posterior mean of each coefficient theta_i given each draw of the
    # hyperparameters (the draws that the example's analyze_dimension averages)
    def singleton_means(dimension):
        mus, _ = vmap(
            lambda msq, lam, eta1, xisq, sigma: compute_singleton_mean_variance(
                X, Y, dimension, msq, lam, eta1, xisq, hypers["c"], sigma
            )
        )(samples["msq"], samples["lambda"], samples["eta1"], samples["xisq"], samples["sigma"])
        return mus

    theta_means = jnp.stack([singleton_means(dim) for dim in range(num_dimensions)], axis=-1)
    return {
        "sigma": samples["sigma"],
        "log_eta1": jnp.log(samples["eta1"]),
        "log_msq": jnp.log(samples["msq"]),
        "log_xisq": jnp.log(samples["xisq"]),
        "log_lambda": jnp.log(samples["lambda"]),
        "theta_means": theta_means,
    }


# The harness's settings for the Effax test run (one chain): (num_warmup, num_samples).
TEST_SIZES = (500, 2000)
