"""Vectorised NUTS transitions alone: Effax's ``nuts_kernel`` against NumPyro's ``build_tree``.

    python benchmarks/chains_leaf.py                  # 1000 chains, 10 transitions, 5 repeats
    python benchmarks/chains_leaf.py --chains 100 --hlo

Eight schools (float32). Both frameworks run the same number of transitions of all chains
under one ``vmap``, from the same points, with the same per-chain step sizes and a unit
diagonal mass matrix; no adaptation, no driver. Each repeat runs the frameworks one after
the other, and the medians over the repeats are reported, of wall time and of this process's
CPU time (less sensitive to other jobs on a shared machine than wall time).

"vmapped leaves" is the sum over transitions of the largest ``num_steps`` over the chains:
under ``vmap`` every chain waits for the longest trajectory. NumPyro's tree building nests
a loop over leaves in a loop over doublings, so its loop runs at least that many times.
``--hlo`` prints the kernels of Effax's loop over leaves in the optimised HLO, and how many
of them copy the loop state.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")
# This checkout's library, after the entries of PYTHONPATH: one that names another checkout
# (a worktree, say) keeps precedence, so a comparison runs the code it names.
sys.path.insert(
    1 + len([p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]),
    str(Path(__file__).resolve().parents[1]),
)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax import lax  # noqa: E402
from numpyro.infer.hmc_util import (  # noqa: E402
    IntegratorState,
    build_tree,
    euclidean_kinetic_energy,
    velocity_verlet,
)

from benchmarks.models import BENCHMARKS  # noqa: E402
from benchmarks.run import Effax, NumPyro  # noqa: E402
from inference._integrator import flatten_potential  # noqa: E402
from inference._nuts import nuts_init, nuts_kernel  # noqa: E402


def programs(chains: int, transitions: int, step_size: float):
    np_model, fx_model, make_data, _ = BENCHMARKS["eight_schools"]
    data = tuple(make_data())
    z_fx, fx_flat, _ = flatten_potential(*Effax().potential(fx_model, data))
    _, np_flat, _ = flatten_potential(*NumPyro().potential(np_model, data))
    d = z_fx.shape[0]
    eps = step_size * (1 + 0.1 * jax.random.uniform(jax.random.key(7), (chains,)))
    imm = jnp.ones((chains, d), jnp.float32)
    z0 = 0.5 * jax.random.normal(jax.random.key(5), (chains, d), jnp.float32)

    @jax.jit
    def effax(z, key):
        def body(state, k):
            keys = jax.random.split(k, chains)
            step = lambda k, s, e, m: nuts_kernel(k, s, fx_flat, e, m, batched=True)  # noqa: E731
            state, info = jax.vmap(step)(keys, state, eps, imm)
            return state, info.num_steps

        state = jax.vmap(lambda z: nuts_init(z, fx_flat))(z)
        return lax.scan(body, state, jax.random.split(key, transitions))

    vv_init, vv_update = velocity_verlet(np_flat, euclidean_kinetic_energy)

    @jax.jit
    def numpyro(z, key):
        def one(k, s, e, m):
            k_r, k_tree = jax.random.split(k)
            r = jax.random.normal(k_r, (d,), jnp.float32)
            s = IntegratorState(s.z, r, s.potential_energy, s.z_grad)
            tree = build_tree(vv_update, euclidean_kinetic_energy, s, m, e, k_tree)
            new = IntegratorState(tree.z_proposal, r, tree.z_proposal_pe, tree.z_proposal_grad)
            return new, tree.num_proposals

        def body(state, k):
            return jax.vmap(one)(jax.random.split(k, chains), state, eps, imm)

        state = jax.vmap(lambda z: vv_init(z, jnp.zeros_like(z)))(z)
        return lax.scan(body, state, jax.random.split(key, transitions))

    return z0, {"Effax": (effax, jax.random.key(1)), "NumPyro": (numpyro, jax.random.PRNGKey(1))}


def leaf_loop_kernels(fn, *args) -> list[str]:
    """The kernels of the while loop whose carry holds Effax's batched NUTS state."""
    text = fn.lower(*args).compile().as_text()
    loop = next(
        line
        for line in text.splitlines()
        if " while(" in line and re.search(r"\(f32\[\d+,\d+,16\]", line.split("=", 1)[1])
    )
    body = re.search(r"body=%([\w.\-]+)", loop).group(1)
    block = re.search(rf"\n%?{re.escape(body)} \(.*?\n}}", text, re.S).group(0)
    return re.findall(r"%([\w.\-]+) = (\S+) (fusion|copy|dot|scatter|custom-call)\(", block)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chains", type=int, default=1000)
    parser.add_argument("--transitions", type=int, default=10)
    parser.add_argument("--step-size", type=float, default=0.4)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--hlo", action="store_true")
    args = parser.parse_args(argv)
    z0, progs = programs(args.chains, args.transitions, args.step_size)
    print(
        f"eight schools, {args.chains} chains, {args.transitions} transitions, load average "
        f"at start {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    if args.hlo:
        kernels = leaf_loop_kernels(progs["Effax"][0], z0, progs["Effax"][1])
        for name, shape, kind in kernels:
            print(f"  {kind:8s} {shape:32s} {name}")
        copies = sum(kind == "copy" for _, _, kind in kernels)
        print(f"Effax's loop over leaves: {len(kernels)} kernels, {copies} copies")
    leaves = {}
    for name, (fn, key) in progs.items():
        steps = np.asarray(jax.block_until_ready(fn(z0, key))[1])
        leaves[name] = (steps.max(axis=1).sum(), steps.mean(axis=1).sum())
    wall = {name: [] for name in progs}
    cpu = {name: [] for name in progs}
    for _ in range(args.repeats):
        for name, (fn, key) in progs.items():
            t0, c0 = time.perf_counter(), time.process_time()
            jax.block_until_ready(fn(z0, key))
            wall[name].append(time.perf_counter() - t0)
            cpu[name].append(time.process_time() - c0)
    for name in progs:
        w, c = statistics.median(wall[name]), statistics.median(cpu[name])
        most, mean = leaves[name]
        print(
            f"{name:8s} wall {w * 1e3:.0f} ms, CPU {c * 1e3:.0f} ms; vmapped leaves {most}, "
            f"mean leaves per chain {mean:.0f}; CPU per vmapped leaf {c / most * 1e6:.0f} us, "
            f"per chain-step {c / mean / args.chains * 1e6:.2f} us"
        )
    print(f"load average at end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
