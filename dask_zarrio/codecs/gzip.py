"""The ``gzip`` codec (through numcodecs' GZip)."""

from __future__ import annotations

from typing import Any

import numpy as np
from numcodecs import GZip

from ..errors import MetadataError
from .base import Buffer, BytesBytesCodec
from .bounded import stream_decode
from .sizes import gzip_decoded_size

__all__ = ["GzipCodec"]


class GzipCodec(BytesBytesCodec):
    """Gzip compression at ``level`` 0-9.

    Examples
    --------
    >>> c = GzipCodec(level=1)
    >>> bytes(c.decode(c.encode(b"abc" * 10)))
    b'abcabcabcabcabcabcabcabcabcabc'
    """

    name = "gzip"

    def __init__(self, level: int = 5) -> None:
        if not isinstance(level, int) or not 0 <= level <= 9:
            raise MetadataError(f"gzip codec: level={level!r} must be an integer 0-9")
        self.level = level
        self._codec = GZip(level)

    def to_dict(self) -> dict[str, Any]:
        return {"name": "gzip", "configuration": {"level": self.level}}

    def encode(self, data: Buffer) -> Buffer:
        return self._codec.encode(data)

    def decode(self, data: Buffer, out: np.ndarray | None = None) -> Buffer:
        return self._codec.decode(data, out)

    def decoded_size(self, data: Buffer) -> int | None:
        return gzip_decoded_size(data)

    def decode_bounded(self, data: Buffer, limit: int, out: np.ndarray | None = None) -> Buffer:
        return stream_decode("gzip", data, limit, out)
