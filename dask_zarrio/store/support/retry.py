"""Retrying transient store errors with jittered exponential backoff.

Object stores fail now and then: HTTP 5xx, ``SlowDown``/503, connection resets,
bodies shorter than their ``Content-Length``. Those are retried a bounded number
of times; what remains is raised as :class:`~dask_zarrio.errors.StoreError`
naming the key. A missing object is never an error here (it reads as the fill
value), and a permission error is never retried nor taken for a missing object.

How hard to try is configuration, read when a request is made (so a worker's own
dask config applies): ``dask_zarrio.retry.attempts``, ``dask_zarrio.retry.base-delay``
and ``dask_zarrio.retry.max-delay`` (:mod:`dask_zarrio.config`). A
:class:`RetryPolicy` given to a store explicitly wins over them.
"""

from __future__ import annotations

import asyncio
import errno
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from ... import config
from ...errors import StoreError, ZarrioError, redact_url

__all__ = ["RetryPolicy", "config_number", "is_transient"]

T = TypeVar("T")

#: OSError subclasses that describe the request, not the weather: never retried.
_PERMANENT = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError, FileExistsError)
#: Exception class names (aiohttp, botocore, urllib3) that mean "try again".
_TRANSIENT_NAMES = {
    "ClientPayloadError", "ContentLengthError", "ServerDisconnectedError", "ClientConnectionError",
    "ClientOSError", "ServerTimeoutError", "IncompleteReadError", "ResponseStreamingError",
    "ReadTimeoutError", "ConnectTimeoutError", "EndpointConnectionError", "ConnectionClosedError",
    "ProtocolError", "IncompleteRead", "FSTimeoutError", "ThrottlingException", "SlowDown",
    "ServiceRequestError", "ServiceResponseError",  # azure-core: no answer, or a broken one
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
    # Some filesystems report a refusal as a plain OSError carrying EACCES/EPERM: asking
    # again with the same credentials cannot help. EINVAL (a seek past what the file system
    # allows, a name it cannot hold) is the request's own fault: the same request fails again.
    if isinstance(exc, OSError) and exc.errno in (errno.EACCES, errno.EPERM, errno.EINVAL):
        return False
    if isinstance(exc, (ConnectionError, TimeoutError, asyncio.TimeoutError)):
        return True
    if any(cls.__name__ in _TRANSIENT_NAMES for cls in type(exc).__mro__):
        return True
    # azure-core's HttpResponseError carries the status: 5xx and 429 (throttled) pass.
    status = getattr(exc, "status_code", None)
    if isinstance(status, int) and (status >= 500 or status == 429):
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

    def __post_init__(self) -> None:
        # attempts=0 would never call the function at all; a negative delay makes sleep raise.
        if isinstance(self.attempts, bool) or not isinstance(self.attempts, int) or self.attempts < 1:
            raise ZarrioError(f"RetryPolicy(attempts={self.attempts!r}): attempts must be an integer >= 1")
        for field, value in (("base_delay", self.base_delay), ("max_delay", self.max_delay)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                raise ZarrioError(f"RetryPolicy({field}={value!r}): {field} must be a number of seconds >= 0")

    @classmethod
    def from_config(cls) -> RetryPolicy:
        """The policy set by the ``dask_zarrio.retry.*`` config keys right now.

        Examples
        --------
        >>> import dask
        >>> with dask.config.set({"dask_zarrio.retry.attempts": 2}):
        ...     RetryPolicy.from_config().attempts
        2
        """
        return cls(
            attempts=int(config_number("retry.attempts", integer=True, minimum=1)),
            base_delay=config_number("retry.base-delay"),
            max_delay=config_number("retry.max-delay"),
        )

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based)."""
        return random.uniform(0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))

    def _give_up(self, what: str, exc: BaseException) -> StoreError:
        # The last error's text may quote the request URL (aiohttp does): no password shown.
        return StoreError(
            f"{redact_url(what)} failed after {self.attempts} attempts: {type(exc).__name__}: "
            f"{redact_url(exc)}. The store "
            "is unreachable or overloaded; try again later, or raise the config key "
            f"'dask_zarrio.retry.attempts' (dask.config.set({{'dask_zarrio.retry.attempts': {2 * self.attempts}}}), "
            "or DASK_DASK_ZARRIO__RETRY__ATTEMPTS on workers)"
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
                    raise self._give_up(what, exc) from _cause(exc)
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
                    raise self._give_up(what, exc) from _cause(exc)
                await asyncio.sleep(self.delay(attempt))
        raise AssertionError("unreachable")


def _cause(exc: BaseException) -> BaseException | None:
    """``exc`` to chain as the cause, or ``None`` when its text shows a credential (a
    traceback prints the cause's message too, so it is dropped rather than leaked)."""
    return exc if redact_url(exc) == str(exc) else None


def config_number(key: str, *, integer: bool = False, minimum: float = 0) -> float:
    """The number under config key ``dask_zarrio.<key>``, checked, with an error naming the key.

    Values from YAML files or environment variables may arrive as strings.

    Examples
    --------
    >>> config_number("retry.attempts", integer=True, minimum=1)
    6
    """
    value = config.get(key)
    try:
        if isinstance(value, bool):
            raise ValueError(value)
        number: float = int(value) if integer else float(value)
        if integer and isinstance(value, float) and value != number:
            raise ValueError(value)
    except (TypeError, ValueError):
        number = minimum - 1
    if not number >= minimum:
        kind = "an integer" if integer else "a number"
        raise ZarrioError(
            f"config key 'dask_zarrio.{key}' is {value!r}, it must be {kind} >= {minimum}; fix it "
            f"with dask.config.set({{'dask_zarrio.{key}': ...}}) or in your dask config file"
        )
    return number
