"""NeuTra on Neal's funnel: Effax against NumPyro 0.22, side by side in one process.

    python benchmarks/neutra_funnel.py           # 3 seeds, writes benchmarks/RESULTS_NEUTRA.md
    python benchmarks/neutra_funnel.py --quick   # 1 seed, fewer steps, prints only

The funnel is ``y ~ N(0, 3)``, ``x_i ~ N(0, exp(y / 2))`` for nine ``x_i`` (NumPyro's
``examples/funnel.py``). Both frameworks train the same guide, ``AutoIAFNormal`` with the
same number of flows and hidden widths, by SVI with ``Trace_ELBO`` and Adam with the same
step size and the same number of steps; then NUTS (defaults, one chain) runs on the model
reparameterised by ``NeuTraReparam`` (in the flow's base space). Centred NUTS and NUTS
after ``LocScaleReparam(0)`` on ``x`` (which removes the funnel exactly) run on the same
funnel in both frameworks for comparison.

The figure of merit is the smallest bulk ESS over ``y`` and the nine ``x_i`` per gradient
evaluation (the sum of ``num_steps`` over the sampling phase), with the divergences of the
sampling phase. float32, CPU, no progress bars.
"""

from __future__ import annotations

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

# This checkout's library, after the entries of PYTHONPATH: one that names another checkout
# (a worktree, say) keeps precedence, so a comparison runs the code it names.
sys.path.insert(
    1 + len([p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]),
    str(Path(__file__).resolve().parents[1]),
)

from inference import ess_bulk  # noqa: E402

DIM = 10


def _metrics(samples: dict, extra: dict) -> dict:
    y = np.asarray(samples["y"])[None]
    x = np.asarray(samples["x"])[None]
    ess = min(float(ess_bulk(y)), float(np.min(ess_bulk(x))))
    grads = int(np.asarray(extra["num_steps"]).sum())
    return {
        "divergences": int(np.asarray(extra["diverging"]).sum()),
        "min_ess_bulk": ess,
        "gradients": grads,
        "ess_per_gradient": ess / grads,
        "y_mean": float(y.mean()),
        "y_sd": float(y.std()),
    }


