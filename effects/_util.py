"""Small immutable helpers for the effect core."""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Mapping
from typing import Any


class FrozenDict(Mapping):
    """An immutable, hashable mapping (used for static message fields such as ``infer``)."""

    __slots__ = ("_items", "_hash")
    _items: tuple[tuple[str, Any], ...]
    _hash: int | None

    def __init__(self, *args: Any, **kwargs: Any):
        d = dict(*args, **kwargs)
        object.__setattr__(self, "_items", tuple(sorted(d.items(), key=lambda kv: kv[0])))
        object.__setattr__(self, "_hash", None)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("FrozenDict is immutable")

    def __getitem__(self, key: str) -> Any:
        for k, v in self._items:
            if k == key:
                return v
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return (k for k, _ in self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(self._items)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Mapping) and dict(self._items) == dict(other.items())

    def __repr__(self) -> str:
        return f"FrozenDict({dict(self._items)!r})"

    def merged(self, other: Mapping) -> FrozenDict:
        d = dict(self._items)
        d.update(other)
        return FrozenDict(d)


EMPTY = FrozenDict()


def stable_hash(name: str) -> int:
    """A process-independent 31-bit hash of a site name (Python's ``hash`` is salted)."""
    return zlib.crc32(name.encode("utf-8")) & 0x7FFFFFFF
