"""zstd compression contexts owned by dask_zarrio: one per thread, reused across chunks.

numcodecs sets up a fresh zstd compressor for every call (``Zstd``) and c-blosc 1 for
every block of every chunk (``Blosc``, ``ZSTD_compress``): a few MiB of tables each
time. Where glibc hands big allocations straight back to the OS (``dask.distributed``
starts workers with ``MALLOC_TRIM_THRESHOLD_=65536``), each set-up is fresh memory,
faulted in and zeroed page by page: about 13,000 page faults per 16 MiB blosc-zstd
chunk (docs/performance.md). A context kept per thread is set up once.

The contexts are libzstd's own, called through ctypes in the very libraries numcodecs
links (its ``blosc`` extension bundles c-blosc's zstd, its ``zstd`` extension its own;
both export libzstd's symbols). So the bytes come out identical to numcodecs' for the
same input and settings: the same library, the same parameters, only the context
reused (``ZSTD_compress`` is ``ZSTD_compressCCtx`` on a fresh context). A numcodecs
build that hides those symbols makes :func:`libzstd` return ``None``; callers then use
numcodecs as before.

Examples
--------
>>> from numcodecs import Zstd
>>> data = bytes(range(256)) * 64
>>> bytes(zstd_compress(data, 3, False)) == Zstd(level=3).encode(data)
True
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading
from functools import cache
from typing import Any

import numpy as np
from numcodecs.compat import ensure_contiguous_ndarray

from .base import Buffer

__all__ = ["LibZstd", "context", "libzstd", "malloc_hands_back", "scratch", "shrink", "zstd_compress"]

_ZSTD_C_COMPRESSION_LEVEL, _ZSTD_C_CHECKSUM_FLAG = 100, 201  # ZSTD_cParameter, <zstd.h>
_MAX_CLEVEL = 22  # numcodecs' Zstd caps the level here


class LibZstd:
    """The libzstd functions of one shared library (``path``), typed for ctypes calls.

    ctypes releases the GIL around each call, as numcodecs' ``nogil`` blocks do.
    """

    def __init__(self, path: str) -> None:
        lib = ctypes.CDLL(path)
        vp, sz, i = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int
        self.path = path
        self.create = self._fn(lib.ZSTD_createCCtx, vp, [])
        self.free = self._fn(lib.ZSTD_freeCCtx, sz, [vp])
        self.compress_cctx = self._fn(lib.ZSTD_compressCCtx, sz, [vp, vp, sz, vp, sz, i])
        self.compress2 = self._fn(lib.ZSTD_compress2, sz, [vp, vp, sz, vp, sz])
        self.set_parameter = self._fn(lib.ZSTD_CCtx_setParameter, sz, [vp, i, i])
        self.bound = self._fn(lib.ZSTD_compressBound, sz, [sz])
        self.is_error = self._fn(lib.ZSTD_isError, ctypes.c_uint, [sz])
        self.error_name = self._fn(lib.ZSTD_getErrorName, ctypes.c_char_p, [sz])
        self.max_level = int(self._fn(lib.ZSTD_maxCLevel, i, [])())

    @staticmethod
    def _fn(fn: Any, restype: Any, argtypes: list[Any]) -> Any:
        fn.restype, fn.argtypes = restype, argtypes
        return fn

    def check(self, code: int, what: str) -> int:
        """``code``, or a ``RuntimeError`` naming libzstd's reason if it is an error code."""
        if self.is_error(code):
            raise RuntimeError(f"zstd {what} failed: {self.error_name(code).decode()}")
        return code


@cache
def libzstd(module: str = "zstd") -> LibZstd | None:
    """libzstd as numcodecs' ``module`` extension (``"zstd"`` or ``"blosc"``) links it; ``None`` if hidden.

    Examples
    --------
    >>> libzstd("blosc") is None or libzstd("blosc").max_level
    22
    """
    import importlib

    try:
        return LibZstd(importlib.import_module(f"numcodecs.{module}").__file__ or "")
    except (OSError, AttributeError, ImportError):
        return None


#: glibc's malloc variables: setting any of them stops glibc from raising its mmap threshold.
_MALLOC_VARIABLES = ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_MMAP_MAX_")


