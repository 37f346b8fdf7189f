"""Many requests of one store in flight together: each retried on its own, failures translated.

:func:`gather_requests` runs one task's requests on an event loop; :func:`fetch_many` and
:func:`map_concurrently` put many small requests of one step (a group's member documents,
the chunks of its coordinates) in flight together through any store's own API;
:func:`start_listing` sends a listing ahead, to overlap it with another step.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from ...errors import redact_url
from ..base import Buffer, Store
from .failures import store_error
from .retry import RetryPolicy, config_number

__all__ = ["fetch_many", "gather_requests", "map_concurrently", "start_listing"]

T = TypeVar("T")
R = TypeVar("R")

#: Threads one step may use to overlap a store's blocking calls (each a request or a batch of them):
#: they only wait, so many are cheap; a step of more calls takes more than one round trip.
MAX_THREADS = 256


async def gather_requests(
    calls: list[tuple[str, Any]], retry: RetryPolicy, limit: int, secrets: list[str]
) -> list[Any]:
    """Run request factories concurrently, ``limit`` at a time, each retried on its own.

    A missing object gives ``None``; any other final failure propagates, translated like
    :meth:`FsspecStore._call` (permission errors, credentials in the text).
    """
    semaphore = asyncio.Semaphore(limit)

    async def one(what: str, factory: Any) -> Any:
        async with semaphore:
            try:
                return await retry.acall(factory, what)
            except FileNotFoundError:
                return None
            except Exception as exc:  # noqa: BLE001
                error = store_error(exc, what, secrets)
                if error is None:
                    raise
                raise error from (exc if redact_url(exc, secrets) == str(exc) else None)

    return list(await asyncio.gather(*(one(w, f) for w, f in calls)))


def _in_flight() -> int:
    return int(config_number("metadata-requests-in-flight", integer=True, minimum=1))


def fetch_many(store: Store, keys: Sequence[str], limit: int | None = None) -> list[Buffer | None]:
    """``store.get_many(keys, limit)``, with up to ``dask_zarrio.metadata-requests-in-flight`` requests in flight.

    One ``get_many`` keeps at most ``dask_zarrio.requests-in-flight`` (a task's share) in
    flight; the keys of one step of an open (hundreds of small documents) go out as several
    ``get_many`` calls in threads, so that they take one round trip, not one per 16 keys.
    A store that does not overlap requests answers them in turn, as ``get_many`` would.

    Examples
    --------
    >>> from dask_zarrio.store import MappingStore
    >>> fetch_many(MappingStore({"a": b"1"}), ["a", "b"])
    [b'1', None]
    """
    keys = list(keys)
    per_call = int(config_number("requests-in-flight", integer=True, minimum=1))
    calls = min(-(-len(keys) // per_call), -(-_in_flight() // per_call), MAX_THREADS)
    if not store.supports_concurrent_requests or calls <= 1:
        return store.get_many(keys, limit)
    size = -(-len(keys) // calls)
    parts = [keys[i:i + size] for i in range(0, len(keys), size)]
    with ThreadPoolExecutor(len(parts), thread_name_prefix="dask_zarrio-open") as pool:
        answers = list(pool.map(lambda part: store.get_many(part, limit), parts))
    return [blob for answer in answers for blob in answer]


def map_concurrently(store: Store, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """``[fn(item) for item in items]``, the calls overlapping where ``store`` overlaps requests.

    For one-request calls no batch API covers (``exists`` of many keys): up to
    ``dask_zarrio.metadata-requests-in-flight`` of them (and :data:`MAX_THREADS` threads) at once.

    Examples
    --------
    >>> from dask_zarrio.store import MappingStore
    >>> s = MappingStore({"a": b"1"})
    >>> map_concurrently(s, s.exists, ["a", "b"])
    [True, False]
    """
    threads = min(len(items), _in_flight(), MAX_THREADS)
    if not store.supports_concurrent_requests or threads <= 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(threads, thread_name_prefix="dask_zarrio-open") as pool:
        return list(pool.map(fn, items))


def start_listing(store: Store) -> Future[list[str]] | None:
    """``store.list_dir()`` in flight from a thread of its own, where the store overlaps requests
    and lists (else ``None``: listing then, in turn, costs the same). Its failure is raised by
    ``result()``, where the listing is used.

    Examples
    --------
    >>> from dask_zarrio.store import MappingStore
    >>> start_listing(MappingStore({"a/b": b"1"})) is None  # a mapping answers in turn
    True
    """
    if not (store.supports_listing and store.supports_concurrent_requests):
        return None
    pool = ThreadPoolExecutor(1, thread_name_prefix="dask_zarrio-open")
    try:
        return pool.submit(store.list_dir)
    finally:
        pool.shutdown(wait=False)  # the thread ends with its one request
