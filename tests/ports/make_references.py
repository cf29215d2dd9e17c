"""Make NumPyro's reference summaries of the ports (``references/<name>.json``).

    python tests/ports/make_references.py [NAME ...] [--chains 4] [--warmup 1000]
        [--samples 5000] [--seed 0]

Each port's ``run`` is loaded with its NumPyro imports (NumPyro must be installed) and run
in float64 with long chains, one per CPU device. The summary stores each quantity's mean,
sd and Monte Carlo standard error, and the settings and versions it came from.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*")
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    os.environ["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={args.chains}"

    import jax
    import numpyro

    from tests.ports import _port

    numpyro.enable_x64()
    _port.REFERENCES.mkdir(exist_ok=True)
    for name in args.names or _port.ports():
        module = _port.load(name, "numpyro")
        draws = module.run(jax.random.PRNGKey(args.seed), args.warmup, args.samples, args.chains)
        summary = _port.summarise(draws, args.chains)
        summary["_settings"] = {
            "framework": f"numpyro {numpyro.__version__}, jax {jax.__version__}, float64",
            "chains": args.chains,
            "warmup": args.warmup,
            "samples": args.samples,
            "seed": args.seed,
        }
        path = _port.REFERENCES / f"{name}.json"
        path.write_text(json.dumps(summary, indent=1) + "\n")
        print(f"{name}: wrote {path}")


if __name__ == "__main__":
    main()