@cache
def malloc_hands_back() -> bool:
    """Whether this process's glibc maps every allocation over 128 KiB afresh (and unmaps it when freed).

    So it is in ``dask.distributed`` workers (``MALLOC_TRIM_THRESHOLD_=65536``) and
    wherever a glibc malloc variable is set: glibc then keeps its mmap threshold at
    128 KiB instead of raising it to what the process frees. Elsewhere glibc reuses
    the memory of a freed compressor for the next one, and a fresh context per block
    costs nothing measurable (docs/performance.md). Read once per process.

    Examples
    --------
    >>> isinstance(malloc_hands_back(), bool)
    True
    """
    tunables = os.environ.get("GLIBC_TUNABLES", "")
    return sys.platform.startswith("linux") and (
        any(name in os.environ for name in _MALLOC_VARIABLES) or "glibc.malloc." in tunables)


class _Context:
    """One ``ZSTD_CCtx``, freed when its thread's state goes."""

    def __init__(self, lib: LibZstd) -> None:
        self.lib = lib
        self.ptr = lib.create()
        if not self.ptr:
            raise MemoryError("ZSTD_createCCtx returned NULL")

    def __del__(self) -> None:
        self.lib.free(self.ptr)


class _ThreadState(threading.local):
    def __init__(self) -> None:
        self.contexts: dict[tuple[Any, ...], _Context] = {}
        self.scratch = np.empty(0, np.uint8)


_STATE = _ThreadState()


def context(lib: LibZstd, *params: int) -> int:
    """This thread's ``ZSTD_CCtx`` of ``lib`` with ``params`` (pairs of parameter, value) set once.

    Examples
    --------
    >>> lib = libzstd()
    >>> lib is None or context(lib) == context(lib)
    True
    """
    key = (lib.path, *params)
    ctx = _STATE.contexts.get(key)
    if ctx is None:
        ctx = _Context(lib)
        for name, value in zip(params[::2], params[1::2]):
            lib.check(lib.set_parameter(ctx.ptr, name, value), "parameter")
        _STATE.contexts[key] = ctx
    return int(ctx.ptr)


def scratch(nbytes: int) -> np.ndarray:
    """This thread's scratch buffer of at least ``nbytes`` (for a shuffled blosc block), reused.

    Examples
    --------
    >>> scratch(10).nbytes >= 10
    True
    """
    if _STATE.scratch.nbytes < nbytes:
        _STATE.scratch = np.empty(nbytes, np.uint8)
    return _STATE.scratch[:nbytes]


def zstd_compress(data: Buffer, level: int, checksum: bool) -> Buffer | None:
    """One zstd frame of ``data``, as numcodecs' ``Zstd(level, checksum)`` writes it; ``None``
    where numcodecs hides libzstd (encode with numcodecs then).

    The frame records the content size (so readers can bound the decoded size).

    Examples
    --------
    >>> frame = zstd_compress(b"abc" * 100, 3, True)
    >>> frame is None or bytes(frame[:4]) == b"\\x28\\xb5\\x2f\\xfd"
    True
    """
    lib = libzstd("zstd")
    if lib is None:
        return None
    src = ensure_contiguous_ndarray(data).reshape(-1).view(np.uint8)
    ctx = context(lib, _ZSTD_C_COMPRESSION_LEVEL, min(level, _MAX_CLEVEL), _ZSTD_C_CHECKSUM_FLAG, int(checksum))
    cap = lib.bound(src.nbytes)
    dest = np.empty(cap, np.uint8)
    n = lib.check(lib.compress2(ctx, dest.ctypes.data, cap, src.ctypes.data, src.nbytes), "compression")
    return shrink(dest, n)


def shrink(buffer: np.ndarray, nbytes: int) -> np.ndarray:
    """``buffer`` cut to its first ``nbytes``, the rest given back to the allocator (``realloc``).

    An encoded chunk is often kept (a shard being assembled, a memory store), so it
    should hold its own size, not the worst case it was written into; numcodecs
    resizes its ``bytes`` the same way. ``buffer`` must own its memory, with no views.

    Examples
    --------
    >>> shrink(np.zeros(100, np.uint8), 10).nbytes
    10
    """
    buffer.resize((nbytes,), refcheck=False)
    return buffer
