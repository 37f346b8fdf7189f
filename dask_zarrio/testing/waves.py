"""A store wrapper that adds latency and records round trips: which requests had to wait for others."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ..store import Buffer, Store
from ..store.base import member_path
from ..store.support.wrapping import WrappingStore

__all__ = ["Request", "WaveStore"]

T = TypeVar("T")


@dataclass(frozen=True)
class Request:
    """One request: its kind (``"get"``, ``"list"``, ``"exists"`` ...), full key and wave."""

    kind: str
    key: str
    wave: int


@dataclass
class _Log:
    lock: threading.Lock = field(default_factory=threading.Lock)
    done: int = 0  # the highest wave of the requests answered so far
    requests: list[Request] = field(default_factory=list)
    delay: float = 0.0  # seconds every request waits, shared by the stores derived from one


class WaveStore(WrappingStore):
    """Wrap ``inner``: every request waits ``delay`` seconds, and is recorded with its wave.

    A request's wave is one more than the highest wave among the requests answered
    before it started: requests in flight together share a wave, one that had to wait
    for another's answer comes a wave later. :attr:`waves` is thus the number of round
    trips an operation took; at ``delay`` seconds each, about the time it would take
    against a server that far away. The store overlaps requests (``get_many``,
    ``get_ranges`` and ``set_many`` send each key from its own thread), as object
    stores do; the log and the delay are shared by every store derived from this one
    (set :attr:`delay` to 0 to go on without waiting, e.g. to check the data once the
    round trips are counted).

    Examples
    --------
    >>> from dask_zarrio.store import MappingStore
    >>> s = WaveStore(MappingStore({"a": b"1", "b": b"2"}), delay=0.01)
    >>> s.get_many(["a", "b"]), s.get("a"), s.waves
    ([b'1', b'2'], b'1', 2)
    >>> sorted((r.key, r.wave) for r in s.requests)
    [('a', 1), ('a', 2), ('b', 1)]
    """

    def __init__(self, inner: Store, delay: float = 0.05, log: _Log | None = None, prefix: str = "") -> None:
        self.inner = inner
        self.log = log if log is not None else _Log()
        self.log.delay = delay
        self.prefix = prefix

    @property
    def delay(self) -> float:
        """Seconds each request waits, in this store and every one derived from it."""
        return self.log.delay

    @delay.setter
    def delay(self, seconds: float) -> None:
        self.log.delay = seconds

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.inner, self.delay, None, self.prefix))

    @property
    def supports_concurrent_requests(self) -> bool:
        return True

    @property
    def requests(self) -> list[Request]:
        """Every request so far, in the order they were answered."""
        with self.log.lock:
            return list(self.log.requests)

    @property
    def waves(self) -> int:
        """Round trips so far: the highest wave of any request (0: none)."""
        return max((r.wave for r in self.requests), default=0)

    def keys(self, kind: str = "get") -> list[str]:
        """The full keys of the requests of ``kind``, in the order they were answered."""
        return [r.key for r in self.requests if r.kind == kind]

    def reset(self) -> None:
        """Forget every request (the next one is in wave 1)."""
        with self.log.lock:
            self.log.requests.clear()
            self.log.done = 0

    def _request(self, kind: str, key: str, fn: Callable[[], T], wave: int | None = None) -> T:
        if wave is None:
            with self.log.lock:
                wave = self.log.done + 1
        time.sleep(self.delay)
        try:
            return fn()
        finally:
            with self.log.lock:
                self.log.done = max(self.log.done, wave)
                self.log.requests.append(Request(kind, self.prefix + key, wave))

    def _together(self, kind: str, calls: dict[str, Callable[[], T]]) -> list[T]:
        """``calls`` (key -> call) in flight together, in one wave: the one they were issued in
        (a thread that starts late does not make its request a wave later)."""
        with self.log.lock:
            wave = self.log.done + 1
        if len(calls) <= 1:
            return [self._request(kind, key, call, wave) for key, call in calls.items()]
        with ThreadPoolExecutor(len(calls)) as pool:
            return list(pool.map(lambda item: self._request(kind, item[0], item[1], wave), calls.items()))

    def get(self, key: str, limit: int | None = None) -> bytes | None:
        return self._request("get", key, lambda: self.inner.get(key, limit))

    def get_many(self, keys: list[str], limit: int | None = None) -> list[Buffer | None]:
        return self._together("get", {k: lambda k=k: self.inner.get(k, limit) for k in keys})  # type: ignore[misc]

    def exists(self, key: str) -> bool:
        return self._request("exists", key, lambda: self.inner.exists(key))

    def get_range(self, key: str, start: int, length: int | None = None) -> bytes | None:
        return self._request("get_range", key, lambda: self.inner.get_range(key, start, length))

    def get_ranges(self, key: str, ranges: list[tuple[int, int]]) -> list[bytes] | None:
        calls = [lambda r=r: self.inner.get_range(key, *r) for r in ranges]
        with self.log.lock:
            wave = self.log.done + 1
        with ThreadPoolExecutor(max(1, len(calls))) as pool:
            parts = list(pool.map(lambda call: self._request("get_range", key, call, wave), calls))
        return None if any(p is None for p in parts) else parts

    def set(self, key: str, value: Buffer) -> None:
        self._request("set", key, lambda: self.inner.set(key, value))

    def set_many(self, items: dict[str, Buffer]) -> None:
        self._together("set", {k: lambda k=k, v=v: self.inner.set(k, v) for k, v in items.items()})  # type: ignore[misc]

    def set_if_unchanged(self, key: str, value: Buffer, expected: bytes | None) -> bool:
        return self._request("set", key, lambda: self.inner.set_if_unchanged(key, value, expected))

    def delete(self, key: str) -> None:
        self._request("delete", key, lambda: self.inner.delete(key))

    def clear(self) -> None:
        self._request("delete", "", self.inner.clear)

    def is_empty(self) -> bool:
        return self._request("list", "", self.inner.is_empty)

    def list_dir(self) -> list[str]:
        return self._request("list", "", self.inner.list_dir)

    def list_keys(self) -> list[str]:
        return self._request("list", "", self.inner.list_keys)

    def list_sizes(self) -> dict[str, int | None]:
        return self._request("list", "", self.inner.list_sizes)

    def child(self, path: str) -> WaveStore:
        return WaveStore(self.inner.child(path), self.delay, self.log, f"{self.prefix}{member_path(path)}/")

    def parent(self) -> Store | None:
        up = self.inner.parent()
        return None if up is None else WaveStore(up, self.delay, self.log, "../" + self.prefix)
