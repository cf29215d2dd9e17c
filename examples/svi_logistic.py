"""Bayesian logistic regression: AutoNormal (SVI) against NUTS, side by side.

    python examples/svi_logistic.py [--n 500] [--steps 5000] [--short]

The same model is fitted twice: by SVI with a mean-field normal guide (``AutoNormal``)
and by NUTS. The script prints each coefficient's posterior mean and sd from both, and
the wall time of each. The data are simulated, so the true coefficients are printed too.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

import dists as D
from effects import plate, sample
from inference import MCMC, NUTS, SVI, AutoNormal, Trace_ELBO, optim

TRUE_W = np.array([1.5, -1.0, 0.5, 0.0, 2.0])
TRUE_B = -0.5


def simulate(n: int, seed: int = 0) -> tuple[jax.Array, jax.Array]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, len(TRUE_W)))
    p = 1 / (1 + np.exp(-(x @ TRUE_W + TRUE_B)))
    return jnp.asarray(x), jnp.asarray(rng.random(n) < p, dtype=jnp.float32)


def model(x, y=None):
    w = sample("w", D.Normal(0.0, 1.0).expand([x.shape[1]]).to_event(1))
    b = sample("b", D.Normal(0.0, 1.0))
    with plate("data", x.shape[0]):
        sample("y", D.Bernoulli(logits=x @ w + b), obs=y)


def fit_svi(x, y, steps: int) -> tuple[dict, float]:
    guide = AutoNormal(model)
    svi = SVI(model, guide, optim.Adam(0.01), Trace_ELBO(num_particles=4))
    start = time.perf_counter()
    result = svi.run(jax.random.key(0), steps, x, y, progress_bar=False)
    draws = guide.sample_posterior(jax.random.key(1), result.params, x, y, sample_shape=(4000,))
    draws = jax.block_until_ready(draws)
    return draws, time.perf_counter() - start


def fit_nuts(x, y, warmup: int, samples: int) -> tuple[dict, float]:
    mcmc = MCMC(NUTS(model), num_warmup=warmup, num_samples=samples, progress_bar=False)
    start = time.perf_counter()
    mcmc.run(jax.random.key(2), x, y)
    draws = jax.block_until_ready(mcmc.get_samples())
    return draws, time.perf_counter() - start


def table(svi: dict, nuts: dict) -> str:
    rows = [f"{'':>6} {'true':>7} {'SVI mean':>9} {'SVI sd':>7} {'NUTS mean':>10} {'NUTS sd':>8}"]
    names = [(f"w[{i}]", "w", i) for i in range(len(TRUE_W))] + [("b", "b", None)]
    for label, site, i in names:
        truth = TRUE_W[i] if i is not None else TRUE_B
        a = np.asarray(svi[site] if i is None else svi[site][:, i])
        c = np.asarray(nuts[site] if i is None else nuts[site][:, i])
        stats = f"{a.mean():9.3f} {a.std():7.3f} {c.mean():10.3f} {c.std():8.3f}"
        rows.append(f"{label:>6} {truth:7.2f} {stats}")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument("--short", action="store_true", help="a quick run")
    args = parser.parse_args(argv)
    steps, warmup, samples = (500, 200, 200) if args.short else (args.steps, 1000, 2000)
    x, y = simulate(args.n)
    svi_draws, svi_time = fit_svi(x, y, steps)
    nuts_draws, nuts_time = fit_nuts(x, y, warmup, samples)
    print(f"Bayesian logistic regression, {args.n} points, {x.shape[1]} covariates")
    print(
        f"SVI (AutoNormal, {steps} steps): {svi_time:.1f} s; NUTS ({warmup} + {samples}): "
        f"{nuts_time:.1f} s (compile times included)"
    )
    print(table(svi_draws, nuts_draws))


if __name__ == "__main__":
    main()
