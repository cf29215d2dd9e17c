"""One process of the two-process test in ``test_multihost.py`` (not a test module).

    python _multihost_worker.py PROCESS_ID PORT OUT.npz

Starts JAX's distributed runtime on localhost with two host CPU devices per process, runs
eight NUTS chains with ``chain_method="parallel"`` (two per device, four devices in all)
and saves the draws every process gathered.
"""

import os
import sys

# Two devices per process; the test process's other XLA flags (its code generator) are kept,
# so that the draws compared are compiled alike.
_DEVICES = "--xla_force_host_platform_device_count"
os.environ["XLA_FLAGS"] = " ".join(
    [f for f in os.environ.get("XLA_FLAGS", "").split() if not f.startswith(_DEVICES)]
    + [f"{_DEVICES}=2"]
)

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_cpu_collectives_implementation", "gloo")


def main() -> None:
    process_id, port, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    jax.distributed.initialize(
        coordinator_address=f"localhost:{port}", num_processes=2, process_id=process_id
    )
    import numpy as np

    from tests.inference.test_multihost import run_chains

    assert jax.process_count() == 2 and jax.device_count() == 4
    draws, steps = run_chains()
    np.savez(out, draws=draws, steps=steps)
    jax.distributed.shutdown()


if __name__ == "__main__":
    main()
