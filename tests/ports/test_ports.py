"""NumPyro's examples, ported by changing only their imports, against NumPyro's posteriors.

Every port in ``models/`` is loaded with its import lines mapped to Effax (``_port.py``)
and run at small sizes; its quantities are compared with NumPyro's long-run summary in
``references/`` (means and sds within a family-wise Monte Carlo error bound).
Ports with an independent oracle check against it as well; those whose oracle check uses
the same draws make the NumPyro check in their own ``test_<name>.py``, in the next test,
where xdist's load scheduling, which sends consecutive tests to a worker together, almost
always runs the two on one worker, so that the port samples once.
"""

from __future__ import annotations

import jax
import pytest

from . import _port


def test_every_port_has_a_reference():
    missing = [name for name in _port.ports() if _port.reference(name) is None]
    assert not missing, f"run make_references.py for {missing}"


def test_only_import_lines_are_rewritten():
    for name in _port.ports():
        source = (_port.MODELS / f"{name}.py").read_text().splitlines()
        mapped = _port.effax_source("\n".join(source)).splitlines()
        assert len(mapped) == len(source), name
        changed = [a for a, b in zip(source, mapped) if a != b]
        assert changed and all(_port.is_numpyro_import(a) for a in changed), name
        assert not any("numpyro" in b and "as numpyro" not in b for b in mapped if b in changed)
    with pytest.raises(ValueError, match="no Effax spelling"):
        _port.effax_source("from numpyro.contrib.funsor import log_density\n")


@pytest.mark.parametrize(
    "name", [name for name in _port.ports() if not _port.checked_beside_its_oracle(name)]
)
def test_port_matches_numpyro(name):
    # The ports with an oracle check of the same draws make this check in their own
    # test_<name>.py, next to it.
    _port.assert_matches_numpyro(name)


def test_eight_schools_matches_stan_too():
    # An oracle independent of NumPyro: posteriordb's Stan reference of the same model.
    from tests.posteriordb.models import load_json, posteriordb_dir, stan_index

    if posteriordb_dir() is None:
        pytest.skip("shared/posteriordb not found")
    params = load_json("eight_schools-eight_schools_noncentered", "reference")["params"]
    reference: dict = {}
    for stan_name, stats in params.items():
        name, idx = stan_index(stan_name)
        if name in ("mu", "tau", "theta"):
            entry = reference.setdefault(name, {"mean": {}, "sd": {}, "mcse": {}, "mcse_sd": {}})
            for ours, theirs in (("mean", "mean"), ("sd", "sd"), ("mcse", "mcse_mean")):
                entry[ours][idx] = stats[theirs]
            # Stan's summary has no MCSE of the sd; sd / sqrt(2 ess) stands for it (a
            # Gaussian's), small beside ours at 10,000 draws.
            entry["mcse_sd"][idx] = stats["sd"] / (2 * stats["ess_bulk"]) ** 0.5
    for entry in reference.values():
        for k, by_index in entry.items():
            keys = sorted(by_index)
            entry[k] = [by_index[i] for i in keys] if keys != [()] else by_index[()]
    draws = _port.load("eight_schools").run(jax.random.key(1), 500, 2000, 1)
    _port.assert_matches(draws, reference)
