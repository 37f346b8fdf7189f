"""Decompressing without producing more than a chunk can hold (decompression bombs).

A few kilobytes of zstd RLE blocks, gzip or bz2 inflate to gigabytes. The chunk's
metadata says how big its decoded bytes may be, so every decoder here takes that
``limit`` and refuses, before allocating more, to go past it:

- zstd: a frame that records its content size is checked against ``limit`` and
  decoded one-shot into exactly that size (the fast path, unchanged); a frame that
  does not is decoded by libzstd into a buffer of ``limit`` bytes, which fails
  instead of growing;
- gzip, zlib, bz2, lzma: the standard library's streaming decompressors with
  ``max_length = limit + 1``;
- blosc: the header's sizes are checked first (``nbytes`` against ``limit``, and
  ``cbytes`` against the object's length: c-blosc trusts it and reads past a
  truncated buffer);
- lz4 (numcodecs): the 4-byte size prefix is checked first; N5's lz4 block
  stream: each block's original size, before decompressing it;
- Zarr v2 object codecs (vlen-utf8, vlen-bytes, vlen-array, json2): the item
  count or shape in their header must be the chunk's element count before
  anything is allocated. What such a chunk's compressor may decode to has no
  bound: strings have no size limit.

libzstd is called through ctypes (numcodecs' extension exports it); a numcodecs
build that hides it falls back to numcodecs' decoder into a ``limit``-byte buffer,
which is still bounded but accepts exactly ``limit`` bytes only.

Each raises :class:`ValueError`; the read tasks turn it into a
:class:`~dask_zarrio.errors.ChunkDecodeError` naming the key.
"""

from __future__ import annotations

import bz2
import ctypes
import lzma
import zlib
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

import numpy as np
from numcodecs import blosc as numcodecs_blosc
from numcodecs import zstd as numcodecs_zstd
from numcodecs.abc import Codec as NumcodecsCodec
from numcodecs.compat import ensure_contiguous_ndarray_like, ensure_text

from ..memory.buffers import empty
from .base import Buffer, BytesBytesCodec
from .sizes import zstd_decoded_size

__all__ = [
    "BOUNDED_NUMCODECS",
    "stage_limits",
    "blosc_decode",
    "decode_filter",
    "filtered_limit",
    "stored_bound",
    "lz4_decode",
    "stream_decode",
    "too_large",
    "zstd_decode",
]


def too_large(what: str, limit: int, size: int | None = None) -> ValueError:
    """The error for output beyond ``limit``: the chunk is a decompression bomb or foreign.

    Examples
    --------
    >>> str(too_large("zstd", 8, 100)).split(";")[0]
    'zstd data decodes to 100 bytes, more than the 8 bytes this chunk can hold'
    """
    amount = "more" if size is None else f"{size}"
    return ValueError(
        f"{what} data decodes to {amount} bytes, more than the {limit} bytes this chunk can hold; "
        "it is corrupt, a decompression bomb, or was written with other metadata (chunk shape, "
        "dtype). Rewrite it, or delete it to read the fill value"
    )


def _into(result: bytes, out: np.ndarray | None) -> Buffer:
    """``result`` copied into ``out`` when it fills it exactly; else ``result`` itself.

    A shorter result is returned as it is, so that the size check after decoding
    sees its real length (``out``'s tail would be uninitialised).
    """
    if out is None or len(result) != out.nbytes:
        return result
    np.frombuffer(out, np.uint8)[...] = np.frombuffer(result, np.uint8)
    return out


@cache
def _libzstd() -> tuple[Any, Any, Any] | None:
    """``ZSTD_decompress``, ``ZSTD_isError`` and ``ZSTD_getErrorName`` from the libzstd numcodecs links, if exported.

    numcodecs' own ``decompress`` grows its buffer without limit for frames that do not
    record their size; ``ZSTD_decompress`` into a fixed buffer fails instead.
    """
    try:
        lib = ctypes.CDLL(numcodecs_zstd.__file__)
        decompress, is_error, error_name = lib.ZSTD_decompress, lib.ZSTD_isError, lib.ZSTD_getErrorName
    except (OSError, AttributeError):
        return None
    decompress.restype = ctypes.c_size_t
    decompress.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_size_t]
    is_error.restype = ctypes.c_uint
    is_error.argtypes = [ctypes.c_size_t]
    error_name.restype = ctypes.c_char_p
    error_name.argtypes = [ctypes.c_size_t]
    return decompress, is_error, error_name


