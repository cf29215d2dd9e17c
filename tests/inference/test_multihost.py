"""Chains over several processes (``jax.distributed``): two processes on localhost, each
with two host CPU devices, give the same draws as one process running all the chains."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import dists as D
from effects import plate, sample
from inference import MCMC, NUTS

ROOT = Path(__file__).resolve().parents[2]
Y = np.array([0.3, -0.5, 1.2, 0.8, 0.1])


def model(y):
    mu = sample("mu", D.Normal(0.0, 10.0))
    tau = sample("tau", D.HalfNormal(2.0))
    with plate("N", y.shape[0]):
        sample("y", D.Normal(mu, tau), obs=y)


def run_chains() -> tuple[np.ndarray, np.ndarray]:
    """Eight NUTS chains, sharded over every device of every process."""
    mcmc = MCMC(
        NUTS(model),
        num_warmup=60,
        num_samples=40,
        num_chains=8,
        chain_method="parallel",
        progress_bar=False,
    )
    mcmc.run(jax.random.key(7), jnp.asarray(Y))
    draws = np.asarray(mcmc.get_samples(group_by_chain=True)["mu"])
    steps = np.asarray(mcmc.get_extra_fields(group_by_chain=True)["num_steps"])
    return draws, steps


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def test_two_processes_give_the_draws_of_one(tmp_path):
    port = str(_free_port())
    env = dict(os.environ)  # the worker sets its own device count
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    worker = str(Path(__file__).with_name("_multihost_worker.py"))
    outs = [tmp_path / f"process{i}.npz" for i in range(2)]
    procs = [
        subprocess.Popen(
            [sys.executable, worker, str(i), port, str(outs[i])],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(2)
    ]
    logs = []
    for p in procs:
        try:
            logs.append(p.communicate(timeout=400)[0])
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            raise
    for p, log in zip(procs, logs):
        assert p.returncode == 0, log[-3000:]

    # This process: 2 devices, so 4 chains per device where the workers had 2.
    draws, steps = run_chains()
    for out in outs:
        got = np.load(out)
        assert got["draws"].shape == (8, 40)  # every process gathered all the chains
        np.testing.assert_array_equal(got["steps"], steps)
        np.testing.assert_allclose(got["draws"], draws, rtol=1e-10, atol=1e-12)
