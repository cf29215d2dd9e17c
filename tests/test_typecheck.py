"""The type checker is clean on ``effects``, ``handlers`` and ``inference``.

mypy runs with the ``[tool.mypy]`` configuration in ``pyproject.toml`` (which names the
packages to check), from the repository root. Its cache goes to a temporary directory, so
the test leaves nothing in the checkout; a cold run takes about 20 s.
"""

import os
from pathlib import Path

import pytest

api = pytest.importorskip("mypy.api")

ROOT = Path(__file__).resolve().parent.parent


def test_mypy_is_clean(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    config = os.fspath(ROOT / "pyproject.toml")
    stdout, stderr, status = api.run(
        ["--config-file", config, "--cache-dir", os.fspath(tmp_path / "mypy_cache")]
    )
    assert status == 0, f"mypy reported problems:\n{stdout}{stderr}"
