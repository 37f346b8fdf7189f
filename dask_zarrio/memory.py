"""Worker memory tuning for good: let glibc reuse freed chunk-sized buffers.

:class:`MallocTuning` calls :func:`dask_zarrio.malloc.tune_malloc` in every worker of a
cluster; :data:`WORKER_ENV` holds the same settings as environment variables for workers
started elsewhere (``deploy/`` sets them). Without either, dask_zarrio raises the
thresholds only while its own tasks run (:func:`dask_zarrio.malloc.working`). Why they
matter, and their price, is in :mod:`dask_zarrio.malloc`.
"""

from __future__ import annotations

from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

from .malloc import MMAP_THRESHOLD, TRIM_THRESHOLD, WORKER_ENV, tune_malloc

__all__ = ["MMAP_THRESHOLD", "TRIM_THRESHOLD", "WORKER_ENV", "MallocTuning", "tune_malloc"]


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
