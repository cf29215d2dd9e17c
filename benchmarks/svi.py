"""SVI: Effax against NumPyro 0.22, side by side in one process (float32, CPU).

    python benchmarks/svi.py              # both cases, writes benchmarks/RESULTS_SVI.md
    python benchmarks/svi.py --quick      # fewer steps, prints only
    python benchmarks/svi.py --n 5000     # a smaller logistic regression

Three cases, each with the same model, data, guide, optimiser and number of steps in both
frameworks:

- ``small``: a normal mean from 10 points with a hand-written normal guide, Adam(1e-2):
  the per-step overhead of the driver and the handlers (NumPyro's maintainers measured
  about 14 µs per step on a small model, pyro-ppl/numpyro#2247);

- ``logistic``: Bayesian logistic regression (``w ~ N(0, 1)^D``, ``y ~ Bernoulli(X w)``),
  AutoNormal guide (``init_to_median`` in both: NumPyro's default is ``init_to_uniform``),
  Adam(1e-2), ``Trace_ELBO()``, on the benchmarks' synthetic
  covtype-shaped data (N = 50,000, D = 55 by default);
- ``vae``: the VAE of ``examples/vae.py`` (Equinox MLP encoder and decoder through
  ``eqx_module`` in both frameworks, minibatches of 128 of scikit-learn's digits through a
  subsampled plate), Adam(3e-3).

For each, ``svi.run`` runs once with a few steps (it compiles; JAX's monitoring events give
the compile time) and once with many steps; the second run's net time (its wall time less
its own compile time, which NumPyro pays again on every call and Effax pays for a new
``num_steps``) over its steps is the time per step. The final loss is the mean of the last
10% of the long run's losses, with its standard error, so that the two can be compared
within noise. No progress bars.
"""

from __future__ import annotations

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import jax  # noqa: E402

jax.config.update("jax_enable_x64", False)

ROOT = Path(__file__).resolve().parents[1]
# This checkout's library, after the entries of PYTHONPATH: one that names another checkout
# (a worktree, say) keeps precedence, so a comparison runs the code it names.
sys.path.insert(
    1 + len([p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]), str(ROOT)
)

import equinox as eqx  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import numpyro  # noqa: E402
import numpyro.distributions as ndist  # noqa: E402
from numpyro.contrib.module import eqx_module as n_eqx_module  # noqa: E402
from numpyro.infer import (  # noqa: E402
    SVI as NSVI,
    Trace_ELBO as NTrace_ELBO,
    init_to_median as n_init_to_median,  # noqa: E402
)
from numpyro.infer.autoguide import AutoNormal as NAutoNormal  # noqa: E402

import dists as D  # noqa: E402
import effects  # noqa: E402
import inference  # noqa: E402
from benchmarks.run import CLOCK, machine_info  # noqa: E402

# --------------------------------------------------------------------------------------
# the models, once per framework


def logistic_data(n: int, d: int = 55, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.normal(size=(n, d - 1)), np.ones((n, 1))], axis=1)
    w = rng.normal(size=d)
    y = rng.random(n) < 1 / (1 + np.exp(-x @ w))
    return jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32)


def fx_logistic(x, y):
    w = effects.sample("w", D.Normal(0.0, 1.0).expand([x.shape[1]]).to_event(1))
    with effects.plate("N", x.shape[0]):
        effects.sample("y", D.Bernoulli(logits=x @ w), obs=y)


def np_logistic(x, y):
    w = numpyro.sample("w", ndist.Normal(0.0, 1.0).expand([x.shape[1]]).to_event(1))
    with numpyro.plate("N", x.shape[0]):
        numpyro.sample("y", ndist.Bernoulli(logits=x @ w), obs=y)


def _small_parts(sample, plate, param, dist, positive):
    def model(x):
        mu = sample("mu", dist.Normal(0.0, 1.0))
        with plate("N", x.shape[0]):
            sample("x", dist.Normal(mu, 1.0), obs=x)

    def guide(x):
        loc = param("loc", 0.0)
        scale = param("scale", 1.0, constraint=positive)
        sample("mu", dist.Normal(loc, scale))

    return model, guide


FX_SMALL = _small_parts(effects.sample, effects.plate, effects.param, D, D.constraints.positive)
NP_SMALL = _small_parts(
    numpyro.sample, numpyro.plate, numpyro.param, ndist, ndist.constraints.positive
)

Z_DIM, HIDDEN, BATCH = 4, 64, 128
_K1, _K2 = jax.random.split(jax.random.key(0))
ENCODER = eqx.nn.MLP(64, 2 * Z_DIM, HIDDEN, depth=2, activation=jax.nn.softplus, key=_K1)
DECODER = eqx.nn.MLP(Z_DIM, 64, HIDDEN, depth=2, activation=jax.nn.softplus, key=_K2)


def digits():
    from sklearn.datasets import load_digits

    return jnp.asarray(load_digits().data[:1500] > 8, jnp.float32)


