"""Effax against NumPyro, side by side in one process (float32, CPU, one chain).

    python benchmarks/run.py            # full: 1000 warm-up + 1000 draws, 3 timed seeds
    python benchmarks/run.py --quick    # smoke test: 100 + 100 draws, seed 0 only
    python benchmarks/run.py --only hmm eight_schools --frameworks Effax

For each model and framework one MCMC object runs ``warmup()`` then ``run()`` for seed 0
(which compiles) and then for each timed seed (a new key, the same data); the timed runs
alternate between the frameworks. JAX's own
monitoring events say how much of each run was spent tracing, lowering and compiling;
NumPyro 0.22 compiles its sampling loop again on every call with ``progress_bar=False``
(fixed upstream by pyro-ppl/numpyro#2171), so a repeated run's net time excludes that.
Compile time is the compilation inside the seed-0 run from those events, cross-checked by
``t(seed 0) - median net t(timed seeds)``. Leapfrog steps are the sum of
``num_steps`` over the sampling phase (neither driver reports the warm-up's steps from the
same call), so "per step" is the sampling phase's net time over its steps. ESS/s is the
smallest bulk ESS over all latent scalars over the net run time, median over the timed
seeds. ``value_and_grad`` is one in-graph gradient of the same potential, timed inside a
jitted ``fori_loop`` right after each timed run; the median is reported, like the per-step
time. The sampler's own cost per step is measured apart, on a standard normal with as many
dimensions as the model (its gradient costs almost nothing; see :func:`sampler_cost`). A
full run writes the table to ``benchmarks/RESULTS.md``; others only print it.
"""

from __future__ import annotations

import os

# Single-threaded Eigen/BLAS would change the comparison; leave XLA's defaults, but make sure
# nothing asks for more host devices than the machine has.
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import argparse  # noqa: E402
import datetime  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
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

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import numpyro  # noqa: E402
from numpyro.infer import MCMC as NMCMC, NUTS as NNUTS  # noqa: E402
from numpyro.infer.util import initialize_model as n_initialize_model  # noqa: E402

import inference  # noqa: E402
from benchmarks.models import BENCHMARKS, fx_std_normal, np_std_normal  # noqa: E402
from inference import ess_bulk  # noqa: E402

# --------------------------------------------------------------------------------------
# machine and versions
# --------------------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _effax_version() -> str:
    try:
        import tomllib

        version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    except Exception:  # noqa: BLE001 - best effort, only for the report
        version = "unknown"
    try:
        rev = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except Exception:  # noqa: BLE001
        rev = ""
    dirty = ""
    if rev:
        status = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        dirty = "+dirty" if status else ""
    return f"{version} (git {rev}{dirty})" if rev else version


def machine_info() -> dict[str, str]:
    return {
        "CPU": _cpu_model(),
        "cores": str(os.cpu_count()),
        "load average at start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "Python": platform.python_version(),
        "JAX": jax.__version__,
        "NumPyro": numpyro.__version__,
        "Effax": _effax_version(),
        "JAX device": str(jax.devices()[0]),
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
    }


# --------------------------------------------------------------------------------------
# the two frameworks behind one interface
# --------------------------------------------------------------------------------------


class Framework:
    name: str

    def mcmc(self, model, num_warmup: int, num_samples: int, **kwargs): ...
    def potential(self, model, args): ...


class NumPyro(Framework):
    name = "NumPyro"

    def mcmc(self, model, num_warmup, num_samples, **kwargs):
        opts = dict(num_chains=1, progress_bar=False) | kwargs
        return NMCMC(NNUTS(model), num_warmup=num_warmup, num_samples=num_samples, **opts)

    def potential(self, model, args):
        info = n_initialize_model(jax.random.PRNGKey(0), model, model_args=args)
        return info.potential_fn, info.param_info.z


class Effax(Framework):
    name = "Effax"

    def mcmc(self, model, num_warmup, num_samples, **kwargs):
        from inference import MCMC, NUTS

        opts = dict(num_chains=1, progress_bar=False) | kwargs
        return MCMC(NUTS(model), num_warmup=num_warmup, num_samples=num_samples, **opts)

    def potential(self, model, args):
        info = inference.initialize_model(jax.random.key(0), model, model_args=args)
        return info.potential_fn, info.param_info.z


def _key(framework: Framework, seed: int):
    # NumPyro's examples use raw uint32 keys; Effax takes typed keys. Same seeds either way.
    return jax.random.PRNGKey(seed) if isinstance(framework, NumPyro) else jax.random.key(seed)


