"""Many-chain random-walk Metropolis on a 1-D Gaussian mixture: chain-steps per second.

    python benchmarks/mixture.py                  # CPU: 1e3, 1e4, 1e5 chains, ~2 s each
    python benchmarks/mixture.py --seconds 5      # longer measurements
    python benchmarks/mixture.py --gpu            # RWM at 1e6 chains, NUTS at 1e4 chains

The target is issue 17's mixture: locations (-2, 0, 3.2, 2.5), scales (1.2, 1, 5, 2.8),
weights (0.2, 0.3, 0.1, 0.4). Every sampler runs random-walk Metropolis with the same
Gaussian proposal (standard deviation 3.0, no tuning), float32, and streams its draws:
it keeps per-chain running sums (Effax: ``MCMC(..., streaming=True)``, Welford moments),
never the draws, so memory does not grow with the number of steps. Three samplers run in
the same process, one after the other at each size:

* Effax: ``MCMC(RandomWalk(potential_fn=...), chain_method="vectorized", streaming=True)``;
* BlackJAX: ``blackjax.additive_step_random_walk.normal_random_walk`` under ``jax.vmap``,
  in a ``lax.fori_loop`` that splits one key per chain per step, with running sums;
* NumPy: the same algorithm on arrays of all chains, a Python loop over steps.

Each figure is the second of two runs of the same size (the first compiles), with a new
seed; the number of steps is chosen from a short trial run so that the timed run lasts
about ``--seconds``. The mean and variance of all draws are printed beside the analytic
ones (0.92 and 9.7016), as a check that each sampler samples the target.
"""

from __future__ import annotations

import argparse
import functools
import math
import os
import platform
import sys
import time
from pathlib import Path

# This checkout's library, after the entries of PYTHONPATH: one that names another checkout
# (a worktree, say) keeps precedence, so a comparison runs the code it names.
sys.path.insert(
    1 + len([p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]),
    str(Path(__file__).resolve().parents[1]),
)

import jax
import jax.numpy as jnp
import numpy as np

from inference import MCMC, NUTS, RandomWalk

LOCS = np.array([-2.0, 0.0, 3.2, 2.5], np.float32)
SCALES = np.array([1.2, 1.0, 5.0, 2.8], np.float32)
WEIGHTS = np.array([0.2, 0.3, 0.1, 0.4], np.float32)
MEAN = float(np.sum(WEIGHTS * LOCS))
VAR = float(np.sum(WEIGHTS * (SCALES**2 + LOCS**2)) - MEAN**2)
SIGMA = 3.0
_LOG_W = np.log(WEIGHTS / SCALES).astype(np.float32)


def log_density(x):
    z = (x - LOCS) / SCALES
    return jax.scipy.special.logsumexp(_LOG_W - 0.5 * z * z)


def potential(p):
    return -log_density(p["x"])


# --- Effax -----------------------------------------------------------------------------------


def effax_run(chains: int, steps: int, seed: int) -> tuple[float, float, float]:
    mcmc = MCMC(
        RandomWalk(potential_fn=potential, step_size=SIGMA, adapt_step_size=False),
        num_warmup=0,
        num_samples=steps,
        num_chains=chains,
        chain_method="vectorized",
        progress_bar=False,
        streaming=True,
    )
    init = {"x": jnp.asarray(np.random.default_rng(seed).uniform(-2, 2, chains), jnp.float32)}
    t = time.perf_counter()
    mcmc.run(jax.random.key(seed), init_params=init)
    m = mcmc.get_moments()["x"]
    mean, var = float(m.mean), float(m.variance)
    return time.perf_counter() - t, mean, var


# --- BlackJAX --------------------------------------------------------------------------------


def _blackjax_program():
    import blackjax

    rwm = blackjax.additive_step_random_walk.normal_random_walk(log_density, jnp.float32(SIGMA))

    @functools.partial(jax.jit, static_argnums=2)
    def run(key, x0, steps):
        states = jax.vmap(rwm.init)(x0)
        chains = x0.shape[0]

        def body(i, carry):
            states, s1, s2 = carry
            keys = jax.random.split(jax.random.fold_in(key, i), chains)
            states, _ = jax.vmap(rwm.step)(keys, states)
            x = states.position
            return states, s1 + x, s2 + x * x

        zeros = jnp.zeros_like(x0)
        _, s1, s2 = jax.lax.fori_loop(0, steps, body, (states, zeros, zeros))
        return s1, s2

    return run


def blackjax_run(program, chains: int, steps: int, seed: int) -> tuple[float, float, float]:
    x0 = jnp.asarray(np.random.default_rng(seed).uniform(-2, 2, chains), jnp.float32)
    t = time.perf_counter()
    s1, s2 = jax.block_until_ready(program(jax.random.key(seed), x0, steps))
    elapsed = time.perf_counter() - t
    n = chains * steps
    mean = float(np.sum(np.asarray(s1, np.float64)) / n)
    var = float(np.sum(np.asarray(s2, np.float64)) / n) - mean**2
    return elapsed, mean, var


# --- NumPy -----------------------------------------------------------------------------------