def zstd_decode(data: Buffer, limit: int, out: np.ndarray | None = None) -> Buffer:
    """Decode zstd ``data`` to at most ``limit`` bytes.

    Examples
    --------
    >>> from numcodecs import Zstd
    >>> bytes(zstd_decode(Zstd().encode(b"ab" * 4), 8))
    b'abababab'
    >>> zstd_decode(Zstd().encode(b"ab" * 4), 7)
    Traceback (most recent call last):
    ...
    ValueError: zstd data decodes to 8 bytes, more than the 7 bytes this chunk can hold; ...
    """
    size = zstd_decoded_size(data)
    if size is not None:
        if size > limit:
            raise too_large("zstd", limit, size)
        # One shot into exactly the recorded size: libzstd fails rather than write more.
        try:
            return numcodecs_zstd.decompress(data, out if out is not None and out.nbytes == size else None)
        except RuntimeError as e:
            if "too small" not in str(e):
                raise
            raise ValueError(
                f"zstd frame records a content size of {size} bytes but decodes to more; it is "
                "corrupt or a decompression bomb. Rewrite it, or delete it to read the fill value"
            ) from e
    lib = _libzstd()
    dest = out if out is not None and out.nbytes == limit else empty(limit)
    if lib is None:  # a numcodecs build that hides libzstd: accepts exactly `limit` bytes only
        return numcodecs_zstd.decompress(data, dest)
    decompress, is_error, error_name = lib
    src = np.frombuffer(data, np.uint8)
    n = decompress(dest.ctypes.data, limit, src.ctypes.data, src.nbytes)
    if is_error(n):
        reason = error_name(n).decode()
        if "too small" in reason:  # libzstd's words for "more output than the buffer holds"
            raise too_large("zstd", limit)
        raise ValueError(f"zstd data does not decode: {reason}")
    return dest if n == dest.nbytes else dest[:n]


def blosc_decode(data: Buffer, limit: int, out: np.ndarray | None = None) -> Buffer:
    """Decode blosc ``data`` to at most ``limit`` bytes, its header checked first.

    Examples
    --------
    >>> from numcodecs import Blosc
    >>> frame = bytes(Blosc("lz4").encode(b"xy" * 100))
    >>> len(blosc_decode(frame, 200))
    200
    >>> blosc_decode(frame[:-1], 200)
    Traceback (most recent call last):
    ...
    ValueError: blosc header records ... compressed bytes but the object has ...: it is truncated or padded. ...
    """
    view = memoryview(data).cast("B")
    if len(view) < 16:
        raise ValueError(f"blosc: {len(view)} bytes cannot hold the 16-byte blosc header")
    nbytes = int.from_bytes(view[4:8], "little")
    cbytes = int.from_bytes(view[12:16], "little")
    if cbytes != len(view):
        raise ValueError(
            f"blosc header records {cbytes} compressed bytes but the object has {len(view)}: "
            "it is truncated or padded. Rewrite it, or delete it to read the fill value"
        )
    if nbytes > limit:
        raise too_large("blosc", limit, nbytes)
    # numcodecs fills a bigger ``out`` without complaint: only one of the exact size.
    return numcodecs_blosc.decompress(data, out if out is not None and out.nbytes == nbytes else None)


def lz4_decode(codec: NumcodecsCodec, data: Buffer, limit: int, out: np.ndarray | None = None) -> Buffer:
    """numcodecs' LZ4 after checking its 4-byte size prefix against ``limit``.

    Examples
    --------
    >>> from numcodecs import LZ4
    >>> lz4_decode(LZ4(), LZ4().encode(b"z" * 64), 63)
    Traceback (most recent call last):
    ...
    ValueError: lz4 data decodes to 64 bytes, more than the 63 bytes this chunk can hold; ...
    """
    view = memoryview(data).cast("B")
    size = int.from_bytes(view[:4], "little", signed=True) if len(view) >= 4 else -1
    if size > limit:
        raise too_large("lz4", limit, size)
    return codec.decode(data, out if out is not None and out.nbytes == size else None)