# --------------------------------------------------------------------------------------
# measurements
# --------------------------------------------------------------------------------------


class CompileClock:
    """Wall time that JAX spends tracing, lowering and compiling, from its monitoring events.

    The events' time spans are merged (tracing nests), so ``seconds(t0, t1)`` is the time
    inside ``[t0, t1]`` (``time.time()`` stamps) during which some compilation was running.
    """

    EVENTS = (
        "/jax/core/compile/jaxpr_trace_duration",
        "/jax/core/compile/jaxpr_to_mlir_module_duration",
        "/jax/core/compile/backend_compile_duration",
    )

    def __init__(self):
        self.spans: list[tuple[float, float]] = []
        self.backend_compiles: list[float] = []  # end stamps of XLA compilations
        # (event, program name, start, end) of every span, for a breakdown by program.
        self.named: list[tuple[str, str, float, float]] = []
        jax.monitoring.register_event_time_span_listener(self)

    def __call__(self, event, start, end, **kwargs):
        if event in self.EVENTS:
            self.spans.append((start, end))
            self.named.append((event.rsplit("/", 1)[-1], str(kwargs.get("fun_name")), start, end))
        if event == "/jax/core/compile/backend_compile_duration":
            self.backend_compiles.append(end)

    def breakdown(self, t0: float, t1: float, min_s: float = 0.05) -> list[str]:
        """``"<stage> <program>: <s>"`` for each span inside ``[t0, t1]`` of at least
        ``min_s`` (tracing spans nest, so they are not additive), and the shorter ones
        counted and summed per stage."""
        out, small = [], {}
        for stage, name, a, b in self.named:
            if a >= t0 and b <= t1:
                stage = stage.replace("_duration", "")
                if b - a >= min_s:
                    out.append(f"{stage} {name}: {b - a:.2f}")
                else:
                    n, t = small.get(stage, (0, 0.0))
                    small[stage] = (n + 1, t + b - a)
        out += [f"{n} shorter {stage}: {t:.2f}" for stage, (n, t) in small.items()]
        return out

    def programs(self, t0: float, t1: float) -> int:
        """XLA programs compiled inside ``[t0, t1]``."""
        return sum(t0 <= e <= t1 for e in self.backend_compiles)

    def seconds(self, t0: float, t1: float) -> float:
        spans = sorted((max(a, t0), min(b, t1)) for a, b in self.spans if b > t0 and a < t1)
        total, cur_a, cur_b = 0.0, None, None
        for a, b in spans:
            if cur_b is None or a > cur_b:
                if cur_b is not None:
                    total += cur_b - cur_a
                cur_a, cur_b = a, b
            else:
                cur_b = max(cur_b, b)
        if cur_b is not None:
            total += cur_b - cur_a
        return total


CLOCK = CompileClock()


def one_run(framework: Framework, mcmc, args, seed: int, params) -> dict[str, float]:
    """Warm-up then sampling with a fresh key; times, compile times, steps, min bulk ESS."""
    key = _key(framework, seed)
    t0 = time.time()
    mcmc.warmup(key, *args)
    jax.block_until_ready(mcmc.post_warmup_state)
    t1 = time.time()
    mcmc.run(key, *args, extra_fields=("num_steps",))
    samples = mcmc.get_samples(group_by_chain=True)
    jax.block_until_ready(samples)
    t2 = time.time()
    steps = int(np.sum(np.asarray(mcmc.get_extra_fields()["num_steps"], dtype=np.int64)))
    ess = min(float(np.min(ess_bulk(np.asarray(samples[p], dtype=np.float64)))) for p in params)
    warmup_c, sample_c = CLOCK.seconds(t0, t1), CLOCK.seconds(t1, t2)
    return {
        "warmup_s": t1 - t0,
        "sample_s": t2 - t1,
        "total_s": t2 - t0,
        "compile_in_run_s": warmup_c + sample_c,
        "programs_compiled": CLOCK.programs(t0, t2),
        "net_total_s": (t2 - t0) - (warmup_c + sample_c),
        "net_sample_s": (t2 - t1) - sample_c,
        "steps": steps,
        "ess": ess,
    }


