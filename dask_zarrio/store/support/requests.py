"""Many requests of one store in flight together: each retried on its own, failures translated."""

from __future__ import annotations

import asyncio
from typing import Any

from ...errors import redact_url
from .failures import store_error
from .retry import RetryPolicy

__all__ = ["gather_requests"]


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
