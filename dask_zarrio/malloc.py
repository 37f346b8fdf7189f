"""glibc malloc thresholds: permanent (opt-in) and while dask_zarrio's tasks run.

``dask.distributed`` starts workers with ``MALLOC_TRIM_THRESHOLD_=65536`` so that freed
memory goes back to the OS at once. Setting any glibc malloc variable also freezes its
mmap threshold at 128 KiB. Together they make every buffer above 128 KiB a fresh
mapping, faulted in and zeroed 4 KiB at a time, and unmapped again when freed. c-blosc
sets up a zstd compressor (~3 MiB) for every 1 MiB block it compresses: on the
project's machine a 16 MiB blosc-zstd chunk took 13,100 page faults and 41 ms to encode
under that setting, 110 faults and 27 ms with both thresholds raised. Raising only one
of the two is not enough: the trim threshold hands the freed compressor back at once.

Two ways to raise them:

- :func:`tune_malloc` (or :class:`dask_zarrio.memory.MallocTuning` on a cluster, or the
  variables of :data:`WORKER_ENV` in the workers' environment) for good;
- :func:`working`, which every read and write task of dask_zarrio enters: in a
  ``dask.distributed`` worker that runs under a lower trim threshold than
  :data:`TRIM_THRESHOLD` it raises both thresholds while dask_zarrio tasks run, and
  :data:`LINGER` seconds after the last one ends puts the worker's own settings back and
  returns the memory it kept (``malloc_trim``). Set the dask config value
  ``dask_zarrio.worker-malloc`` to ``"keep"`` in the workers to leave malloc alone.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

__all__ = ["LINGER", "MMAP_THRESHOLD", "TRIM_THRESHOLD", "WORKER_ENV", "task", "tune_malloc", "working"]

#: glibc's largest dynamic mmap threshold on 64-bit systems (``DEFAULT_MMAP_THRESHOLD_MAX``).
MMAP_THRESHOLD = 32 * 2**20
#: Freed memory a malloc arena may keep at its top before giving it back to the OS.
TRIM_THRESHOLD = 64 * 2**20
#: The same settings as environment variables, read by glibc when a process starts.
WORKER_ENV = {"MALLOC_MMAP_THRESHOLD_": str(MMAP_THRESHOLD), "MALLOC_TRIM_THRESHOLD_": str(TRIM_THRESHOLD)}
#: Seconds after dask_zarrio's last task before a worker gets its own settings back.
LINGER = 2.0
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # from <malloc.h>
_GLIBC_MMAP_THRESHOLD = 128 * 1024  # where glibc starts, and stays once a variable is set


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


def _worker_settings() -> tuple[int, int] | None:
    """The (mmap, trim) thresholds this process was started with, if it is a distributed
    worker under a trim threshold below :data:`TRIM_THRESHOLD`; else ``None``."""
    import dask.config

    if dask.config.get("dask_zarrio.worker-malloc", "auto") == "keep":
        return None
    try:
        trim = int(os.environ["MALLOC_TRIM_THRESHOLD_"])
        mmap = int(os.environ.get("MALLOC_MMAP_THRESHOLD_", _GLIBC_MMAP_THRESHOLD))
    except (KeyError, ValueError):
        return None  # glibc's dynamic thresholds already reuse memory
    if trim >= TRIM_THRESHOLD or "distributed" not in sys.modules:
        return None
    from distributed import get_worker

    try:
        get_worker()
    except ValueError:
        return None
    return mmap, trim


class _Scope:
    """Counts the dask_zarrio tasks running in this process; tunes malloc while any does."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.active = 0
        self.last_exit = 0.0
        self.restore: tuple[int, int] | None = None  # the settings to put back; None: not tuned
        self.settled = False  # tune_malloc was called: permanent, nothing to do here
        self.looked = False
        self.worker: tuple[int, int] | None = None  # the worker's own settings, if it has some to raise
        self.watcher: threading.Thread | None = None

    def enter(self) -> None:
        with self.cond:
            self.active += 1
            if self.restore is not None or self.settled:
                return
            if not self.looked:
                self.looked, self.worker = True, _worker_settings()
            if self.worker is not None and _set(MMAP_THRESHOLD, TRIM_THRESHOLD):
                self.restore = self.worker
                if self.watcher is None:
                    self.watcher = threading.Thread(target=self._watch, name="dask_zarrio-malloc", daemon=True)
                    self.watcher.start()

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

    Outside distributed workers, or in workers already tuned, it only counts.

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
