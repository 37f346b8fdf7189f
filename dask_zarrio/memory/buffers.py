"""Big byte buffers placed so that the kernel can back them with huge pages, and reused.

A chunk decoded into freshly mapped memory costs a page fault (each zeroes a 4 KiB
page) per 4 KiB when the process gives freed memory back to the OS after every task,
as ``dask.distributed`` workers do (they set ``MALLOC_TRIM_THRESHOLD_=65536``, which
also stops glibc from raising its mmap threshold, so every big buffer is a new
mapping). numpy asks for transparent huge pages on allocations of 4 MiB and more, but
only the 2 MiB-aligned middle of a mapping can get them. Starting big buffers on a
2 MiB boundary makes the whole buffer eligible: a 16 MiB buffer takes 8 faults instead
of 4096. Pages before the aligned start are never touched, so they cost address
space, not memory.

Huge pages still have to be zeroed when first touched, and memory above glibc's mmap
threshold is mapped afresh on every allocation. So big buffers come from a
per-process :class:`BufferPool` and return to it when the last array viewing them is
gone: a read block or a compressed chunk reuses memory that is already mapped and
touched. This is memory reuse inside dask_zarrio, not a process-wide setting; the
dask config key ``dask_zarrio.buffer-pool`` bounds it (docs/performance.md has the
measurements).
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading
from functools import cache
from typing import Any

import numpy as np
from dask.utils import parse_bytes

from .. import config

__all__ = [
    "GLIBC_MMAP_MAX", "HUGE_PAGE", "MIN_ALIGNED", "POOL", "BufferPool", "PopulateAhead", "empty", "empty_array",
    "pooled_from", "populate", "read_file", "result_array",
]

#: The x86-64 and arm64 (4 KiB base page) transparent huge page size.
HUGE_PAGE = 2 * 2**20
#: Below this numpy does not ask for huge pages, so aligning would gain nothing.
MIN_ALIGNED = 4 * 2**20


class BufferPool:
    """Big aligned buffers handed out as arrays and taken back when the last view dies.

    Zeroing fresh memory is a large part of reading: the kernel clears every page a
    new mapping touches, and glibc maps anything above 32 MiB afresh each time (above
    128 KiB on ``dask.distributed`` workers).

    :meth:`take` returns an array whose ``base`` is a small lease object; every view,
    slice or reshape of it keeps that lease alive (numpy points views at the first
    base that is not an array). When the last one is gone the lease gives the memory
    back here, and a later :meth:`take` of a similar size reuses it. At most
    ``max_bytes`` of free buffers are kept (oldest dropped first); 0 keeps none.
    ``max_bytes=None`` follows the dask config key ``dask_zarrio.buffer-pool`` (bytes,
    or a string such as ``"256MiB"``), read whenever a buffer comes back.

    Examples
    --------
    >>> pool = BufferPool(max_bytes=64 * 2**20)
    >>> a = pool.take(8 * 2**20); address = a.ctypes.data
    >>> del a                      # the last reference: the buffer is free again
    >>> pool.free_bytes
    8388608
    >>> b = pool.take(7 * 2**20)   # a similar size reuses it
    >>> b.ctypes.data == address, pool.free_bytes
    (True, 0)
    """

    def __init__(self, max_bytes: int | str | None = None) -> None:
        self._max_bytes = None if max_bytes is None else parse_bytes(max_bytes)
        self._free: list[np.ndarray] = []  # oldest first
        # Re-entrant: a garbage collection inside ``take`` may free a lease, which puts.
        self._lock = threading.RLock()

    @property
    def max_bytes(self) -> int:
        """The most bytes of free buffers kept: fixed, or ``dask_zarrio.buffer-pool`` now."""
        if self._max_bytes is not None:
            return self._max_bytes
        return parse_bytes(config.get("buffer-pool"))

    @property
    def free_bytes(self) -> int:
        """Bytes held for reuse, not handed out."""
        with self._lock:
            return sum(b.nbytes for b in self._free)

    def take(self, nbytes: int) -> np.ndarray:
        """A writable, uninitialised ``uint8`` array of ``nbytes`` starting on a huge page."""
        capacity = _round_up(nbytes)
        with self._lock:
            fits = [i for i, b in enumerate(self._free) if capacity <= b.nbytes <= capacity + capacity // 4]
            owner = self._free.pop(min(fits, key=lambda i: self._free[i].nbytes)) if fits else None
        if owner is None:
            owner = _aligned(capacity)
        return np.asarray(_Lease(owner, nbytes, self))

    def clear(self) -> None:
        """Drop every free buffer (memory goes back to the C library)."""
        with self._lock:
            self._free.clear()

    def _put(self, owner: np.ndarray) -> None:
        limit = self.max_bytes  # the config may change between puts
        with self._lock:
            if owner.nbytes > limit:
                return
            self._free.append(owner)
            held = sum(b.nbytes for b in self._free)
            while held > limit:
                held -= self._free.pop(0).nbytes


class _Lease:
    """Lends ``owner`` to the arrays made from it; gives it back to the pool when they are gone."""

    def __init__(self, owner: np.ndarray, nbytes: int, pool: BufferPool) -> None:
        self._owner, self._pool = owner, pool
        self.__array_interface__ = {
            "version": 3, "shape": (nbytes,), "typestr": "|u1", "data": (owner.ctypes.data, False)}

    def __del__(self) -> None:
        try:
            self._pool._put(self._owner)
        except Exception:  # noqa: BLE001  (interpreter shutdown: nothing left to reuse it)
            pass


def _round_up(nbytes: int) -> int:
    return -(-nbytes // HUGE_PAGE) * HUGE_PAGE


def _aligned(capacity: int) -> np.ndarray:
    raw = np.empty(capacity + HUGE_PAGE, np.uint8)
    start = -raw.ctypes.data % HUGE_PAGE
    return raw[start : start + capacity]


#: The process's pool. Its budget, the dask config key ``dask_zarrio.buffer-pool``
#: (default 256 MiB: a few 64 MiB read blocks per thread and their compressed inputs),
#: is read whenever a buffer comes back, so ``dask.config.set`` changes it at once.
POOL = BufferPool()


def empty(nbytes: int) -> np.ndarray:
    """A writable, uninitialised ``uint8`` array of ``nbytes``; big ones start on a huge page.

    Big ones (:func:`pooled_from`) come from :data:`POOL` and go back to it when no view of
    them is left.

    Examples
    --------
    >>> buf = empty(8 * 2**20)
    >>> buf.nbytes, buf.ctypes.data % HUGE_PAGE, buf.flags.writeable
    (8388608, 0, True)
    >>> empty(10).nbytes
    10
    """
    if nbytes < MIN_ALIGNED:
        return np.empty(nbytes, np.uint8)
    if nbytes < pooled_from():
        return _aligned(_round_up(nbytes))[:nbytes]
    return POOL.take(nbytes)


#: glibc's largest dynamic mmap threshold on 64-bit systems (``DEFAULT_MMAP_THRESHOLD_MAX``).
GLIBC_MMAP_MAX = 32 * 2**20


def pooled_from() -> int:
    """The smallest buffer :func:`empty` takes from :data:`POOL`; smaller ones are plain aligned arrays.

    glibc raises its mmap threshold to the largest buffer freed, up to 32 MiB, and then serves
    buffers below it from memory it already holds: pooling those as well only kept a second copy
    of that memory resident (a pyramid's peak grew by ~100 MiB, and no read or write on threads
    got faster). From 32 MiB on glibc maps every buffer afresh, so those are pooled: a buffer of
    more than 28 MiB, as an aligned buffer asks for its size rounded up to huge pages plus one
    more (a streaming read of 64 MiB blocks runs ~10 % faster; one of 32 MiB blocks, which were
    taken for glibc's, 0.83 → 0.92 × the thread-pool limit). Where the thresholds are fixed by
    the environment (``MALLOC_MMAP_THRESHOLD_`` or ``MALLOC_TRIM_THRESHOLD_``, as
    ``dask.distributed`` starts its workers), or the C library is not glibc, every buffer of
    4 MiB and more is pooled.

    Examples
    --------
    >>> pooled_from() in (MIN_ALIGNED, GLIBC_MMAP_MAX - 2 * HUGE_PAGE + 1)
    True
    """
    return _POOLED_FROM


def _pooled_from() -> int:
    # glibc reads these variables once, when the process starts: so is the answer taken here.
    fixed = any(k in os.environ for k in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"))
    if fixed or not _glibc():
        return MIN_ALIGNED
    # _aligned asks glibc for the size rounded up to huge pages plus one: 32 MiB from 28 MiB + 1 on.
    return GLIBC_MMAP_MAX - 2 * HUGE_PAGE + 1


def _glibc() -> bool:
    import platform

    return sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"


_POOLED_FROM = _pooled_from()


def empty_array(shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """:func:`empty` shaped as a C-contiguous array of ``shape`` and ``dtype``.

    Examples
    --------
    >>> empty_array((1024, 1024), "f8").ctypes.data % HUGE_PAGE
    0
    """
    dt = np.dtype(dtype)
    if dt.hasobject:
        return np.empty(shape, dt)
    n = int(np.prod(shape, dtype=np.int64))
    return empty(n * dt.itemsize).view(dt).reshape(shape)


def read_file(path: str, limit: int | None = None) -> Any:
    """The bytes of the file at ``path``: ``bytes`` when small, else an aligned array.

    Reads with one ``readinto`` and no intermediate copy. Raises the ``OSError``
    subclasses of :func:`open` (``FileNotFoundError`` when there is no such file).
    With ``limit``, at most ``limit + 1`` bytes are read (the file's size when opened,
    and what it grew by since, both cut there): a caller refuses a bigger file by the
    length it gets, never having held more.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile() as f:
    ...     _ = f.write(b"abc"); f.flush()
    ...     read_file(f.name)
    b'abc'
    """
    with open(path, "rb", buffering=0) as f:
        size = os.fstat(f.fileno()).st_size
        if limit is not None:
            size = min(size, limit + 1)
        if size < MIN_ALIGNED:
            return f.readall() if limit is None else f.read(size) + read_growth(f, limit + 1 - size)
        buf = empty(size)
        view, got = memoryview(buf.data), 0
        while got < size:  # one read(2) moves at most ~2 GiB
            n = f.readinto(view[got:])
            if not n:  # the file shrank under us: hand out what was there
                return buf[:got]
            got += n
        # or grew: keep every byte, as ``f.read()`` would (up to the limit)
        extra = f.readall() if limit is None else read_growth(f, limit + 1 - got)
        return np.concatenate([buf, np.frombuffer(extra, np.uint8)]) if extra else buf


def read_growth(f: Any, most: int) -> bytes:
    """What a file grew by since its size was taken, at most ``most`` bytes.

    In small reads: ``f.read(most)`` allocates ``most`` bytes before it finds the end of the
    file, and with chunk-sized limits that doubled the cost of reading a local chunk.
    """
    parts: list[bytes] = []
    while most > 0:
        piece = f.read(min(most, 1 << 16))
        if not piece:
            break
        parts.append(piece)
        most -= len(piece)
    return b"".join(parts)


#: ``madvise`` advice values of Linux (``<asm-generic/mman-common.h>``); Python 3.11's ``mmap``
#: lacks the second (Linux 5.14).
_MADV_NOHUGEPAGE, _MADV_POPULATE_WRITE = 15, 23
_PAGE = 4096
#: :class:`PopulateAhead` advises this much at a time: each call holds the memory-map lock,
#: and a thread waiting to change the map (``mmap``, numpy's huge-page advice on a new
#: array) holds the GIL meanwhile.
_POPULATE_STEP = 2 * 2**20


@cache
def _madvise() -> Any:
    """libc's ``madvise`` on Linux (ctypes releases the GIL around it); ``None`` elsewhere."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).madvise
    except (OSError, AttributeError):
        return None
    fn.restype, fn.argtypes = ctypes.c_int, [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    return fn


def _advise(start: int, stop: int, advice: int) -> bool:
    """``madvise`` the whole pages between addresses ``start`` and ``stop``; whether the kernel took it."""
    lo, hi = -(-start // _PAGE) * _PAGE, stop // _PAGE * _PAGE
    fn = _madvise()
    return fn is not None and hi > lo and fn(lo, hi - lo, advice) == 0


def result_array(shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """A new C-ordered array for a result handed to the caller: numpy's own memory, in small pages.

    numpy asks for transparent huge pages on allocations of 4 MiB and more. A huge page
    the process has not touched before is the dearest memory to fault in on a virtual
    machine that gives free memory back to its host (free page reporting hands back
    free blocks of 2 MiB and more; Firecracker and most cloud VMs do): 1.3–2.9 CPU s
    per GB of output in a fresh process on the development VM, against 0.4 s for 4 KiB
    pages (docs/performance.md, "Full loads"). A result is written once and handed
    out, never reused as :data:`POOL`'s buffers are, so it takes small pages; fill it
    after :func:`populate` (or :class:`PopulateAhead`, from several threads) to fault them in
    one call per range instead of one per page.

    Examples
    --------
    >>> a = result_array((1024, 1024), "f8")
    >>> a.shape, a.dtype, a.flags.owndata, a.flags.c_contiguous
    ((1024, 1024), dtype('float64'), True, True)
    """
    arr = np.empty(shape, dtype)
    if arr.nbytes >= MIN_ALIGNED:
        _advise(arr.ctypes.data, arr.ctypes.data + arr.nbytes, _MADV_NOHUGEPAGE)
    return arr


def populate(arr: np.ndarray, part: int = 0, parts: int = 1) -> bool:
    """Fault in the pages of the ``part``-th of ``parts`` equal spans of ``arr``'s memory, writable.

    One ``madvise(MADV_POPULATE_WRITE)`` (Linux 5.14+) maps and zeroes them in the kernel,
    0.25 CPU s per GB where faulting them in one by one as they are first written
    costs 0.4 s; it changes no byte of ``arr``. Threads that will fill an array each
    populate a part first. ``False`` (nothing done) where the kernel cannot, and for
    arrays under 4 MiB (too few pages to matter).

    Examples
    --------
    >>> a = result_array((2**20,), "f8")
    >>> _ = [populate(a, i, 2) for i in range(2)]
    >>> a.nbytes
    8388608
    """
    if not arr.flags.c_contiguous or not arr.flags.writeable or arr.nbytes < MIN_ALIGNED:
        return False
    lo = -(-arr.ctypes.data // _PAGE) * _PAGE  # the whole pages, then cut into parts on page bounds
    hi = (arr.ctypes.data + arr.nbytes) // _PAGE * _PAGE
    step = -(-(hi - lo) // parts // _PAGE) * _PAGE
    start = lo + part * step
    return _advise(start, min(start + step, hi), _MADV_POPULATE_WRITE)


class PopulateAhead:
    """Faults in ``arr``'s memory in order, a range at a time, just ahead of the threads that fill it.

    Each call to :meth:`upto` populates (:func:`populate`'s ``madvise``) from where the
    last call stopped up to the given byte. One call for the whole array would hold the
    process's memory-map lock for the whole of it (70 ms for 256 MiB here): a second
    thread could not even start (its stack is a new mapping) until it ended, which left
    one of two load threads idle for a fifth of a full load. Ranges claimed in turn keep
    each hold short, and no page is populated twice. Does nothing for arrays
    :func:`populate` would refuse.

    Examples
    --------
    >>> a = result_array((2**20,), "f8")
    >>> ahead = PopulateAhead(a)
    >>> a[:] = 1.5  # what the array holds stays: only missing pages are mapped
    >>> ahead.upto(a.nbytes // 2); ahead.upto(a.nbytes)
    >>> float(a.sum())
    1572864.0
    """

    def __init__(self, arr: np.ndarray) -> None:
        on = arr.flags.c_contiguous and arr.flags.writeable and arr.nbytes >= MIN_ALIGNED and _madvise() is not None
        self._base = arr.ctypes.data
        self._done = -(-self._base // _PAGE) * _PAGE if on else 0
        self._end = (self._base + arr.nbytes) // _PAGE * _PAGE if on else 0
        self._lock = threading.Lock()
        self._arr = arr  # the memory stays mapped while this object may still advise it

    def upto(self, stop: int) -> None:
        """Populate the pages of ``arr`` before its byte ``stop`` that no call has populated yet."""
        with self._lock:
            lo = self._done
            hi = min(self._end, -(-(self._base + stop) // _PAGE) * _PAGE)
            if hi <= lo:
                return
            self._done = hi
        for start in range(lo, hi, _POPULATE_STEP):
            _advise(start, min(start + _POPULATE_STEP, hi), _MADV_POPULATE_WRITE)
