"""Vectorised chains: Effax against NumPyro with many chains in one ``vmap`` (CPU, float32).

    python benchmarks/chains.py                       # eight schools, 1000 chains, 300 + 300
    python benchmarks/chains.py --chains 100 --draws 500 --model hmm

Each framework runs ``warmup()`` + ``run()`` with ``chain_method="vectorized"`` for seed 0
(which compiles) and again for seed 1; the second run's times are net of compilation (as in
``run.py``). "per chain-step" is the sampling phase's net time over the leapfrog steps of
all chains: under ``vmap`` every chain waits for the longest trajectory of each draw, in
both frameworks. ESS is the smallest bulk ESS over the latent scalars, all chains pooled.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

# This checkout's library, after the entries of PYTHONPATH: one that names another checkout
# (a worktree, say) keeps precedence, so a comparison runs the code it names.
sys.path.insert(
    1 + len([p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]),
    str(Path(__file__).resolve().parents[1]),
)

from benchmarks.run import BENCHMARKS, Effax, NumPyro, machine_info, one_run


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=list(BENCHMARKS), default="eight_schools")
    parser.add_argument("--chains", type=int, default=1000)
    parser.add_argument("--draws", type=int, default=300, help="warm-up and sampling each")
    args = parser.parse_args(argv)
    np_model, fx_model, make_data, params = BENCHMARKS[args.model]
    data = tuple(make_data())
    for k, v in machine_info().items():
        print(f"{k}: {v}")
    print(f"{args.model}, {args.chains} vectorised chains, {args.draws} + {args.draws} draws")
    for fw in (Effax(), NumPyro()):
        model = np_model if isinstance(fw, NumPyro) else fx_model
        mcmc = fw.mcmc(
            model, args.draws, args.draws, num_chains=args.chains, chain_method="vectorized"
        )
        first = one_run(fw, mcmc, data, 0, params)
        r = one_run(fw, mcmc, data, 1, params)
        print(
            f"{fw.name:8s} first run {first['total_s']:.1f} s (compiling "
            f"{first['compile_in_run_s']:.1f} s); second run net: warm-up + sampling "
            f"{r['net_total_s']:.2f} s, sampling {r['net_sample_s']:.2f} s, "
            f"{r['steps']:,} chain-steps, {r['net_sample_s'] / r['steps'] * 1e6:.2f} us per "
            f"chain-step, min bulk ESS {r['ess']:.0f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
