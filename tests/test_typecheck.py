"""The type checker is clean on ``effects``, ``handlers`` and ``inference``.

mypy runs with the ``[tool.mypy]`` configuration in ``pyproject.toml`` (which names the
packages to check), from the repository root. Its cache goes to a temporary directory, so
the test leaves nothing in the checkout; a cold run takes about 20 s.

mypy runs in a child process, never through ``mypy.api`` in the test worker: run in
process, it raises the recursion limit and loosens the garbage collector's thresholds for
the rest of the process (``mypy/main.py``, ``mypy/build.py``), and workers that had run it
crashed later while XLA compiled other tests' programs.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mypy")

ROOT = Path(__file__).resolve().parent.parent


def test_mypy_is_clean(tmp_path):
    config = os.fspath(ROOT / "pyproject.toml")
    cache = os.fspath(tmp_path / "mypy_cache")
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", config, "--cache-dir", cache],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, f"mypy reported problems:\n{done.stdout}{done.stderr}"