def value_and_grad_timer(framework: Framework, model, args, n: int):
    """A function timing one call of a jitted loop of ``n`` ``value_and_grad`` calls.

    It returns seconds per ``value_and_grad``. The loop is compiled here, once.
    """
    potential, z = framework.potential(model, args)
    vg = jax.value_and_grad(potential)

    def body(_, carry):
        z, acc = carry
        v, g = vg(z)
        # A negligible move keeps every call data-dependent on the last (no hoisting).
        z = jax.tree.map(lambda a, b: a - 1e-9 * b, z, g)
        return z, acc + v

    loop = jax.jit(lambda z: jax.lax.fori_loop(0, n, body, (z, jnp.zeros((), jnp.float32))))
    jax.block_until_ready(loop(z))

    def time_once() -> float:
        t0 = time.perf_counter()
        jax.block_until_ready(loop(z))
        return (time.perf_counter() - t0) / n

    return time_once


def sampler_cost(framework: Framework, d: int, num_warmup, num_samples, timed_seeds, log):
    """The sampler's own time per leapfrog step at dimension ``d``: its NUTS time per step
    on a ``d``-dimensional standard normal, whose gradient costs almost nothing, less that
    gradient (median over the timed seeds, net of compilation).

    On a model whose gradient dominates, the per-step time over the gradient's cost is
    noisy on a shared machine (both swing by tens of percent from run to run); this
    estimates the same ratio as ``1 + own cost / value_and_grad`` from a cost measured
    over thousands of cheap steps.
    """
    model = np_std_normal if isinstance(framework, NumPyro) else fx_std_normal
    args = (jnp.zeros(d, jnp.float32),)
    mcmc = framework.mcmc(model, num_warmup, num_samples)
    one_run(framework, mcmc, args, 0, ("x",))
    runs = [one_run(framework, mcmc, args, s, ("x",)) for s in timed_seeds or [0]]
    per_step = statistics.median(r["net_sample_s"] / r["steps"] for r in runs)
    vg_timer = value_and_grad_timer(framework, model, args, 1000)
    vg = statistics.median(vg_timer() for _ in range(5))
    log(
        f"  {framework.name:8s} standard normal, d={d}: {per_step * 1e6:.2f} us per step, "
        f"value_and_grad {vg * 1e6:.2f} us"
    )
    return per_step - vg


def _flat_dim(model, args) -> int:
    """The number of unconstrained scalars of ``model`` (Effax's view; NumPyro's is the same)."""
    return sum(int(np.size(x)) for x in jax.tree.leaves(Effax().potential(model, args)[1]))


def bench_model(name, frameworks, num_warmup, num_samples, timed_seeds, repeats, vg_calls, log):
    np_model, fx_model, make_data, params = BENCHMARKS[name]
    args = tuple(make_data())
    setups = []
    for fw in frameworks:
        model = np_model if isinstance(fw, NumPyro) else fx_model
        mcmc = fw.mcmc(model, num_warmup, num_samples)
        first = one_run(fw, mcmc, args, 0, params)
        log(f"  {fw.name:8s} seed 0: {_fmt_run(first)}")
        # The gradient is timed right after each timed run, so that the per-step time and the
        # gradient's cost are medians taken under the same conditions.
        vg_timer = value_and_grad_timer(fw, model, args, vg_calls[name])
        setups.append(
            {
                "fw": fw,
                "mcmc": mcmc,
                "first": first,
                "vg_timer": vg_timer,
                "timed": [],
                "vg_times": [],
            }
        )
    # The timed runs alternate between the frameworks, so that a slow spell of this shared
    # machine falls on both rather than on whichever ran then.
    for s in timed_seeds:
        # The same key again repeats the same work: only the timing differs.
        for _ in range(repeats.get(name, 1)):
            for su in setups:
                # New JAX arrays (equal values) each time: JAX-array data are traced
                # arguments of Effax's programs, so new data of the same shapes must not
                # compile anything ("programs compiled again" below).
                fresh = tuple(jnp.array(a, copy=True) for a in args)
                r = one_run(su["fw"], su["mcmc"], fresh, s, params)
                su["vg_times"].append(su["vg_timer"]())
                log(f"  {su['fw'].name:8s} seed {s}: {_fmt_run(r)}")
                su["timed"].append(r)
    out = {}
    for su in setups:
        fw, first, timed = su["fw"], su["first"], su["timed"]
        vg_times = su["vg_times"] or [su["vg_timer"]() for _ in range(3)]  # --quick
        # With no timed seeds (--quick) the first run's net figures stand in for them.
        runs = timed or [first]
        med = lambda f: statistics.median(f(r) for r in runs)  # noqa: E731
        net_run_s = med(lambda r: r["net_total_s"])
        vg = statistics.median(vg_times)
        out[fw.name] = {
            "compile_s": first["compile_in_run_s"],
            "compile_diff_s": first["total_s"] - net_run_s,
            "run_s": med(lambda r: r["total_s"]) if timed else float("nan"),
            "recompile_s": med(lambda r: r["compile_in_run_s"]) if timed else float("nan"),
            "recompiled": max(r["programs_compiled"] for r in timed) if timed else float("nan"),
            "net_run_s": net_run_s,
            "steps": med(lambda r: r["steps"]),
            "per_step_s": med(lambda r: r["net_sample_s"] / r["steps"]),
            "per_step_best_s": min(r["net_sample_s"] / r["steps"] for r in runs),
            "min_ess": med(lambda r: r["ess"]),
            "ess_per_s": med(lambda r: r["ess"] / r["net_total_s"]),
            "first_result_s": first["total_s"],
            "first_result_est_s": first["compile_in_run_s"] + net_run_s,
            "vg_s": vg,
            "vg_best_s": min(vg_times),
        }
        log(f"  {fw.name:8s} value_and_grad {vg * 1e6:.1f} us")
    d = _flat_dim(fx_model, args)
    for su in setups:
        own = sampler_cost(su["fw"], d, num_warmup, num_samples, timed_seeds, log)
        out[su["fw"].name]["own_cost_s"] = own
    return out


