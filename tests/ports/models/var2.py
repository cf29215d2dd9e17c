# NumPyro's examples/var2.py: a VAR(2) process with an LKJ-Cholesky noise covariance, its
# recursion an effect-aware scan whose observed site is named from the step (f"y_{t}", as
# the example writes it) and observed through obs=. The data are the example's simulation
# (its true parameters), drawn by NumPy's Generator rather than the global NumPy state, at
# 50 time steps rather than 100.
import numpy as np

import jax.numpy as jnp

import numpyro
from numpyro.contrib.control_flow import scan
import numpyro.distributions as dist


def var2_scan(y):
    T, K = y.shape  # Number of time steps and number of variables

    # Priors for constants and coefficients
    c = numpyro.sample("c", dist.Normal(0, 1).expand([K]))  # Constants vector of size K
    Phi1 = numpyro.sample(
        "Phi1", dist.Normal(0, 1).expand([K, K]).to_event(2)
    )  # Coefficients for lag 1
    Phi2 = numpyro.sample(
        "Phi2", dist.Normal(0, 1).expand([K, K]).to_event(2)
    )  # Coefficients for lag 2

    # Priors for error terms
    sigma = numpyro.sample("sigma", dist.HalfNormal(1.0).expand([K]).to_event(1))
    L_omega = numpyro.sample("L_omega", dist.LKJCholesky(dimension=K, concentration=1.0))
    # Alternative: jnp.einsum("...i,...ij->...ij", sigma, L_omega)
    L_Sigma = sigma[..., None] * L_omega

    def transition(carry, t):
        y_prev1, y_prev2, y_obs = carry  # Previous two observations and observed data
        m_t = c + jnp.dot(Phi1, y_prev1) + jnp.dot(Phi2, y_prev2)  # Mean prediction
        # Conditioned on observed y
        y_t = numpyro.sample(
            f"y_{t}",
            dist.MultivariateNormal(loc=m_t, scale_tril=L_Sigma),
            obs=y_obs[t],
        )
        new_carry = (y_t, y_prev1, y_obs)
        return new_carry, m_t

    # Initial carry: observations at time steps 1 and 0
    init_carry = (y[1], y[0], y[2:])

    # Time indices starting from time step 2
    time_indices = jnp.arange(T - 2)

    # Run the scan
    _, mu = scan(transition, init_carry, time_indices)

    # Store the mean trajectory as a deterministic variable
    numpyro.deterministic("mu", mu)


def generate_var2_data(T, K, c, Phi1, Phi2, sigma, rng):
    """
    Generate time series data from a VAR(2) process (the example's, with a NumPy Generator
    ``rng`` in place of the global NumPy random state).
    """
    # Initialize time series with random values
    y = np.zeros((T, K))
    y[:2] = rng.multivariate_normal(mean=np.zeros(K), cov=sigma, size=2)

    # Generate the time series
    for t in range(2, T):
        y[t] = c + Phi1 @ y[t - 1] + Phi2 @ y[t - 2] + rng.multivariate_normal(np.zeros(K), sigma)

    return y


def make_data(T=50, seed=0):
    K = 2  # Number of variables
    c_true = np.array([0.5, -0.3])  # Constants
    Phi1_true = np.array([[0.7, 0.1], [0.2, 0.5]])  # Coefficients for lag 1
    Phi2_true = np.array([[0.2, -0.1], [-0.1, 0.2]])  # Coefficients for lag 2
    sigma_true = np.array([[0.1, 0.02], [0.02, 0.1]])  # Covariance matrix
    rng = np.random.default_rng(seed)
    return generate_var2_data(T, K, c_true, Phi1_true, Phi2_true, sigma_true, rng)


def run(rng_key, num_warmup, num_samples, num_chains):
    y = make_data()
    sampler = numpyro.infer.NUTS(var2_scan)
    mcmc = numpyro.infer.MCMC(
        sampler,
        num_warmup=num_warmup,
        num_samples=num_samples,
        num_chains=num_chains,
        progress_bar=False,
    )
    mcmc.run(rng_key, y=y)
    samples = mcmc.get_samples()
    # L_omega[0, 0] = 1 and L_omega[0, 1] = 0 in every draw; compare the free entries.
    return {
        "c": samples["c"],
        "Phi1": samples["Phi1"],
        "Phi2": samples["Phi2"],
        "sigma": samples["sigma"],
        "L_omega_10": samples["L_omega"][:, 1, 0],
        "mu": samples["mu"],
    }


# The harness's settings for the Effax test run (one chain): (num_warmup, num_samples).
TEST_SIZES = (300, 600)
