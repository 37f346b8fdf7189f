"""glibc's malloc thresholds in ``dask.distributed`` workers: one module, one switch.

``dask.distributed`` starts workers with ``MALLOC_TRIM_THRESHOLD_=65536`` so that freed
memory goes back to the OS at once. Setting any glibc malloc variable also freezes its
mmap threshold at 128 KiB. Together they make every buffer above 128 KiB a fresh
mapping, faulted in and zeroed 4 KiB at a time, and unmapped again when freed. The
blosc library bundled with numcodecs sets up a zstd compressor (a few MiB) for every
block it compresses, so blosc-zstd writes paid that price once per block.
dask_zarrio's codecs now keep one zstd context per thread in such processes
(:mod:`dask_zarrio.codecs.contexts`) and its reads reuse their buffers, so this module
is opt-in: docs/performance.md has the figures before and after.

The dask config key ``dask_zarrio.worker-memory`` (read through
:func:`dask_zarrio.config.get` when a task starts) chooses what dask_zarrio does:

``"off"`` (the default)
    Leave malloc alone.
``"auto"``
    In a ``dask.distributed`` worker that runs under a trim threshold below
    :data:`TRIM_THRESHOLD`, raise both thresholds while dask_zarrio's read and write
    tasks run (:func:`working`) and, :data:`LINGER` seconds after the last one ends,
    put the worker's own settings back and return the memory kept (``malloc_trim``).
    Logged once per process at INFO when it first engages. Elsewhere (the threaded
    scheduler, workers started with other settings) nothing changes.
``"on"``
    In a ``dask.distributed`` worker, raise both thresholds at the first dask_zarrio
    task and keep them raised (:func:`tune_malloc`), whatever the worker started with.

Independently of the switch, :func:`tune_malloc`, the :class:`MallocTuning` worker
plugin, or the variables of :data:`WORKER_ENV` in the workers' environment (``deploy/``)
raise the thresholds for good; the task scope then leaves malloc alone.

Examples
--------
>>> import dask
>>> with dask.config.set({"dask_zarrio.worker-memory": "off"}):
...     with working():  # a dask_zarrio task: malloc untouched
...         pass
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from .. import config

F = TypeVar("F", bound=Callable[..., Any])

__all__ = [
    "LINGER", "MMAP_THRESHOLD", "MODES", "TRIM_THRESHOLD", "WORKER_ENV",
    "MallocTuning",  # noqa: F822  (made on first use by __getattr__)
    "mode", "task", "tune_malloc", "working",
]

logger = logging.getLogger(__name__)

#: glibc's largest dynamic mmap threshold on 64-bit systems (``DEFAULT_MMAP_THRESHOLD_MAX``).
MMAP_THRESHOLD = 32 * 2**20
#: Freed memory a malloc arena may keep at its top before giving it back to the OS.
TRIM_THRESHOLD = 64 * 2**20
#: The same settings as environment variables, read by glibc when a process starts.
WORKER_ENV = {"MALLOC_MMAP_THRESHOLD_": str(MMAP_THRESHOLD), "MALLOC_TRIM_THRESHOLD_": str(TRIM_THRESHOLD)}
#: Seconds after dask_zarrio's last task before a worker gets its own settings back.
LINGER = 2.0
#: The values of ``dask_zarrio.worker-memory``.
MODES = ("auto", "off", "on")
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # from <malloc.h>
_GLIBC_MMAP_THRESHOLD = 128 * 1024  # where glibc starts, and stays once a variable is set


def mode() -> str:
    """The value of ``dask_zarrio.worker-memory``, checked against :data:`MODES`.

    Examples
    --------
    >>> mode()
    'off'
    """
    value = str(config.get("worker-memory")).lower()
    if value not in MODES:
        raise ValueError(f"dask_zarrio.worker-memory={value!r} must be one of {list(MODES)}")
    return value


@functools.lru_cache(maxsize=1)
def _libc() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.mallopt.restype = ctypes.c_int
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
        libc.malloc_trim.restype = ctypes.c_int
    except (OSError, AttributeError):  # not glibc (musl has neither)
        return None
    return libc


def _set(mmap_threshold: int, trim_threshold: int) -> bool:
    libc = _libc()
    if libc is None:
        return False
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, int(mmap_threshold))) and bool(
        libc.mallopt(_M_TRIM_THRESHOLD, int(trim_threshold)))


def tune_malloc(mmap_threshold: int = MMAP_THRESHOLD, trim_threshold: int = TRIM_THRESHOLD) -> bool:
    """Serve buffers below ``mmap_threshold`` from glibc's heap and keep ``trim_threshold`` freed.

    For the rest of the process's life (:func:`working` then leaves malloc alone).
    A malloc arena (about one per thread) may keep up to ``trim_threshold`` bytes of
    freed memory for reuse. Returns whether it took effect: ``False`` off Linux or on
    C libraries without ``mallopt`` (musl).

    Examples
    --------
    >>> import sys
    >>> tune_malloc() or not sys.platform.startswith("linux")
    True
    """
    ok = _set(mmap_threshold, trim_threshold)
    _SCOPE.settled = _SCOPE.settled or ok
    return ok


def _in_worker() -> bool:
    if "distributed" not in sys.modules:  # a worker has imported it long before any task
        return False
    from distributed import get_worker

    try:
        get_worker()
    except ValueError:
        return False
    return True


def _worker_settings() -> tuple[int, int] | None:
    """The (mmap, trim) thresholds this process was started with, if it is a distributed
    worker under a trim threshold below :data:`TRIM_THRESHOLD`; else ``None``."""
    try:
        trim = int(os.environ["MALLOC_TRIM_THRESHOLD_"])
        mmap = int(os.environ.get("MALLOC_MMAP_THRESHOLD_", _GLIBC_MMAP_THRESHOLD))
    except (KeyError, ValueError):
        return None  # glibc's dynamic thresholds already reuse memory
    if trim >= TRIM_THRESHOLD or not _in_worker():
        return None
    return mmap, trim


class _Scope:
    """Counts the dask_zarrio tasks running in this process; tunes malloc while any does."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.active = 0
        self.last_exit = 0.0
        self.restore: tuple[int, int] | None = None  # the settings to put back; None: not tuned
        self.settled = False  # tuned for good (tune_malloc or "on"): nothing to do here
        self.looked = False
        self.worker: tuple[int, int] | None = None  # the worker's own settings, if it has some to raise
        self.watcher: threading.Thread | None = None
        self.logged = False

    def enter(self) -> None:
        # Read per task (cheap next to a chunk's codec work) so that the switch takes
        # effect without restarting the worker; before counting, so that a bad value
        # raises without leaving the count up.
        how = mode()
        with self.cond:
            self.active += 1
            if self.restore is not None or self.settled or how == "off":
                return
            if how == "on":
                if _in_worker() and tune_malloc():
                    self._log("for good (dask_zarrio.worker-memory: on)")
                return
            if not self.looked:  # the environment and the worker do not change
                self.looked, self.worker = True, _worker_settings()
            if self.worker is not None and _set(MMAP_THRESHOLD, TRIM_THRESHOLD):
                self.restore = self.worker
                self._log(f"while its tasks run; the worker's own (mmap {self.worker[0]}, trim "
                          f"{self.worker[1]}) come back {LINGER:g} s after the last one. "
                          "dask_zarrio.worker-memory: off leaves malloc alone")
                if self.watcher is None:
                    self.watcher = threading.Thread(target=self._watch, name="dask_zarrio-malloc", daemon=True)
                    self.watcher.start()

    def _log(self, when: str) -> None:
        if not self.logged:
            self.logged = True
            logger.info("dask_zarrio raises glibc's malloc thresholds in this worker (mmap %d, trim %d bytes) %s",
                        MMAP_THRESHOLD, TRIM_THRESHOLD, when)

    def exit(self) -> None:
        with self.cond:
            self.active -= 1
            self.last_exit = time.monotonic()
            self.cond.notify_all()

    def _watch(self) -> None:
        with self.cond:
            while True:
                if self.restore is None or self.active:
                    self.cond.wait()
                    continue
                left = self.last_exit + LINGER - time.monotonic()
                if left > 0:
                    self.cond.wait(left)
                    continue
                if not self.settled:
                    _set(*self.restore)
                    libc = _libc()
                    if libc is not None:
                        libc.malloc_trim(0)  # hand back what the tuned arenas kept
                self.restore = None