def _fmt_run(r):
    return (
        f"warmup {r['warmup_s']:.2f}s sample {r['sample_s']:.2f}s (compiling "
        f"{r['compile_in_run_s']:.2f}s) steps {r['steps']} min ESS {r['ess']:.0f}"
    )


# --------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------


def _t(x: float) -> str:
    if x != x:
        return "—"
    if x < 0:  # a difference of two noisy times can come out negative
        return "−" + _t(-x)
    if x >= 100:
        return f"{x:.0f} s"
    if x >= 1:
        return f"{x:.2f} s"
    if x >= 1e-3:
        return f"{x * 1e3:.3g} ms"
    return f"{x * 1e6:.3g} µs"


ROWS = [
    ("compile time (JAX events, first run)", "compile_s", _t),
    ("first run − repeated net run", "compile_diff_s", _t),
    ("repeated run, as measured", "run_s", _t),
    ("of which compiling again", "recompile_s", _t),
    (
        "programs compiled again, most in a repeated run (new data)",
        "recompiled",
        lambda x: "—" if x != x else f"{x:.0f}",
    ),
    ("run time (warm-up + sampling, net)", "net_run_s", _t),
    ("leapfrog steps (sampling)", "steps", lambda x: f"{x:,.0f}"),
    ("time per leapfrog step", "per_step_s", _t),
    ("time per leapfrog step, fastest timed run", "per_step_best_s", _t),
    ("min bulk ESS", "min_ess", lambda x: f"{x:.0f}"),
    ("min bulk ESS / s", "ess_per_s", lambda x: f"{x:.3g}"),
    ("time to first result", "first_result_s", _t),
    ("compile + median net run", "first_result_est_s", _t),
    ("one value_and_grad", "vg_s", _t),
    ("one value_and_grad, fastest", "vg_best_s", _t),
    ("sampler's own cost per step (see below)", "own_cost_s", _t),
]


