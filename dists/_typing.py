"""Type aliases shared across ``dists``."""

from __future__ import annotations

from jaxtyping import Array, ArrayLike, Bool, Float, Int, Key, PRNGKeyArray, Real

Shape = tuple[int, ...]

__all__ = [
    "Array",
    "ArrayLike",
    "Bool",
    "Float",
    "Int",
    "Key",
    "PRNGKeyArray",
    "Real",
    "Shape",
]
