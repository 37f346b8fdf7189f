"""Icechunk's log line about local storage, lowered where dz makes one (see the function)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["quiet_local_storage_log"]


@contextmanager
def quiet_local_storage_log(ic: Any) -> Iterator[None]:
    """Without icechunk's log line "The LocalFileSystem storage is not safe for concurrent commits".

    Icechunk logs it (from Rust, not as a Python warning) each time a local storage is made:
    every ``icechunk://`` call. It warns of several processes committing to one branch at once;
    dz commits each write once, from the process that called ``dz.write`` (tasks write into
    forks that the caller merges), so for dz's own use it is noise. Only that one log target is
    lowered, only while the storage is made, and not at all when the user chose icechunk's log
    filters with ``ICECHUNK_LOG``; afterwards the filters are icechunk's default again (which
    also undoes a ``set_logs_filter`` call of the user's own: set ``ICECHUNK_LOG`` instead).
    """
    if os.environ.get("ICECHUNK_LOG") or not hasattr(ic, "set_logs_filter"):
        yield
        return
    ic.set_logs_filter("icechunk::storage::object_store=error,warn")
    try:
        yield
    finally:
        ic.set_logs_filter(None)  # icechunk's default: read ICECHUNK_LOG (unset: warnings)