_STREAMS: dict[str, tuple[Callable[..., Any], bool]] = {
    # name: (a new decompressor, whether members may follow each other)
    "gzip": (lambda: zlib.decompressobj(16 + zlib.MAX_WBITS), True),
    "zlib": (lambda: zlib.decompressobj(zlib.MAX_WBITS), False),
    "bz2": (bz2.BZ2Decompressor, True),
    "lzma": (lzma.LZMADecompressor, True),
}


def stream_decode(
    kind: str, data: Buffer, limit: int, out: np.ndarray | None = None, **options: Any,
) -> Buffer:
    """Decode a gzip, zlib, bz2 or lzma stream to at most ``limit`` bytes.

    Concatenated members are read like the standard library's one-shot functions
    do (trailing bytes that are no member are ignored once one member decoded).
    ``options`` go to the decompressor (lzma's ``format`` and ``filters``).

    Examples
    --------
    >>> import gzip
    >>> bytes(stream_decode("gzip", gzip.compress(b"a" * 10) + gzip.compress(b"b"), 11))
    b'aaaaaaaaaab'
    >>> stream_decode("gzip", gzip.compress(b"a" * 10), 9)
    Traceback (most recent call last):
    ...
    ValueError: gzip data decodes to more bytes, more than the 9 bytes this chunk can hold; ...
    """
    make, members = _STREAMS[kind]
    rest: Buffer = memoryview(data).cast("B")
    parts: list[bytes] = []
    total = 0
    while True:
        decompressor = make(**options)
        try:
            # limit + 1: one byte more than allowed proves the stream is too long.
            part = decompressor.decompress(rest, limit + 1 - total)
        except (OSError, EOFError, zlib.error, lzma.LZMAError):
            if parts:  # trailing bytes that are no stream, as bz2/lzma.decompress accept
                break
            raise
        total += len(part)
        if total > limit:
            raise too_large(kind, limit)
        if not decompressor.eof:
            raise ValueError(f"{kind} stream is truncated (no end of stream after {total} bytes)")
        parts.append(part)
        rest = decompressor.unused_data
        if kind == "gzip" and not rest.strip(b"\0"):
            rest = b""  # gzip files may end in zero padding (gzip.decompress skips it)
        if not members or not rest:
            break
    return _into(parts[0] if len(parts) == 1 else b"".join(parts), out)


def _lzma(codec: NumcodecsCodec, data: Buffer, limit: int, out: np.ndarray | None) -> Buffer:
    options: dict[str, Any] = {"format": codec.format}
    if codec.filters is not None:
        options["filters"] = codec.filters
    return stream_decode("lzma", data, limit, out, **options)


#: numcodecs ids decoded with a bound: ``(codec, data, limit, out) -> decoded``.
BOUNDED_NUMCODECS: dict[str, Callable[[NumcodecsCodec, Buffer, int, np.ndarray | None], Buffer]] = {
    "zstd": lambda c, d, n, o: zstd_decode(d, n, o),
    "blosc": lambda c, d, n, o: blosc_decode(d, n, o),
    "gzip": lambda c, d, n, o: stream_decode("gzip", d, n, o),
    "zlib": lambda c, d, n, o: stream_decode("zlib", d, n, o),
    "bz2": lambda c, d, n, o: stream_decode("bz2", d, n, o),
    "lzma": _lzma,
    "lz4": lz4_decode,
    "n5-lz4": lambda c, d, n, o: _into(c.decode(d, None, limit=n), o),
}


#: numcodecs object codecs whose encoding starts with the item count, a little-endian uint32.
_COUNTED = {"vlen-utf8", "vlen-bytes", "vlen-array"}


def decode_filter(codec: NumcodecsCodec, data: Buffer, count: int, itemsize: int) -> Any:
    """Decode a Zarr v2 filter whose output holds ``count`` elements of ``itemsize`` bytes.

    Object codecs allocate what their header declares before reading the items:
    vlen-* an object array of the stored item count, json2 an array of the stored
    shape and dtype. Those are checked against the chunk first.

    Examples
    --------
    >>> from numcodecs import VLenUTF8
    >>> encoded = VLenUTF8().encode(np.array(["a", "b"], dtype=object))
    >>> decode_filter(VLenUTF8(), encoded, 2, 8).tolist()
    ['a', 'b']
    >>> decode_filter(VLenUTF8(), encoded, 3, 8)
    Traceback (most recent call last):
    ...
    ValueError: vlen-utf8 header declares 2 items, but the chunk holds 3; ...
    """
    codec_id = codec.codec_id
    if codec_id in _COUNTED:
        view = memoryview(data).cast("B")
        declared = int.from_bytes(view[:4], "little") if len(view) >= 4 else None
        if declared != count:
            raise ValueError(
                f"{codec_id} header declares {declared!r} items, but the chunk holds {count}; "
                "it is corrupt or was written with other metadata. Rewrite it, or delete it to "
                "read the fill value"
            )
    elif codec_id == "json2":
        return _json2_decode(codec, data, count, itemsize)
    return codec.decode(data)


