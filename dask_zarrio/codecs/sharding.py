"""The ``sharding_indexed`` codec: many inner chunks in one stored object, plus an index.

Binary layout (Zarr v3 sharding spec): the encoded inner chunks, then (or, with
``index_location: "start"``, before them) an index of ``(offset, nbytes)`` uint64
pairs in C order over the chunks-per-shard grid, encoded by ``index_codecs``. Empty
inner chunks are ``2**64 - 1`` in both fields and read as the fill value; the index
covers every inner chunk, also those past the array's edge. Offsets count from the
shard's first byte, so with the index at the start they include its size, while
empty entries stay ``2**64 - 1``, unshifted (zarr-python PR #2336).

Reading part of a shard (:meth:`ShardingCodec.decode_partial`) takes one ranged
read of the index, then one per run of nearby inner chunks: the array layer only
asks the pipeline whether it ``supports_partial_decode``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import product
from typing import Any

import numpy as np

from ..errors import ChunkDecodeError, MetadataError
from ..layout.grid import overlap
from .base import ArrayBytesCodec, Buffer, ByteRangeReader, Codec
from .empty import fill_block, is_fill
from .pipeline import CodecPipeline
from .registry import codec_from_json
from .shard_ranges import MAX_GAP, check_disjoint, coalesce_ranges

__all__ = ["EMPTY", "MAX_GAP", "ShardLayout", "ShardingCodec", "check_disjoint", "coalesce_ranges"]

#: offset and nbytes of an empty inner chunk.
EMPTY = np.uint64(2**64 - 1)

_DEFAULT_CODECS = ({"name": "bytes", "configuration": {"endian": "little"}},)
_DEFAULT_INDEX_CODECS = ({"name": "bytes", "configuration": {"endian": "little"}}, {"name": "crc32c"})


@dataclass(frozen=True)
class ShardLayout:
    """Everything derived from one shard shape and dtype, computed once."""

    shard_shape: tuple[int, ...]
    chunk_shape: tuple[int, ...]
    chunks_per_shard: tuple[int, ...]
    inner: CodecPipeline
    index: CodecPipeline
    index_nbytes: int
    index_at_start: bool

    def inner_region(self, index: tuple[int, ...]) -> tuple[slice, ...]:
        """Where inner chunk ``index`` sits inside the shard."""
        return tuple(slice(i * c, (i + 1) * c) for i, c in zip(index, self.chunk_shape))

    def decode_index(self, data: Buffer) -> np.ndarray:
        """The ``(*chunks_per_shard, 2)`` uint64 index from its encoded bytes."""
        return self.index.decode(data)

    def index_range(self) -> tuple[int, int | None]:
        """(start, length) of the index: ``(0, n)`` at the start, ``(-n, None)`` at the end."""
        return (0, self.index_nbytes) if self.index_at_start else (-self.index_nbytes, None)

    def inner_chunks_in(self, selection: tuple[slice, ...]) -> Iterator[tuple[int, ...]]:
        """The inner chunks that ``selection`` (step-1 slices of the shard) touches, in C order."""
        return product(*(range(s.start // c, -(-s.stop // c)) for s, c in zip(selection, self.chunk_shape)))

    def inner_range(self, index: np.ndarray, inner_index: tuple[int, ...], size: int | None) -> tuple[int, int] | None:
        """(offset, nbytes) of an inner chunk, ``None`` if empty; checked against ``size``.

        Without ``size`` (a ranged read: the shard's length is unknown) the range is
        still checked against what an inner chunk can be, so that a lying index
        never asks the store for a giant range.
        """
        offset, nbytes = (int(v) for v in index[inner_index])
        if offset == int(EMPTY) and nbytes == int(EMPTY):
            return None
        end = offset + nbytes
        if size is not None and end > size:
            raise ValueError(
                f"shard index: inner chunk {inner_index} at offset {offset} with {nbytes} bytes "
                f"reaches past the shard's end ({size} bytes); the index is corrupt"
            )
        most = self.inner.max_encoded_size
        if (most is not None and nbytes > most) or end >= 2**63:
            raise ValueError(
                f"shard index: inner chunk {inner_index} at offset {offset} with {nbytes} bytes "
                f"is bigger than an inner chunk can be ({most} bytes) or past any object; "
                "the index is corrupt"
            )
        return offset, nbytes


class ShardingCodec(ArrayBytesCodec):
    """Store a shard's inner chunks, each encoded by ``codecs``, behind one index.

    Examples
    --------
    >>> c = ShardingCodec(chunk_shape=[2, 2])
    >>> shard = np.arange(16, dtype="u2").reshape(4, 4)
    >>> data = c.encode(shard)
    >>> np.array_equal(c.decode(data, (4, 4), np.dtype("u2")), shard)
    True
    """

    name = "sharding_indexed"
    supports_partial_decode = True

    def __init__(
        self,
        chunk_shape: list[int] | tuple[int, ...],
        codecs: Any = _DEFAULT_CODECS,
        index_codecs: Any = _DEFAULT_INDEX_CODECS,
        index_location: str = "end",
        fill_value: np.ndarray | None = None,
    ) -> None:
        if not isinstance(chunk_shape, (list, tuple)) or not all(
            isinstance(c, int) and c > 0 for c in chunk_shape
        ):
            raise MetadataError(
                f"sharding_indexed: chunk_shape={chunk_shape!r} must be a list of positive integers"
            )
        if index_location not in ("start", "end"):
            raise MetadataError(
                f"sharding_indexed: index_location={index_location!r} must be 'start' or 'end'"
            )
        for name, value in (("codecs", codecs), ("index_codecs", index_codecs)):
            if not isinstance(value, (list, tuple)) or not value:
                raise MetadataError(
                    f"sharding_indexed: {name}={value!r} must be a non-empty list of codecs with "
                    "an array→bytes codec, e.g. [{'name': 'bytes', 'configuration': "
                    "{'endian': 'little'}}" + (", {'name': 'crc32c'}]" if name == "index_codecs" else "]")
                )
        self.chunk_shape = tuple(chunk_shape)
        self.codecs = tuple(c if isinstance(c, Codec) else codec_from_json(c) for c in codecs)
        self.index_codecs = tuple(c if isinstance(c, Codec) else codec_from_json(c) for c in index_codecs)
        self.index_location = index_location
        self.fill_value = fill_value
        self._layouts: dict[tuple[tuple[int, ...], str], ShardLayout] = {}

    def __reduce__(self) -> tuple[Any, ...]:
        return (ShardingCodec, (self.chunk_shape, self.codecs, self.index_codecs, self.index_location, self.fill_value))

    def with_fill(self, fill_value: np.ndarray | None) -> ShardingCodec:
        """This codec, reading empty inner chunks as ``fill_value``."""
        return ShardingCodec(self.chunk_shape, self.codecs, self.index_codecs, self.index_location, fill_value)

    def for_decoding(self, *, allow_pickle: bool, where: str) -> ShardingCodec:
        codecs = tuple(
            c.for_decoding(allow_pickle=allow_pickle, where=f"{where}.codecs[{i}]")
            for i, c in enumerate(self.codecs)
        )
        index_codecs = tuple(
            c.for_decoding(allow_pickle=allow_pickle, where=f"{where}.index_codecs[{i}]")
            for i, c in enumerate(self.index_codecs)
        )
        # Identity, not ==: an opted-in codec has the same JSON form as the one it replaces.
        if all(a is b for a, b in zip((*codecs, *index_codecs), (*self.codecs, *self.index_codecs))):
            return self
        return ShardingCodec(self.chunk_shape, codecs, index_codecs, self.index_location, self.fill_value)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": "sharding_indexed",
            "configuration": {
                "chunk_shape": list(self.chunk_shape),
                "codecs": [c.to_dict() for c in self.codecs],
                "index_codecs": [c.to_dict() for c in self.index_codecs],
                "index_location": self.index_location,
            },
        }

    def layout(self, shape: tuple[int, ...], dtype: np.dtype[Any]) -> ShardLayout:
        """The layout of a shard of ``shape`` (cached: shards of an array share it)."""
        key = (tuple(shape), dtype.str)
        cached = self._layouts.get(key)
        if cached is not None:
            return cached
        if len(shape) != len(self.chunk_shape):
            raise MetadataError(
                f"sharding_indexed: configuration.chunk_shape={list(self.chunk_shape)!r} has "
                f"{len(self.chunk_shape)} dimensions but the shard shape {list(shape)!r} (the "
                f"array's chunk_grid chunk_shape) has {len(shape)}; give one inner chunk length "
                "per array dimension"
            )
        if any(s % c for s, c in zip(shape, self.chunk_shape)):
            raise MetadataError(
                f"sharding_indexed: inner chunk_shape={list(self.chunk_shape)!r} must evenly divide "
                f"the shard shape {list(shape)!r} (the array's chunk_grid chunk_shape)"
            )
        cps = tuple(s // c for s, c in zip(shape, self.chunk_shape))
        inner = CodecPipeline.from_codecs(self.codecs, self.chunk_shape, dtype, self.fill_value)
        index = CodecPipeline.from_codecs(self.index_codecs, (*cps, 2), np.dtype("u8"))
        nbytes = len(memoryview(index.encode(np.zeros((*cps, 2), "u8"))).cast("B"))
        layout = ShardLayout(tuple(shape), self.chunk_shape, cps, inner, index, nbytes, self.index_location == "start")
        self._layouts[key] = layout
        return layout

    def encode(self, arr: np.ndarray) -> Buffer:
        # One join: joining the parts and then adding the index would copy the whole shard twice.
        return b"".join(self.encode_parts(arr))

    def encode_parts(self, arr: np.ndarray, shape: tuple[int, ...] | None = None) -> list[Buffer]:
        """The shard's stored bytes as pieces in order: the encoded inner chunks and the index.

        Joined they are :meth:`encode`'s bytes; a store that can write pieces (a local
        file: ``writev``) never needs the shard joined in memory, a second copy of it.
        With ``shape`` (the stored shard's), ``arr`` may be its leading part, where the
        array's edge cuts it: the rest is the fill value, padded an inner chunk at a time
        rather than into a shard-sized copy.

        Examples
        --------
        >>> c = ShardingCodec(chunk_shape=[2])
        >>> parts = c.encode_parts(np.array([1, 2, 0, 0, 5, 6], "u1"))  # the middle inner chunk is empty
        >>> [len(bytes(p)) for p in parts], b"".join(parts) == c.encode(np.array([1, 2, 0, 0, 5, 6], "u1"))
        ([2, 2, 52], True)
        """
        layout = self.layout(arr.shape if shape is None else tuple(shape), arr.dtype)
        index = np.full((*layout.chunks_per_shard, 2), EMPTY, np.uint64)
        parts: list[Buffer] = []
        pos = layout.index_nbytes if layout.index_at_start else 0
        for inner_index in product(*(range(n) for n in layout.chunks_per_shard)):
            block = arr[layout.inner_region(inner_index)]
            if block.shape != layout.chunk_shape:  # cut by the array's edge (or wholly past it)
                if not block.size:
                    continue  # past the edge: the fill value, not stored
                full = fill_block(layout.chunk_shape, arr.dtype, self.fill_value)
                full[tuple(slice(0, n) for n in block.shape)] = block
                block = full
            if is_fill(block, self.fill_value):
                continue  # empty inner chunks are not stored
            encoded = layout.inner.encode(np.ascontiguousarray(block))
            nbytes = memoryview(encoded).nbytes
            index[inner_index] = (pos, nbytes)
            parts.append(encoded)
            pos += nbytes
        encoded_index = bytes(memoryview(layout.index.encode(index)).cast("B"))
        return [encoded_index, *parts] if layout.index_at_start else [*parts, encoded_index]

    def _stored(self, layout: ShardLayout, view: memoryview) -> dict[tuple[int, ...], tuple[int, int]]:
        """Where each stored inner chunk's bytes are, from the shard's index (checked)."""
        n = len(view)
        if n < layout.index_nbytes:
            raise ValueError(f"shard of {n} bytes is shorter than its {layout.index_nbytes}-byte index")
        raw = view[: layout.index_nbytes] if layout.index_at_start else view[n - layout.index_nbytes :]
        index = layout.decode_index(raw)
        stored = {}
        for inner_index in product(*(range(c) for c in layout.chunks_per_shard)):
            at = layout.inner_range(index, inner_index, n)
            if at is not None:
                stored[inner_index] = at
        check_disjoint(list(stored.values()))
        return stored

    def decode(self, data: Buffer, shape: tuple[int, ...], dtype: np.dtype[Any]) -> np.ndarray:
        layout = self.layout(shape, dtype)
        view = memoryview(data).cast("B")
        stored = self._stored(layout, view)
        out = fill_block(shape, dtype, self.fill_value)
        for inner_index, (offset, nbytes) in stored.items():
            out[layout.inner_region(inner_index)] = layout.inner.decode(view[offset : offset + nbytes])
        return out

    def decode_pieces(self, data: Buffer, shape: tuple[int, ...], dtype: np.dtype[Any]
                      ) -> Iterator[tuple[tuple[slice, ...], np.ndarray]]:
        """The shard's inner chunks one at a time, in C order: where each sits in the shard and its
        values (read-only fill value where none is stored), so a caller holds one inner chunk
        decoded, not the shard.

        Examples
        --------
        >>> c = ShardingCodec(chunk_shape=[2])
        >>> [(r[0].start, v.tolist()) for r, v in c.decode_pieces(c.encode(np.array([1, 2, 0, 0], "u1")), (4,),
        ...                                                     np.dtype("u1"))]
        [(0, [1, 2]), (2, [0, 0])]
        """
        layout = self.layout(shape, dtype)
        view = memoryview(data).cast("B")
        stored = self._stored(layout, view)
        fill = np.broadcast_to(fill_block((), dtype, self.fill_value), layout.chunk_shape)
        for inner_index in product(*(range(c) for c in layout.chunks_per_shard)):
            at = stored.get(inner_index)
            values = fill if at is None else layout.inner.decode(view[at[0] : at[0] + at[1]])
            yield layout.inner_region(inner_index), values

    def decode_into(self, data: Buffer, shape: tuple[int, ...], dtype: np.dtype[Any], out: np.ndarray) -> None:
        """Decode a shard of ``shape`` straight into ``out``: the shard's leading part (all of it, or
        less where the array's edge cuts it). Each inner chunk goes into its place in ``out`` (no
        shard-sized temporary); ``out`` gets the fill value where no inner chunk is stored.

        Examples
        --------
        >>> c = ShardingCodec(chunk_shape=[2])
        >>> stored = c.encode(np.array([1, 2, 0, 0, 5, 6], "u1"))  # the middle inner chunk is empty
        >>> out = np.full(5, 9, "u1")  # the shard's first five elements (an edge)
        >>> c.decode_into(stored, (6,), np.dtype("u1"), out)
        >>> out
        array([1, 2, 0, 0, 5], dtype=uint8)
        """
        layout = self.layout(shape, dtype)
        view = memoryview(data).cast("B")
        stored = self._stored(layout, view)
        whole = tuple(slice(0, n) for n in out.shape)
        fill = fill_block((), dtype, self.fill_value)
        for inner_index in product(*(range(c) for c in layout.chunks_per_shard)):
            src, dst = overlap(layout.inner_region(inner_index), whole)
            if any(d.stop <= d.start for d in dst):
                continue  # beyond the array's edge
            at = stored.get(inner_index)
            target = out[dst]
            if at is None:
                target[...] = fill
            elif not (src == tuple(slice(0, c) for c in layout.chunk_shape)
                      and layout.inner.decode_into(view[at[0] : at[0] + at[1]], target)):
                target[...] = layout.inner.decode(view[at[0] : at[0] + at[1]])[src]

    def partial_chunk_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        return self.chunk_shape

    def max_encoded_size(self, shape: tuple[int, ...], dtype: np.dtype[Any]) -> int | None:
        """The index plus every inner chunk at its largest; checks the configuration against ``shape``."""
        layout = self.layout(shape, dtype)
        inner = layout.inner.max_encoded_size
        if inner is None:
            return None
        return layout.index_nbytes + int(np.prod(layout.chunks_per_shard, dtype=np.int64)) * inner

    def decode_partial(
        self, fetch: ByteRangeReader, key: str, selection: tuple[slice, ...],
        shape: tuple[int, ...], dtype: np.dtype[Any], out: np.ndarray, *, where: str,
    ) -> None:
        """One ranged read of the shard's index, then one per run of nearby inner chunks needed.

        Examples
        --------
        >>> c = ShardingCodec(chunk_shape=[2])
        >>> stored = {"s": bytes(c.encode(np.arange(8, dtype="u1")))}
        >>> class Ranges:
        ...     def get_range(self, key, start, length=None):
        ...         return stored[key][start:][:length]
        ...     def get_ranges(self, key, ranges):
        ...         return [stored[key][s : s + n] for s, n in ranges]
        >>> out = np.zeros(3, "u1")
        >>> c.decode_partial(Ranges(), "s", (slice(3, 6),), (8,), np.dtype("u1"), out, where="s")
        >>> out
        array([3, 4, 5], dtype=uint8)
        """
        layout = self.layout(shape, dtype)
        raw = fetch.get_range(key, *layout.index_range())
        if raw is None:
            return  # a missing shard is all fill value, which `out` already holds
        inner_ids, ranges = [], []
        try:
            if len(raw) != layout.index_nbytes:
                raise ValueError(f"got {len(raw)} bytes of a {layout.index_nbytes}-byte index")
            index = layout.decode_index(raw)
            # Checked before any request: a lying index must not become a giant read.
            for inner in layout.inner_chunks_in(selection):
                at = layout.inner_range(index, inner, None)
                if at is not None:
                    inner_ids.append(inner)
                    ranges.append(at)
            check_disjoint(ranges)
        except Exception as e:  # noqa: BLE001  (codecs raise many types; all mean corrupt bytes)
            raise ChunkDecodeError(
                f"shard {where}: its index does not decode ({type(e).__name__}: {e}); "
                "the shard is corrupt: rewrite it, or delete it to read the fill value"
            ) from e
        if not ranges:
            return
        requests = coalesce_ranges(ranges)
        parts = fetch.get_ranges(key, [(start, length) for start, length, _ in requests])
        if parts is None:
            return  # deleted since the index was read: the fill value
        for (start, length, members), part in zip(requests, parts):
            try:
                if len(part) != length:
                    raise ValueError(
                        f"the index points at bytes [{start}, {start + length}) but the shard has only "
                        f"{start + len(part)}"
                    )
                view = memoryview(part)
                for m in members:
                    offset, nbytes = ranges[m]
                    chunk = layout.inner.decode(view[offset - start : offset - start + nbytes])
                    src, dst = overlap(layout.inner_region(inner_ids[m]), selection)
                    out[dst] = chunk[src]
            except ChunkDecodeError:
                raise
            except Exception as e:  # noqa: BLE001
                raise ChunkDecodeError(
                    f"shard {where} does not decode: {type(e).__name__}: {e}. Rewrite "
                    "it, or delete it to read the fill value"
                ) from e
