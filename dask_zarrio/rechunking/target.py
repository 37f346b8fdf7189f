"""What a rechunk or copy writes: the target's chunks and codecs, and whether its stored
bytes can be copied without decoding.

``"keep"`` takes the source's value (its compressors, filters, fill value, format);
:func:`target_array` turns the arguments of ``dz.rechunk``/``dz.copy`` into the
:class:`~dask_zarrio.writing.destination.NewArray` the write machinery creates, and
:func:`undecoded_kind` decides between decoding and the two fast paths.
"""

from __future__ import annotations

from collections.abc import Mapping
from math import prod
from typing import Any

import numpy as np
from dask.array.core import normalize_chunks

from ..codecs import ArrayArrayCodec, BytesBytesCodec, ChunkPipeline
from ..codecs.conversions import n5_compression_codec
from ..codecs.sharding import ShardingCodec
from ..codecs.transpose import TransposeCodec
from ..errors import ZarrioError
from ..metadata import ArrayMetadata, ArrayMetadataN5, ArrayMetadataV2, ArrayMetadataV3, ArraySpec
from ..metadata.create import NO_FILL
from ..writing.destination import NewArray, as_lengths, as_shape

__all__ = [
    "KEEP", "bytes_compatible", "kept_key_encoding", "source_codecs", "target_array", "target_chunks", "undecoded_kind",
]

KEEP = "keep"
#: Chunk lengths per axis as ``dz.write`` takes them: a length, or (rectilinear grids) an axis's edges.
Lengths = tuple[int | tuple[int, ...], ...]


def _stored_chunks(meta: ArrayMetadata) -> tuple[Lengths, Lengths | None]:
    """(chunks, shards) of an array: a sharded array's inner chunks and its shards; a
    rectilinear grid's axes as their edge lengths (what ``"keep"`` keeps)."""
    grid: Lengths = meta.chunk_shape
    if isinstance(meta, ArrayMetadataV3) and meta.chunk_edges is not None:
        grid = meta.chunk_edges
    codecs: tuple[Any, ...] = tuple(getattr(meta, "codecs", ()))
    if len(codecs) == 1 and isinstance(codecs[0], ShardingCodec):
        return codecs[0].chunk_shape, grid
    return grid, None


