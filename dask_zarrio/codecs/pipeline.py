"""Chunk pipelines: how one stored object becomes one numpy chunk, and back.

:class:`CodecPipeline` runs a Zarr v3 codec chain; :class:`V2Pipeline` runs v2's
``filters`` + ``compressor`` with ``order``. Both are built for one chunk shape and
dtype, so per-chunk work is only the codecs themselves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import numpy as np
from numcodecs.abc import Codec as NumcodecsCodec
from numcodecs.compat import ensure_contiguous_ndarray_like, ensure_ndarray_like

from ..errors import MetadataError
from ..memory.buffers import empty
from .base import ArrayArrayCodec, ArrayBytesCodec, Buffer, ByteRangeReader, BytesBytesCodec, Codec
from .bounded import decode_filter, filtered_limit, stage_limits, stored_bound
from .into import bytes_target, finish_into
from .numcodecs_adapter import NumcodecsBytesBytes

__all__ = ["ChunkPipeline", "CodecPipeline", "V2Pipeline", "WholeChunksOnly", "decode_bytes", "stage_limits"]


class ChunkPipeline(Protocol):
    """What the read and write tasks need from a format's codec chain."""

    @property
    def shape(self) -> tuple[int, ...]: ...

    @property
    def dtype(self) -> np.dtype[Any]: ...

    def decode(self, data: Buffer) -> np.ndarray: ...

    def decode_into(self, data: Buffer, out: np.ndarray) -> bool: ...

    def encode(self, arr: np.ndarray) -> Buffer: ...

    def encode_parts(self, arr: np.ndarray) -> list[Buffer]: ...  # encode's bytes in pieces, unjoined

    @property
    def supports_partial_decode(self) -> bool: ...

    @property
    def partial_chunk_shape(self) -> tuple[int, ...]: ...

    @property
    def max_encoded_size(self) -> int | None: ...  # bytes a stored chunk may have: the read limit

    def decode_partial(
        self, fetch: ByteRangeReader, key: str, selection: tuple[slice, ...], out: np.ndarray,
        *, where: str | None = None,
    ) -> None: ...


class WholeChunksOnly:
    """The partial-decode capability of pipelines that decode only whole chunks (v2, N5)."""

    #: Declared, not discovered: reading part of a chunk needs a layout that says
    #: where each part lies in the stored bytes, which these formats do not have.
    supports_partial_decode: ClassVar[bool] = False
    shape: tuple[int, ...]

    @property
    def partial_chunk_shape(self) -> tuple[int, ...]:
        """The whole chunk: the smallest part that can be read."""
        return self.shape

    def decode_partial(
        self, fetch: ByteRangeReader, key: str, selection: tuple[slice, ...], out: np.ndarray,
        *, where: str | None = None,
    ) -> None:
        """Not possible here; readers check ``supports_partial_decode`` first."""
        raise NotImplementedError(
            f"{type(self).__name__} decodes whole chunks only; check supports_partial_decode"
        )

    def encode(self, arr: np.ndarray) -> Buffer:
        raise NotImplementedError  # each pipeline's own

    def encode_parts(self, arr: np.ndarray) -> list[Buffer]:
        """:meth:`encode`'s bytes, in one piece: these formats store no parts."""
        return [self.encode(arr)]


def decode_bytes(codec: BytesBytesCodec, data: Buffer, limit: int | None) -> Buffer:
    """Decode with ``codec`` to at most ``limit`` bytes (``None``: unbounded, for objects).

    The one place where the pipelines decode bytes→bytes codecs: the bound is the
    most the chunk's metadata allows (decompression bombs fail here, before
    allocating more). When the frame records exactly ``limit`` bytes the data goes
    straight into a fresh writable buffer.

    Examples
    --------
    >>> from dask_zarrio.codecs.zstd import ZstdCodec
    >>> c = ZstdCodec()
    >>> out = decode_bytes(c, c.encode(b"abcd"), 4)
    >>> out.flags.writeable, bytes(out)
    (True, b'abcd')
    >>> decode_bytes(c, c.encode(b"abcde"), 4)
    Traceback (most recent call last):
    ...
    ValueError: zstd data decodes to 5 bytes, more than the 4 bytes this chunk can hold; ...
    """
    if limit is None:
        return codec.decode(data)
    if codec.decoded_size(data) == limit:
        return codec.decode_bounded(data, limit, empty(limit))
    return codec.decode_bounded(data, limit)


