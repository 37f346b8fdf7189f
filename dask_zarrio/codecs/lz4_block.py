"""lz4-java's block stream, the format of N5's ``lz4`` compression, as a numcodecs codec."""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
from numcodecs import lz4 as numcodecs_lz4
from numcodecs.abc import Codec as NumcodecsCodec

from ..errors import MetadataError

__all__ = ["LZ4BlockStream"]


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
            header = struct.pack("<BiiI", method | level, len(payload), len(block), self._checksum(block) or 0)
            out.append(self._MAGIC + header + payload)
        out.append(self._MAGIC + struct.pack("<BiiI", self._RAW | level, 0, 0, 0))
        return b"".join(out)

    def decode(self, buf: Any, out: Any = None, limit: int | None = None) -> bytes:
        """Decode the blocks; with ``limit``, refuse (before decompressing) to go past it."""
        view = memoryview(buf).cast("B")
        pos, parts, total = 0, [], 0
        while pos < len(view):
            if bytes(view[pos : pos + 8]) != self._MAGIC:
                raise ValueError(f"lz4 block stream: no LZ4Block magic at byte {pos}")
            if pos + 21 > len(view):
                raise ValueError(f"lz4 block stream: truncated block header at byte {pos}")
            token, clen, olen, check = struct.unpack("<BiiI", view[pos + 8 : pos + 21])
            pos += 21
            if olen == 0:
                break
            if clen < 0 or olen < 0 or pos + clen > len(view):
                raise ValueError(f"lz4 block stream: block at byte {pos - 21} declares {clen} bytes, beyond the data")
            total += olen
            if limit is not None and total > limit:
                raise ValueError(
                    f"lz4 block stream decodes to more than the {limit} bytes this chunk can hold "
                    "(a decompression bomb, or other metadata); rewrite it, or delete it to read the fill value"
                )
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