def effax_runs(seed: int, a) -> dict:
    import dists as dist
    import effects as numpyro
    import handlers
    from inference import MCMC, NUTS, SVI, AutoIAFNormal, Trace_ELBO, optim
    from inference.reparam import LocScaleReparam, NeuTraReparam

    def model():
        y = numpyro.sample("y", dist.Normal(0.0, 3.0))
        numpyro.sample("x", dist.Normal(jnp.zeros(DIM - 1), jnp.exp(y / 2)))

    def nuts(m, key):
        mcmc = MCMC(NUTS(m), num_warmup=a.warmup, num_samples=a.samples, progress_bar=False)
        mcmc.run(key, extra_fields=("num_steps", "diverging"))
        return mcmc.get_samples(), mcmc.get_extra_fields()

    k_c, k_svi, k_n, k_l = jax.random.split(jax.random.key(seed), 4)
    out = {"centred": _metrics(*nuts(model, k_c))}
    locscale = handlers.reparam(model, config={"x": LocScaleReparam(0)})
    out["LocScaleReparam"] = _metrics(*nuts(locscale, k_l))
    guide = AutoIAFNormal(model, num_flows=a.flows, hidden_dims=[a.hidden] * 2)
    t = time.perf_counter()
    res = SVI(model, guide, optim.Adam(a.lr), Trace_ELBO()).run(
        k_svi, a.svi_steps, progress_bar=False
    )
    svi_time = time.perf_counter() - t
    neutra = NeuTraReparam(guide, res.params)
    out["NeuTra"] = _metrics(*nuts(neutra.reparam(model), k_n))
    out["NeuTra"]["final_loss"] = float(np.mean(np.asarray(res.losses)[-a.svi_steps // 10 :]))
    out["NeuTra"]["svi_seconds"] = svi_time
    return out


def numpyro_runs(seed: int, a) -> dict:
    import numpyro
    import numpyro.distributions as dist
    from numpyro import handlers, optim
    from numpyro.infer import MCMC, NUTS, SVI, Trace_ELBO
    from numpyro.infer.autoguide import AutoIAFNormal
    from numpyro.infer.reparam import LocScaleReparam, NeuTraReparam

    def model():
        y = numpyro.sample("y", dist.Normal(0.0, 3.0))
        numpyro.sample("x", dist.Normal(jnp.zeros(DIM - 1), jnp.exp(y / 2)))

    def nuts(m, key):
        mcmc = MCMC(NUTS(m), num_warmup=a.warmup, num_samples=a.samples, progress_bar=False)
        mcmc.run(key, extra_fields=("num_steps", "diverging"))
        return mcmc.get_samples(), mcmc.get_extra_fields()

    k_c, k_svi, k_n, k_l = jax.random.split(jax.random.PRNGKey(seed), 4)
    out = {"centred": _metrics(*nuts(model, k_c))}
    locscale = handlers.reparam(model, config={"x": LocScaleReparam(0)})
    out["LocScaleReparam"] = _metrics(*nuts(locscale, k_l))
    guide = AutoIAFNormal(model, num_flows=a.flows, hidden_dims=[a.hidden] * 2)
    t = time.perf_counter()
    res = SVI(model, guide, optim.Adam(a.lr), Trace_ELBO()).run(
        k_svi, a.svi_steps, progress_bar=False
    )
    svi_time = time.perf_counter() - t
    neutra = NeuTraReparam(guide, res.params)
    samples, extra = nuts(neutra.reparam(model), k_n)
    out["NeuTra"] = _metrics(samples, extra)
    out["NeuTra"]["final_loss"] = float(np.mean(np.asarray(res.losses)[-a.svi_steps // 10 :]))
    out["NeuTra"]["svi_seconds"] = svi_time
    return out


def _row(framework: str, seed: int, how: str, m: dict) -> str:
    loss = f"{m['final_loss']:.3f}" if "final_loss" in m else ""
    return (
        f"| {framework} | {seed} | {how} | {m['divergences']} | {m['min_ess_bulk']:.0f} | "
        f"{m['gradients']} | {m['ess_per_gradient']:.2e} | {m['y_mean']:+.2f} | "
        f"{m['y_sd']:.2f} | {loss} |"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1000)
    p.add_argument("--samples", type=int, default=2000)
    p.add_argument("--svi-steps", type=int, default=5000)
    p.add_argument("--flows", type=int, default=2)
    p.add_argument("--hidden", type=int, default=20)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--out", type=Path, default=None)
    a = p.parse_args()
    if a.quick:
        a.seeds, a.warmup, a.samples, a.svi_steps = 1, 300, 500, 1000
    header = (
        f"Settings: AutoIAFNormal(num_flows={a.flows}, hidden_dims=[{a.hidden}, {a.hidden}]), "
        f"Adam({a.lr}), {a.svi_steps} SVI steps; NUTS {a.warmup} + {a.samples}, one chain, "
        "float32, CPU.\n\n"
        "| framework | seed | sampler | divergences | min bulk ESS | gradients | "
        "ESS / gradient | y mean | y sd | final loss |\n|---|---|---|---|---|---|---|---|---|---|"
    )
    rows = []
    summary: dict = {}
    for seed in range(a.seeds):
        for name, fn in (("Effax", effax_runs), ("NumPyro", numpyro_runs)):
            res = fn(seed, a)
            for how, m in res.items():
                rows.append(_row(name, seed, how, m))
                summary.setdefault((name, how), []).append(m)
                print(rows[-1], flush=True)
    lines = [header] + rows + ["", "Medians over seeds:", ""]
    lines.append("| framework | sampler | divergences (total) | median ESS / gradient |")
    lines.append("|---|---|---|---|")
    for (name, how), ms in summary.items():
        med = float(np.median([m["ess_per_gradient"] for m in ms]))
        div = sum(m["divergences"] for m in ms)
        lines.append(f"| {name} | {how} | {div} | {med:.2e} |")
    text = "\n".join(lines) + "\n"
    print(text)
    out = a.out or (None if a.quick else Path(__file__).with_name("RESULTS_NEUTRA.md"))
    if out is not None:
        title = "# NeuTra on Neal's funnel: Effax vs NumPyro 0.22\n\n"
        title += "Made by `python benchmarks/neutra_funnel.py`; see its docstring.\n\n"
        out.write_text(title + text)
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
