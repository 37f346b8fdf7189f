"""The three kinds of Zarr v3 codec, named by what goes in and what comes out.

A chunk is encoded by zero or more array→array codecs, exactly one array→bytes
codec, then zero or more bytes→bytes codecs; decoding runs the chain backwards
(Zarr v3 core spec, "Codecs"). Each codec knows its JSON form (``to_dict``) and is
built from it by ``from_config``; the registry maps spec names to classes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar, Protocol

import numpy as np

__all__ = ["ArrayArrayCodec", "ArrayBytesCodec", "Buffer", "ByteRangeReader", "BytesBytesCodec", "Codec"]

#: Anything that exposes the buffer protocol: bytes, bytearray, memoryview, ndarray.
Buffer = Any


class ByteRangeReader(Protocol):
    """Ranged reads of stored objects: what a codec needs to decode part of a chunk.

    dask_zarrio's stores are such readers; naming only this keeps the codecs from
    importing the store layer.
    """

    def get_range(self, key: str, start: int, length: int | None = None) -> Buffer | None:
        """Bytes ``[start, start + length)`` of ``key`` (negative ``start``: from the end).

        ``None`` when the object does not exist.
        """

    def get_ranges(self, key: str, ranges: list[tuple[int, int]]) -> list[Buffer] | None:
        """Several ``(start, length)`` ranges of ``key``; ``None`` when it does not exist."""


class Codec(ABC):
    """A codec of the Zarr v3 pipeline."""

    #: The name under which the codec appears in ``zarr.json``.
    name: ClassVar[str]

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Codec:
        """Build the codec from the ``configuration`` object of its JSON form."""
        return cls(**config)

    @abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """The codec's JSON form, ``{"name": ..., "configuration": {...}}``."""

    def for_decoding(self, *, allow_pickle: bool, where: str) -> Codec:
        """The codec to decode with once the user has said whether pickle is allowed.

        Decoding some codecs runs code stored in the data (numcodecs' pickle). Parsing
        metadata never refuses them, so that ``allow_pickle=True`` can take effect
        here; without it they raise :class:`~dask_zarrio.errors.UnsafeCodecError`.
        ``where`` names the codec's place in the metadata for that message. Codecs
        that hold other codecs (sharding) pass the question on.
        """
        return self

    def with_fill(self, fill_value: np.ndarray | None) -> Codec:
        """The codec to use in an array whose fill value is ``fill_value``.

        Most codecs never see the fill value. Sharding does: it reads empty inner
        chunks as the fill value and does not store inner chunks equal to it.
        """
        return self

    def for_dtype(self, dtype: np.dtype[Any]) -> Codec:
        """The codec completed for elements of ``dtype``, when writing a new array.

        Some configurations depend on the element type (blosc's ``typesize``, which
        Zarr v3 requires for shuffling); the others are returned as they are.
        """
        return self

    def resolve(self, shape: tuple[int, ...], dtype: np.dtype[Any]) -> tuple[tuple[int, ...], np.dtype[Any]]:
        """Shape and dtype of what this codec outputs for an input of ``shape``/``dtype``."""
        return shape, dtype

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.to_dict() == other.to_dict()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(repr(self.to_dict()))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.to_dict().get('configuration', {})!r})"


class ArrayArrayCodec(Codec):
    """Transforms an array into another array (transpose, delta, scale-offset)."""

    @abstractmethod
    def encode(self, arr: np.ndarray) -> np.ndarray:
        """Encode one chunk."""

    @abstractmethod
    def decode(self, arr: np.ndarray, shape: tuple[int, ...], dtype: np.dtype[Any]) -> np.ndarray:
        """Decode one chunk back to ``shape``/``dtype`` (the codec's input spec)."""

    def encode_fill(self, fill_value: np.ndarray | None, ndim: int) -> np.ndarray | None:
        """The fill value as this codec outputs it: what the codecs after it see.

        Sharding needs it (an empty inner chunk is the fill value in the encoded data
        type: ``scale_offset`` then ``cast_value`` turn a ``NaN`` fill into their
        sentinel). ``None`` where an element does not map to one element (``packbits``).
        ``ndim``: the number of dimensions of the chunks this codec encodes. Raises
        :class:`ValueError` when the fill value cannot be encoded.
        """
        if fill_value is None or fill_value.dtype.kind == "O":
            return None
        out = np.asarray(self.encode(fill_value.reshape((1,) * ndim)))
        return out.reshape(()) if out.size == 1 else None


