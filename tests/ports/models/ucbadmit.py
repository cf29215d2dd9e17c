# NumPyro's examples/ucbadmit.py: the binomial GLMM `glmm` (McElreath's m_glmm5) with
# varying intercepts and slopes per department, their correlation given an LKJCholesky
# prior, in the non-centred form. The model counts departments with
# `len(np.unique(dept))` on the NumPy data, as the example does.
import numpy as np

import jax.numpy as jnp
from jax.scipy.special import expit

import numpyro
import numpyro.distributions as dist
from numpyro.infer import MCMC, NUTS, Predictive

# The UC Berkeley admissions of Fall 1973 (Bickel, Hammel and O'Connell 1975, Science 187,
# 398-404), as in the table of the example's docstring and numpyro.examples.datasets'
# UCBADMIT loader: department (A-F as 0-5), male (bool), applications, admitted.
dept = np.array([0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5])
male = np.array([1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0]) == 1
applications = np.array([825, 108, 560, 25, 325, 593, 417, 375, 191, 393, 373, 341])
admit = np.array([512, 89, 353, 17, 120, 202, 138, 131, 53, 94, 22, 24])


def glmm(dept, male, applications, admit=None):
    v_mu = numpyro.sample("v_mu", dist.Normal(0, jnp.array([4.0, 1.0])))

    sigma = numpyro.sample("sigma", dist.HalfNormal(jnp.ones(2)))
    L_Rho = numpyro.sample("L_Rho", dist.LKJCholesky(2, concentration=2))
    scale_tril = sigma[..., jnp.newaxis] * L_Rho
    # non-centered parameterization
    num_dept = len(np.unique(dept))
    z = numpyro.sample("z", dist.Normal(jnp.zeros((num_dept, 2)), 1))
    v = jnp.dot(scale_tril, z.T).T

    logits = v_mu[0] + v[dept, 0] + (v_mu[1] + v[dept, 1]) * male
    if admit is None:
        # we use a Delta site to record probs for predictive distribution
        probs = expit(logits)
        numpyro.sample("probs", dist.Delta(probs), obs=probs)
    numpyro.sample("admit", dist.Binomial(applications, logits=logits), obs=admit)


def run_inference(dept, male, applications, admit, rng_key, num_warmup, num_samples, num_chains):
    kernel = NUTS(glmm)
    mcmc = MCMC(
        kernel,
        num_warmup=num_warmup,
        num_samples=num_samples,
        num_chains=num_chains,
        progress_bar=False,
    )
    mcmc.run(rng_key, dept, male, applications, admit)
    return mcmc.get_samples()


def run(rng_key, num_warmup, num_samples, num_chains):
    zs = run_inference(
        dept, male, applications, admit, rng_key, num_warmup, num_samples, num_chains
    )
    # The example's posterior predictive of the admission probabilities (the Delta site).
    pred_probs = Predictive(glmm, zs)(rng_key, dept, male, applications)["probs"]
    return {
        "v_mu": zs["v_mu"],
        "sigma": zs["sigma"],
        # The one free entry of the 2x2 Cholesky factor of the correlation (its diagonal's
        # first entry is 1 and its upper entry 0 in every draw).
        "rho": zs["L_Rho"][:, 1, 0],
        "z": zs["z"],
        "probs": pred_probs,
    }


# The harness's settings for the Effax test run (one chain): (num_warmup, num_samples).
TEST_SIZES = (500, 2000)
