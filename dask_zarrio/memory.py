"""Worker memory tuning: let glibc reuse freed chunk-sized buffers.

``dask.distributed`` starts workers with ``MALLOC_TRIM_THRESHOLD_=65536`` so that freed
memory goes back to the OS at once. Setting any glibc malloc variable also freezes its
mmap threshold at 128 KiB. Together they make every buffer above 128 KiB a fresh
mapping, faulted in and zeroed 4 KiB at a time, and unmapped again when freed. Codecs
allocate many such buffers: c-blosc sets up a zstd compressor (~3 MiB) per block, and
numcodecs allocates each compressed output. On the project's machine a 16 MiB
blosc-zstd chunk encodes in 64 ms with both thresholds raised and 105 ms under
distributed's setting (570 against 13,600 page faults per chunk); raising only one of
the two thresholds is not enough.

:func:`tune_malloc` raises the mmap threshold to glibc's ceiling, 32 MiB, and the trim
threshold to 64 MiB: a worker may then keep up to 64 MiB of freed memory per malloc
arena (about one per thread) for reuse, and still hands the rest back to the OS.

Nothing here runs unless asked for: call :func:`tune_malloc` in a process, register
:class:`MallocTuning` on a cluster, or set the environment variables in
:data:`WORKER_ENV` for the workers (``deploy/`` does).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

__all__ = ["MMAP_THRESHOLD", "TRIM_THRESHOLD", "WORKER_ENV", "MallocTuning", "tune_malloc"]

#: glibc's largest dynamic mmap threshold on 64-bit systems (``DEFAULT_MMAP_THRESHOLD_MAX``).
MMAP_THRESHOLD = 32 * 2**20
#: Freed memory a malloc arena may keep at its top before giving it back to the OS.
TRIM_THRESHOLD = 64 * 2**20
#: The same settings as environment variables, read by glibc when a process starts.
WORKER_ENV = {"MALLOC_MMAP_THRESHOLD_": str(MMAP_THRESHOLD), "MALLOC_TRIM_THRESHOLD_": str(TRIM_THRESHOLD)}
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # from <malloc.h>


def tune_malloc(mmap_threshold: int = MMAP_THRESHOLD, trim_threshold: int = TRIM_THRESHOLD) -> bool:
    """Serve buffers below ``mmap_threshold`` from glibc's heap and keep ``trim_threshold`` freed.

    Returns whether it took effect: ``False`` off Linux or on C libraries without
    ``mallopt`` (musl).

    Examples
    --------
    >>> import sys
    >>> tune_malloc() or not sys.platform.startswith("linux")
    True
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, int(mmap_threshold))) and bool(
        mallopt(_M_TRIM_THRESHOLD, int(trim_threshold))
    )


class MallocTuning(WorkerPlugin):
    """Worker plugin that calls :func:`tune_malloc` in every worker, present and future.

    Examples
    --------
    >>> from distributed import Client
    >>> client = Client(processes=False, n_workers=1, dashboard_address=None)  # doctest: +SKIP
    >>> client.register_plugin(MallocTuning())  # doctest: +SKIP
    """

    name = "dask_zarrio-malloc-tuning"

    def __init__(self, mmap_threshold: int = MMAP_THRESHOLD, trim_threshold: int = TRIM_THRESHOLD) -> None:
        self.mmap_threshold, self.trim_threshold = mmap_threshold, trim_threshold

    def setup(self, worker: Any) -> None:
        # Recorded on the worker so that it can be checked (client.run) and logged.
        worker.dask_zarrio_malloc_tuned = tune_malloc(self.mmap_threshold, self.trim_threshold)
