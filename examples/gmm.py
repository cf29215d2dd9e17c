"""A Gaussian mixture with enumerated assignments: NUTS on the weights, locations and
scale (the assignments summed out exactly), then ``infer_discrete`` for the assignments.

    python examples/gmm.py [--n 200] [--warmup 500] [--samples 500] [--seed 0]

The model is written as in NumPyro's enumeration tutorial: the assignment ``z`` is a
Categorical site in the data plate, marked for enumeration by ``config_enumerate``; the
potential that NUTS samples sums it out by tensor contraction (no separate code path).
After sampling, ``infer_discrete`` draws each point's assignment from its posterior given
each posterior draw of the continuous sites (and the MAP assignment, at temperature 0).
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np

import dists as dist
import effects as numpyro
from handlers import config_enumerate, seed, substitute, trace
from inference import MCMC, NUTS, infer_discrete, init_to_value

K = 2


@config_enumerate
def gmm(data):
    weights = numpyro.sample("weights", dist.Dirichlet(0.5 * jnp.ones(K)))
    scale = numpyro.sample("scale", dist.LogNormal(0.0, 2.0))
    with numpyro.plate("components", K):
        locs = numpyro.sample("locs", dist.Normal(0.0, 10.0))
    with numpyro.plate("data", data.shape[0]):
        z = numpyro.sample("z", dist.Categorical(weights))
        numpyro.sample("obs", dist.Normal(locs[z], scale), obs=data)


def synthetic(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    z = rng.random(n) < 0.3
    return np.where(z, rng.normal(4.0, 1.0, n), rng.normal(-1.0, 1.0, n)), z.astype(int)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    data, truth = synthetic(args.n, args.seed)
    data = jnp.asarray(data)
    # Start the locations apart, so the chain picks one labelling of the two components.
    init = init_to_value(values={"locs": jnp.array([-2.0, 2.0])})
    mcmc = MCMC(
        NUTS(gmm, init_strategy=init),
        num_warmup=args.warmup,
        num_samples=args.samples,
        progress_bar=False,
    )
    mcmc.run(jax.random.key(args.seed), data)
    mcmc.print_summary()
    samples = mcmc.get_samples()

    # Posterior draws of every point's assignment, one per posterior draw.
    def assignments(key, draw):
        model = infer_discrete(substitute(gmm, data=draw), temperature=1, rng_key=key)
        return trace(model).get_trace(data)["z"].value

    keys = jax.random.split(jax.random.key(args.seed + 1), args.samples)
    z = jax.jit(jax.vmap(assignments))(keys, samples)
    p_second = np.asarray(z).mean(0)  # posterior probability of component 1, per point

    # The MAP assignment at the posterior mean of the continuous sites.
    mean = {k: v.mean(0) for k, v in samples.items()}
    map_model = infer_discrete(substitute(gmm, data=mean), temperature=0)
    z_map = np.asarray(trace(seed(map_model, 0)).get_trace(data)["z"].value)
    agree = float(np.mean(z_map == truth))
    print(f"MAP assignments agree with the simulated ones for {agree:.1%} of the points")
    print(f"posterior P(z = 1) of the first five points: {np.round(p_second[:5], 3)}")
    return {"samples": samples, "p_second": p_second, "z_map": z_map, "agree": agree}


if __name__ == "__main__":
    main()
