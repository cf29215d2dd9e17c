"""Process settings that NumPyro scripts set at the top, under NumPyro's names.

A script ported with ``import effects as numpyro`` keeps its ``numpyro.set_platform("cpu")``,
``numpyro.set_host_device_count(4)``, ``numpyro.enable_x64()`` and
``numpyro.__version__`` lines. Each sets JAX's own configuration (nothing is kept here).
"""

from __future__ import annotations

import os
import re

import jax


def set_platform(platform: str | None = None) -> None:
    """Run JAX on ``platform`` (``"cpu"``, ``"gpu"``, ``"tpu"``; default ``"cpu"``).

    Call it before any JAX computation, as with ``jax.config.update("jax_platforms", ...)``.
    """
    jax.config.update("jax_platforms", platform or "cpu")


def set_host_device_count(n: int) -> None:
    """Expose ``n`` CPU devices (for ``chain_method="parallel"`` on a CPU).

    It sets ``--xla_force_host_platform_device_count`` in ``XLA_FLAGS``, which XLA reads
    when JAX first starts its CPU backend: call it at the top of the script, before any
    JAX computation.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_host_device_count: n must be a positive int, got {n!r}.")
    flags = re.sub(
        r"--xla_force_host_platform_device_count=\S+", "", os.environ.get("XLA_FLAGS", "")
    )
    os.environ["XLA_FLAGS"] = f"{flags.strip()} --xla_force_host_platform_device_count={n}".strip()


def enable_x64(use_x64: bool = True) -> None:
    """Use 64-bit floats and ints by default (``jax_enable_x64``)."""
    jax.config.update("jax_enable_x64", bool(use_x64))