def target_chunks(
    chunks: Any, shape: tuple[int, ...], dtype: np.dtype[Any], source: Lengths,
    dimension_names: tuple[str | None, ...] | None, max_mem: int,
) -> Lengths:
    """The target chunk shape from ``chunks``: a tuple (``-1``/``None`` entries: whole axis /
    the source's; a tuple entry: that axis's chunk lengths, a rectilinear grid), a dict by
    axis number or dimension name, ``-1``, ``"auto"`` (about a quarter of ``max_mem``,
    grown from the source's chunks) or ``"keep"``.

    Examples
    --------
    >>> target_chunks({"time": -1}, (10, 4), np.dtype("f4"), (1, 4), ("time", "x"), 2**20)
    (10, 4)
    >>> target_chunks((5, None), (10, 4), np.dtype("f4"), ((3, 7), 2), None, 2**20)
    (5, 2)
    >>> target_chunks({1: -1}, (10, 4), np.dtype("f4"), ((3, 7), 2), None, 2**20)
    ((3, 7), 4)
    """
    ndim = len(shape)
    if isinstance(chunks, str) and chunks == KEEP:
        return source
    if isinstance(chunks, Mapping):
        names = list(dimension_names or ())
        entries: list[Any] = [None] * ndim
        for key, value in chunks.items():
            axis = names.index(key) if isinstance(key, str) and key in names else key
            if not isinstance(axis, int) or not -ndim <= axis < ndim:
                raise ZarrioError(
                    f"chunks={dict(chunks)!r}: {key!r} is neither an axis number below {ndim} nor one of "
                    f"the array's dimension_names {names!r}; key chunks by axis or dimension name"
                )
            entries[axis % ndim] = value
    elif chunks == -1 or chunks == "auto":
        entries = [chunks] * ndim
    elif isinstance(chunks, (tuple, list)):
        entries = list(chunks)
    else:
        entries = list(as_shape(chunks, ndim, "chunks"))
    if len(entries) != ndim:
        raise ZarrioError(f"chunks={chunks!r} has {len(entries)} entries for {ndim} dimensions; give one per dimension")
    entries = [s if e is None else e for e, s in zip(entries, source)]
    if any(isinstance(e, str) and e == "auto" for e in entries):
        # dask's "auto" takes one length per axis: an axis of edges counts as its largest chunk
        widest = [max(e) if isinstance(e, (tuple, list)) else e for e in entries]
        limit = max(dtype.itemsize, max_mem // 4)
        previous = tuple(max(s) if isinstance(s, tuple) else s for s in source)
        auto = normalize_chunks(tuple(widest), shape, limit=limit, dtype=dtype, previous_chunks=previous)
        entries = [(c[0] if c else 1) if isinstance(e, str) and e == "auto" else e for e, c in zip(entries, auto)]
    entries = [max(1, n) if not isinstance(e, (tuple, list)) and e == -1 else e for e, n in zip(entries, shape)]
    return as_lengths(tuple(entries), ndim, "chunks")


def source_codecs(meta: ArrayMetadata) -> tuple[list[Any], list[Any], str]:
    """The source's (compressors, filters, order) in a form ``dz.write`` accepts for any format.

    Examples
    --------
    >>> from dask_zarrio.metadata.create import new_array_metadata
    >>> source_codecs(new_array_metadata(shape=(4,), dtype=np.dtype("i1"), chunk_shape=(2,), zarr_format=2))
    ([Zstd(level=0)], [], 'C')
    """
    if isinstance(meta, ArrayMetadataV2):
        return ([] if meta.compressor is None else [meta.compressor]), list(meta.filters or ()), meta.order
    if isinstance(meta, ArrayMetadataN5):
        codec = n5_compression_codec(meta.compression)
        return ([] if codec is None else [codec]), [], "C"
    codecs = list(meta.codecs)
    if len(codecs) == 1 and isinstance(codecs[0], ShardingCodec):
        codecs = list(codecs[0].codecs)
    order = "F" if any(isinstance(c, TransposeCodec) for c in codecs) and len(meta.shape) > 1 else "C"
    filters = [c for c in codecs if isinstance(c, ArrayArrayCodec) and not isinstance(c, TransposeCodec)]
    return [c for c in codecs if isinstance(c, BytesBytesCodec)], filters, order


def _for_format(codecs: list[Any], zarr_format: int | str) -> list[Any]:
    """v3 codec objects become their JSON form for a v2/N5 target (numcodecs of that name)."""
    if zarr_format == 3:
        return codecs
    return [c.to_dict() if hasattr(c, "to_dict") else c for c in codecs]


def kept_key_encoding(meta: ArrayMetadata, zarr_format: int | str) -> dict[str, Any] | None:
    """The chunk key encoding of ``meta`` for a ``zarr_format`` target (as ``dz.write`` takes
    it): the same keys where that format can say so; ``None`` (the format's default) for N5.

    A v2 array becomes a v3 one with the ``v2`` encoding and its separator, as zarr-python's
    ``migrate_to_v3`` does: the chunks keep their keys (a copy writes no ``c/`` folders). A
    v3 array with ``c/`` keys becomes a v2 one with its separator.

    Examples
    --------
    >>> from dask_zarrio.metadata.create import new_array_metadata
    >>> kept_key_encoding(new_array_metadata(shape=(4,), dtype=np.dtype("i1"), chunk_shape=(2,), zarr_format=2), 3)
    {'name': 'v2', 'separator': '.'}
    >>> kept_key_encoding(new_array_metadata(shape=(4,), dtype=np.dtype("i1"), chunk_shape=(2,)), 2)
    {'name': 'v2', 'separator': '/'}
    """
    if zarr_format == "n5":
        return None
    if isinstance(meta, ArrayMetadataV2):
        return {"name": "v2", "separator": meta.dimension_separator}
    if isinstance(meta, ArrayMetadataV3):
        keys = meta.chunk_key_encoding
        name = "default" if keys.prefix is not None and zarr_format == 3 else "v2"
        return {"name": name, "separator": keys.separator}
    return None


def target_array(
    meta: ArrayMetadata, chunks: Any, shards: Any, compressors: Any, filters: Any, zarr_format: Any,
    fill_value: Any, max_mem: int, chunk_key_encoding: Any = KEEP,
) -> NewArray:
    """The :class:`NewArray` a rechunk writes; ``"keep"`` values come from ``meta``
    (the chunk key encoding: :func:`kept_key_encoding`).

    Examples
    --------
    >>> from dask_zarrio.metadata.create import new_array_metadata
    >>> m = new_array_metadata(shape=(4,), dtype=np.dtype("i1"), chunk_shape=(2,), zarr_format=2)
    >>> new = target_array(m, (4,), None, "keep", "keep", None, "keep", 2**20)
    >>> new.chunks, new.zarr_format, new.compressors
    ((4,), 2, [Zstd(level=0)])
    """
    inner, outer = _stored_chunks(meta)
    fmt = meta.zarr_format if zarr_format is None else zarr_format
    kept_compressors, kept_filters, order = source_codecs(meta)
    chunk_shape = target_chunks(chunks, meta.shape, meta.dtype, inner, meta.dimension_names, max_mem)
    if isinstance(shards, str) and shards == KEEP:
        shards = outer if chunks == KEEP else None
    elif shards is not None:
        shards = target_chunks(shards, meta.shape, meta.dtype, outer or chunk_shape, meta.dimension_names, max_mem)
    attributes = dict(getattr(meta, "attributes", {}) or {})
    names = meta.dimension_names if fmt != "n5" else None
    if names is not None:
        # v2 writes it again from dimension_names; v3 keeps them in dimension_names, where a
        # leftover _ARRAY_DIMENSIONS would reach xarray as a variable attribute.
        attributes.pop("_ARRAY_DIMENSIONS", None)
    keep_encoding = isinstance(chunk_key_encoding, str) and chunk_key_encoding == KEEP
    return NewArray(
        chunk_shape, shards,
        _for_format(kept_compressors, fmt) if isinstance(compressors, str) and compressors == KEEP else compressors,
        _for_format(kept_filters, fmt) if isinstance(filters, str) and filters == KEEP else filters,
        _kept_fill(meta.fill_value, fmt) if isinstance(fill_value, str) and fill_value == KEEP else fill_value,
        fmt, order if fmt != "n5" else "C", attributes, names,
        chunk_key_encoding=kept_key_encoding(meta, fmt) if keep_encoding else chunk_key_encoding,
    )


def _kept_fill(fill: Any, fmt: Any) -> Any:
    """The source's fill value for a new array: a v2 ``"fill_value": null`` stays null in v2 (xarray
    masks a v2 array's fill value, so 0 in its place would turn stored zeros into NaN)."""
    return NO_FILL if fill is None and fmt == 2 else fill


def bytes_compatible(src: ChunkPipeline, dst: ChunkPipeline) -> bool:
    """Whether ``dst`` reads every chunk ``src`` writes as ``src`` does, and back.

    Proved on a probe chunk of varied values through both chains (encode with one,
    decode with the other): compressors, byte order, checksums and filters must all agree.

    Examples
    --------
    >>> from dask_zarrio.metadata.create import new_array_metadata
    >>> a = new_array_metadata(shape=(4,), dtype=np.dtype("<f4"), chunk_shape=(4,), zarr_format=2)
    >>> b = new_array_metadata(shape=(4,), dtype=np.dtype("<f4"), chunk_shape=(4,))
    >>> bytes_compatible(a.pipeline(), b.pipeline()), bytes_compatible(a.pipeline(), a.pipeline())
    (True, True)
    """
    if src.shape != dst.shape or src.dtype != dst.dtype or src.dtype.kind in "OTUSV":
        return False
    rng = np.random.default_rng(0)
    raw = rng.integers(0, 256, prod(src.shape) * src.dtype.itemsize, dtype=np.uint8)
    probe = raw.view(src.dtype).reshape(src.shape)
    try:
        one, two = dst.decode(src.encode(probe)), src.decode(dst.encode(probe))
    except Exception:  # noqa: BLE001  (any codec refusing the other's bytes: not compatible)
        return False
    same = probe.view(np.uint8)
    return all(np.array_equal(np.ascontiguousarray(back).view(np.uint8), same) for back in (one, two))


def _same_fill(a: ArraySpec, b: ArraySpec) -> bool:
    if a.fill_value is None or b.fill_value is None:
        return a.fill_value is None and b.fill_value is None
    return a.fill_value.dtype == b.fill_value.dtype and a.fill_value.tobytes() == b.fill_value.tobytes()


def undecoded_kind(src: ArraySpec, dst: ArraySpec) -> str | None:
    """``"copy"`` (the same grid, regular or rectilinear, compatible codecs), ``"shards"`` (the
    target's shards hold the regular source's chunks as inner chunks, compatible codecs) or
    ``None`` (decode).

    N5 stores edge blocks cut short, so it always decodes; so do different fill values
    (unwritten chunks would change meaning).

    Examples
    --------
    >>> from dask_zarrio.metadata.create import new_array_metadata
    >>> small = {"shape": (4,), "dtype": np.dtype("i1"), "chunk_shape": (2,)}
    >>> a = ArraySpec.from_metadata(new_array_metadata(**small, zarr_format=2))
    >>> b = ArraySpec.from_metadata(new_array_metadata(**small, shard_shape=(4,)))
    >>> undecoded_kind(a, a), undecoded_kind(a, b)
    ('copy', 'shards')
    """
    if "n5" in (src.zarr_format, dst.zarr_format) or src.shape != dst.shape or not _same_fill(src, dst):
        return None
    if src.grid == dst.grid and bytes_compatible(src.pipeline, dst.pipeline):
        return "copy"
    codec = getattr(dst.pipeline, "array_bytes", None)
    # A regular source's chunks are the inner chunks of shards that hold whole ones (any grid of shards)
    if (isinstance(codec, ShardingCodec) and dst.pipeline.supports_partial_decode and src.grid.is_regular
            and codec.chunk_shape == src.chunk_shape):
        inner = codec.layout(dst.chunk_shape, dst.dtype).inner
        if bytes_compatible(src.pipeline, inner):
            return "shards"
    return None
