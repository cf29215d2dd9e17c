"""Test configuration shared by the whole suite.

* Two host CPU devices, so that pmap/shard_map tests have somewhere to go. This must be
  set before JAX initialises its backends.
* XLA:CPU compiles fused loops with its classic emitters (``xla_cpu_use_fusion_emitters``
  off), not the newer MLIR-based ones that are its default. Most of the suite's time is
  XLA compiling each test's own programs, and the classic emitters compile them in about
  half the time: measured side by side on the same machine, the port tests took 18% less
  CPU time and the kernel tests and standard laws 22% less. Only the machine code of the
  fused loops differs, not the programs (the same HLO) or their semantics; floating-point
  results may differ in their last bits, which a long chain can amplify (over 100 NUTS
  iterations, by up to a relative 1e-5). So a test that compares draws bitwise between
  processes (``tests/inference/test_multihost.py``) gives its subprocesses these flags.
* float64 everywhere: exact-math tests (log densities, enumeration) compare with SciPy.
  ``tests/float32/`` runs its tests with 64-bit types off, as users mostly run.
* Strict dtype promotion and rank-promotion errors (STYLE.md item 8): the library never
  relies on JAX mixing dtypes or padding ranks implicitly. Users' own code (the ported
  NumPyro models, user-written distributions) opts back into JAX's defaults where it
  runs, since that is how its authors wrote it.
* Public functions of the library are checked at run time with beartype through the
  jaxtyping import hook, installed before any library module is imported.
* Compiled programs are dropped from memory after each test module
  (``jax.clear_caches``). Each module compiles its own models, and a worker that kept
  every program of the suite grew past 10 GiB, so two workers could exhaust a 24 GiB CI
  machine and abort in XLA.
* They are kept on disk instead, for this run only: JAX's persistent compilation cache, in
  a temporary directory that the xdist workers share and that the run removes at its end.
  Its key is the program's text, not the Python function that traced it, so the many tests
  that build the same program from their own closures (eight schools' NUTS loop, the laws'
  generated models, eager operations after each module's ``clear_caches``) compile it once
  between them. Nothing persists between runs.
* Hypothesis profiles: ``quick`` (default, for CI) and ``thorough``
  (``EFFAX_HYPOTHESIS_PROFILE=thorough``).
"""

import gc
import os
import shutil
import tempfile

os.environ.setdefault(
    "XLA_FLAGS", "--xla_force_host_platform_device_count=2 --xla_cpu_use_fusion_emitters=false"
)

from jaxtyping import install_import_hook  # noqa: E402

_hook = install_import_hook(
    ["effects", "handlers", "dists", "inference", "proofs"], "beartype.beartype"
)

import jax  # noqa: E402
import pytest  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_dtype_promotion", "strict")
jax.config.update("jax_numpy_rank_promotion", "raise")

# The controller (or a run without xdist) makes the directory; the workers it starts
# inherit the variable and share it.
_CACHE_VAR = "EFFAX_TEST_COMPILATION_CACHE"
_OWNS_CACHE = _CACHE_VAR not in os.environ
if _OWNS_CACHE:
    os.environ[_CACHE_VAR] = tempfile.mkdtemp(prefix="effax-test-xla-")
jax.config.update("jax_compilation_cache_dir", os.environ[_CACHE_VAR])
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def pytest_unconfigure(config):
    if _OWNS_CACHE:
        shutil.rmtree(os.environ[_CACHE_VAR], ignore_errors=True)


settings.register_profile(
    "quick",
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,
)
settings.register_profile(
    "thorough",
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("EFFAX_HYPOTHESIS_PROFILE", "quick"))


@pytest.fixture
def key():
    """A fixed PRNG key for tests that need one."""
    return jax.random.key(0)


@pytest.fixture(autouse=True, scope="module")
def _free_compiled_programs():
    """Drop every compiled program and trace cache when a test module ends."""
    yield
    jax.clear_caches()
    gc.collect()