def _vae_parts(sample, plate, module, dist):
    def model(x):
        decoder = module("decoder", DECODER)
        with plate("N", x.shape[0], subsample_size=BATCH) as idx:
            z = sample("z", dist.Normal(jnp.zeros(Z_DIM), 1.0).to_event(1))
            sample("x", dist.Bernoulli(logits=jax.vmap(decoder)(z)).to_event(1), obs=x[idx])

    def guide(x):
        encoder = module("encoder", ENCODER)
        with plate("N", x.shape[0], subsample_size=BATCH) as idx:
            out = jax.vmap(encoder)(x[idx])
            sample("z", dist.Normal(out[:, :Z_DIM], jnp.exp(out[:, Z_DIM:])).to_event(1))

    return model, guide


FX_VAE = _vae_parts(effects.sample, effects.plate, inference.eqx_module, D)
NP_VAE = _vae_parts(numpyro.sample, numpyro.plate, n_eqx_module, ndist)


def make(framework: str, case: str):
    """(SVI object, its key maker) for one framework and case."""
    if framework == "Effax":
        if case == "small":
            (model, guide), opt = FX_SMALL, inference.optim.Adam(1e-2)
        elif case == "logistic":
            model = fx_logistic
            guide = inference.AutoNormal(model, init_loc_fn=inference.init_to_median)
            opt = inference.optim.Adam(1e-2)
        else:
            (model, guide), opt = FX_VAE, inference.optim.Adam(3e-3)
        return inference.SVI(model, guide, opt, inference.Trace_ELBO()), jax.random.key
    if case == "small":
        (model, guide), opt = NP_SMALL, numpyro.optim.Adam(1e-2)
    elif case == "logistic":
        model, guide = np_logistic, NAutoNormal(np_logistic, init_loc_fn=n_init_to_median)
        opt = numpyro.optim.Adam(1e-2)
    else:
        (model, guide), opt = NP_VAE, numpyro.optim.Adam(3e-3)
    return NSVI(model, guide, opt, NTrace_ELBO()), jax.random.PRNGKey


# --------------------------------------------------------------------------------------


def step_cost(svi, key, args) -> tuple[float, float]:
    """XLA's cost analysis of one compiled ``svi.update``: (flops, bytes accessed). It does
    not depend on the machine's load, unlike the timings."""
    state = svi.init(key(0), *args)
    dyn, static = eqx.partition(state, eqx.is_array)

    def step(d, *a):
        new, loss = svi.update(eqx.combine(d, static), *a)
        return eqx.partition(new, eqx.is_array)[0], loss

    compiled = jax.jit(step).lower(dyn, *args).compile()
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    return float(cost.get("flops", np.nan)), float(cost.get("bytes accessed", np.nan))


def first_run(framework: str, case: str, args: tuple, short: int, cost: bool = True) -> dict:
    svi, key = make(framework, case)
    t0 = time.time()
    r = svi.run(key(0), short, *args, progress_bar=False)
    jax.block_until_ready(r.losses)
    t1 = time.time()
    flops, nbytes = step_cost(svi, key, args) if cost else (np.nan, np.nan)
    return {
        "svi": svi,
        "key": key,
        "compile_s": CLOCK.seconds(t0, t1),
        "programs": CLOCK.programs(t0, t1),
        "breakdown": CLOCK.breakdown(t0, t1),
        "flops": flops,
        "bytes": nbytes,
    }


def compile_reps(case: str, args: tuple, short: int, reps: int) -> None:
    """The first run's compile time ``reps`` times per framework in this process,
    alternating the frameworks (and which goes first) with JAX's caches cleared before
    each, so that each is a first run as in a fresh process; prints each run's compile
    time and its breakdown by program, and the ratios of the pairs."""
    times: dict = {"Effax": [], "NumPyro": []}
    for rep in range(reps):
        order = ("Effax", "NumPyro") if rep % 2 == 0 else ("NumPyro", "Effax")
        for fw in order:
            jax.clear_caches()
            e = first_run(fw, case, args, short, cost=False)
            times[fw].append(e["compile_s"])
            print(
                f"{case} rep {rep} {fw}: compile {e['compile_s']:.2f} s, "
                f"{e['programs']} XLA programs, load {os.getloadavg()[0]:.1f}",
                flush=True,
            )
            for line in e["breakdown"]:
                print(f"    {line}")
    ratios = [a / b for a, b in zip(times["Effax"], times["NumPyro"])]
    print(
        f"{case}: Effax {np.round(times['Effax'], 2).tolist()} s, NumPyro "
        f"{np.round(times['NumPyro'], 2).tolist()} s; ratios "
        f"{np.round(ratios, 2).tolist()}, median {np.median(ratios):.2f}×",
        flush=True,
    )


def long_run(entry: dict, args: tuple, steps: int, seed: int) -> tuple[float, np.ndarray]:
    """Net seconds per step of a run of ``steps`` (its own compile time taken out)."""
    t1 = time.time()
    r = entry["svi"].run(entry["key"](seed), steps, *args, progress_bar=False)
    jax.block_until_ready(r.losses)
    t2 = time.time()
    return ((t2 - t1) - CLOCK.seconds(t1, t2)) / steps, np.asarray(r.losses, np.float64)