def report(results: dict, info: dict[str, str], settings: str) -> str:
    lines = ["# Effax vs NumPyro 0.22 — NUTS on CPU, float32, one chain", ""]
    lines += [f"- {k}: {v}" for k, v in info.items()]
    lines += [f"- settings: {settings}", ""]
    lines += [
        "| model | quantity | Effax | NumPyro | Effax / NumPyro |",
        "|---|---|---:|---:|---:|",
    ]
    for name, res in results.items():
        fx, nps = res.get("Effax"), res.get("NumPyro")
        for label, field, fmt in ROWS:
            a = fmt(fx[field]) if fx else "—"
            b = fmt(nps[field]) if nps else "—"
            ok = fx and nps and nps[field] and fx[field] == fx[field]
            ratio = f"{fx[field] / nps[field]:.2f}" if ok else "—"
            lines.append(f"| {name} | {label} | {a} | {b} | {ratio} |")
        for suffix, step, vg in (
            ("", "per_step_s", "vg_s"),
            (", fastest of each", "per_step_best_s", "vg_best_s"),
        ):
            for fw_name, r in res.items():
                lines.append(
                    f"| {name} | {fw_name} per step / value_and_grad{suffix} | | | "
                    f"{r[step] / r[vg]:.2f} |"
                )
        for fw_name, r in res.items():
            lines.append(
                f"| {name} | {fw_name} per step / value_and_grad, from the sampler's own "
                f"cost | | | {1 + r['own_cost_s'] / r['vg_s']:.2f} |"
            )
    lines += [
        "",
        "Compile time is the time JAX spent tracing, lowering and compiling during the first",
        'run (seed 0), from its `jax.monitoring` events. "first run − repeated net run" is the',
        "same estimated the other way, first-call time minus the median net time of a repeated",
        "run (`warmup()` + `run()` again on the same MCMC object, new key, same data); NUTS does",
        'a different amount of work for each key, so it is noisy where a run is long. "of',
        'which compiling again" is the compilation inside a repeated run (NumPyro 0.22 compiles',
        "its loop again on every call with `progress_bar=False`, fixed upstream in",
        "pyro-ppl/numpyro#2171); net run times exclude it. Per-step time is the sampling",
        "phase's net time over its leapfrog steps. ESS/s uses the net run time (warm-up +",
        'sampling). "time to first result" is the seed-0 run as measured: one run of a long',
        'job on a shared machine. "compile + median net run" estimates the same from the',
        'seed-0 compile time and the timed runs. "per step / value_and_grad" is the',
        "framework's NUTS time per leapfrog step over its own in-graph value_and_grad of the",
        "same potential, timed right after each timed run (both are medians). Other work on a",
        "shared machine only ever slows a run down, so the fastest timed run is also shown: it",
        "is the better estimate of the cost itself when the medians disagree between runs.",
        "\"sampler's own cost per step\" is the framework's NUTS time per leapfrog step on a",
        "standard normal with as many dimensions as the model, less that normal's",
        "value_and_grad: what the sampler adds to each gradient. Where the gradient dominates",
        "(logistic regression, HMM) the per-step time and the gradient both swing by tens of",
        'percent from run to run on a shared machine, so "per step / value_and_grad, from',
        "the sampler's own cost\" estimates the same ratio as 1 + own cost / value_and_grad.",
    ]
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 + 100 draws, seed 0 only")
    parser.add_argument("--only", nargs="*", choices=list(BENCHMARKS), default=None)
    parser.add_argument(
        "--out",
        default=None,
        help="where to write the table (default: benchmarks/RESULTS.md for a full run of "
        "every model and framework, nowhere otherwise)",
    )
    parser.add_argument(
        "--frameworks", nargs="*", choices=["Effax", "NumPyro"], default=["Effax", "NumPyro"]
    )
    args = parser.parse_args(argv)

    if args.quick:
        num_warmup = num_samples = 100
        timed_seeds = []
        repeats = {}
        vg_calls = {"eight_schools": 1000, "logistic_regression": 50, "hmm": 100}
    else:
        num_warmup = num_samples = 1000
        timed_seeds = [1, 2, 3]
        # Effax's eight-schools sampling phase lasts about 40 ms, so one timing of it is
        # mostly noise: each timed seed runs five times there and the medians take all.
        repeats = {"eight_schools": 5}
        vg_calls = {"eight_schools": 1000, "logistic_regression": 1000, "hmm": 1000}

    info = machine_info()
    for k, v in info.items():
        print(f"{k}: {v}")
    settings = (
        f"{num_warmup} warm-up + {num_samples} draws, 1 chain, NUTS defaults "
        f"(target_accept_prob 0.8, max_tree_depth 10, diagonal mass), timed seeds "
        f"{timed_seeds}{' (--quick)' if args.quick else ''}"
        + "".join(f", {n} run {k} times per seed" for n, k in repeats.items())
    )
    frameworks = [fw() for fw in (Effax, NumPyro) if fw.name in args.frameworks]
    results = {}
    for name in args.only or list(BENCHMARKS):
        print(f"{name}:", flush=True)
        results[name] = bench_model(
            name,
            frameworks,
            num_warmup,
            num_samples,
            timed_seeds,
            repeats,
            vg_calls,
            lambda s: print(s, flush=True),
        )
    info["load average at end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    text = report(results, info, settings)
    full = not args.quick and args.only is None and len(frameworks) == 2
    out = args.out or (str(ROOT / "benchmarks" / "RESULTS.md") if full else None)
    if out is not None:
        Path(out).write_text(text)
    print()
    print(text)


if __name__ == "__main__":
    main()
