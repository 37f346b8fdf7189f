"""Read the decoded size out of a compressed frame's header without decoding it.

Decompressing straight into a preallocated (writable) buffer saves one copy per
chunk, but numcodecs' zstd, gzip and blosc accept an ``out`` larger than the data
and leave the tail uninitialised. Checking the size recorded in the frame first
makes that shortcut safe: a mismatch falls back to a plain decode, whose length the
array→bytes codec then checks.
"""

from __future__ import annotations

from .base import Buffer

__all__ = ["blosc_decoded_size", "gzip_decoded_size", "zstd_decoded_size"]

_ZSTD_MAGIC = 0xFD2FB528


def zstd_decoded_size(data: Buffer) -> int | None:
    """Frame content size of a single-frame zstd buffer, or ``None`` when not recorded.

    Examples
    --------
    >>> from numcodecs import Zstd
    >>> zstd_decoded_size(Zstd().encode(b"x" * 1000))
    1000
    """
    view = memoryview(data).cast("B")
    if len(view) < 6 or int.from_bytes(view[:4], "little") != _ZSTD_MAGIC:
        return None
    descriptor = view[4]
    fcs_flag, single_segment, dict_flag = descriptor >> 6, (descriptor >> 5) & 1, descriptor & 3
    pos = 5 + (0 if single_segment else 1) + (0, 1, 2, 4)[dict_flag]
    width = (1 if single_segment else 0, 2, 4, 8)[fcs_flag]
    if width == 0 or len(view) < pos + width:
        return None
    size = int.from_bytes(view[pos : pos + width], "little")
    return size + 256 if width == 2 else size


def gzip_decoded_size(data: Buffer) -> int | None:
    """ISIZE of a gzip member (its last 4 bytes: the size modulo 2**32).

    Examples
    --------
    >>> from numcodecs import GZip
    >>> gzip_decoded_size(GZip().encode(b"x" * 1000))
    1000
    """
    view = memoryview(data).cast("B")
    if len(view) < 18 or view[0] != 0x1F or view[1] != 0x8B:
        return None
    return int.from_bytes(view[-4:], "little")


def blosc_decoded_size(data: Buffer) -> int | None:
    """The uncompressed size from a blosc header.

    Examples
    --------
    >>> from numcodecs import Blosc
    >>> blosc_decoded_size(Blosc("lz4").encode(b"x" * 1000))
    1000
    """
    view = memoryview(data).cast("B")
    if len(view) < 16:
        return None
    # Header: version, versionlz, flags, typesize, then nbytes as little-endian uint32.
    return int.from_bytes(view[4:8], "little")
