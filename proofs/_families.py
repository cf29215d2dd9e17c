"""The distribution families that generated models draw from.

``Normal`` is always there. Other families are used when ``dists`` exports them, so the
generators grow with the library. Each family carries a reference log density written by
hand with Python's ``math`` on single floats, so that laws can compare a site's log
density with independently computed copies.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import dists as D

_LOG_2PI = math.log(2 * math.pi)


def _normal_lp(x: float, loc: float, scale: float) -> float:
    z = (x - loc) / scale
    return -0.5 * z * z - math.log(scale) - 0.5 * _LOG_2PI


def _exponential_lp(x: float, rate: float) -> float:
    return math.log(rate) - rate * x if x >= 0 else -math.inf


def _gamma_lp(x: float, concentration: float, rate: float) -> float:
    a, b = concentration, rate
    return a * math.log(b) + (a - 1) * math.log(x) - b * x - math.lgamma(a)


def _lognormal_lp(x: float, loc: float, scale: float) -> float:
    return _normal_lp(math.log(x), loc, scale) - math.log(x)


def _bernoulli_lp(x: float, probs: float) -> float:
    return math.log(probs) if x == 1 else math.log1p(-probs)


def _poisson_lp(x: float, rate: float) -> float:
    return x * math.log(rate) - rate - math.lgamma(x + 1)


@dataclasses.dataclass(frozen=True)
class Family:
    """A distribution family that generated sample sites may use.

    ``params`` lists the constructor's keyword names with the range that generated values
    are drawn from (on a grid of step 0.1). ``support`` is ``"real"``, ``"positive"``,
    ``"binary"`` or ``"count"``. ``loc`` names the parameter that a site's parent shifts
    (``None``: the family takes no parent). ``quadratic`` says the log density is a
    polynomial of degree at most two in the value and in ``loc`` (so central differences
    are exact). ``reference`` is the by-hand log density of one scalar value.
    """

    name: str
    params: tuple[tuple[str, float, float], ...]
    support: str
    loc: str | None
    quadratic: bool
    reference: Callable[..., float]

    @property
    def discrete(self) -> bool:
        return self.support in ("binary", "count")

    def make(self, *args: Any) -> Any:
        """The distribution with parameters ``args`` (in the order of ``params``)."""
        cls = getattr(D, self.name)
        return cls(**{p[0]: a for p, a in zip(self.params, args)})


_ALL = (
    Family("Normal", (("loc", -1.0, 1.0), ("scale", 0.5, 2.0)), "real", "loc", True, _normal_lp),
    Family("Exponential", (("rate", 0.5, 2.0),), "positive", None, False, _exponential_lp),
    Family(
        "Gamma",
        (("concentration", 1.0, 3.0), ("rate", 0.5, 2.0)),
        "positive",
        None,
        False,
        _gamma_lp,
    ),
    Family(
        "LogNormal",
        (("loc", -0.5, 0.5), ("scale", 0.5, 1.0)),
        "positive",
        "loc",
        False,
        _lognormal_lp,
    ),
    Family("Bernoulli", (("probs", 0.2, 0.8),), "binary", None, False, _bernoulli_lp),
    Family("Poisson", (("rate", 0.5, 3.0),), "count", None, False, _poisson_lp),
)


def available_families() -> tuple[Family, ...]:
    """The families that ``dists`` exports now (``Normal`` first)."""
    return tuple(f for f in _ALL if hasattr(D, f.name))


def family(name: str) -> Family:
    """The family called ``name``."""
    for f in _ALL:
        if f.name == name:
            return f
    raise KeyError(f"Unknown family {name!r}; known: {[f.name for f in _ALL]}.")
