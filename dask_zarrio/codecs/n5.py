"""N5 blocks: a big-endian header, then the (compressed) big-endian elements.

Header (N5 spec): ``mode`` uint16, ``ndim`` uint16, then each block dimension as
uint32, in N5 axis order (fastest first), all big-endian; ``mode`` 1 (varlength)
adds a uint32 element count. Elements follow with the first N5 axis fastest,
which is C order over the reversed axes: the order dask_zarrio presents N5
arrays in. Edge blocks may be truncated (n5-java, z5) or full size (tensorstore,
zarr 2.x); both are read, full size is written.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import numcodecs
import numpy as np
from numcodecs import lz4 as numcodecs_lz4
from numcodecs.abc import Codec as NumcodecsCodec

from ..errors import MetadataError
from .base import Buffer

__all__ = ["LZ4BlockStream", "N5Pipeline", "n5_compression_codec", "n5_compression_from_codec"]

_MODES = {0: "default", 1: "varlength", 2: "object"}


class LZ4BlockStream(NumcodecsCodec):
    """lz4-java's ``LZ4BlockOutputStream`` format, which N5's ``lz4`` compression writes.

    Blocks of at most ``block_size`` bytes, each behind a 21-byte header (magic
    ``LZ4Block``, method/level token, compressed and original sizes, an xxHash32
    checksum), ending with an empty block. The checksum needs the ``xxhash``
    package to write; reads check it when ``xxhash`` is installed.
    """

    codec_id = "n5-lz4"
    _MAGIC = b"LZ4Block"
    _SEED = 0x9747B28C
    _RAW, _LZ4 = 0x10, 0x20

    def __init__(self, block_size: int = 65536) -> None:
        self.block_size = int(block_size)

    @staticmethod
    def _xxhash() -> Any:
        try:
            import xxhash
        except ImportError:
            return None
        return xxhash

    def _checksum(self, data: bytes) -> int | None:
        xxhash = self._xxhash()
        if xxhash is None:
            return None
        return int(xxhash.xxh32_intdigest(data, seed=self._SEED)) & 0x0FFFFFFF

    def encode(self, buf: Any) -> bytes:
        data = bytes(memoryview(buf).cast("B"))
        if self._xxhash() is None:
            raise MetadataError(
                "N5 lz4 compression needs the xxhash package to write its checksums: "
                "pip install xxhash (or choose gzip, zstd or blosc)"
            )
        level = max(0, (self.block_size - 1).bit_length() - 10)
        out = []
        for start in range(0, len(data), self.block_size):
            block = data[start : start + self.block_size]
            packed = numcodecs_lz4.compress(block)[4:]  # numcodecs prefixes the size
            method, payload = (self._LZ4, packed) if len(packed) < len(block) else (self._RAW, block)
            out.append(self._MAGIC + struct.pack("<BiiI", method | level, len(payload), len(block), self._checksum(block) or 0) + payload)
        out.append(self._MAGIC + struct.pack("<BiiI", self._RAW | level, 0, 0, 0))
        return b"".join(out)

    def decode(self, buf: Any, out: Any = None) -> bytes:
        view = memoryview(buf).cast("B")
        pos, parts = 0, []
        while pos < len(view):
            if bytes(view[pos : pos + 8]) != self._MAGIC:
                raise ValueError(f"lz4 block stream: no LZ4Block magic at byte {pos}")
            token, clen, olen, check = struct.unpack("<BiiI", view[pos + 8 : pos + 21])
            pos += 21
            if olen == 0:
                break
            payload = bytes(view[pos : pos + clen])
            pos += clen
            if token & 0xF0 == self._RAW:
                block = payload
            else:
                block = numcodecs_lz4.decompress(struct.pack("<i", olen) + payload)
            expected = self._checksum(block)
            if expected is not None and expected != check:
                raise ValueError(f"lz4 block stream: checksum mismatch at byte {pos - clen}")
            parts.append(block)
        data = b"".join(parts)
        if out is not None:
            np.frombuffer(out, np.uint8)[: len(data)] = np.frombuffer(data, np.uint8)
            return out
        return data

    def get_config(self) -> dict[str, Any]:
        return {"id": self.codec_id, "block_size": self.block_size}


def n5_compression_codec(compression: object) -> NumcodecsCodec | None:
    """The codec for an N5 ``compression`` object (``None`` for raw).

    Examples
    --------
    >>> n5_compression_codec({"type": "gzip", "level": 3, "useZlib": True})
    Zlib(level=3)
    """
    if not isinstance(compression, dict) or not isinstance(compression.get("type"), str):
        raise MetadataError(f"compression={compression!r} must be an object with a 'type'")
    kind = compression["type"]
    if kind == "raw":
        return None
    if kind == "gzip":
        level = compression.get("level", -1)
        level = 6 if level in (-1, None) else int(level)
        return numcodecs.Zlib(level) if compression.get("useZlib") else numcodecs.GZip(level)
    if kind == "bzip2":
        return numcodecs.BZ2(int(compression.get("blockSize", 9)))
    if kind == "xz":
        return numcodecs.LZMA(preset=int(compression.get("preset", 6)))
    if kind == "blosc":
        return numcodecs.Blosc(
            cname=compression.get("cname", "lz4"), clevel=int(compression.get("clevel", 5)),
            shuffle=int(compression.get("shuffle", 1)), blocksize=int(compression.get("blocksize", 0)),
        )
    if kind == "zstd":
        return numcodecs.Zstd(level=int(compression.get("level", 3)))
    if kind == "lz4":
        return LZ4BlockStream(int(compression.get("blockSize", 65536)))
    raise MetadataError(
        f"N5 compression type {kind!r} is not supported; known: raw, gzip, bzip2, xz, blosc, zstd, lz4"
    )


def n5_compression_from_codec(codec: Any) -> dict[str, Any]:
    """The N5 ``compression`` object for a codec given to ``dz.write`` (or an N5 dict).

    Examples
    --------
    >>> n5_compression_from_codec(numcodecs.Zstd(level=5))
    {'type': 'zstd', 'level': 5}
    """
    if codec is None:
        return {"type": "raw"}
    if isinstance(codec, dict) and "type" in codec:
        n5_compression_codec(codec)  # validates
        return dict(codec)
    if isinstance(codec, dict) and "id" in codec:
        codec = numcodecs.get_codec(dict(codec))
    if isinstance(codec, dict) and "name" in codec:
        codec = numcodecs.get_codec({"id": codec["name"], **(codec.get("configuration") or {})})
    cid = getattr(codec, "codec_id", None)
    if cid == "gzip":
        return {"type": "gzip", "level": codec.level, "useZlib": False}
    if cid == "zlib":
        return {"type": "gzip", "level": codec.level, "useZlib": True}
    if cid == "bz2":
        return {"type": "bzip2", "blockSize": codec.level}
    if cid == "lzma":
        return {"type": "xz", "preset": codec.preset if codec.preset is not None else 6}
    if cid == "blosc":
        # tensorstore refuses n5-blosc's optional "nthreads" member: leave it out.
        return {"type": "blosc", "cname": codec.cname, "clevel": codec.clevel, "shuffle": codec.shuffle, "blocksize": codec.blocksize}
    if cid == "zstd":
        return {"type": "zstd", "level": codec.level}
    if cid == "n5-lz4":
        return {"type": "lz4", "blockSize": codec.block_size}
    raise MetadataError(
        f"compressors={codec!r} has no N5 equivalent; use GZip, Zlib, BZ2, LZMA, Blosc or Zstd, "
        "or an N5 compression object such as {'type': 'gzip', 'level': 5}"
    )


@dataclass(frozen=True)
class N5Pipeline:
    """Decode and encode N5 blocks of C-order ``shape`` (N5 block size reversed).

    Examples
    --------
    >>> p = N5Pipeline({"type": "raw"}, (2, 3), np.dtype("u2"))
    >>> block = np.arange(6, dtype="u2").reshape(2, 3)
    >>> bytes(p.encode(block))[:4]
    b'\\x00\\x00\\x00\\x02'
    >>> np.array_equal(p.decode(p.encode(block)), block)
    True
    """

    compression: dict[str, Any]
    shape: tuple[int, ...]
    dtype: np.dtype[Any]

    @property
    def codec(self) -> NumcodecsCodec | None:
        return n5_compression_codec(self.compression)

    def decode_into(self, data: Buffer, out: np.ndarray) -> bool:
        # Blocks carry a header, big-endian elements and may be truncated at the
        # edges: always decoded on their own, then placed.
        return False

    def decode(self, data: Buffer) -> np.ndarray:
        view = memoryview(data).cast("B")
        if len(view) < 4:
            raise ValueError(f"block of {len(view)} bytes is too short for an N5 header")
        mode, ndim = struct.unpack(">HH", view[:4])
        if mode != 0:
            raise ValueError(
                f"N5 block mode {mode} ({_MODES.get(mode, 'unknown')}) is not supported; only mode 0 "
                "(default) blocks can be read as arrays"
            )
        if ndim != len(self.shape):
            raise ValueError(f"N5 block header has ndim {ndim}, the dataset has {len(self.shape)} dimensions")
        dims = struct.unpack(f">{ndim}I", view[4 : 4 + 4 * ndim])
        block_size = tuple(reversed(self.shape))
        if any(d > b for d, b in zip(dims, block_size)):
            raise ValueError(f"N5 block header dimensions {list(dims)} exceed the blockSize {list(block_size)}")
        payload = view[4 + 4 * ndim :]
        codec = self.codec
        raw = codec.decode(payload) if codec is not None else payload
        stored = self.dtype.newbyteorder(">")
        shape = tuple(reversed(dims))
        nbytes = int(np.prod(shape, dtype=np.int64)) * stored.itemsize
        raw_view = memoryview(raw).cast("B")
        if len(raw_view) != nbytes:
            raise ValueError(f"N5 block decoded to {len(raw_view)} bytes, expected {nbytes} for dimensions {list(dims)}")
        arr = np.frombuffer(raw_view, stored).reshape(shape).astype(self.dtype)
        if shape == self.shape:
            return arr
        full = np.zeros(self.shape, self.dtype)  # a truncated edge block (n5-java, z5)
        full[tuple(slice(0, s) for s in shape)] = arr
        return full

    def encode(self, arr: np.ndarray) -> Buffer:
        dims = tuple(reversed(arr.shape))
        header = struct.pack(f">HH{len(dims)}I", 0, len(dims), *dims)
        body = np.ascontiguousarray(arr, dtype=self.dtype.newbyteorder(">")).tobytes()
        codec = self.codec
        return header + (bytes(codec.encode(body)) if codec is not None else body)
