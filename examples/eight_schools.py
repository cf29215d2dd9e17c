"""Eight schools (Rubin 1981): fit with NUTS, print the posterior summary, and save ArviZ
plots.

    python examples/eight_schools.py [--chains 4] [--out DIR] [--no-plots]

The model is NumPyro's, written as its users write it (``J`` a Python int, the data NumPy
arrays), with only the imports changed; it is the non-centred form, with ``theta`` a
deterministic site so that it appears in the samples and in the summary. The run is
exported to ArviZ, which draws a trace plot and a forest plot into PNG files (matplotlib
and ArviZ come with ``pip install -e ".[examples]"``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import jax
import numpy as np

import dists as dist
import effects as numpyro
from inference import MCMC, NUTS, to_arviz

# Rubin (1981): estimated coaching effects and their standard errors in eight schools.
J = 8
y = np.array([28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0])
sigma = np.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0])


def eight_schools(J, sigma, y=None):
    mu = numpyro.sample("mu", dist.Normal(0, 5))
    tau = numpyro.sample("tau", dist.HalfCauchy(5))
    with numpyro.plate("J", J):
        theta_trans = numpyro.sample("theta_trans", dist.Normal(0, 1))
        theta = numpyro.deterministic("theta", mu + tau * theta_trans)
        numpyro.sample("obs", dist.Normal(theta, sigma), obs=y)


def save_plots(mcmc: MCMC, out: Path) -> list[Path]:
    """An ArviZ trace plot of mu and tau, and a forest plot of the school effects."""
    import arviz as az
    import matplotlib

    matplotlib.use("Agg")  # no screen needed
    import matplotlib.pyplot as plt

    schools = [f"school {i}" for i in range(J)]
    idata = to_arviz(
        mcmc, coords={"school": schools}, dims={"theta": ["school"], "obs": ["school"]}
    )
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "eight_schools_trace.png", out / "eight_schools_forest.png"]
    az.plot_trace(idata, var_names=["mu", "tau"])
    plt.tight_layout()
    plt.savefig(paths[0], dpi=100)
    plt.close("all")
    az.plot_forest(idata, var_names=["theta"], combined=True, hdi_prob=0.9)
    plt.title("School effects: posterior means and 90% HDIs")
    plt.tight_layout()
    plt.savefig(paths[1], dpi=100)
    plt.close("all")
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("."), help="folder for the PNG plots")
    parser.add_argument("--no-plots", action="store_true", help="print the summary only")
    args = parser.parse_args()

    mcmc = MCMC(
        NUTS(eight_schools, target_accept_prob=0.9),
        num_warmup=args.warmup,
        num_samples=args.samples,
        num_chains=args.chains,
        chain_method="vectorized",
    )
    mcmc.run(jax.random.key(args.seed), J, sigma, y=y)
    mcmc.print_summary(exclude_deterministic=False)

    if not args.no_plots:
        for path in save_plots(mcmc, args.out):
            print(f"wrote {path.resolve()}")


if __name__ == "__main__":
    main()
