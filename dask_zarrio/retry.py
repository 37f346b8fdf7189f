"""Retrying transient store errors with jittered exponential backoff.

Object stores fail now and then: HTTP 5xx, ``SlowDown``/503, connection resets,
bodies shorter than their ``Content-Length``. Those are retried a bounded number
of times; what remains is raised as :class:`~dask_zarrio.errors.StoreError`
naming the key. A missing object is never an error here (it reads as the fill
value), and a permission error is never retried nor taken for a missing object.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from .errors import StoreError

__all__ = ["RetryPolicy", "is_transient"]

T = TypeVar("T")

#: OSError subclasses that describe the request, not the weather: never retried.
_PERMANENT = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError, FileExistsError)
#: Exception class names (aiohttp, botocore, urllib3) that mean "try again".
_TRANSIENT_NAMES = {
    "ClientPayloadError", "ContentLengthError", "ServerDisconnectedError", "ClientConnectionError",
    "ClientOSError", "ServerTimeoutError", "IncompleteReadError", "ResponseStreamingError",
    "ReadTimeoutError", "ConnectTimeoutError", "EndpointConnectionError", "ConnectionClosedError",
    "ProtocolError", "IncompleteRead", "FSTimeoutError", "ThrottlingException", "SlowDown",
}


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` is worth retrying.

    Examples
    --------
    >>> is_transient(ConnectionResetError()), is_transient(PermissionError())
    (True, False)
    """
    if isinstance(exc, _PERMANENT):
        return False
    if isinstance(exc, (ConnectionError, TimeoutError, asyncio.TimeoutError)):
        return True
    if any(cls.__name__ in _TRANSIENT_NAMES for cls in type(exc).__mro__):
        return True
    # s3fs and gcsfs turn 5xx responses into plain OSError (errno EIO and friends).
    return type(exc) is OSError


@dataclass(frozen=True)
class RetryPolicy:
    """At most ``attempts`` tries, sleeping ``base * 2**n`` (full jitter, capped) between them.

    Examples
    --------
    >>> calls = []
    >>> def flaky():
    ...     calls.append(1)
    ...     if len(calls) < 3:
    ...         raise ConnectionResetError("reset")
    ...     return "ok"
    >>> RetryPolicy(base_delay=0).call(flaky, "GET memory://a/c/0")
    'ok'
    """

    attempts: int = 6
    base_delay: float = 0.05
    max_delay: float = 2.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based)."""
        return random.uniform(0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))

    def _give_up(self, what: str, exc: BaseException) -> StoreError:
        return StoreError(
            f"{what} failed after {self.attempts} attempts: {type(exc).__name__}: {exc}. The store "
            "is unreachable or overloaded; try again later, or raise the attempts with "
            "dask_zarrio.store.set_retry_policy(RetryPolicy(attempts=...))"
        )

    def call(self, fn: Callable[[], T], what: str) -> T:
        """Run ``fn``, retrying transient errors; ``what`` names the request in the final error."""
        for attempt in range(1, self.attempts + 1):
            try:
                return fn()
            except Exception as exc:  # noqa: BLE001 (classified just below)
                if not is_transient(exc):
                    raise
                if attempt == self.attempts:
                    raise self._give_up(what, exc) from exc
                time.sleep(self.delay(attempt))
        raise AssertionError("unreachable")

    async def acall(self, fn: Callable[[], Awaitable[T]], what: str) -> T:
        """The same for a coroutine factory (one request of a concurrent batch)."""
        for attempt in range(1, self.attempts + 1):
            try:
                return await fn()
            except Exception as exc:  # noqa: BLE001
                if not is_transient(exc):
                    raise
                if attempt == self.attempts:
                    raise self._give_up(what, exc) from exc
                await asyncio.sleep(self.delay(attempt))
        raise AssertionError("unreachable")
