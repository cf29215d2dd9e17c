# NumPyro's examples/ode.py: the Lotka-Volterra predator-prey model, its ODE solved by
# jax.experimental.ode.odeint inside the model, with the example's priors and dense mass.
# The lynx-hare data are replaced by synthetic data: the ODE solved at the Stan case study's
# estimates, at a few yearly time points, with log-normal noise drawn by NumPy.
import numpy as np

from jax.experimental.ode import odeint
import jax.numpy as jnp
from jax.random import split

import numpyro
import numpyro.distributions as dist
from numpyro.infer import MCMC, NUTS, Predictive


def dz_dt(z, t, theta):
    """
    Lotka–Volterra equations. Real positive parameters `alpha`, `beta`, `gamma`, `delta`
    describes the interaction of two species.
    """
    u = z[0]
    v = z[1]
    alpha, beta, gamma, delta = (
        theta[..., 0],
        theta[..., 1],
        theta[..., 2],
        theta[..., 3],
    )
    du_dt = (alpha - beta * v) * u
    dv_dt = (-gamma + delta * u) * v
    return jnp.stack([du_dt, dv_dt])


def model(N, y=None):
    """
    :param int N: number of measurement times
    :param numpy.ndarray y: measured populations with shape (N, 2)
    """
    # initial population
    z_init = numpyro.sample("z_init", dist.LogNormal(jnp.log(10), 1).expand([2]))
    # measurement times
    ts = jnp.arange(float(N))
    # parameters alpha, beta, gamma, delta of dz_dt
    theta = numpyro.sample(
        "theta",
        dist.TruncatedNormal(
            low=0.0,
            loc=jnp.array([1.0, 0.05, 1.0, 0.05]),
            scale=jnp.array([0.5, 0.05, 0.5, 0.05]),
        ),
    )
    # integrate dz/dt, the result will have shape N x 2
    z = odeint(dz_dt, z_init, ts, theta, rtol=1e-6, atol=1e-5, mxstep=1000)
    # measurement errors
    sigma = numpyro.sample("sigma", dist.LogNormal(-1, 1).expand([2]))
    # measured populations
    numpyro.sample("y", dist.LogNormal(jnp.log(z), sigma), obs=y)


# Synthetic data in hare -> lynx order: the ODE at the case study's posterior means
# (Carpenter 2018), observed yearly for N years with log-normal noise of sd 0.25.
N = 8
Z_INIT = np.array([33.0, 6.2])
THETA = np.array([0.55, 0.028, 0.80, 0.024])


def make_data(seed=0):
    rng = np.random.default_rng(seed)
    z = np.asarray(odeint(dz_dt, jnp.array(Z_INIT), jnp.arange(float(N)), jnp.array(THETA)))
    return z * np.exp(0.25 * rng.normal(size=z.shape))


def run(rng_key, num_warmup, num_samples, num_chains):
    data = make_data()
    rng_key, rng_key_predict = split(rng_key)
    # use dense_mass for better mixing rate
    mcmc = MCMC(
        NUTS(model, dense_mass=True),
        num_warmup=num_warmup,
        num_samples=num_samples,
        num_chains=num_chains,
        progress_bar=False,
    )
    mcmc.run(rng_key, N=data.shape[0], y=data)
    samples = mcmc.get_samples()
    # predict populations
    pop_pred = Predictive(model, samples)(rng_key_predict, data.shape[0])["y"]
    # Compared on the log scale: given a draw, log y is Gaussian, while y itself is
    # heavy-tailed and the Monte Carlo error of its sd is poorly estimated.
    return dict(samples, log_y_pred=jnp.log(pop_pred))


# The harness's settings for the Effax test run (one chain): (num_warmup, num_samples).
TEST_SIZES = (500, 1000)
