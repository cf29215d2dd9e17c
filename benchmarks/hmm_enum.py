"""An enumerated HMM written with ``scan``: Effax against NumPyro 0.22 (funsor) and
against hand-written forward passes, in one process, float32, CPU.

    python benchmarks/hmm_enum.py                       # K in {2, 3, 8}, T in {100, 1000}
    python benchmarks/hmm_enum.py --k 3 --t 100 --repeats 3 --no-nuts
    python benchmarks/hmm_enum.py --out benchmarks/RESULTS_ENUM.md
    python benchmarks/hmm_enum.py --gpu                 # K in {3, 10}, T = 100,000

The model (the same in both frameworks, NumPyro's ``hmm_enum`` pattern): a K-state
chain ``x_t ~ Categorical(probs_x[x_{t-1}])`` from ``x_{-1} = 0`` with Dirichlet rows,
Gaussian emissions ``y_t ~ Normal(locs[x_t], 1)`` with ``locs ~ Normal(0, 5)``, the time
loop a ``scan`` (Effax: ``effects.scan``; NumPyro: ``numpyro.contrib.control_flow.scan``)
and the hidden states enumerated (``config_enumerate``). The data are drawn from a
sticky chain (NumPy seed 0).

What is measured, for each (K, T):

* compile: the wall time of ``jit(value_and_grad(potential)).lower(u).compile()``
  (tracing included), once per program;
* gradient: the time of one value-and-gradient of the potential (the minimum over
  ``--repeats`` runs of the mean over a batch of calls; the machine is shared, and the
  minimum is the least disturbed);
* the programs: Effax with ``contraction="parallel"`` and ``"sequential"``, NumPyro's
  ``potential_energy(..., enum=True)`` (funsor 0.4.8: ``pip install funsor``), two
  hand-written potentials in plain JAX (the forward algorithm by ``lax.scan``, and by an
  associative scan of log-sum-exp matrix products, ``lax.associative_scan``), and, up to
  ``--markov-max-t``, Effax's Python loop under ``markov`` (its compile time grows with
  T);
* NUTS (unless ``--no-nuts``): 200 warm-up and 200 draws, one chain (``--nuts-draws``
  for more); the time per leapfrog step is the sampling phase's wall time, less its
  compile time (JAX's monitoring events), over its leapfrog steps; ESS/s is the smallest
  ESS over every scalar of ``probs_x`` and ``locs`` (``inference.effective_sample_size``,
  NumPyro's estimator, applied to both frameworks' draws) over that net sampling time.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
from run import CompileClock  # benchmarks/run.py, beside this script

import dists as D
from effects import sample, scan
from handlers import config_enumerate
from inference import MCMC, NUTS
from inference._log_density import potential_energy


def synthetic(k: int, t: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    trans = 0.9 * np.eye(k) + 0.1 / k
    locs = np.linspace(-3.0, 3.0, k)
    x, ys = 0, []
    for _ in range(t):
        x = rng.choice(k, p=trans[x] / trans[x].sum())
        ys.append(rng.normal(locs[x], 1.0))
    return np.asarray(ys, dtype=np.float32)


# --- Effax -------------------------------------------------------------------------------


def effax_model(ys, k, contraction="auto"):
    probs_x = sample("probs_x", D.Dirichlet(jnp.ones((k, k))).to_event(1))
    locs = sample("locs", D.Normal(jnp.zeros(k), 5.0).to_event(1))

    def step(x, y):
        x = sample("x", D.Categorical(probs_x[x]))
        sample("y", D.Normal(locs[x], 1.0), obs=y)
        return x, None

    scan(step, jnp.array(0), ys, contraction=contraction)


def effax_markov_model(ys, k):
    """The same HMM as a Python loop under ``markov`` (one set of sites per step)."""
    from dists.util import vindex
    from handlers import markov

    probs_x = sample("probs_x", D.Dirichlet(jnp.ones((k, k))).to_event(1))
    locs = sample("locs", D.Normal(jnp.zeros(k), 5.0).to_event(1))
    x = jnp.array(0)
    for t in markov(range(ys.shape[0])):
        x = sample(f"x{t}", D.Categorical(vindex(probs_x, (x,))))
        sample(f"y{t}", D.Normal(locs[x], 1.0), obs=ys[t])


def effax_markov_potential(ys, k):
    model = config_enumerate(effax_markov_model)

    def pe(u):
        return potential_energy(model, (ys, k), {}, u)

    return pe


def effax_potential(ys, k, contraction):
    model = config_enumerate(effax_model)

    def pe(u):
        return potential_energy(model, (ys, k), {"contraction": contraction}, u)

    return pe


# --- hand-written ------------------------------------------------------------------------


def _unconstrain_params(u, k):
    """probs_x and locs from unconstrained values, and the log-Jacobian + log prior: the
    same terms as the models' (through Effax's transforms, to share their numerics)."""
    from dists import biject_to

    t = biject_to(D.Dirichlet(jnp.ones((k, k))).support)
    probs_x = t(u["probs_x"])
    log_det = jnp.sum(t.log_abs_det_jacobian(u["probs_x"], probs_x))
    prior = jnp.sum(D.Dirichlet(jnp.ones((k, k))).log_prob(probs_x))
    locs = u["locs"]
    prior = prior + jnp.sum(D.Normal(jnp.zeros(k), 5.0).log_prob(locs))
    return probs_x, locs, prior + log_det


def _emissions(ys, locs):
    return -0.5 * (ys[:, None] - locs[None, :]) ** 2 - 0.5 * jnp.log(2 * jnp.pi)


def forward_potential(ys, k):
    def pe(u):
        probs_x, locs, rest = _unconstrain_params(u, k)
        lt, emit = jnp.log(probs_x), _emissions(ys, locs)
        alpha0 = lt[0] + emit[0]

        def step(alpha, e):
            return jax.nn.logsumexp(alpha[:, None] + lt, axis=0) + e, None

        alpha, _ = jax.lax.scan(step, alpha0, emit[1:])
        return -(jax.nn.logsumexp(alpha) + rest)

    return pe


def assoc_potential(ys, k):
    def lmm(a, b):
        return jax.nn.logsumexp(a[..., :, :, None] + b[..., None, :, :], axis=-2)

    def pe(u):
        probs_x, locs, rest = _unconstrain_params(u, k)
        lt, emit = jnp.log(probs_x), _emissions(ys, locs)
        mats = lt[None, :, :] + emit[:, None, :]  # (T, K, K)
        prods = jax.lax.associative_scan(lmm, mats)
        return -(jax.nn.logsumexp(prods[-1][0]) + rest)

    return pe


# --- NumPyro -----------------------------------------------------------------------------


def numpyro_model_and_potential(ys, k):
    import numpyro
    import numpyro.distributions as nd
    from numpyro.contrib.control_flow import scan as nscan
    from numpyro.infer.util import potential_energy as npe

    def model(ys, k):
        probs_x = numpyro.sample("probs_x", nd.Dirichlet(jnp.ones((k, k))).to_event(1))
        locs = numpyro.sample("locs", nd.Normal(jnp.zeros(k), 5.0).to_event(1))

        def step(x, y):
            x = numpyro.sample("x", nd.Categorical(probs_x[x]))
            numpyro.sample("y", nd.Normal(locs[x], 1.0), obs=y)
            return x, None

        nscan(step, jnp.array(0), ys)

    from numpyro.contrib.funsor import config_enumerate as nce, enum as nenum

    model = nce(model)
    # What NumPyro's NUTS does to an enumerated model (max_plate_nesting = 0).
    enumerated = nenum(model, first_available_dim=-1)

    def pe(u):
        return npe(enumerated, (ys, k), {}, u, enum=True)

    return model, pe


# --- measuring ---------------------------------------------------------------------------


def params(k: int):
    return {
        "probs_x": jnp.asarray(np.random.default_rng(1).normal(size=(k, k - 1)), jnp.float32),
        "locs": jnp.linspace(-2.0, 2.0, k).astype(jnp.float32),
    }


def time_grad(pe, u, repeats: int, calls: int) -> tuple[float, float, float]:
    """(compile seconds, seconds per value-and-gradient, the value)."""
    f = jax.jit(jax.value_and_grad(pe))
    t0 = time.perf_counter()
    compiled = f.lower(u).compile()
    compile_s = time.perf_counter() - t0
    value, _ = jax.block_until_ready(compiled(u))
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(calls):
            out = compiled(u)
        jax.block_until_ready(out)
        best = min(best, (time.perf_counter() - t0) / calls)
    return compile_s, best, float(value)


def nuts_per_leapfrog(
    framework: str, ys, k, clock: CompileClock, n: int = 200
) -> tuple[float, float]:
    """(seconds per leapfrog step, min ESS per second) of the sampling phase."""
    from inference import effective_sample_size

    if framework == "Effax":
        mcmc = MCMC(
            NUTS(config_enumerate(effax_model)), num_warmup=n, num_samples=n, progress_bar=False
        )
        key = jax.random.key(0)
    else:
        import numpyro.infer as ni

        model, _ = numpyro_model_and_potential(ys, k)
        mcmc = ni.MCMC(ni.NUTS(model), num_warmup=n, num_samples=n, progress_bar=False)
        key = jax.random.PRNGKey(0)
    mcmc.warmup(key, ys, k)
    jax.block_until_ready(mcmc.post_warmup_state)
    t0 = time.time()
    mcmc.run(key, ys, k, extra_fields=("num_steps",))
    jax.block_until_ready(mcmc.get_samples())
    t1 = time.time()
    steps = int(np.sum(np.asarray(mcmc.get_extra_fields()["num_steps"], dtype=np.int64)))
    net = (t1 - t0) - clock.seconds(t0, t1)
    draws = mcmc.get_samples()
    ess = min(
        float(np.min(np.asarray(effective_sample_size(np.asarray(draws[site])[None]))))
        for site in ("probs_x", "locs")
    )
    return net / max(steps, 1), ess / net


def machine(load_at_start: tuple[float, ...]) -> dict[str, str]:
    import numpyro

    cpu = platform.processor() or "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        rev = "?"
    return {
        "CPU": cpu,
        "cores": str(os.cpu_count()),
        "load average at start": " ".join(f"{x:.2f}" for x in load_at_start),
        "load average at end": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "Python": platform.python_version(),
        "JAX": jax.__version__,
        "NumPyro": numpyro.__version__,
        "Effax": f"git {rev}",
        "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, nargs="+", default=[2, 3, 8])
    parser.add_argument("--t", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--no-nuts", action="store_true")
    parser.add_argument("--nuts-draws", type=int, default=200, help="NUTS warm-up and draws")
    parser.add_argument(
        "--markov-max-t", type=int, default=100, help="the Python-loop form up to this T"
    )
    parser.add_argument("--no-numpyro", action="store_true")
    parser.add_argument("--out", default=None)
    parser.add_argument(
        "--gpu",
        action="store_true",
        help="the issue's accelerator run: K in {3, 10}, T = 100,000, on JAX's default "
        "device (not yet run: no GPU was lent when this was written)",
    )
    args = parser.parse_args(argv)
    load_at_start = os.getloadavg()
    if args.gpu:
        if jax.default_backend() == "cpu":
            raise SystemExit("--gpu: JAX sees no accelerator (default backend: cpu).")
        args.k, args.t, args.markov_max_t, args.repeats = [3, 10], [100_000], 0, 3
    clock = CompileClock()
    rows = []
    for k in args.k:
        for t in args.t:
            ys = jnp.asarray(synthetic(k, t))
            u = params(k)
            progs = {
                "Effax parallel": effax_potential(ys, k, "parallel"),
                "Effax sequential": effax_potential(ys, k, "sequential"),
                "hand forward (lax.scan)": forward_potential(ys, k),
                "hand forward (associative_scan)": assoc_potential(ys, k),
            }
            if not args.no_numpyro:
                progs["NumPyro (funsor)"] = numpyro_model_and_potential(ys, k)[1]
            if t <= args.markov_max_t:
                progs["Effax markov loop"] = effax_markov_potential(ys, k)
            row = {"K": k, "T": t}
            for name, pe in progs.items():
                c, g, v = time_grad(pe, u, args.repeats, args.calls)
                row[name] = (c, g, v)
                print(
                    f"K={k} T={t} {name:34s} compile {c:7.2f} s  grad {g * 1e6:9.1f} µs  "
                    f"value {v:.4f}",
                    flush=True,
                )
            if not args.no_nuts:
                fws = ["Effax"] + ([] if args.no_numpyro else ["NumPyro"])
                for fw in fws:
                    per_step, ess_s = nuts_per_leapfrog(fw, ys, k, clock, args.nuts_draws)
                    row[f"NUTS {fw}"], row[f"ESS/s {fw}"] = per_step, ess_s
                    print(
                        f"K={k} T={t} NUTS {fw}: {per_step * 1e6:.1f} µs / leapfrog, "
                        f"min ESS/s {ess_s:.1f}",
                        flush=True,
                    )
            rows.append(row)
    if args.out:
        # The command line as given (sys.argv when called as a script).
        write(args.out, rows, machine(load_at_start), sys.argv[1:] if argv is None else argv)
    return rows


def write(path, rows, info, argv) -> None:
    names = []
    for r in rows:
        names += [n for n in r if isinstance(r[n], tuple) and n not in names]
    lines = [
        "# Enumerated HMM (scan): Effax against NumPyro and hand-written forward passes",
        "",
        f"`python benchmarks/hmm_enum.py {' '.join(argv or [])}`. See the docstring of "
        "`benchmarks/hmm_enum.py` for what is measured. Float32, CPU.",
        "",
    ]
    lines += [f"- {k}: {v}" for k, v in info.items()]
    lines += [
        "",
        "| K | T | program | compile (s) | value+grad (µs, min) | "
        "vs hand lax.scan | vs best hand |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        hand = r["hand forward (lax.scan)"][1]
        best = min(hand, r["hand forward (associative_scan)"][1])
        for n in names:
            if n not in r:
                continue
            c, g, _ = r[n]
            lines.append(
                f"| {r['K']} | {r['T']} | {n} | {c:.2f} | {g * 1e6:.1f} | "
                f"{g / hand:.2f}× | {g / best:.2f}× |"
            )
    nuts = [n for n in rows[0] if n.startswith("NUTS")]
    ess = [n for n in rows[0] if n.startswith("ESS/s")]
    if nuts:
        heads = [f"{n} (µs / leapfrog)" for n in nuts] + [f"{n} (min ESS)" for n in ess]
        ratio = len(ess) == 2
        lines += [
            "",
            "| K | T | " + " | ".join(heads) + (" | ESS/s Effax / NumPyro |" if ratio else " |"),
            "|---|---|" + "---|" * (len(heads) + ratio),
        ]
        for r in rows:
            cells = [f"{r[n] * 1e6:.1f}" for n in nuts] + [f"{r[n]:.1f}" for n in ess]
            if ratio:
                cells.append(f"{r['ESS/s Effax'] / r['ESS/s NumPyro']:.2f}×")
            lines.append(f"| {r['K']} | {r['T']} | " + " | ".join(cells) + " |")
    with open(path, "w") as fh:
        fh.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
