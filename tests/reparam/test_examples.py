"""The reparameterisation examples run as a user runs them, at small sizes.

Marked slow: each compiles several samplers (about a minute together on two cores)."""

import runpy
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.slow
def test_funnel_runs_three_ways_and_reports_divergences(monkeypatch, capsys):
    argv = ["funnel.py", "--warmup", "100", "--samples", "100", "--svi-steps", "100"]
    monkeypatch.setattr(sys, "argv", argv + ["--flows", "1", "--hidden", "8"])
    results = runpy.run_path(str(EXAMPLES / "funnel.py"), run_name="not_main")["main"]()
    out = capsys.readouterr().out
    assert set(results) == {"centred", "LocScaleReparam", "NeuTra"}
    for label, r in results.items():
        assert f"{label}:" in out and "divergences" in out
        assert r["gradients"] > 0 and r["min_ess_bulk"] > 0
        assert isinstance(r["divergences"], int)


@pytest.mark.slow
def test_eight_schools_reparam_prints_both_summaries(monkeypatch, capsys):
    argv = ["eight_schools_reparam.py", "--chains", "1", "--warmup", "100", "--samples", "100"]
    monkeypatch.setattr(sys, "argv", argv)
    runpy.run_path(str(EXAMPLES / "eight_schools_reparam.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "=== centred:" in out and "=== LocScaleReparam:" in out
    assert "theta_decentered[7]" in out and "r_hat" in out