def _with_fills(
    aa: list[ArrayArrayCodec], ab: ArrayBytesCodec, fill_value: np.ndarray | None, codecs: Sequence[Codec],
    ndim: int,
) -> tuple[list[ArrayArrayCodec], ArrayBytesCodec]:
    """Each codec given the fill value as it reaches it, encoded by the array→array codecs before."""
    done: list[ArrayArrayCodec] = []
    fill = fill_value
    for codec in aa:
        done.append(codec.with_fill(fill))  # type: ignore[arg-type]
        try:
            fill = codec.encode_fill(fill, ndim)
        except ValueError as e:
            raise MetadataError(
                f"codecs={[c.to_dict() for c in codecs]!r}: the fill value {fill_value!r} cannot be "
                f"encoded by {codec.to_dict()!r} ({e}); choose a fill value the codecs can encode"
            ) from e
    return done, ab.with_fill(fill)  # type: ignore[return-value]


@dataclass(frozen=True)
class CodecPipeline:
    """A Zarr v3 codec chain for chunks of ``shape`` and ``dtype``.

    Examples
    --------
    >>> from dask_zarrio.codecs.registry import codec_from_json
    >>> codecs = [codec_from_json(c) for c in ({"name": "bytes", "configuration": {"endian": "little"}}, "crc32c")]
    >>> p = CodecPipeline.from_codecs(codecs, (2, 2), np.dtype("i4"))
    >>> p.decode(p.encode(np.arange(4, dtype="i4").reshape(2, 2)))
    array([[0, 1],
           [2, 3]], dtype=int32)
    """

    array_array: tuple[ArrayArrayCodec, ...]
    array_bytes: ArrayBytesCodec
    bytes_bytes: tuple[BytesBytesCodec, ...]
    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    # (shape, dtype) entering each array→array codec, then entering array→bytes.
    specs: tuple[tuple[tuple[int, ...], np.dtype[Any]], ...] = field(repr=False, compare=False)
    encoded_size: int | None = field(repr=False, compare=False)
    # The most bytes each bytes→bytes codec may decode to (see stage_limits).
    limits: tuple[int | None, ...] = field(repr=False, compare=False)
    #: The most bytes a stored chunk can have (``None``: unbounded, object elements).
    max_encoded_size: int | None = field(repr=False, compare=False)

    @classmethod
    def from_codecs(
        cls,
        codecs: Sequence[Codec],
        shape: tuple[int, ...],
        dtype: np.dtype[Any],
        fill_value: np.ndarray | None = None,
    ) -> CodecPipeline:
        """Validate the order array→array*, array→bytes, bytes→bytes* and build.

        ``fill_value`` reaches codecs that need it (sharding reads empty inner chunks
        as the fill value and does not store inner chunks equal to it).
        """
        aa: list[ArrayArrayCodec] = []
        ab: ArrayBytesCodec | None = None
        bb: list[BytesBytesCodec] = []
        for codec in codecs:
            if isinstance(codec, ArrayArrayCodec) and ab is None:
                aa.append(codec)
            elif isinstance(codec, ArrayBytesCodec) and ab is None:
                ab = codec
            elif isinstance(codec, BytesBytesCodec) and ab is not None:
                bb.append(codec)
            else:
                raise MetadataError(
                    f"codecs={[c.to_dict() for c in codecs]!r}: codec {codec.to_dict()!r} is out "
                    "of place; the order must be array→array codecs, exactly one array→bytes "
                    "codec (e.g. 'bytes'), then bytes→bytes codecs"
                )
        if ab is None:
            raise MetadataError(
                f"codecs={[c.to_dict() for c in codecs]!r} has no array→bytes codec; add "
                "{'name': 'bytes', 'configuration': {'endian': 'little'}}"
            )
        specs = [(tuple(shape), dtype)]
        for c in aa:
            specs.append(c.resolve(*specs[-1]))
        aa, ab = _with_fills(aa, ab, fill_value, codecs, len(shape))
        stored = ab.max_encoded_size(*specs[-1])  # also checks ab's configuration against the chunk
        limits = stage_limits(stored, bb)
        for bcodec in bb:
            stored = None if stored is None else bcodec.max_encoded_size(stored)
        return cls(
            tuple(aa), ab, tuple(bb), tuple(shape), dtype, tuple(specs),
            ab.encoded_size(*specs[-1]), limits, stored,
        )

    @property
    def codecs(self) -> tuple[Codec, ...]:
        """The chain in encoding order."""
        return (*self.array_array, self.array_bytes, *self.bytes_bytes)

    @property
    def supports_partial_decode(self) -> bool:
        """Whether :meth:`decode_partial` can read part of a chunk (zarr-python's name).

        Only when the array→bytes codec can (sharding) and the stored object is its
        output as it is: no array→array codec before it, no bytes→bytes codec after.
        """
        return not self.array_array and not self.bytes_bytes and self.array_bytes.supports_partial_decode

    @property
    def partial_chunk_shape(self) -> tuple[int, ...]:
        """The smallest part of a chunk a read can decode alone: a shard's inner chunk, or the chunk."""
        if self.supports_partial_decode:
            return self.array_bytes.partial_chunk_shape(self.shape)
        return self.shape

    def decode_partial(
        self, fetch: ByteRangeReader, key: str, selection: tuple[slice, ...], out: np.ndarray,
        *, where: str | None = None,
    ) -> None:
        """Decode the part ``selection`` of the chunk at ``key`` into ``out``, reading only what it needs.

        ``selection``: step-1 slices in the chunk's coordinates; ``out``: an array of
        their shape, already holding the fill value (parts not stored leave it as
        it is). Failures raise :class:`~dask_zarrio.errors.ChunkDecodeError` naming
        ``where`` (default: ``key``). Only when :attr:`supports_partial_decode`.

        Examples
        --------
        >>> from dask_zarrio.codecs.registry import codec_from_json
        >>> sharding = codec_from_json({"name": "sharding_indexed", "configuration": {"chunk_shape": [2]}})
        >>> p = CodecPipeline.from_codecs([sharding], (8,), np.dtype("u1"))
        >>> p.supports_partial_decode, p.partial_chunk_shape
        (True, (2,))
        >>> stored = {"c/0": bytes(p.encode(np.arange(8, dtype="u1")))}
        >>> class Ranges:
        ...     def get_range(self, key, start, length=None):
        ...         return stored[key][start:][:length]
        ...     def get_ranges(self, key, ranges):
        ...         return [stored[key][s : s + n] for s, n in ranges]
        >>> out = np.zeros(3, "u1")
        >>> p.decode_partial(Ranges(), "c/0", (slice(3, 6),), out)
        >>> out
        array([3, 4, 5], dtype=uint8)
        """
        if not self.supports_partial_decode:
            raise NotImplementedError(
                f"codecs {[c.to_dict() for c in self.codecs]!r} decode whole chunks only; "
                "check supports_partial_decode"
            )
        self.array_bytes.decode_partial(
            fetch, key, selection, self.shape, self.dtype, out, where=key if where is None else where
        )

    def decode(self, data: Buffer) -> np.ndarray:
        """Decode one stored chunk to an array of ``shape`` and ``dtype``."""
        for bcodec, limit in zip(reversed(self.bytes_bytes), reversed(self.limits)):
            data = decode_bytes(bcodec, data, limit)
        arr = self.array_bytes.decode(data, *self.specs[-1])
        for codec, spec in zip(reversed(self.array_array), reversed(self.specs[:-1])):
            arr = codec.decode(arr, *spec)
        return arr

    def decode_into(self, data: Buffer, out: np.ndarray) -> bool:
        """Decode one stored chunk straight into ``out`` (a view into a bigger block).

        A shard (the sharding codec alone) decodes inner chunk by inner chunk into ``out``, which
        may also be the shard's leading part where the array's edge cuts it. Returns ``False``,
        having written nothing, when the chain cannot: array→array
        codecs, elements stored in another byte order than ``dtype``'s, an output of
        another layout, or compressed bytes that do not state the decoded size. Saves allocating,
        zeroing and copying a chunk-sized temporary per chunk.
        """
        into = getattr(self.array_bytes, "decode_into", None)  # sharding's; not part of the codec contract
        if into is not None and not self.array_array and not self.bytes_bytes:
            # A shard, or the part of it inside the array: each inner chunk decodes into its place.
            if (out.dtype != self.dtype or not out.flags.writeable or out.ndim != len(self.shape)
                    or any(o > n for o, n in zip(out.shape, self.shape))):
                return False
            into(data, self.shape, self.dtype, out)
            return True
        target = bytes_target(out, self.shape, self.dtype)
        if target is None or self.array_array or not self.array_bytes.decodes_by_copy(self.dtype):
            return False
        # Outermost codec first; the innermost one writes into ``target``.
        chain = list(zip(reversed(self.bytes_bytes), reversed(self.limits)))
        last = chain.pop()[0] if chain else None
        for bcodec, limit in chain:
            data = decode_bytes(bcodec, data, limit)
        return finish_into(last, data, target)

    def encode(self, arr: np.ndarray) -> Buffer:
        """Encode one chunk of ``shape`` and ``dtype``."""
        parts = self.encode_parts(arr)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def encode_parts(self, arr: np.ndarray) -> list[Buffer]:
        """:meth:`encode`'s bytes in pieces: a shard's encoded inner chunks and index, unjoined,
        when no bytes→bytes codec follows the sharding codec; otherwise one piece."""
        for codec in self.array_array:
            arr = codec.encode(arr)
        pieces = getattr(self.array_bytes, "encode_parts", None)  # sharding's; not part of the codec contract
        if pieces is not None and not self.bytes_bytes:
            return list(pieces(arr))
        data = self.array_bytes.encode(arr)
        for bcodec in self.bytes_bytes:
            data = bcodec.encode(data)
        return [data]

    def encode_edge_parts(self, arr: np.ndarray) -> list[Buffer] | None:
        """:meth:`encode_parts` of a chunk whose leading part ``arr`` is (the array's edge cuts it;
        the rest is the fill value), where the chain is a shard alone: its inner chunks are padded
        one at a time, never the shard. ``None`` for other chains (the caller pads the chunk)."""
        pieces = getattr(self.array_bytes, "encode_parts", None)  # sharding's; not part of the codec contract
        if pieces is None or self.array_array or self.bytes_bytes:
            return None
        return list(pieces(arr, self.shape))


