"""Load a ported NumPyro example with its imports mapped to Effax, and check its draws.

A port is a NumPyro script kept as its users wrote it (``tests/ports/models/*.py``). Only
its import lines differ between the frameworks, so the harness keeps one copy, in NumPyro's
spelling, and rewrites the import lines by :data:`IMPORTS` to load it on Effax. The rewrite
touches nothing but lines that start with ``import`` or ``from`` and name ``numpyro``, and
refuses an import it has no mapping for, so a port cannot lean on a hidden edit.

Each port defines ``run(rng_key, num_warmup, num_samples, num_chains)`` in NumPyro's
spelling, returning a dict of the quantities to compare, each shaped ``(draws, ...)``
(chains merged), and ``TEST_SIZES = (num_warmup, num_samples)`` for the test's one
chain. ``make_references.py`` runs it on NumPyro with long chains and stores each
quantity's mean, sd and Monte Carlo standard errors in ``references/<name>.json``; the tests
run it on Effax at small sizes and compare (:func:`assert_matches`).
"""

from __future__ import annotations

import functools
import json
import re
import types
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import ndtri

HERE = Path(__file__).parent
MODELS = HERE / "models"
REFERENCES = HERE / "references"

# NumPyro import line -> Effax import line. Exact lines, so a new spelling must be added
# here (and to README.md) on purpose.
IMPORTS = {
    "import numpyro": "import effects as numpyro",
    "import numpyro.distributions as dist": "import dists as dist",
    "from numpyro import distributions as dist": "import dists as dist",
    "from numpyro import handlers": "import handlers",
    "from numpyro import deterministic, plate, sample": (
        "from effects import deterministic, plate, sample"
    ),
    "from numpyro.distributions import constraints": "from dists import constraints",
    "from numpyro.contrib.control_flow import scan": "from effects import scan",
    "from numpyro.contrib.control_flow import cond, scan": "from effects import cond, scan",
    "from numpyro import optim": "from inference import optim",
    "import numpyro.optim as optim": "from inference import optim",
}
# Prefix rules for ``from X import names`` lines.
FROM_MODULES = {
    "numpyro.infer": "inference",
    "numpyro.infer.util": "inference",
    "numpyro.infer.hmc": "inference",
    "numpyro.infer.initialization": "inference",
    "numpyro.infer.autoguide": "inference.autoguide",
    "numpyro.infer.reparam": "inference.reparam",
    "numpyro.infer.svi": "inference",
    "numpyro.infer.elbo": "inference",
    "numpyro.optim": "inference.optim",
    "numpyro.diagnostics": "inference",
    "numpyro.util": "inference",
    "numpyro.distributions": "dists",
    "numpyro.distributions.util": "dists.util",
    "numpyro.distributions.transforms": "dists.transforms",
    "numpyro.handlers": "handlers",
}
# `from numpyro.util import enable_x64` and friends live in effects; the enumeration
# names that NumPyro keeps in `numpyro.contrib.funsor` live in handlers and inference.
FROM_NAMES = {
    ("numpyro.util", "enable_x64"): "effects",
    ("numpyro.contrib.funsor", "config_enumerate"): "handlers",
    ("numpyro.contrib.funsor", "enum"): "handlers",
    ("numpyro.contrib.funsor", "markov"): "handlers",
    ("numpyro.contrib.funsor", "infer_discrete"): "inference",
}


def effax_line(line: str) -> str:
    """The Effax spelling of one NumPyro import line."""
    stripped = line.strip()
    indent = line[: len(line) - len(line.lstrip())]
    if stripped in IMPORTS:
        return indent + IMPORTS[stripped]
    m = re.fullmatch(r"from (numpyro[\w.]*) import (.+)", stripped)
    names = [n.strip() for n in m.group(2).strip("()").split(",") if n.strip()] if m else []
    modules = [
        FROM_NAMES.get((m.group(1), n.split(" as ")[0]), FROM_MODULES.get(m.group(1)))
        for n in names
    ]
    if m and all(modules):
        targets: dict[str, list[str]] = {}
        for n, module in zip(names, modules):
            targets.setdefault(module, []).append(n)
        # One line out per line in, so that line numbers in tracebacks stay the example's.
        return indent + "; ".join(
            f"from {mod} import {', '.join(ns)}" for mod, ns in targets.items()
        )
    raise ValueError(f"no Effax spelling for the import line {stripped!r}; add it to IMPORTS")


def is_numpyro_import(line: str) -> bool:
    s = line.strip()
    return s.startswith(("import ", "from ")) and re.search(r"\bnumpyro\b", s) is not None


def effax_source(source: str) -> str:
    """``source`` with every NumPyro import line mapped, and nothing else changed."""
    out = []
    for number, line in enumerate(source.splitlines(), 1):
        s = line.strip()
        if is_numpyro_import(line):
            out.append(effax_line(line))
        else:
            if re.search(r"\bimport\b.*\bnumpyro\b", s):
                raise ValueError(f"line {number}: a NumPyro import the harness cannot map: {s!r}")
            out.append(line)
    return "\n".join(out) + "\n"


