"""Eight schools (Rubin 1981), non-centred: fit with NUTS and print the posterior summary.

    python examples/eight_schools.py [--chains 4] [--arviz]

The model is the NumPyro one with only the imports changed. ``theta`` is recorded as a
deterministic site, so it appears in the samples and in the summary.
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp

import dists as D
from effects import deterministic, plate, sample
from inference import MCMC, NUTS

# Rubin (1981): estimated coaching effects and their standard errors in eight schools.
J = 8
Y = jnp.array([28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0])
SIGMA = jnp.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0])


def eight_schools(sigma, y=None):
    mu = sample("mu", D.Normal(0.0, 5.0))
    tau = sample("tau", D.HalfCauchy(5.0))
    with plate("J", sigma.shape[0]):
        theta_trans = sample("theta_trans", D.Normal(0.0, 1.0))
        theta = deterministic("theta", mu + tau * theta_trans)
        sample("obs", D.Normal(theta, sigma), obs=y)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--arviz", action="store_true", help="also export to ArviZ")
    args = parser.parse_args()

    mcmc = MCMC(
        NUTS(eight_schools, target_accept_prob=0.9),
        num_warmup=args.warmup,
        num_samples=args.samples,
        num_chains=args.chains,
        chain_method="vectorized",
    )
    mcmc.run(jax.random.key(args.seed), SIGMA, y=Y)
    mcmc.print_summary(exclude_deterministic=False)

    if args.arviz:
        from inference import to_arviz

        idata = to_arviz(mcmc, coords={"school": list(range(J))}, dims={"theta": ["school"]})
        print(idata)


if __name__ == "__main__":
    main()
