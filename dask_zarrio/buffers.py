"""Big byte buffers placed so that the kernel can back them with huge pages.

A 16 MiB chunk decoded into freshly mapped memory costs 4096 page faults (each
zeroes a 4 KiB page) when the process gives freed memory back to the OS after
every task, as ``dask.distributed`` workers do (they set
``MALLOC_TRIM_THRESHOLD_=65536``, which also stops glibc from raising its mmap
threshold, so every big buffer is a new mapping). numpy asks for transparent huge
pages on allocations of 4 MiB and more, but only the 2 MiB-aligned middle of a
mapping can get them. Starting big buffers on a 2 MiB boundary makes the whole
buffer eligible: 8 faults instead of 4096. Pages before the aligned start are
never touched, so they cost address space, not memory.

Measured on the project's 2-core machine (``docs/performance.md``): read + decode
+ sum of 1 GiB with ``MALLOC_TRIM_THRESHOLD_=65536`` went from about 150,000 page
faults and 1.1 GB/s to about 3,000 faults and 1.6 GB/s.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

__all__ = ["HUGE_PAGE", "MIN_ALIGNED", "empty", "empty_array", "read_file"]

#: The x86-64 and arm64 (4 KiB base page) transparent huge page size.
HUGE_PAGE = 2 * 2**20
#: Below this numpy does not ask for huge pages, so aligning would gain nothing.
MIN_ALIGNED = 4 * 2**20


def empty(nbytes: int) -> np.ndarray:
    """A writable, uninitialised ``uint8`` array of ``nbytes``; big ones start on a huge page.

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
    # Round the length up too, so the last huge page lies inside the mapping.
    raw = np.empty(-(-nbytes // HUGE_PAGE) * HUGE_PAGE + HUGE_PAGE, np.uint8)
    start = -raw.ctypes.data % HUGE_PAGE
    return raw[start : start + nbytes]


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


def read_file(path: str) -> Any:
    """The bytes of the file at ``path``: ``bytes`` when small, else an aligned array.

    Reads with one ``readinto`` and no intermediate copy. Raises the ``OSError``
    subclasses of :func:`open` (``FileNotFoundError`` when there is no such file).

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
        if size < MIN_ALIGNED:
            return f.readall()
        buf = empty(size)
        view, got = memoryview(buf.data), 0
        while got < size:  # one read(2) moves at most ~2 GiB
            n = f.readinto(view[got:])
            if not n:  # the file shrank under us: hand out what was there
                return buf[:got]
            got += n
        extra = f.readall()  # or grew: keep every byte, as ``f.read()`` would
        return np.concatenate([buf, np.frombuffer(extra, np.uint8)]) if extra else buf
