"""The examples run as a user runs them, at small sizes."""

import runpy
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_eight_schools_prints_its_summary_and_writes_the_plots(tmp_path, monkeypatch, capsys):
    pytest.importorskip("matplotlib")
    argv = ["eight_schools.py", "--chains", "2", "--warmup", "100", "--samples", "100"]
    monkeypatch.setattr(sys, "argv", argv + ["--out", str(tmp_path)])
    runpy.run_path(str(EXAMPLES / "eight_schools.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "mean" in out and "r_hat" in out and "theta[7]" in out
    for name in ("eight_schools_trace.png", "eight_schools_forest.png"):
        png = tmp_path / name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert png.stat().st_size > 10_000  # a drawn figure, not an empty canvas
        assert str(png.resolve()) in out