class ArrayBytesCodec(Codec):
    """Serialises an array to bytes (``bytes``; ``sharding_indexed``)."""

    #: Whether :meth:`decode_partial` decodes part of a chunk from ranged reads. ``False``
    #: by default, the cautious answer: that needs to know where each part of the
    #: chunk lies in the encoded bytes (sharding's index says so).
    supports_partial_decode: ClassVar[bool] = False

    @abstractmethod
    def encode(self, arr: np.ndarray) -> Buffer:
        """Serialise one chunk."""

    @abstractmethod
    def decode(self, data: Buffer, shape: tuple[int, ...], dtype: np.dtype[Any]) -> np.ndarray:
        """Deserialise one chunk of ``shape`` and ``dtype``."""

    def encoded_size(self, shape: tuple[int, ...], dtype: np.dtype[Any]) -> int | None:
        """The exact byte size of an encoded chunk, or ``None`` when it varies.

        A fixed size lets the first bytes→bytes codec decompress straight into a
        preallocated, writable buffer (no extra copy).
        """
        return None

    def max_encoded_size(self, shape: tuple[int, ...], dtype: np.dtype[Any]) -> int | None:
        """The most bytes an encoded chunk can have; ``None`` when unbounded (objects).

        Bytes→bytes codecs refuse to decode to more than this (decompression bombs).
        Also where a codec checks its configuration against the chunk's ``shape``, so
        that a mismatch is a metadata error when the array is opened.
        """
        return self.encoded_size(shape, dtype)

    def partial_chunk_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """The smallest part of a chunk of ``shape`` that :meth:`decode_partial` reads alone."""
        return shape

    def decode_partial(
        self, fetch: ByteRangeReader, key: str, selection: tuple[slice, ...],
        shape: tuple[int, ...], dtype: np.dtype[Any], out: np.ndarray, *, where: str,
    ) -> None:
        """Decode the part ``selection`` of the chunk stored at ``key`` into ``out``.

        ``selection`` holds step-1 slices in the chunk's coordinates and ``out`` has
        its shape. Only the bytes needed are read from ``fetch``. Parts that are not
        stored (or a missing chunk) leave ``out`` as it is: the caller fills it with
        the fill value first. Failures raise
        :class:`~dask_zarrio.errors.ChunkDecodeError` naming ``where``.
        Only for codecs that declare ``supports_partial_decode``.
        """
        raise NotImplementedError(
            f"the {self.name!r} codec decodes whole chunks only; check supports_partial_decode"
        )

    def decodes_by_copy(self, dtype: np.dtype[Any]) -> bool:
        """Whether an encoded chunk is the C-order bytes of its elements in ``dtype`` itself.

        Then decoded bytes can be written straight into the output block. ``False``
        by default, the cautious answer: any other serialisation must decode itself.
        """
        return False


class BytesBytesCodec(Codec):
    """Transforms bytes into bytes (compression, checksums)."""

    @abstractmethod
    def encode(self, data: Buffer) -> Buffer:
        """Encode one chunk's bytes."""

    @abstractmethod
    def decode(self, data: Buffer, out: np.ndarray | None = None) -> Buffer:
        """Decode one chunk's bytes, into ``out`` when given and supported."""

    def decode_bounded(self, data: Buffer, limit: int, out: np.ndarray | None = None) -> Buffer:
        """Decode to at most ``limit`` bytes, raising :class:`ValueError` rather than produce more.

        ``out``, when given, has ``limit`` bytes and is used only if the data fills it
        exactly. This default checks after decoding; the built-in compressors
        override it to stop before allocating more than ``limit`` (decompression
        bombs), so third-party compressors should too.
        """
        result = self.decode(data, out)
        size = memoryview(result).nbytes
        if size > limit:
            raise ValueError(
                f"{self.name} data decodes to {size} bytes, more than the {limit} bytes this "
                "chunk can hold; it is corrupt or was written with other metadata"
            )
        return result

    def max_encoded_size(self, nbytes: int) -> int:
        """The most bytes encoding ``nbytes`` bytes can give: the bound for decoding.

        Compressors expand incompressible data only slightly (zstd, lz4 and blosc
        by under 1 %, gzip and bz2 by under 2 %); this default allows 1/8 and 64 KiB.
        """
        return nbytes + nbytes // 8 + 65536

    def decoded_size(self, data: Buffer) -> int | None:
        """The decoded length recorded in ``data``'s header, ``None`` if unknown.

        Only when this matches the expected size does a pipeline decode into a
        preallocated buffer (see :mod:`dask_zarrio.codecs.sizes`).
        """
        return None