_SCOPE = _Scope()


@contextlib.contextmanager
def working() -> Iterator[None]:
    """Mark a dask_zarrio task running in this process (see the module docs).

    Outside distributed workers, with ``dask_zarrio.worker-memory: off``, or in workers
    already tuned, it only counts.

    Examples
    --------
    >>> with working():
    ...     pass
    """
    _SCOPE.enter()
    try:
        yield
    finally:
        _SCOPE.exit()


def task(fn: F) -> F:
    """Run ``fn`` inside :func:`working` (a decorator for dask_zarrio's task functions).

    Examples
    --------
    >>> @task
    ... def double(x):
    ...     return 2 * x
    >>> double(4)
    8
    """

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        with working():
            return fn(*args, **kwargs)

    return run  # type: ignore[return-value]


@functools.lru_cache(maxsize=1)
def _plugin_class() -> type:
    # Built on first use: tasks import this module, and the threaded scheduler should
    # not pay for importing distributed (half a second) to read an array.
    from distributed.diagnostics.plugin import WorkerPlugin

    class MallocTuning(WorkerPlugin):
        """Worker plugin that calls :func:`tune_malloc` in every worker, present and future.

        Records the result as ``worker.dask_zarrio_malloc_tuned`` (check it with
        ``client.run``).

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
            worker.dask_zarrio_malloc_tuned = tune_malloc(self.mmap_threshold, self.trim_threshold)

    MallocTuning.__module__, MallocTuning.__qualname__ = __name__, "MallocTuning"  # pickled by name
    return MallocTuning


def __getattr__(name: str) -> Any:
    """``MallocTuning``, a ``distributed`` worker plugin class, made when first asked for."""
    if name == "MallocTuning":
        return _plugin_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
