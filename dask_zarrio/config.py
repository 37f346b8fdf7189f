"""Every setting of dask_zarrio, as ``dask.config`` keys under ``dask_zarrio.*``.

One place for configuration: modules read their settings through :func:`get` at the
moment they need them, so ``dask.config.set({...})`` (a context manager, a YAML
file, or ``DASK_DASK_ZARRIO__...`` environment variables on workers) takes effect
without touching module globals. docs/configuration.md lists the keys.

Examples
--------
>>> import dask
>>> from dask_zarrio import config
>>> config.get("requests-in-flight")
16
>>> with dask.config.set({"dask_zarrio.requests-in-flight": 4}):
...     config.get("requests-in-flight")
4
"""

from __future__ import annotations

from typing import Any

import dask.config

__all__ = ["DEFAULTS", "get"]

#: The defaults, registered with dask.config on import (users' settings win).
DEFAULTS: dict[str, Any] = {
    "retry": {
        # Tries of one request before StoreError; transient errors only.
        "attempts": 6,
        # Seconds: full jitter over base-delay * 2**n, capped at max-delay.
        "base-delay": 0.05,
        "max-delay": 2.0,
    },
    # Requests a task keeps in flight when it fetches or writes several chunks.
    "requests-in-flight": 16,
    # Requests an open keeps in flight when it reads the documents of a group's members (and
    # the chunks of its coordinates) together: small objects, one round trip for all of them.
    "metadata-requests-in-flight": 512,
    # S3 objects of at least two parts of this size (shards) go up as multipart uploads,
    # requests-in-flight parts at a time (S3's minimum part is 5 MiB).
    "s3-multipart-part-size": "8MiB",
    # Free read/encode buffers a process keeps for reuse (bytes or "256MiB"; 0 disables).
    "buffer-pool": "256MiB",
    # glibc malloc thresholds in dask.distributed workers (dask_zarrio.memory.allocator), opt-in:
    # "off":  never touched (default: the codecs keep their zstd contexts per thread and reuse
    #         read buffers, so workers no longer need it; docs/performance.md);
    # "auto": raised while dask_zarrio's tasks run in a worker started with distributed's
    #         low trim threshold, put back 2 s after the last one (logged once at INFO);
    # "on":   raised at a worker's first dask_zarrio task, for good.
    "worker-memory": "off",
    # mode="w" over an array on a store that renames nodes (local folders): write the new
    # array beside the old one and rename it in when complete, so the old one stays
    # readable until then (costs holding both on disk while writing; False: in place).
    "staged-replace": True,
    "references": {
        # Byte ranges of one source file that a task reads through kerchunk references are
        # fetched as one request when the gap between them is at most this (bytes or "1MiB";
        # 0: only touching ranges merge; -1: never merge). A GET costs about as much as
        # reading a MiB more from an object store, so small gaps are cheaper read than skipped.
        "coalesce-gap": "1MiB",
        # The most bytes one reference may ask for where its array's metadata gives no bound (object
        # elements, keys that are not chunks); chunks are bounded by their encoded size at its largest.
        "max-range": "1GiB",
    },
}

dask.config.update_defaults({"dask_zarrio": DEFAULTS})


def get(key: str) -> Any:
    """The value of ``dask_zarrio.<key>`` (dotted for nested keys, e.g. ``"retry.attempts"``).

    Examples
    --------
    >>> get("retry.attempts")
    6
    """
    return dask.config.get(f"dask_zarrio.{key}")
