"""The ``blosc`` codec, through numcodecs' Blosc; in processes whose malloc hands big
allocations back to the OS (``dask.distributed`` workers), zstd chunks are written by
:mod:`.blosc_frame` around a per-thread zstd context instead (the same bytes)."""

from __future__ import annotations

from typing import Any

import numpy as np
from numcodecs import blosc

from ..errors import MetadataError
from . import blosc_frame
from .base import Buffer, BytesBytesCodec
from .bounded import blosc_decode
from .contexts import malloc_hands_back
from .sizes import blosc_decoded_size

__all__ = ["ZSTD_BLOCKSIZE", "BloscCodec", "encode_blocksize"]

_SHUFFLE = {"noshuffle": 0, "shuffle": 1, "bitshuffle": 2}

#: Block size for zstd when the configuration leaves it to the implementation
#: (``blocksize: 0``, "an automatic size", blosc codec spec). c-blosc 1 picks 32–256 KiB
#: for zstd, and zstd then sets up its compressor for each block: on a 16 MiB chunk of
#: float32 (docs/performance.md) 1 MiB blocks encode 1.4–2.2x faster, decode 1.5x
#: faster and come out ~10 % smaller. Any blosc decoder reads any block size.
ZSTD_BLOCKSIZE = 2**20


def encode_blocksize(cname: str, blocksize: int) -> int:
    """The block size to compress with, for a configured ``blocksize`` (0: automatic).

    Examples
    --------
    >>> encode_blocksize("zstd", 0), encode_blocksize("zstd", 65536), encode_blocksize("lz4", 0)
    (1048576, 65536, 0)
    """
    if blocksize == 0 and cname == "zstd":
        return ZSTD_BLOCKSIZE
    return blocksize


class BloscCodec(BytesBytesCodec):
    """Blosc compression; v3 needs ``typesize`` and a string ``shuffle``.

    Examples
    --------
    >>> c = BloscCodec(cname="zstd", clevel=5, shuffle="shuffle", typesize=4)
    >>> data = np.arange(100, dtype="f4").tobytes()
    >>> bytes(c.decode(c.encode(data))) == data
    True
    """

    name = "blosc"

    def __init__(
        self,
        cname: str = "zstd",
        clevel: int = 5,
        shuffle: str = "shuffle",
        typesize: int | None = None,
        blocksize: int = 0,
    ) -> None:
        if cname not in blosc.list_compressors():
            raise MetadataError(
                f"blosc codec: cname={cname!r} is not one of {blosc.list_compressors()!r}"
            )
        if shuffle not in _SHUFFLE:
            raise MetadataError(f"blosc codec: shuffle={shuffle!r} must be one of {list(_SHUFFLE)}")
        if not isinstance(clevel, int) or not 0 <= clevel <= 9:
            raise MetadataError(f"blosc codec: clevel={clevel!r} must be an integer 0-9")
        if shuffle != "noshuffle" and not (isinstance(typesize, int) and typesize >= 1):
            raise MetadataError(
                f"blosc codec: shuffle={shuffle!r} needs a positive integer 'typesize'; got "
                f"{typesize!r}"
            )
        self.cname, self.clevel, self.shuffle = cname, clevel, shuffle
        self.typesize, self.blocksize = typesize, blocksize

    def to_dict(self) -> dict[str, Any]:
        config: dict[str, Any] = {
            "cname": self.cname,
            "clevel": self.clevel,
            "shuffle": self.shuffle,
            "blocksize": self.blocksize,
        }
        if self.typesize is not None:
            config["typesize"] = self.typesize
        return {"name": "blosc", "configuration": config}

    def for_dtype(self, dtype: np.dtype[Any]) -> BloscCodec:
        """This codec with ``typesize`` set to ``dtype``'s item size, if it was not given.

        Examples
        --------
        >>> BloscCodec(shuffle="noshuffle").for_dtype(np.dtype("f8")).typesize
        8
        """
        if self.typesize is not None:
            return self
        return BloscCodec(self.cname, self.clevel, self.shuffle, dtype.itemsize, self.blocksize)

    def encode(self, data: Buffer) -> Buffer:
        shuffle, blocksize = _SHUFFLE[self.shuffle], encode_blocksize(self.cname, self.blocksize)
        if malloc_hands_back():  # else c-blosc's own shuffle is faster, its compressors free
            frame = blosc_frame.encode(data, self.cname, self.clevel, shuffle, self.typesize or 1, blocksize)
            if frame is not None:
                return frame
        return blosc.compress(data, self.cname.encode(), self.clevel, shuffle, blocksize, self.typesize or 1)

    def decode(self, data: Buffer, out: np.ndarray | None = None) -> Buffer:
        return blosc.decompress(data, out)

    def decoded_size(self, data: Buffer) -> int | None:
        return blosc_decoded_size(data)

    def decode_bounded(self, data: Buffer, limit: int, out: np.ndarray | None = None) -> Buffer:
        return blosc_decode(data, limit, out)