def load(name: str, framework: str = "effax") -> types.ModuleType:
    """The port ``models/<name>.py`` as a module, for ``"effax"`` or ``"numpyro"``."""
    path = MODELS / f"{name}.py"
    source = path.read_text()
    if framework == "effax":
        source = effax_source(source)
    module = types.ModuleType(f"port_{name}_{framework}")
    module.__file__ = str(path)
    exec(compile(source, str(path), "exec"), module.__dict__)
    return module


@functools.cache
def effax_draws(name: str) -> dict[str, Any]:
    """Port ``name`` run on Effax at its ``TEST_SIZES``, one chain, key 0: the draws that
    :func:`assert_matches_numpyro` compares with NumPyro's. Cached, so that a port's oracle
    checks in ``test_<name>.py`` use the same draws without sampling again in the same
    process."""
    import jax

    module = load(name)
    warmup, samples = module.TEST_SIZES
    return module.run(jax.random.key(0), warmup, samples, 1)


def assert_matches_numpyro(name: str) -> None:
    """Port ``name``'s draws (:func:`effax_draws`) against NumPyro's reference."""
    assert_matches(effax_draws(name), reference(name))


def checked_beside_its_oracle(name: str) -> bool:
    """Whether ``test_<name>.py`` makes the NumPyro check of port ``name``, in the test
    right after its oracle check of the same cached draws (so that the two almost always
    run on one xdist worker and the port samples once), which ``test_ports.py`` then
    leaves to it."""
    path = HERE / f"test_{name}.py"
    return path.exists() and f'assert_matches_numpyro("{name}")' in path.read_text()


def ports() -> list[str]:
    return sorted(p.stem for p in MODELS.glob("*.py") if not p.stem.startswith("_"))


def reference(name: str) -> dict[str, Any] | None:
    """NumPyro's summary of port ``name`` (``references/<name>.json``), if made."""
    path = REFERENCES / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def summarise(draws: dict[str, Any], num_chains: int) -> dict[str, Any]:
    """Mean, sd and MCSE of each quantity (``draws``: ``(chains * n, ...)``, chain-major)."""
    from inference import mcse_mean, mcse_sd

    out = {}
    for name, value in draws.items():
        x = np.asarray(value, dtype=np.float64)
        grouped = x.reshape((num_chains, -1) + x.shape[1:])
        out[name] = {
            "mean": x.mean(0).tolist(),
            "sd": x.std(0).tolist(),
            "mcse": np.asarray(mcse_mean(grouped)).tolist(),
            "mcse_sd": np.asarray(mcse_sd(grouped)).tolist(),
        }
    return out


def assert_matches(
    draws: dict[str, Any],
    reference: dict[str, Any],
    num_chains: int = 1,
    family_alarm: float = 1e-3,
) -> None:
    """Effax's draws against a reference summary (NumPyro's, or Stan's): every scalar's
    mean within ``z`` combined Monte Carlo standard errors of the mean, and its sd within
    ``z`` combined standard errors of the sd (where the reference has them), ``z`` set so
    that all the checks of the port together raise a false alarm with probability about
    ``family_alarm`` (Bonferroni)."""
    ours = summarise(draws, num_chains)
    n = sum(2 * int(np.size(reference[k]["mean"])) for k in ours)
    z = family_z(n, family_alarm)
    problems = []
    for name, mine in ours.items():
        ref = reference[name]
        for stat, err in (("mean", "mcse"), ("sd", "mcse_sd")):
            if err not in ref:
                continue
            value, theirs = np.atleast_1d(mine[stat]), np.atleast_1d(ref[stat])
            bound = z * np.sqrt(np.atleast_1d(mine[err]) ** 2 + np.atleast_1d(ref[err]) ** 2)
            bad = ~(np.abs(value - theirs) <= bound)  # a NaN is bad too
            if np.any(bad):
                i = tuple(int(j) for j in np.argwhere(bad)[0])
                problems.append(
                    f"{name}{list(i)}: {stat} {value[i]:.4g} vs the reference's "
                    f"{theirs[i]:.4g}, bound {bound[i]:.3g} ({z:.2f} combined MCSE)"
                )
    assert not problems, "; ".join(problems)


def known(mean: Any, sd: Any) -> dict[str, Any]:
    """A reference entry for :func:`assert_matches` whose mean and sd are known exactly (an
    analytic or brute-force oracle), so it adds no Monte Carlo error of its own."""
    mean, sd = np.broadcast_arrays(np.asarray(mean, np.float64), np.asarray(sd, np.float64))
    zero = np.zeros_like(mean).tolist()
    return {"mean": mean.tolist(), "sd": sd.tolist(), "mcse": zero, "mcse_sd": zero}


def family_z(n: int, family_alarm: float = 1e-3) -> float:
    """The two-sided normal bound for ``n`` simultaneous checks (Bonferroni)."""
    return float(ndtri(1 - family_alarm / (2 * max(n, 1))))
