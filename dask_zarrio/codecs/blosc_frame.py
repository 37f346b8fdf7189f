"""Blosc 1 chunks with zstd inside, written around one zstd context per thread.

c-blosc 1 (inside numcodecs' ``Blosc``) calls ``ZSTD_compress`` for every block, which
sets up a compressor of a few MiB each time (:mod:`.contexts` says why that costs page
faults in ``dask.distributed`` workers). This module writes the same chunk format
itself: c-blosc's header, block starts and blocks, each block byte-shuffled by numpy
into a per-thread scratch buffer and compressed by ``ZSTD_compressCCtx`` with this
thread's context, in the libzstd that numcodecs' blosc extension bundles. So the chunk
is byte for byte what ``numcodecs.blosc.compress`` writes (tests/codecs/test_blosc_frame.py
checks that, and that numcodecs, zarr-python and tensorstore read it).

numpy's shuffle costs about 0.25 ms per MiB against c-blosc's SIMD one's 0.1, so the
codecs use this module only where a fresh compressor per block costs page faults
(:func:`.contexts.malloc_hands_back`, e.g. in ``dask.distributed`` workers), and
c-blosc elsewhere.

Only the common case is written here: zstd, no shuffle or byte shuffle, a chunk of at
least 128 bytes and a given block size (dask_zarrio always gives one for zstd,
:func:`.blosc.encode_blocksize`). :func:`encode` returns ``None`` for anything else
(bit shuffle, other compressors, ``clevel`` 0, tiny chunks) and for numcodecs builds
that hide libzstd; the caller then uses numcodecs. Decoding is c-blosc's (its zstd
decoder context is small and comes from the heap).

Format (c-blosc 1.21 ``blosc.c``; blosc's README_CHUNK_FORMAT): a 16-byte header
(format version 2, zstd format version 1, flags, typesize, then little-endian int32
uncompressed size, block size and chunk size), the int32 start of every block, then
every block as an int32 size and its zstd frame, or the block itself when zstd cannot
make it smaller. zstd blocks are never split into per-byte streams (c-blosc's
"forward compatible" split mode). When the chunk would not fit in its size plus the
header, the whole chunk is copied instead (the ``MEMCPYED`` flag).

Examples
--------
>>> import numpy as np
>>> from numcodecs import blosc
>>> data = np.linspace(0, 1, 4096, dtype="f4")
>>> frame = encode(data, "zstd", 3, 1, 4, 4096)
>>> frame is None or bytes(frame) == blosc.compress(data, b"zstd", 3, 1, 4096, 4)
True
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
from numcodecs.compat import ensure_contiguous_ndarray

from ..memory.buffers import empty
from .base import Buffer
from .contexts import LibZstd, context, libzstd, scratch, shrink

__all__ = ["HEADER", "MAX_BLOCKSIZE", "MIN_BUFFERSIZE", "block_size", "encode", "zstd_level"]

HEADER = 16  # BLOSC_MAX_OVERHEAD
MIN_BUFFERSIZE = 128  # smaller chunks are copied whole by c-blosc
_MAX_TYPESIZE = 255  # larger typesizes are treated as 1
MAX_BLOCKSIZE = (2**31 - 1 - _MAX_TYPESIZE * 4) // 3
_MAX_BUFFERSIZE = 2**31 - 1 - HEADER
_DOSHUFFLE, _MEMCPYED, _DONT_SPLIT = 0x1, 0x2, 0x10
_ZSTD_FORMAT, _ZSTD_VERSION_FORMAT, _VERSION_FORMAT = 4, 1, 2
_WORDS: dict[int, np.dtype[Any]] = {2: np.dtype("<u2"), 4: np.dtype("<u4"), 8: np.dtype("<u8")}


def zstd_level(clevel: int, max_level: int = 22) -> int:
    """The zstd level c-blosc 1 compresses with for blosc's ``clevel`` (1-9).

    Examples
    --------
    >>> zstd_level(3), zstd_level(9)
    (5, 22)
    """
    return clevel * 2 - 1 if clevel < 9 else max_level


def block_size(nbytes: int, typesize: int, blocksize: int) -> int:
    """c-blosc's block size for a chunk of ``nbytes`` with a requested ``blocksize`` (> 0).

    Examples
    --------
    >>> block_size(16 * 2**20, 4, 2**20), block_size(1000, 4, 2**20), block_size(1000, 3, 100)
    (1048576, 1000, 126)
    """
    size = min(max(blocksize, MIN_BUFFERSIZE), MAX_BLOCKSIZE, nbytes)
    return size // typesize * typesize if size > typesize else size


def encode(data: Buffer, cname: str, clevel: int, shuffle: int, typesize: int, blocksize: int) -> Buffer | None:
    """``numcodecs.blosc.compress(data, cname, clevel, shuffle, blocksize, typesize)``'s bytes,
    written with this thread's zstd context; ``None`` where this module does not write
    them (see the module docs).

    Examples
    --------
    >>> frame = encode(b"x" * 1000, "zstd", 5, 0, 1, 2**20)
    >>> frame is None or bytes(frame[:4]) == bytes([2, 1, 0x90, 1])
    True
    """
    if cname != "zstd" or shuffle not in (0, 1) or not 1 <= clevel <= 9 or blocksize <= 0 or typesize < 1:
        return None
    lib = libzstd("blosc")
    if lib is None:
        return None
    src = ensure_contiguous_ndarray(data).reshape(-1).view(np.uint8)
    nbytes = src.nbytes
    typesize = 1 if typesize > _MAX_TYPESIZE else typesize
    if not max(MIN_BUFFERSIZE, typesize) <= nbytes <= _MAX_BUFFERSIZE:
        return None
    size = block_size(nbytes, typesize, blocksize)
    flags = (_DOSHUFFLE if shuffle else 0) | _DONT_SPLIT | _ZSTD_FORMAT << 5
    # c-blosc's bound: the chunk, copied, plus the header. Where this module runs (malloc hands big
    # frees back) a fresh buffer is a fresh mapping, faulted in page by page: 2.5 ms of a 16 MiB
    # chunk's 45. :func:`empty` takes big ones from the pool, already mapped.
    dest = empty(nbytes + HEADER)
    level = zstd_level(clevel, lib.max_level)
    total = _blocks(lib, src, dest, size, typesize if shuffle else 1, level)
    if total == 0:  # incompressible: c-blosc copies the whole chunk after the header
        flags |= _MEMCPYED
        dest[HEADER:] = src
        total = nbytes + HEADER
    struct.pack_into("<4B3i", dest.data, 0, _VERSION_FORMAT, _ZSTD_VERSION_FORMAT, flags, typesize, nbytes, size, total)
    if dest.flags.owndata:
        return shrink(dest, total)
    # A pooled buffer goes back to the pool: the frame is copied out at its own size (an
    # encoded chunk may be kept, in a shard or a memory store), into pooled memory where big.
    frame = empty(total)
    frame[:] = dest[:total]
    return frame


def _shuffled(block: np.ndarray, typesize: int) -> np.ndarray:
    """c-blosc's byte shuffle of ``block`` into this thread's scratch buffer: byte ``j`` of
    every element, for each ``j`` in turn; the bytes after the last whole element stay as they are."""
    n = block.nbytes
    whole = n // typesize * typesize
    out = scratch(n)
    planes = out[:whole].reshape(typesize, -1)
    word = _WORDS.get(typesize)
    if word is None:
        np.copyto(planes, block[:whole].reshape(-1, typesize).T)
    else:
        # Byte j of each little-endian word is the word shifted right by 8 j, cast to a byte:
        # numpy runs that through SIMD loops, twice as fast as the strided byte copy above.
        words = block[:whole].view(word)
        np.copyto(planes[0], words, casting="unsafe")
        for j in range(1, typesize):
            np.right_shift(words, 8 * j, out=planes[j], casting="unsafe")
    out[whole:] = block[whole:]
    return out


def _blocks(lib: LibZstd, src: np.ndarray, dest: np.ndarray, size: int, typesize: int, level: int) -> int:
    """Write the block starts and blocks into ``dest``; the chunk's size, or 0 if it is incompressible.

    Mirrors c-blosc 1.21's ``blosc_c`` with one stream per block: a block goes in as is when
    zstd returns an error or exactly its size, and the chunk is given up on (0) as soon
    as it cannot fit in ``dest``.
    """
    ctx = context(lib)
    nbytes, limit = src.nbytes, dest.nbytes
    nblocks = -(-nbytes // size)
    starts = []
    used = HEADER + 4 * nblocks
    base = dest.ctypes.data
    for j in range(nblocks):
        starts.append(used)
        block = src[j * size:(j + 1) * size]
        n = block.nbytes
        if typesize > 1:
            block = _shuffled(block, typesize)
        used += 4
        room = min(n, limit - used)
        if room <= 0:
            return 0
        written = lib.compress_cctx(ctx, base + used, room, block.ctypes.data, n, level)
        if lib.is_error(written) or written == n:
            if used + n > limit:
                return 0
            dest[used:used + n] = block
            written = n
        struct.pack_into("<i", dest.data, used - 4, written)
        used += written
    struct.pack_into(f"<{nblocks}i", dest.data, HEADER, *starts)
    return used
