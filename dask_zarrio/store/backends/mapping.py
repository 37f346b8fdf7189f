"""MappingStore: any ``MutableMapping`` of str to bytes, keys joined with ``/``."""

from __future__ import annotations

import posixpath
import threading
from collections.abc import Iterable, MutableMapping
from typing import Any

from dask.base import tokenize

from ..base import Buffer, Store, join_key, member_path, node_path, same_bytes, slice_bytes, within_limit
from ..locations import Location, path_segments

__all__ = ["MappingStore"]

#: One lock for every conditional write of the process: a mapping may be shared by many
#: MappingStores (children, parents), so a per-store lock would not exclude them.
_CONDITIONAL = threading.Lock()


class MappingStore(Store):
    """Any ``MutableMapping`` of str to bytes (a dict, a SQLite or Redis adapter).

    Examples
    --------
    >>> s = MappingStore({}, "grp/arr")
    >>> s.set("0", b"x"); s.mapping
    {'grp/arr/0': b'x'}
    """

    def __init__(self, mapping: MutableMapping[str, Any], root: str = "") -> None:
        self.mapping = mapping
        self.root = node_path(root)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.mapping, self.root))

    @property
    def supports_listing(self) -> bool:
        # Every MutableMapping iterates over its keys.
        return True

    @property
    def supports_deletes(self) -> bool:
        # Every MutableMapping has __delitem__ (pop).
        return True

    @property
    def supports_conditional_writes(self) -> bool:
        # A dict lives in this process, where the process-wide lock excludes every other
        # conditional writer. Other mappings (a Redis or SQLite adapter) may be shared
        # with other processes, which that lock cannot stop.
        return type(self.mapping) is dict

    def _path(self, key: str) -> str:
        return join_key(self.root, key)

    def get(self, key: str, limit: int | None = None) -> bytes | None:
        try:
            value = self.mapping[self._path(key)]
        except KeyError:
            return None
        # A mapping's values are in memory already (or its adapter fetched them): the size is free.
        within_limit(self, key, _as_buffer(value), limit)
        return bytes(value)

    def get_range(self, key: str, start: int, length: int | None = None) -> bytes | None:
        try:
            data = self.mapping[self._path(key)]
        except KeyError:
            return None
        return bytes(slice_bytes(data, start, length))

    def exists(self, key: str) -> bool:
        return self._path(key) in self.mapping

    def set(self, key: str, value: Buffer) -> None:
        self.mapping[self._path(key)] = bytes(memoryview(value).cast("B"))

    def set_if_unchanged(self, key: str, value: Buffer, expected: bytes | None) -> bool:
        with _CONDITIONAL:
            if not same_bytes(self.mapping.get(self._path(key)), expected):
                return False
            self.set(key, value)
            return True

    def delete(self, key: str) -> None:
        self.mapping.pop(self._path(key), None)

    def _keys_below(self) -> Iterable[str]:
        prefix = f"{self.root}/" if self.root else ""
        return [k for k in list(self.mapping) if k.startswith(prefix) or k == self.root]

    def clear(self) -> None:
        for k in self._keys_below():
            self.mapping.pop(k, None)

    def is_empty(self) -> bool:
        return not self._keys_below()

    def list_keys(self) -> list[str]:
        prefix = f"{self.root}/" if self.root else ""
        return sorted(k[len(prefix):] for k in list(self.mapping) if k.startswith(prefix))

    def list_sizes(self) -> dict[str, int | None]:
        prefix = f"{self.root}/" if self.root else ""
        return {k[len(prefix):]: _size(v) for k, v in sorted(self.mapping.items()) if k.startswith(prefix)}

    def list_dir(self) -> list[str]:
        prefix = f"{self.root}/" if self.root else ""
        return sorted({k[len(prefix):].split("/", 1)[0] for k in list(self.mapping) if k.startswith(prefix)})

    def child(self, path: str) -> MappingStore:
        return MappingStore(self.mapping, self._path(member_path(path)))

    def parent(self) -> MappingStore | None:
        if not self.root:
            return None
        return MappingStore(self.mapping, posixpath.dirname(self.root))

    @property
    def name(self) -> str:
        return posixpath.basename(self.root)

    def describe(self, key: str = "") -> str:
        return f"<{type(self.mapping).__name__}>/{self._path(key)}"

    def token(self) -> str:
        return tokenize(type(self.mapping).__name__, id(self.mapping), self.root)

    def location(self) -> Location:
        # One key space per mapping object: two empty dicts are two places.
        return Location(("mapping", id(self.mapping)), path_segments(self.root), self.describe())


def _as_buffer(value: Any) -> Any:
    """``value`` as something ``memoryview`` takes (a mapping may hold ``str``)."""
    return value.encode() if isinstance(value, str) else value


def _size(value: Any) -> int | None:
    """Bytes in a stored value; ``None`` for what the mapping holds in another form."""
    try:
        return memoryview(value).nbytes
    except TypeError:
        return None
