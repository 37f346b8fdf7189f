"""``RequestCounter``: see what reading costs — the requests a read makes and the bytes it receives.

``dz.plan`` counts what a copy, rechunk or write would request before it runs; this counts
what reads do as they run: open a store through a :class:`RequestCounter`, read from it
(``dz.read(counter.store)``, a slice, a reduction), and ask :attr:`RequestCounter.requests`.
Requests are counted as an S3 client makes them: a whole-object GET, a ranged GET per byte
range (a shard's index, the inner chunks a read touches), a HEAD, a LIST. The counted store
is for reading: writing through it is refused, so counting never changes a store.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, fields
from typing import Any

from ..errors import StorePermissionError
from ..store import Buffer, Store, open_store
from ..store.support.wrapping import WrappingStore
from ..typing import StoreLike

__all__ = ["RequestCount", "RequestCounter"]


@dataclass(frozen=True)
class RequestCount:
    """Requests made and bytes received: whole-object GETs, ranged GETs, HEADs, LISTs."""

    gets: int = 0
    ranged_gets: int = 0
    heads: int = 0
    lists: int = 0
    bytes_received: int = 0

    def __str__(self) -> str:
        return (f"{self.gets} GETs, {self.ranged_gets} ranged GETs, {self.heads} HEADs, {self.lists} LISTs, "
                f"{self.bytes_received} bytes received")


class RequestCounter:
    """Open ``url`` to read, counting every request reads make through :attr:`store`.

    Parameters
    ----------
    url
        Any URL or store :func:`dask_zarrio.read` takes.
    storage_options
        Options for the fsspec filesystem.

    Examples
    --------
    >>> import dask.array as da, dask_zarrio as dz
    >>> from dask_zarrio.tools.requests import RequestCounter
    >>> dz.write(da.arange(8, chunks=4), "memory://doc/counted.zarr", chunks=(2,), shards=(4,), mode="w")
    >>> counter = RequestCounter("memory://doc/counted.zarr")
    >>> x = dz.read(counter.store)
    >>> counter.reset()
    >>> int(x[:2].sum().compute()), counter.requests.gets, counter.requests.ranged_gets
    (1, 0, 2)
    """

    def __init__(self, url: StoreLike, storage_options: dict[str, Any] | None = None) -> None:
        self._lock = threading.Lock()
        self._counts = dict.fromkeys((f.name for f in fields(RequestCount)), 0)
        self.store: Store = CountedStore(open_store(url, storage_options), self)

    def count(self, kind: str, n: int = 1, received: int = 0) -> None:
        """Add ``n`` requests of ``kind`` (a :class:`RequestCount` field) and ``received`` bytes."""
        with self._lock:  # tasks on threads read concurrently
            self._counts[kind] += n
            self._counts["bytes_received"] += received

    @property
    def requests(self) -> RequestCount:
        """What was requested since the counter was made or :meth:`reset`."""
        with self._lock:
            return RequestCount(**self._counts)

    def reset(self) -> None:
        """Start counting from zero (after opening: the metadata reads are then not counted)."""
        with self._lock:
            self._counts = dict.fromkeys(self._counts, 0)

    def __reduce__(self) -> Any:  # a copy in another process counts there, not here
        raise TypeError("a RequestCounter counts in this process: read with the threads scheduler")


def _size(data: Any) -> int:
    return 0 if data is None else memoryview(data).nbytes


class CountedStore(WrappingStore):
    """``inner`` read through a :class:`RequestCounter`; writes are refused."""

    def __init__(self, inner: Store, counter: RequestCounter) -> None:
        self.inner = inner
        self.counter = counter

    def get(self, key: str, limit: int | None = None) -> bytes | None:
        data = self.inner.get(key, limit)
        self.counter.count("gets", received=_size(data))
        return data

    def get_many(self, keys: list[str], limit: int | None = None) -> list[Buffer | None]:
        found = self.inner.get_many(keys, limit)
        self.counter.count("gets", len(keys), sum(_size(d) for d in found))
        return found

    def get_range(self, key: str, start: int, length: int | None = None) -> bytes | None:
        data = self.inner.get_range(key, start, length)
        self.counter.count("ranged_gets", received=_size(data))
        return data

    def get_ranges(self, key: str, ranges: list[tuple[int, int]]) -> list[bytes] | None:
        found = self.inner.get_ranges(key, ranges)
        self.counter.count("ranged_gets", len(ranges), sum(_size(d) for d in found or ()))
        return found

    def exists(self, key: str) -> bool:
        self.counter.count("heads")
        return self.inner.exists(key)

    def list_dir(self) -> list[str]:
        self.counter.count("lists")
        return self.inner.list_dir()

    def list_keys(self) -> list[str]:
        self.counter.count("lists")
        return self.inner.list_keys()

    def list_sizes(self) -> dict[str, int | None]:
        self.counter.count("lists")
        return self.inner.list_sizes()

    def is_empty(self) -> bool:
        self.counter.count("lists")
        return self.inner.is_empty()

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise StorePermissionError(
            f"{self.describe()} is opened through a RequestCounter, which only reads; write to the store itself"
        )

    set = set_many = set_if_unchanged = delete = clear = copy_object = replace_node = _refuse

    def child(self, path: str) -> CountedStore:
        return CountedStore(self.inner.child(path), self.counter)

    def parent(self) -> Store | None:
        up = self.inner.parent()
        return None if up is None else CountedStore(up, self.counter)