def measure_case(case: str, args: tuple, short: int, long: int, reps: int) -> dict:
    entries = {fw: first_run(fw, case, args, short) for fw in ("Effax", "NumPyro")}
    per_step: dict = {fw: [] for fw in entries}
    finals: dict = {fw: [] for fw in entries}
    for rep in range(reps):  # alternate, so that a slow spell hits both
        for fw, entry in entries.items():
            t, losses = long_run(entry, args, long, 1 + rep)
            per_step[fw].append(t)
            finals[fw].append(float(losses[-max(long // 10, 1) :].mean()))
    out = {}
    for fw, entry in entries.items():
        f = np.asarray(finals[fw])
        out[fw] = {
            "compile_s": entry["compile_s"],
            "per_step_us": 1e6 * float(np.median(per_step[fw])),
            "per_step_all_us": [round(1e6 * t) for t in per_step[fw]],
            "flops": entry["flops"],
            "bytes": entry["bytes"],
            # Mean over the runs (each a new key) and its standard error across runs: the
            # runs' own trajectories differ, more than one run's last steps scatter.
            "final_loss": float(f.mean()),
            "final_loss_se": float(f.std(ddof=1) / np.sqrt(len(f))) if len(f) > 1 else np.nan,
        }
    return out


def table(results: dict, cases: dict) -> str:
    lines = [
        "| case | framework | compile (s) | per step (µs, median) | per step, each run (µs) "
        "| XLA flops / step | XLA bytes / step | final loss (± s.e.) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for case, by_fw in results.items():
        for fw, r in by_fw.items():
            lines.append(
                f"| {cases[case]} | {fw} | {r['compile_s']:.2f} | {r['per_step_us']:.0f} | "
                f"{r['per_step_all_us']} | {r['flops']:.3g} | {r['bytes']:.3g} | "
                f"{r['final_loss']:.2f} ± {r['final_loss_se']:.2f} |"
            )
        e, n = by_fw.get("Effax"), by_fw.get("NumPyro")
        if e and n:
            lines.append(
                f"| {cases[case]} | Effax / NumPyro | {e['compile_s'] / n['compile_s']:.2f}× | "
                f"{e['per_step_us'] / n['per_step_us']:.2f}× | | "
                f"{e['flops'] / n['flops']:.2f}× | {e['bytes'] / n['bytes']:.2f}× | "
                f"{e['final_loss'] - n['final_loss']:+.2f} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000, help="logistic regression rows")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--reps", type=int, default=3, help="timed runs per framework")
    parser.add_argument("--only", nargs="*", default=None, help="cases: small, logistic, vae")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--compile-reps",
        type=int,
        default=0,
        help="only measure the first run's compile, this many times per framework "
        "(alternating, caches cleared), with a breakdown by program; prints only",
    )
    args = parser.parse_args()
    steps = 200 if args.quick else args.steps
    info = machine_info()
    x, y = logistic_data(args.n)
    small = jnp.asarray(np.random.default_rng(1).normal(1.0, 1.0, size=10), jnp.float32)
    data = {"small": (small,), "logistic": (x, y), "vae": (digits(),)}
    cases = {
        "small": "small model (normal mean, 10 points, hand-written guide)",
        "logistic": f"AutoNormal logistic regression {args.n}×{x.shape[1]}",
        "vae": "VAE step (digits, batch 128)",
    }
    if args.compile_reps:
        for case in [c for c in cases if args.only is None or c in args.only]:
            compile_reps(case, data[case], 10, args.compile_reps)
        return
    results: dict = {}
    for case in [c for c in cases if args.only is None or c in args.only]:
        results[case] = measure_case(case, data[case], 10, steps, args.reps)
        print(case, results[case], flush=True)
    text = table(results, cases)
    print(text)
    out = args.out or (None if args.quick else ROOT / "benchmarks" / "RESULTS_SVI.md")
    if out is not None:
        head = "\n".join(f"- {k}: {v}" for k, v in info.items())
        out.write_text(
            "# SVI: Effax against NumPyro\n\n"
            f"`python benchmarks/svi.py --n {args.n} --steps {steps}`. See the docstring of "
            "`benchmarks/svi.py` for what is measured. Compile: JAX's monitoring events "
            "during the first `svi.run` (10 steps). Per step: the net time of a run of "
            f"{steps} steps (less its own compile time) over its steps, median of "
            f"{args.reps} runs alternating between the frameworks. XLA flops and bytes: "
            "the compiler's cost analysis of one `svi.update`, which does not depend on "
            "the machine's load. Final loss: the mean of the last 10% of each run's losses, "
            "averaged over the runs (± its standard error across runs).\n\n"
            f"{head}\n\n{text}\n"
        )
        print(f"written to {out}")


if __name__ == "__main__":
    main()