@dataclass(frozen=True)
class V2Pipeline(WholeChunksOnly):
    """Zarr v2's chain: ``filters`` then ``compressor``, elements in ``order``.

    Examples
    --------
    >>> import numcodecs
    >>> p = V2Pipeline((), numcodecs.Zlib(1), "F", (2, 3), np.dtype("<f8"))
    >>> a = np.arange(6.0).reshape(2, 3)
    >>> np.array_equal(p.decode(p.encode(a)), a)
    True
    """

    filters: tuple[NumcodecsCodec, ...]
    compressor: NumcodecsCodec | None
    order: str
    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    _compressor: BytesBytesCodec | None = field(default=None, init=False, repr=False, compare=False)
    _limit: int | None = field(default=None, init=False, repr=False, compare=False)
    max_encoded_size: int | None = field(default=None, init=False, repr=False, compare=False)  # stored_bound

    def __post_init__(self) -> None:
        if self.order not in ("C", "F"):
            raise MetadataError(f"order={self.order!r} must be 'C' or 'F'")
        # Wrapped once here, not per chunk: the wrapper knows how to read decoded sizes.
        wrapped = None if self.compressor is None else NumcodecsBytesBytes(self.compressor)
        object.__setattr__(self, "_compressor", wrapped)
        object.__setattr__(self, "_limit", filtered_limit(self.filters, self.shape, self.dtype))
        object.__setattr__(self, "max_encoded_size", stored_bound(wrapped, self._limit))

    def decode(self, data: Buffer) -> np.ndarray:
        """Decode one stored chunk to an array of ``shape`` and ``dtype``."""
        if self._compressor is not None:
            data = decode_bytes(self._compressor, data, self._limit)
        count = int(np.prod(self.shape, dtype=np.int64))
        for f in reversed(self.filters):
            data = decode_filter(f, data, count, self.dtype.itemsize)
        if self.dtype.kind == "O":
            arr = ensure_ndarray_like(data)
        else:
            arr = ensure_contiguous_ndarray_like(data, flatten=False).reshape(-1)
            if arr.dtype != self.dtype:
                arr = arr.view(self.dtype)
        if arr.size != count:
            raise ValueError(
                f"decoded to {arr.size} elements of {self.dtype.str!r}, expected {count} "
                f"for a chunk of shape {self.shape}"
            )
        return arr.reshape(self.shape, order=self.order)  # type: ignore[call-overload]

    def decode_into(self, data: Buffer, out: np.ndarray) -> bool:
        """Decode one stored chunk straight into ``out``; ``False`` (nothing written) if it cannot.

        Possible for C-ordered chunks of fixed-size types without filters.
        """
        target = bytes_target(out, self.shape, self.dtype)
        if target is None or self.filters or self.order != "C" or self.dtype.kind == "O":
            return False
        return finish_into(self._compressor, data, target)

    def encode(self, arr: np.ndarray) -> Buffer:
        """Encode one chunk of ``shape`` and ``dtype``."""
        data: Any = np.asfortranarray(arr) if self.order == "F" else np.ascontiguousarray(arr)
        for f in self.filters:
            data = f.encode(data)
        if self.dtype.names is not None and not self.filters:
            # The buffer protocol refuses structs holding datetimes: compress their bytes.
            data = data.ravel(order="K").view(np.uint8)
        if self._compressor is not None:
            return self._compressor.encode(data)
        return ensure_contiguous_ndarray_like(data).view(np.uint8)

