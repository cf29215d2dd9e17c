"""Sampling efficiency on a hard posterior: NumPyro's horseshoe logistic regression.

    python benchmarks/horseshoe.py                       # seeds 0-19, both frameworks
    python benchmarks/horseshoe.py --seeds 0 1 2 3 4 --out /tmp/horseshoe.md
    python benchmarks/horseshoe.py --num-seeds 40 --frameworks Effax

The model is the Bernoulli variant of NumPyro's ``examples/horseshoe_regression.py``:
32 coefficients ``betas = tau * lambdas * unscaled_betas`` with half-Cauchy local and
global scales, 400 observations, and only the first three covariates truly relevant. Its
posterior has funnels (in ``tau`` and in each ``lambdas[j]``): with the step size it
adapted, one chain in several spends long stretches in one region, with runs of
divergences, and its ESS collapses. How often that happens, per framework, is what this
script measures; it needs many seeds, not a few.

Each framework runs one chain of 1000 warm-up + 1000 draws per seed (NUTS defaults:
target acceptance 0.8 unless ``--target-accept-prob``, tree depth 10, diagonal mass
matrix; float32, CPU), with a fresh warm-up for every seed and the same data. Per seed it
reports the smallest bulk ESS over all 65 latent scalars (constrained values, Effax's
``ess_bulk`` for both frameworks), the number of divergent draws, the mean leapfrog steps
and tree depth per draw, the adapted step size and the wall time. The posterior means of
``betas`` are compared with the other framework's run of the same seed, in units of the two
runs' combined Monte Carlo standard error. Timings are noisy on a shared machine; ESS is
deterministic per seed.
"""

from __future__ import annotations

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import NamedTuple  # noqa: E402

import jax  # noqa: E402

jax.config.update("jax_enable_x64", False)

ROOT = Path(__file__).resolve().parents[1]
# This checkout's library, after the entries of PYTHONPATH: one that names another checkout
# (a worktree, say) keeps precedence, so a comparison runs the code it names.
sys.path.insert(
    1 + len([p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]), str(ROOT)
)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import numpyro  # noqa: E402
import numpyro.distributions as nd  # noqa: E402
from numpyro.infer import MCMC as NMCMC, NUTS as NNUTS  # noqa: E402

import dists as D  # noqa: E402
import effects  # noqa: E402
from benchmarks.run import CLOCK, Effax, Framework, NumPyro, _key, machine_info  # noqa: E402
from inference import MCMC, NUTS, ess_bulk, mcse_mean  # noqa: E402

LATENT = ("lambdas", "tau", "unscaled_betas")

# --------------------------------------------------------------------------------------
# data: NumPyro's get_data(N=400, D_X=32, response="binary"), written again
# --------------------------------------------------------------------------------------


class Horseshoe(NamedTuple):
    X: jax.Array  # (N, D) standard-normal covariates
    Y: jax.Array  # (N,) in {0., 1.}


def horseshoe_data(n: int = 400, d: int = 32, seed: int = 0) -> Horseshoe:
    """NumPyro's simulation: ``X ~ N(0, 1)``, a linear predictor from the first three
    columns with weights ``(2, -1, 0.5)``, centred, and labels ``Bernoulli(sigmoid(.))``.

    The legacy NumPy generator with seed 0 draws the same numbers in the same order as the
    example's ``np.random.seed(0)``, so the data are the example's.
    """
    rng = np.random.RandomState(seed)
    X = rng.randn(n, d)
    eta = X[:, :3] @ np.array([2.0, -1.0, 0.5])
    eta = eta - eta.mean()
    Y = rng.binomial(1, 1.0 / (1.0 + np.exp(-eta)))
    return Horseshoe(jnp.asarray(X, jnp.float32), jnp.asarray(Y, jnp.float32))


# --------------------------------------------------------------------------------------
# the model, twice (the number of coefficients is read from X's shape)
# --------------------------------------------------------------------------------------


def np_horseshoe(X, Y=None):
    D_X = X.shape[1]
    lambdas = numpyro.sample("lambdas", nd.HalfCauchy(jnp.ones(D_X)))
    tau = numpyro.sample("tau", nd.HalfCauchy(jnp.ones(1)))
    unscaled_betas = numpyro.sample("unscaled_betas", nd.Normal(0.0, jnp.ones(D_X)))
    betas = numpyro.deterministic("betas", tau * lambdas * unscaled_betas)
    numpyro.sample("Y", nd.Bernoulli(logits=jnp.dot(X, betas)), obs=Y)


def fx_horseshoe(X, Y=None):
    D_X = X.shape[1]
    lambdas = effects.sample("lambdas", D.HalfCauchy(jnp.ones(D_X)))
    tau = effects.sample("tau", D.HalfCauchy(jnp.ones(1)))
    unscaled_betas = effects.sample("unscaled_betas", D.Normal(0.0, jnp.ones(D_X)))
    betas = effects.deterministic("betas", tau * lambdas * unscaled_betas)
    effects.sample("Y", D.Bernoulli(logits=jnp.dot(X, betas)), obs=Y)


