"""A store with some objects already fetched: what an open read ahead, handed on to the read graph."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..base import Buffer, Location, Store, member_path, slice_bytes, within_limit
from .wrapping import WrappingStore

__all__ = ["PreloadedStore"]


class PreloadedStore(WrappingStore):
    """``inner``, with the objects under ``objects``' keys already fetched (``None``: known missing).

    An xarray open loads its index coordinates at once; fetched together with each other
    (one round trip), their chunks reach the read graph through this store, and the
    dataset's own reads of them cost no request. The objects travel with the store (they
    are pickled with it, into the graph), so only small ones belong here. Anything else is
    read from ``inner``; a write goes to ``inner`` and forgets what was held under its key.

    Examples
    --------
    >>> from dask_zarrio.store import MappingStore
    >>> s = PreloadedStore(MappingStore({"a": b"old", "b": b"2"}), {"a": b"1", "x/c": None})
    >>> s.get("a"), s.get("b"), s.exists("x/c"), s.child("x").objects
    (b'1', b'2', False, {'c': None})
    """

    def __init__(self, inner: Store, objects: Mapping[str, Buffer | None]) -> None:
        self.inner = inner
        self.objects = dict(objects)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.inner, self.objects))

    def __repr__(self) -> str:
        return f"PreloadedStore({self.inner!r}, {len(self.objects)} objects)"

    def location(self) -> Location:
        return self.inner.location()

    def get(self, key: str, limit: int | None = None) -> bytes | None:
        if key in self.objects:
            return within_limit(self, key, self.objects[key], limit)  # type: ignore[no-any-return]
        return self.inner.get(key, limit)

    def get_many(self, keys: list[str], limit: int | None = None) -> list[Buffer | None]:
        rest = [k for k in keys if k not in self.objects]
        fetched = dict(zip(rest, self.inner.get_many(rest, limit))) if rest else {}
        return [within_limit(self, k, self.objects[k], limit) if k in self.objects else fetched[k] for k in keys]

    def exists(self, key: str) -> bool:
        return self.objects[key] is not None if key in self.objects else self.inner.exists(key)

    def get_range(self, key: str, start: int, length: int | None = None) -> bytes | None:
        if key not in self.objects:
            return self.inner.get_range(key, start, length)
        data = self.objects[key]
        return None if data is None else slice_bytes(data, start, length)  # type: ignore[no-any-return]

    def get_ranges(self, key: str, ranges: list[tuple[int, int]]) -> list[bytes] | None:
        if key not in self.objects:
            return self.inner.get_ranges(key, ranges)
        return super().get_ranges(key, ranges)

    def set(self, key: str, value: Buffer) -> None:
        self.objects.pop(key, None)
        self.inner.set(key, value)

    def set_many(self, items: dict[str, Buffer]) -> None:
        for key in items:
            self.objects.pop(key, None)
        self.inner.set_many(items)

    def set_if_unchanged(self, key: str, value: Buffer, expected: bytes | None) -> bool:
        self.objects.pop(key, None)
        return self.inner.set_if_unchanged(key, value, expected)

    def delete(self, key: str) -> None:
        self.objects.pop(key, None)
        self.inner.delete(key)

    def clear(self) -> None:
        self.objects.clear()
        self.inner.clear()

    def is_empty(self) -> bool:
        return self.inner.is_empty()

    def list_dir(self) -> list[str]:
        return self.inner.list_dir()

    def list_keys(self) -> list[str]:
        return self.inner.list_keys()

    def list_sizes(self) -> dict[str, int | None]:
        return self.inner.list_sizes()

    def child(self, path: str) -> PreloadedStore:
        prefix = f"{member_path(path)}/"
        held = {k[len(prefix):]: v for k, v in self.objects.items() if k.startswith(prefix)}
        return PreloadedStore(self.inner.child(path), held)

    def parent(self) -> Store | None:
        return self.inner.parent()
