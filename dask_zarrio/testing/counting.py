"""A store wrapper that counts requests per key, to prove what a graph touches."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from ..store import Buffer, Store
from ..store.base import member_path
from ..store.support.wrapping import WrappingStore

__all__ = ["CountingStore"]


class CountingStore(WrappingStore):
    """Wrap ``inner`` and count ``get``/``set``/``delete`` calls per full key.

    Counters are shared by every child/parent store derived from this one, and
    guarded by a lock because threaded tasks call concurrently.

    Examples
    --------
    >>> from dask_zarrio.store import MappingStore
    >>> s = CountingStore(MappingStore({}))
    >>> s.set("a", b"1")
    >>> s.get("a")
    b'1'
    >>> s.gets["a"], s.sets["a"]
    (1, 1)
    """

    def __init__(self, inner: Store, counters: dict[str, Counter[str]] | None = None, prefix: str = "") -> None:
        self.inner = inner
        if counters is None:
            counters = {name: Counter() for name in ("get", "set", "delete", "exists", "get_range")}
        self.counters = counters
        self.prefix = prefix
        self._lock = threading.Lock()

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.inner, self.counters, self.prefix))

    @property
    def gets(self) -> Counter[str]:
        return self.counters["get"]

    @property
    def sets(self) -> Counter[str]:
        return self.counters["set"]

    @property
    def deletes(self) -> Counter[str]:
        return self.counters["delete"]

    def _count(self, kind: str, key: str) -> None:
        with self._lock:
            self.counters[kind][self.prefix + key] += 1

    def get(self, key: str, limit: int | None = None) -> bytes | None:
        self._count("get", key)
        return self.inner.get(key, limit)

    def exists(self, key: str) -> bool:
        self._count("exists", key)
        return self.inner.exists(key)

    def get_range(self, key: str, start: int, length: int | None = None) -> bytes | None:
        self._count("get_range", key)
        return self.inner.get_range(key, start, length)

    def get_ranges(self, key: str, ranges: list[tuple[int, int]]) -> list[bytes] | None:
        for _ in ranges:
            self._count("get_range", key)
        return self.inner.get_ranges(key, ranges)

    def get_many(self, keys: list[str], limit: int | None = None) -> list[Buffer | None]:
        for k in keys:
            self._count("get", k)
        return self.inner.get_many(keys, limit)

    def set(self, key: str, value: Buffer) -> None:
        self._count("set", key)
        self.inner.set(key, value)

    def set_many(self, items: dict[str, Buffer]) -> None:
        for k in items:
            self._count("set", k)
        self.inner.set_many(items)

    def set_if_unchanged(self, key: str, value: Buffer, expected: bytes | None) -> bool:
        self._count("set", key)
        return self.inner.set_if_unchanged(key, value, expected)

    def list_dir(self) -> list[str]:
        return self.inner.list_dir()

    def list_keys(self) -> list[str]:
        return self.inner.list_keys()

    def delete(self, key: str) -> None:
        self._count("delete", key)
        self.inner.delete(key)

    def clear(self) -> None:
        self.inner.clear()

    def is_empty(self) -> bool:
        return self.inner.is_empty()

    def child(self, path: str) -> CountingStore:
        return CountingStore(self.inner.child(path), self.counters, f"{self.prefix}{member_path(path)}/")

    def parent(self) -> Store | None:
        up = self.inner.parent()
        return None if up is None else CountingStore(up, self.counters, "../" + self.prefix)

    def reset(self) -> None:
        """Forget every count."""
        for c in self.counters.values():
            c.clear()
