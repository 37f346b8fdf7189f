"""The ``crc32c`` codec: a 4-byte little-endian CRC-32C appended to the bytes.

Computed with ``google-crc32c``, the package numcodecs recommends: with the older
``crc32c`` package installed instead, numcodecs >= 0.16.4 warns on every import.
"""

from __future__ import annotations

from typing import Any

import google_crc32c
import numpy as np

from .base import Buffer, BytesBytesCodec

__all__ = ["Crc32cCodec"]


def _crc32c(view: memoryview) -> int:
    # google_crc32c's C function takes bytes or a numpy array but no memoryview or bytearray:
    # a numpy view of the same memory avoids a copy.
    return int(google_crc32c.value(np.frombuffer(view, np.uint8)))


class Crc32cCodec(BytesBytesCodec):
    """Append a CRC-32C checksum on encode; check and strip it on decode.

    Examples
    --------
    >>> c = Crc32cCodec()
    >>> bytes(c.decode(c.encode(b"data")))
    b'data'
    """

    name = "crc32c"

    def to_dict(self) -> dict[str, Any]:
        return {"name": "crc32c"}

    def encode(self, data: Buffer) -> Buffer:
        view = memoryview(data).cast("B")
        return bytes(view) + _crc32c(view).to_bytes(4, "little")

    def decode(self, data: Buffer, out: np.ndarray | None = None) -> Buffer:
        view = memoryview(data).cast("B")
        if len(view) < 4:
            raise ValueError(f"crc32c: {len(view)} bytes cannot hold a 4-byte checksum")
        body, stored = view[:-4], int.from_bytes(view[-4:], "little")
        actual = _crc32c(body)
        if actual != stored:
            raise ValueError(f"crc32c checksum mismatch: stored {stored:#010x}, computed {actual:#010x}")
        if out is not None:
            np.frombuffer(out, np.uint8)[: len(body)] = np.frombuffer(body, np.uint8)
            return out
        return body

    def decoded_size(self, data: Buffer) -> int | None:
        return len(memoryview(data).cast("B")) - 4