def _json2_decode(codec: NumcodecsCodec, data: Buffer, count: int, itemsize: int) -> np.ndarray:
    """numcodecs' JSON decode (``[*items, dtype, shape]``) with dtype and shape checked first."""
    items = codec._decoder.decode(ensure_text(data, codec._text_encoding))
    if not isinstance(items, list) or len(items) < 2 or not isinstance(items[-1], list):
        raise ValueError("json2 chunk is not a list ending in a dtype and a shape")
    dtype, shape = np.dtype(items[-2]), items[-1]
    if not all(isinstance(s, int) and s >= 0 for s in shape) or int(np.prod(shape, dtype=object)) != count:
        raise ValueError(f"json2 chunk declares shape {shape!r}, but the chunk holds {count} elements")
    if dtype.itemsize > max(itemsize, 8):
        raise ValueError(f"json2 chunk declares dtype {dtype.str!r}, wider than the array's elements")
    dec = np.empty(shape, dtype=dtype)
    if not shape:
        dec[...] = items[0]
    else:
        dec[:] = items[:-2]
    return dec


def filtered_limit(filters: Sequence[NumcodecsCodec], shape: tuple[int, ...], dtype: np.dtype[Any]) -> int | None:
    """The most bytes v2 ``filters`` can make of a chunk: what its compressor may decode to.

    ``None`` for objects (strings have no size limit). Filters may widen elements
    (astype, fixedscaleoffset): a few encoded zeros say by how much.

    Examples
    --------
    >>> from numcodecs import AsType
    >>> filtered_limit([], (10,), np.dtype("f4")), filtered_limit([AsType("f8", "f4")], (10,), np.dtype("f4"))
    (40, 65621)
    """
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if dtype.kind == "O":
        return None
    if not filters or dtype.itemsize == 0:
        return nbytes
    sample: Any = np.zeros(64, dtype)
    try:
        for f in filters:
            sample = f.encode(sample)
        ratio = max(1.0, ensure_contiguous_ndarray_like(sample).nbytes / (64 * dtype.itemsize))
    except Exception:  # noqa: BLE001  (a filter that cannot encode zeros: no bound known)
        return None
    return int(nbytes * ratio) + nbytes // 8 + 65536


def stored_bound(compressor: Any, limit: int | None) -> int | None:
    """The most bytes a v2 chunk can have when stored: ``limit`` (what its filters may make
    of it, :func:`filtered_limit`) through the compressor's worst expansion; ``None``
    (objects) stays unbounded. The read path refuses bigger objects before reading them.

    Examples
    --------
    >>> from dask_zarrio.codecs.zstd import ZstdCodec
    >>> stored_bound(None, 1024), stored_bound(ZstdCodec(), 1024), stored_bound(ZstdCodec(), None)
    (1024, 66688, None)
    """
    if limit is None or compressor is None:
        return limit
    return int(compressor.max_encoded_size(limit))


def stage_limits(array_bytes_max: int | None, codecs: Sequence[BytesBytesCodec]) -> tuple[int | None, ...]:
    """The most bytes each bytes→bytes codec may decode to, in encoding order.

    The first decodes to the array→bytes codec's output; each later one to the
    encoded output of the one before.

    Examples
    --------
    >>> from dask_zarrio.codecs.zstd import ZstdCodec
    >>> stage_limits(1000, [ZstdCodec(), ZstdCodec()])
    (1000, 66661)
    """
    limits: list[int | None] = []
    size = array_bytes_max
    for codec in codecs:
        limits.append(size)
        size = None if size is None else codec.max_encoded_size(size)
    return tuple(limits)
