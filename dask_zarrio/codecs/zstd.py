"""The ``zstd`` codec, with optional content checksum: encoded with a per-thread zstd
context (:mod:`.contexts`, the same bytes as numcodecs' Zstd), decoded by numcodecs."""

from __future__ import annotations

from typing import Any

import numpy as np
from numcodecs import Zstd

from ..errors import MetadataError
from .base import Buffer, BytesBytesCodec
from .bounded import zstd_decode
from .contexts import zstd_compress
from .sizes import zstd_decoded_size

__all__ = ["ZstdCodec"]


class ZstdCodec(BytesBytesCodec):
    """Zstandard compression at ``level``; ``checksum`` adds zstd's frame checksum.

    Examples
    --------
    >>> c = ZstdCodec(level=3, checksum=True)
    >>> bytes(c.decode(c.encode(b"xyz" * 10)))[:6]
    b'xyzxyz'
    """

    name = "zstd"

    def __init__(self, level: int = 0, checksum: bool = False) -> None:
        if not isinstance(level, int) or isinstance(level, bool) or not -131072 <= level <= 22:
            raise MetadataError(f"zstd codec: level={level!r} must be an integer up to 22")
        if not isinstance(checksum, bool):
            raise MetadataError(f"zstd codec: checksum={checksum!r} must be true or false")
        self.level, self.checksum = level, checksum
        self._codec = Zstd(level=level, checksum=checksum)

    def to_dict(self) -> dict[str, Any]:
        return {"name": "zstd", "configuration": {"level": self.level, "checksum": self.checksum}}

    def encode(self, data: Buffer) -> Buffer:
        frame = zstd_compress(data, self.level, self.checksum)
        return self._codec.encode(data) if frame is None else frame

    def decode(self, data: Buffer, out: np.ndarray | None = None) -> Buffer:
        return self._codec.decode(data, out)

    def decoded_size(self, data: Buffer) -> int | None:
        return zstd_decoded_size(data)

    def decode_bounded(self, data: Buffer, limit: int, out: np.ndarray | None = None) -> Buffer:
        return zstd_decode(data, limit, out)