def numpy_run(chains: int, steps: int, seed: int) -> tuple[float, float, float]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 2, chains).astype(np.float32)

    def logp(x):
        z = (x[:, None] - LOCS) / SCALES
        a = _LOG_W - np.float32(0.5) * z * z
        top = a.max(axis=1)
        return top + np.log(np.exp(a - top[:, None]).sum(axis=1))

    lp = logp(x)
    s1 = np.zeros(chains, np.float64)
    s2 = np.zeros(chains, np.float64)
    t = time.perf_counter()
    for _ in range(steps):
        prop = x + np.float32(SIGMA) * rng.standard_normal(chains, np.float32)
        lp_prop = logp(prop)
        accept = np.log1p(-rng.random(chains, np.float32)) < lp_prop - lp  # u in (0, 1]
        x = np.where(accept, prop, x)
        lp = np.where(accept, lp_prop, lp)
        s1 += x
        s2 += x * x
    elapsed = time.perf_counter() - t
    n = chains * steps
    mean = float(s1.sum() / n)
    return elapsed, mean, float(s2.sum() / n) - mean**2


# --- driver ----------------------------------------------------------------------------------


def _steps_for(run, chains: int, seconds: float, trial_steps: int) -> int:
    """Steps such that a run of ``chains`` lasts about ``seconds`` (from a trial run,
    itself compiled by a first call)."""
    run(chains, trial_steps, 0)  # compile
    elapsed, _, _ = run(chains, trial_steps, 1)
    per_step = max(elapsed / trial_steps, 1e-7)
    return max(trial_steps, int(seconds / per_step))


def measure(name: str, run, chains: int, seconds: float) -> dict:
    trial = max(10, int(2e5 // chains))
    steps = _steps_for(run, chains, seconds, trial)
    run(chains, steps, 2)  # the program for this many steps
    elapsed, mean, var = run(chains, steps, 3)
    if elapsed < 0.5 * seconds:  # the trial's fixed costs made the estimate short
        steps = int(steps * seconds / elapsed)
        run(chains, steps, 2)
        elapsed, mean, var = run(chains, steps, 3)
    rate = chains * steps / elapsed
    print(
        f"{name:9s} {chains:>9,} chains x {steps:>7,} steps = {chains * steps:>13,} draws in "
        f"{elapsed:6.2f} s: {rate / 1e6:8.2f} M chain-steps/s  (mean {mean:+.3f}, "
        f"var {var:.3f})",
        flush=True,
    )
    return {"name": name, "chains": chains, "steps": steps, "seconds": elapsed, "rate": rate}


def gpu_main(seconds: float, rwm_chains: int, nuts_chains: int) -> None:
    print(f"device: {jax.devices()[0]}")
    measure("Effax", effax_run, rwm_chains, seconds)
    try:
        program = _blackjax_program()
        measure("BlackJAX", lambda c, s, k: blackjax_run(program, c, s, k), rwm_chains, seconds)
    except ImportError:
        print("BlackJAX not installed: skipped")
    # Vectorised NUTS: eight schools, 10^4 chains.
    from benchmarks.models import eight_schools_data, fx_eight_schools

    data = eight_schools_data()
    for seed in (0, 1):
        mcmc = MCMC(
            NUTS(fx_eight_schools),
            num_warmup=200,
            num_samples=200,
            num_chains=nuts_chains,
            chain_method="vectorized",
            progress_bar=False,
        )
        t = time.perf_counter()
        mcmc.run(jax.random.key(seed), data.sigma, y=data.y)
        steps = int(np.sum(mcmc.get_extra_fields()["num_steps"]))
        elapsed = time.perf_counter() - t
        print(
            f"NUTS eight schools, {nuts_chains:,} chains, 200 + 200 draws (seed {seed}): "
            f"{elapsed:.1f} s (first includes compiling), {steps:,} sampling leapfrog "
            f"chain-steps",
            flush=True,
        )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="length of each timing")
    parser.add_argument("--chains", type=int, nargs="*", default=[1_000, 10_000, 100_000])
    parser.add_argument("--gpu", action="store_true", help="1e6-chain RWM and 1e4-chain NUTS")
    parser.add_argument("--rwm-chains", type=int, default=1_000_000, help="with --gpu")
    parser.add_argument("--nuts-chains", type=int, default=10_000, help="with --gpu")
    parser.add_argument("--no-blackjax", action="store_true")
    parser.add_argument("--no-numpy", action="store_true")
    args = parser.parse_args(argv)
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"JAX {jax.__version__} on {jax.default_backend()}, NumPy {np.__version__}"
    )
    print(f"target: mean {MEAN:.4f}, variance {VAR:.4f}; proposal sd {SIGMA}")
    if args.gpu:
        gpu_main(args.seconds, args.rwm_chains, args.nuts_chains)
        return
    program = None
    if not args.no_blackjax:
        try:
            program = _blackjax_program()
        except ImportError:
            print("BlackJAX not installed (pip install blackjax): skipped")
    rows = []
    for chains in args.chains:
        rows.append(measure("Effax", effax_run, chains, args.seconds))
        if program is not None:
            rows.append(
                measure(
                    "BlackJAX",
                    lambda c, s, k: blackjax_run(program, c, s, k),
                    chains,
                    args.seconds,
                )
            )
        if not args.no_numpy:
            rows.append(measure("NumPy", numpy_run, chains, args.seconds))
    best = max(r["rate"] for r in rows if r["name"] == "Effax")
    print(
        f"Effax's best rate gives 10^9 draws in {1e9 / best:.0f} s "
        f"({math.ceil(1e9 / best / 60)} min) on this machine."
    )


if __name__ == "__main__":
    main()
