"""The SVI examples run as a user runs them, at small sizes."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.slow
def test_vae_prints_the_elbo_and_saves_reconstructions(tmp_path, monkeypatch, capsys):
    pytest.importorskip("matplotlib")
    pytest.importorskip("sklearn")
    monkeypatch.setattr(sys, "argv", ["vae.py", "--short", "--out", str(tmp_path)])
    runpy.run_path(str(EXAMPLES / "vae.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert out.count("ELBO per digit") == 10
    png = tmp_path / "vae_reconstructions.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size > 5_000
    assert str(png.resolve()) in out


@pytest.mark.slow
def test_svi_logistic_prints_both_posteriors(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["svi_logistic.py", "--short", "--n", "200"])
    runpy.run_path(str(EXAMPLES / "svi_logistic.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "SVI mean" in out and "NUTS mean" in out and "w[4]" in out