# --------------------------------------------------------------------------------------
# one seed
# --------------------------------------------------------------------------------------


def _step_size(framework: Framework, mcmc) -> float:
    if isinstance(framework, NumPyro):
        return float(np.ravel(mcmc.last_state.adapt_state.step_size)[0])
    return float(np.ravel(mcmc.last_state.step_size)[0])


def make_mcmc(framework: Framework, num_warmup: int, num_samples: int, target: float):
    """One chain of NUTS with the defaults, but for the target acceptance statistic."""
    if isinstance(framework, NumPyro):
        kernel = NNUTS(np_horseshoe, target_accept_prob=target)
        return NMCMC(kernel, num_warmup=num_warmup, num_samples=num_samples, progress_bar=False)
    kernel = NUTS(fx_horseshoe, target_accept_prob=target)
    return MCMC(kernel, num_warmup=num_warmup, num_samples=num_samples, progress_bar=False)


def one_seed(framework: Framework, mcmc, data: Horseshoe, seed: int) -> dict:
    """A fresh warm-up and sampling run for ``seed``; its statistics and ``betas`` draws."""
    mcmc.post_warmup_state = None  # warm up afresh, as a new MCMC object would
    t0 = time.time()
    mcmc.run(_key(framework, seed), data.X, data.Y, extra_fields=("num_steps", "diverging"))
    samples = mcmc.get_samples(group_by_chain=True)
    jax.block_until_ready(samples)
    t1 = time.time()
    extra = mcmc.get_extra_fields()
    steps = np.asarray(extra["num_steps"], np.int64)
    ess = {k: np.min(ess_bulk(np.asarray(samples[k], np.float64))) for k in LATENT}
    worst = min(ess, key=ess.get)
    return {
        "framework": framework.name,
        "seed": seed,
        "min_ess": float(ess[worst]),
        "worst_site": worst,
        "divergences": int(np.sum(np.asarray(extra["diverging"]))),
        "steps": float(np.mean(steps)),
        # Doublings per draw from the step count (neither driver reports NumPyro's).
        "depth": float(np.mean(np.floor(np.log2(steps + 1)))),
        "step_size": _step_size(framework, mcmc),
        "wall_s": t1 - t0,
        "compile_s": CLOCK.seconds(t0, t1),
        "betas": np.asarray(samples["betas"], np.float64),  # (1, draws, 32)
    }


