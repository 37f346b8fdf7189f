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
from functools import cached_property
from typing import Any

import numpy as np
from numcodecs.abc import Codec as NumcodecsCodec

from .base import Buffer
from .conversions import n5_compression_codec
from .numcodecs_adapter import NumcodecsBytesBytes
from .pipeline import WholeChunksOnly, decode_bytes

__all__ = ["N5Pipeline"]

_MODES = {0: "default", 1: "varlength", 2: "object"}


@dataclass(frozen=True)
class N5Pipeline(WholeChunksOnly):
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

    @cached_property
    def _decoder(self) -> NumcodecsBytesBytes | None:
        # Built once per pipeline; decodes through the one bounded path (decode_bytes).
        codec = self.codec
        return None if codec is None else NumcodecsBytesBytes(codec)

    @property
    def max_encoded_size(self) -> int:
        """The most bytes a stored block can have: the header (with a varlength count), then
        the block's elements through the compressor's worst expansion.

        Examples
        --------
        >>> N5Pipeline({"type": "raw"}, (2, 3), np.dtype("u2")).max_encoded_size
        28
        """
        nbytes = int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize
        decoder = self._decoder
        return 8 + 4 * len(self.shape) + (nbytes if decoder is None else decoder.max_encoded_size(nbytes))

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
        stored = self.dtype.newbyteorder(">")
        shape = tuple(reversed(dims))
        nbytes = int(np.prod(shape, dtype=np.int64)) * stored.itemsize
        # The header's dimensions (checked against blockSize above) bound the output.
        decoder = self._decoder
        raw = decode_bytes(decoder, payload, nbytes) if decoder is not None else payload
        raw_view = memoryview(raw).cast("B")
        if len(raw_view) != nbytes:
            raise ValueError(
                f"N5 block decoded to {len(raw_view)} bytes, expected {nbytes} for dimensions {list(dims)}"
            )
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
