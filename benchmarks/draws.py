"""NUTS draws on eight schools and the logistic regression, saved for a bitwise comparison
between two versions of Effax, with the compile time of each run.

Run it once per version, choosing the version with ``PYTHONPATH`` (a checkout or a
``git archive`` of the commit), then compare the files:

    PYTHONPATH=/path/to/old python benchmarks/draws.py old.npz
    PYTHONPATH=. python benchmarks/draws.py new.npz
    python benchmarks/draws.py --compare old.npz new.npz

Float32, CPU; eight schools: two vectorised chains, 300 + 300 draws; logistic regression
(N = 2000, D = 10): one chain, 200 + 200 draws. The compile time is the time JAX spends
tracing, lowering and compiling during the run (``run.CompileClock``), the first run of
the process; on a shared machine compare several alternating runs.
"""

import sys
import time

import jax
import numpy as np


def _compare(a_path: str, b_path: str) -> int:
    a, b = np.load(a_path), np.load(b_path)
    same = {k: k in b and np.array_equal(a[k], b[k]) for k in a}
    print({k: ("identical" if v else "DIFFERENT") for k, v in same.items()})
    return 0 if all(same.values()) and set(a) == set(b) else 1


def main(out: str) -> None:
    import inference
    from benchmarks.models import (
        eight_schools_data,
        fx_eight_schools,
        fx_logistic,
        logistic_data,
    )
    from benchmarks.run import CLOCK
    from inference import MCMC, NUTS

    print("inference from", inference.__file__)

    draws, line = {}, []
    d = eight_schools_data()
    ld = logistic_data(n=2000, d=10)
    runs = (
        (
            "es",
            fx_eight_schools,
            dict(num_warmup=300, num_samples=300, num_chains=2, chain_method="vectorized"),
            (d.sigma,),
            {"y": d.y},
            0,
        ),
        ("lr", fx_logistic, dict(num_warmup=200, num_samples=200), (ld.X,), {"y": ld.y}, 1),
    )
    for tag, model, settings, args, kwargs, seed in runs:
        mcmc = MCMC(NUTS(model), progress_bar=False, **settings)
        t0 = time.time()
        mcmc.run(jax.random.key(seed), *args, **kwargs)
        samples = jax.block_until_ready(mcmc.get_samples(group_by_chain=True))
        t1 = time.time()
        draws.update({f"{tag}_{k}": np.asarray(v) for k, v in samples.items()})
        line.append(f"{tag}: compile {CLOCK.seconds(t0, t1):.2f} s, total {t1 - t0:.2f} s")
    np.savez(out, **draws)
    print("; ".join(line))


if __name__ == "__main__":
    if sys.argv[1] == "--compare":
        sys.exit(_compare(sys.argv[2], sys.argv[3]))
    main(sys.argv[1])