def agreement(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per coefficient, the difference of two runs' posterior means over their combined
    MCSE: ``(mean_a - mean_b) / sqrt(mcse_a^2 + mcse_b^2)``. Draws are ``(chains, draws,
    ...)``."""
    diff = a.mean(axis=(0, 1)) - b.mean(axis=(0, 1))
    return diff / np.sqrt(mcse_mean(a) ** 2 + mcse_mean(b) ** 2)


# --------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------

Z_LIMIT = 4.0  # |z| above this in any coefficient counts as a disagreement


def report(runs: list[dict], info: dict[str, str], settings: str) -> str:
    names = [n for n in ("Effax", "NumPyro") if any(r["framework"] == n for r in runs)]
    by = {(r["framework"], r["seed"]): r for r in runs}
    seeds = sorted({r["seed"] for r in runs})
    both = len(names) == 2
    lines = ["# Horseshoe logistic regression: Effax vs NumPyro 0.22, one chain per seed", ""]
    lines += [f"- {k}: {v}" for k, v in info.items()]
    lines += [f"- settings: {settings}", ""]
    head = "| seed | framework | min bulk ESS (site) | divergences | steps / draw | tree depth "
    head += "| step size | wall time (compiling) |"
    rule = "|---:|---|---:|---:|---:|---:|---:|---:|"
    if both:
        head += " betas: max abs z vs other |"
        rule += "---:|"
    lines += [head, rule]
    for s in seeds:
        z = None
        if both and all((n, s) in by for n in names):
            z = float(np.max(np.abs(agreement(by["Effax", s]["betas"], by["NumPyro", s]["betas"]))))
        present = [n for n in names if (n, s) in by]
        for n in present:
            r = by[n, s]
            row = (
                f"| {s} | {n} | {r['min_ess']:.0f} ({r['worst_site']}) | {r['divergences']} | "
                f"{r['steps']:.1f} | {r['depth']:.2f} | {r['step_size']:.4f} | "
                f"{r['wall_s']:.1f} s ({r['compile_s']:.1f} s) |"
            )
            if both:
                # One comparison per seed, on the seed's last row.
                last = n == present[-1] and z is not None
                row += f" {z:.1f}{' (disagree)' if z > Z_LIMIT else ''} |" if last else " |"
            lines.append(row)
    lines += ["", "| over seeds | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]

    def stat(label, fn):
        cells = []
        for n in names:
            rs = [r for r in runs if r["framework"] == n]
            cells.append(fn(rs))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")

    stat("seeds", lambda rs: str(len(rs)))
    stat("min bulk ESS, median", lambda rs: f"{statistics.median(r['min_ess'] for r in rs):.0f}")
    stat("min bulk ESS, mean", lambda rs: f"{statistics.mean(r['min_ess'] for r in rs):.0f}")
    stat("min bulk ESS, smallest", lambda rs: f"{min(r['min_ess'] for r in rs):.0f}")
    stat("seeds with min bulk ESS < 100", lambda rs: str(sum(r["min_ess"] < 100 for r in rs)))
    stat("divergences, median", lambda rs: f"{statistics.median(r['divergences'] for r in rs):.0f}")
    stat("step size, median", lambda rs: f"{statistics.median(r['step_size'] for r in rs):.4f}")
    stat("steps / draw, median", lambda rs: f"{statistics.median(r['steps'] for r in rs):.1f}")
    stat(
        "wall time, median (first seed compiles)",
        lambda rs: f"{statistics.median(r['wall_s'] for r in rs):.1f} s",
    )
    if both:
        # All seeds of a framework pooled as independent chains: the posterior of betas.
        pooled = {
            n: np.concatenate([by[n, s]["betas"] for s in seeds if (n, s) in by]) for n in names
        }
        z = agreement(pooled["Effax"], pooled["NumPyro"])
        lines += [
            "",
            "Posterior of `betas`, all seeds pooled (each seed one chain):",
            "",
            "| coefficient | Effax mean (sd) | NumPyro mean (sd) | z |",
            "|---|---:|---:|---:|",
        ]
        for j in list(range(4)) + [int(np.argmax(np.abs(z[4:]))) + 4]:
            cells = [
                f"{pooled[n][..., j].mean():.3f} ({pooled[n][..., j].std(ddof=1):.3f})"
                for n in names
            ]
            label = f"betas[{j}]" if j < 4 else f"betas[{j}] (largest abs z of the rest)"
            lines.append(f"| {label} | {cells[0]} | {cells[1]} | {z[j]:.1f} |")
        lines.append(f"\nLargest abs z over all 32 coefficients, pooled: {np.max(np.abs(z)):.1f}.")
    lines += [
        "",
        "min bulk ESS: the smallest rank-normalised bulk ESS over the 65 latent scalars",
        "(`lambdas`, `tau`, `unscaled_betas`, constrained), from Effax's `ess_bulk` for both",
        "frameworks. Tree depth is `floor(log2(steps + 1))` per draw, the doublings taken. z:",
        "per coefficient of `betas`, the difference of the two runs' posterior means over",
        f"`sqrt(mcse_1^2 + mcse_2^2)`; a seed where some |z| exceeds {Z_LIMIT:.0f} is marked.",
        "A chain stuck in a funnel underestimates its own MCSE, so disagreements come with",
        "a small ESS. Wall time is warm-up + sampling; the first seed of each framework",
        "includes compilation, and NumPyro 0.22 compiles its loop again on every run",
        "(pyro-ppl/numpyro#2171).",
    ]
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", nargs="*", type=int, default=None, help="explicit seeds")
    parser.add_argument("--num-seeds", type=int, default=20, help="seeds 0 .. N-1 (default 20)")
    parser.add_argument("--num-warmup", type=int, default=1000)
    parser.add_argument("--num-samples", type=int, default=1000)
    parser.add_argument(
        "--frameworks", nargs="*", choices=["Effax", "NumPyro"], default=["Effax", "NumPyro"]
    )
    parser.add_argument("--target-accept-prob", type=float, default=0.8)
    parser.add_argument("--out", default=None, help="also write the table to this file")
    args = parser.parse_args(argv)
    seeds = args.seeds if args.seeds is not None else list(range(args.num_seeds))

    info = machine_info()
    for k, v in info.items():
        print(f"{k}: {v}")
    data = horseshoe_data()
    frameworks = [fw() for fw in (Effax, NumPyro) if fw.name in args.frameworks]
    mcmcs = [
        make_mcmc(fw, args.num_warmup, args.num_samples, args.target_accept_prob)
        for fw in frameworks
    ]
    runs = []
    # Seeds alternate between the frameworks, so that a slow spell falls on both.
    for s in seeds:
        for fw, mcmc in zip(frameworks, mcmcs):
            r = one_seed(fw, mcmc, data, s)
            print(
                f"{fw.name:8s} seed {s:3d}: min ESS {r['min_ess']:6.0f} ({r['worst_site']}), "
                f"{r['divergences']:4d} divergences, {r['steps']:6.1f} steps/draw, "
                f"step size {r['step_size']:.4f}, {r['wall_s']:.1f} s",
                flush=True,
            )
            runs.append(r)
    info["load average at end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    settings = (
        f"{args.num_warmup} warm-up + {args.num_samples} draws, 1 chain per seed, NUTS "
        f"defaults but target_accept_prob {args.target_accept_prob} (max_tree_depth 10, "
        f"diagonal mass), seeds {seeds}"
    )
    text = report(runs, info, settings)
    if args.out:
        Path(args.out).write_text(text)
    print()
    print(text)


if __name__ == "__main__":
    main()
