"""Metadata for new arrays, from zarr-python 3 style ``create_array`` arguments."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numcodecs
import numpy as np

from ..codecs import ArrayArrayCodec, BytesBytesCodec, Codec
from ..codecs.conversions import n5_compression_from_codec, to_numcodecs, to_v3_codec
from ..codecs.sharding import ShardingCodec
from ..codecs.transpose import TransposeCodec
from ..codecs.zstd import ZstdCodec
from ..errors import ZarrioError
from ..layout.grid import ChunkKeyEncoding
from .arguments import check_attributes, check_countable, check_dimension_names, new_fill_value, user_arguments
from .create_codecs import new_key_encoding, new_serializer, serializer_kind
from .dtypes import V3_VARIABLE_NAMES, v3_data_type_to_json
from .fill import encode_variable_fill, parse_fill_value, parse_variable_fill
from .n5 import N5_DTYPES, ArrayMetadataN5
from .rectilinear import AxisEdges
from .structs import packed
from .v2 import OBJECT_CODECS, ArrayMetadataV2
from .v3 import ArrayMetadataV3

__all__ = ["NO_FILL", "default_fill_value", "grid_lengths", "new_array_metadata", "variable_kind"]


class _NoFill:
    """Marker for "no fill value" (v2 ``"fill_value": null``), unlike ``None`` (the default)."""

    def __repr__(self) -> str:
        return "NO_FILL"

    def __reduce__(self) -> str:
        return "NO_FILL"


#: Pass as ``fill_value`` to write a Zarr v2 array with ``"fill_value": null``.
NO_FILL = _NoFill()


def default_fill_value(dtype: np.dtype[Any]) -> np.ndarray | None:
    """The dtype's zero (False, 0, 0.0, '', b''), or NaT for times: zarr-python 3's default.

    Examples
    --------
    >>> default_fill_value(np.dtype("f4"))
    array(0., dtype=float32)
    >>> default_fill_value(np.dtype("M8[s]"))
    array('NaT', dtype='datetime64[s]')
    """
    if dtype.kind == "O":
        return None
    if dtype.kind in "Mm":
        return np.array("NaT", dtype)
    return np.zeros((), dtype)


def variable_kind(dtype: np.dtype[Any], fill_value: Any = None) -> str | None:
    """Which v3 variable-length type a new array of ``dtype`` gets: ``"string"``, ``"bytes"`` or ``None``.

    numpy's ``StringDType`` and ``np.dtype(str)`` (``<U0``) are ``string``;
    ``np.dtype(bytes)`` (``|S0``) is ``bytes``. Object arrays do not say which,
    so ``string`` unless the fill value is a bytes object (``fill_value=b""``):
    the data is not looked at before the metadata is written. Fixed-width
    ``U``/``S`` types of a given length stay fixed-width.

    Examples
    --------
    >>> variable_kind(np.dtype("T")), variable_kind(np.dtype(bytes)), variable_kind(np.dtype("O"), b"")
    ('string', 'bytes', 'bytes')
    >>> variable_kind(np.dtype("U3")) is None
    True
    """
    if dtype.kind == "T" or (dtype.kind == "U" and dtype.itemsize == 0):
        return "string"
    if dtype.kind == "S" and dtype.itemsize == 0:
        return "bytes"
    if dtype.kind == "O":
        value = fill_value[()] if isinstance(fill_value, np.ndarray) and fill_value.shape == () else fill_value
        return "bytes" if isinstance(value, bytes) else "string"
    return None


def _variable_fill(fill_value: Any, kind: str) -> np.ndarray:
    """The fill value of a new ``string``/``bytes`` array, checked through its JSON form."""
    if fill_value is None:
        fill_value = "" if kind == "string" else b""
    value = fill_value[()] if isinstance(fill_value, np.ndarray) and fill_value.shape == () else fill_value
    return parse_variable_fill(encode_variable_fill(np.array(value, object), kind), kind)


def _v2_variable(dtype: np.dtype[Any], fill_value: Any, filters: Any) -> tuple[str | None, Any]:
    """``string``/``bytes`` for a new v2 array of strings, and its filters with the object codec.

    As zarr-python 3 writes them: ``StringDType``, ``np.dtype(str)`` and object data
    are ``|O`` with a ``vlen-utf8`` filter (``vlen-bytes`` for ``np.dtype(bytes)``, a
    ``b""`` fill value, or a given ``vlen-bytes`` filter) and fill value ``""``. Object
    arrays whose filters hold another object codec (``json2``, ``vlen-array``, ...) are
    left as they are.

    Examples
    --------
    >>> _v2_variable(np.dtype("T"), None, None)
    ('string', [VLenUTF8()])
    >>> _v2_variable(np.dtype("O"), None, [numcodecs.VLenBytes()])
    ('bytes', [VLenBytes()])
    >>> _v2_variable(np.dtype("U3"), None, None)
    (None, None)
    """
    kind = variable_kind(dtype, fill_value)
    if kind is None:
        return None, filters
    given = [to_numcodecs(f, "filters") for f in _as_list(filters)]
    ids = [f.codec_id for f in given]
    if "vlen-utf8" in ids or "vlen-bytes" in ids:
        return ("bytes" if "vlen-bytes" in ids else "string"), given
    if any(i in OBJECT_CODECS for i in ids):
        return None, given
    return kind, [numcodecs.VLenUTF8() if kind == "string" else numcodecs.VLenBytes(), *given]


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


@user_arguments()  # what a parser shared with stored documents refuses here is the caller's mistake
def new_array_metadata(
    *,
    shape: Sequence[int],
    dtype: np.dtype[Any],
    chunk_shape: Sequence[int | Sequence[int]],
    compressors: Any = "auto",
    filters: Any = None,
    fill_value: Any = None,
    zarr_format: int | str = 3,
    order: str = "C",
    attributes: dict[str, Any] | None = None,
    dimension_names: Sequence[str | None] | None = None,
    shard_shape: Sequence[int | Sequence[int]] | None = None,
    serializer: Any = "auto",
    chunk_key_encoding: Any = None,
) -> ArrayMetadataV2 | ArrayMetadataV3 | ArrayMetadataN5:
    """Metadata of a new array, as zarr-python 3's ``create_array`` would write it.

    An entry of ``chunk_shape`` (or of ``shard_shape``) that is a sequence lists
    that axis's chunk edge lengths: a ``rectilinear`` grid (Zarr v3 only).
    ``serializer`` and ``chunk_key_encoding`` are read as zarr-python reads them
    (:mod:`.create_codecs`). Every mistake in the arguments is a :class:`ZarrioError`
    (an :class:`~dask_zarrio.errors.ArgumentTypeError` for a wrong type), raised before
    anything is written; never a MetadataError, which is for stored documents.

    Examples
    --------
    >>> m = new_array_metadata(shape=(10,), dtype=np.dtype("i2"), chunk_shape=(5,))
    >>> [c["name"] for c in m.to_dict()["codecs"]]
    ['bytes', 'zstd']
    >>> m = new_array_metadata(shape=(10,), dtype=np.dtype("i2"), chunk_shape=(2,), shard_shape=(10,))
    >>> m.chunk_shape, [c["name"] for c in m.to_dict()["codecs"][0]["configuration"]["codecs"]]
    ((10,), ['bytes', 'zstd'])
    >>> new_array_metadata(shape=(10,), dtype=np.dtype("i2"), chunk_shape=[(3, 7)]).to_dict()["chunk_grid"]
    {'name': 'rectilinear', 'configuration': {'kind': 'inline', 'chunk_shapes': [[3, 7]]}}
    """
    shape = tuple(int(s) for s in shape)
    chunk_shape, edges = grid_lengths(chunk_shape, shape, "chunks", zarr_format)
    if order not in ("C", "F"):
        raise ZarrioError(f"order={order!r} must be 'C' or 'F'")
    dimension_names = check_dimension_names(dimension_names, len(shape))
    attributes = check_attributes(attributes)
    keys = new_key_encoding(chunk_key_encoding, zarr_format)
    kind, dtype, filters, fill = _data_and_fill(dtype, fill_value, filters, serializer, zarr_format)
    check_countable(chunk_shape, dtype, "chunks")
    meta: ArrayMetadataV2 | ArrayMetadataV3 | ArrayMetadataN5
    if zarr_format == "n5":
        new_serializer(serializer, None, dtype, zarr_format)  # refuses one
        meta = _new_n5(shape, dtype, chunk_shape, compressors, filters, fill, order, attributes,
                       dimension_names, shard_shape)
    elif shard_shape is not None and zarr_format != 3:
        raise ZarrioError(f"shards={shard_shape!r}: sharding needs zarr_format=3")
    elif zarr_format == 2:
        new_serializer(serializer, None, dtype, zarr_format)  # refuses one
        if dimension_names is not None:
            attributes["_ARRAY_DIMENSIONS"] = list(dimension_names)
        meta = _new_v2(shape, chunk_shape, dtype, fill, order, filters, compressors, keys, attributes)
    elif zarr_format != 3:
        raise ZarrioError(f"zarr_format={zarr_format!r} must be 2, 3 or 'n5'")
    else:
        # v3 data types have no byte order (the bytes codec has) and structs no padding.
        native = packed(dtype)
        if kind is None:
            v3_data_type_to_json(native)  # refuses what v3 cannot store, before anything is written
        codecs = _v3_codecs(len(shape), chunk_shape, native, kind, order, filters, compressors, serializer)
        if shard_shape is not None:
            shard_shape, edges = _shard_lengths(shard_shape, chunk_shape, edges, shape)
            check_countable(shard_shape, native, "shards")
            # As zarr-python writes it: every codec inside the shard, index at the end with crc32c.
            codecs, chunk_shape = (ShardingCodec(chunk_shape=chunk_shape, codecs=codecs),), shard_shape
        assert keys is not None  # v3 arrays always have one
        meta = ArrayMetadataV3(
            shape=shape, dtype=native, chunk_shape=chunk_shape, chunk_key_encoding=keys,
            fill_value=fill if kind is not None else None if fill is None else parse_fill_value_checked(fill, native),
            codecs=codecs, attributes=attributes, dimension_names=dimension_names,
            data_type_json=None if kind is None else V3_VARIABLE_NAMES[kind], chunk_edges=edges,
        )
    meta.pipeline(allow_pickle=True)  # a codec that cannot take the data type is refused now, not at the first chunk
    return meta


def _new_v2(
    shape: tuple[int, ...], chunk_shape: tuple[int, ...], dtype: np.dtype[Any], fill: np.ndarray | None, order: str,
    filters: Any, compressors: Any, keys: ChunkKeyEncoding | None, attributes: dict[str, Any],
) -> ArrayMetadataV2:
    """A new v2 array: one compressor (numcodecs), numcodecs filters, keys joined by the separator."""
    comps = [numcodecs.Zstd(level=0)] if compressors == "auto" else _as_list(compressors)
    if len(comps) > 1:
        raise ZarrioError(
            f"compressors={compressors!r}: Zarr v2 allows one compressor; put the others "
            "in filters or use zarr_format=3"
        )
    return ArrayMetadataV2(
        shape=shape,
        chunk_shape=chunk_shape,
        dtype=dtype,
        compressor=to_numcodecs(comps[0], "compressors") if comps else None,
        fill_value=fill,
        order=order,
        filters=tuple(to_numcodecs(f, "filters") for f in _as_list(filters)) or None,
        dimension_separator=keys.separator if keys is not None else ".",
        attributes=attributes,
    )


def _data_and_fill(
    dtype: np.dtype[Any], fill_value: Any, filters: Any, serializer: Any, zarr_format: int | str
) -> tuple[str | None, np.dtype[Any], Any, np.ndarray | None]:
    """The variable-length kind (``string``/``bytes``/``None``), the stored dtype, the filters and the fill value."""
    kind = variable_kind(dtype, fill_value) if zarr_format == 3 else None
    if kind is not None and dtype.kind == "O":
        kind = serializer_kind(serializer) or kind  # a vlen-bytes serializer: object data of bytes
    if zarr_format == 2:
        kind, filters = _v2_variable(dtype, fill_value, filters)
    if kind is not None:
        dtype = np.dtype(object)
    if kind is not None and fill_value is not NO_FILL:
        return kind, dtype, filters, _variable_fill(fill_value, kind)
    if fill_value is NO_FILL:
        if zarr_format == 3:
            raise ZarrioError("fill_value=NO_FILL: Zarr v3 arrays always have a fill value; leave fill_value out")
        return kind, dtype, filters, None
    return kind, dtype, filters, default_fill_value(dtype) if fill_value is None else new_fill_value(fill_value, dtype)


def _shard_lengths(
    shards: Any, chunk_shape: tuple[int, ...], edges: tuple[AxisEdges, ...] | None, shape: tuple[int, ...]
) -> tuple[tuple[int, ...], tuple[AxisEdges, ...] | None]:
    """The shard shape (and edges of irregular shards): whole inner chunks along every axis."""
    if edges is not None:
        raise ZarrioError(
            f"chunks={chunk_shape!r}: the inner chunks of shards must be regular; give "
            "irregular lengths to shards= instead"
        )
    shard_shape, edges = grid_lengths(shards, shape, "shards", 3)
    lengths = edges or shard_shape
    if any(e % c for a, c in zip(lengths, chunk_shape) for e in ((a,) if isinstance(a, int) else set(a))):
        raise ZarrioError(
            f"shards={shard_shape if edges is None else edges!r} must be a positive multiple of "
            f"chunks={chunk_shape!r} along every axis (each shard holds whole inner chunks)"
        )
    return shard_shape, edges


def _v3_codecs(
    ndim: int, chunk_shape: tuple[int, ...], native: np.dtype[Any], kind: str | None, order: str,
    filters: Any, compressors: Any, serializer: Any,
) -> tuple[Codec, ...]:
    """A new v3 array's codecs: array→array filters, the serializer, bytes→bytes compressors."""
    aa: list[Codec] = [TransposeCodec(list(reversed(range(ndim))))] if order == "F" and ndim > 1 else []
    # Each codec is completed for the chunks it sees, as zarr-python does: filters such
    # as cast_value or packbits change the data type the serializer and compressors get.
    inner_shape, encoded = chunk_shape, native
    for f in _as_list(filters):
        codec = to_v3_codec(f, encoded)
        if not isinstance(codec, ArrayArrayCodec):
            raise ZarrioError(f"filters: {codec.to_dict()!r} is not an array→array codec")
        aa.append(codec)
        inner_shape, encoded = codec.resolve(inner_shape, encoded)
    bb: list[Codec] = []
    comps = [ZstdCodec(level=0, checksum=False)] if compressors == "auto" else _as_list(compressors)
    for c in comps:
        codec = to_v3_codec(c, encoded)
        if not isinstance(codec, BytesBytesCodec):
            raise ZarrioError(f"compressors: {codec.to_dict()!r} is not a bytes→bytes codec")
        bb.append(codec)
    ab = new_serializer(serializer, kind, encoded, 3)
    assert ab is not None  # v3 arrays always have one
    return (*aa, ab, *bb)


def grid_lengths(
    value: Sequence[int | Sequence[int]], shape: tuple[int, ...], field: str, zarr_format: int | str
) -> tuple[tuple[int, ...], tuple[AxisEdges, ...] | None]:
    """The chunk shape (a rectilinear grid's largest chunk) and, for a rectilinear grid, its edges.

    Examples
    --------
    >>> grid_lengths([4, (3, 5, 2)], (8, 10), "chunks", 3)
    ((4, 5), (4, (3, 5, 2)))
    >>> grid_lengths([(3, 5, 2)], (10,), "chunks", 2)
    Traceback (most recent call last):
    ...
    dask_zarrio.errors.ZarrioError: chunks=[(3, 5, 2)]: irregular chunk lengths need zarr_format=3 ...
    """
    where = f"{field}={list(value)!r}"
    if len(value) != len(shape):
        raise ZarrioError(
            f"{where} must give a positive chunk length for each of the {len(shape)} dimensions of shape={shape!r}"
        )
    out: list[AxisEdges] = []
    for axis, (v, n) in enumerate(zip(value, shape)):
        if isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1:
            out.append(int(v))
        elif isinstance(v, (list, tuple)) and v and all(
            isinstance(e, (int, np.integer)) and not isinstance(e, bool) and e >= 1 for e in v
        ) and sum(v) >= n:
            out.append(tuple(int(e) for e in v))
        else:
            raise ZarrioError(
                f"{where}: entry {axis} ({v!r}) must be a positive chunk length, or positive chunk "
                f"lengths that add up to at least the array's length {n} along axis {axis}"
            )
    regular = tuple(e for e in out if isinstance(e, int))
    if len(regular) == len(out):
        return regular, None
    if zarr_format != 3:
        raise ZarrioError(
            f"{where}: irregular chunk lengths need zarr_format=3 (the rectilinear chunk grid); "
            f"zarr_format={zarr_format!r} stores only regular chunks, so give one length per axis"
        )
    return tuple(e if isinstance(e, int) else max(e) for e in out), tuple(out)


def _new_n5(
    shape: tuple[int, ...],
    dtype: np.dtype[Any],
    chunk_shape: tuple[int, ...],
    compressors: Any,
    filters: Any,
    fill: np.ndarray | None,
    order: str,
    attributes: dict[str, Any],
    dimension_names: Any,
    shard_shape: Any,
) -> ArrayMetadataN5:
    """An N5 dataset: dimensions and blockSize are the C-order shape and chunks reversed."""
    problems = []
    if dtype.newbyteorder("=").name not in N5_DTYPES:
        problems.append(f"dtype {dtype.str!r} (N5 holds {', '.join(N5_DTYPES)}; cast with arr.astype)")
    if filters:
        problems.append(f"filters={filters!r} (N5 has only a compression)")
    if fill is not None and fill_bytes_nonzero(fill):
        problems.append(f"fill_value={fill[()]!r} (N5 has no fill value: missing blocks read as 0)")
    if order != "C":
        problems.append(f"order={order!r}")
    if dimension_names is not None:
        problems.append("dimension_names (N5 has none; put them in attributes)")
    if shard_shape is not None:
        problems.append("shards")
    if not shape:
        problems.append("a 0-d array (N5 datasets have at least one dimension)")
    if problems:
        raise ZarrioError(f"zarr_format='n5' cannot store: {'; '.join(problems)}")
    comps = _as_list(compressors)
    if compressors == "auto":
        compression: dict[str, Any] = {"type": "gzip", "level": -1, "useZlib": False}
    elif len(comps) > 1:
        raise ZarrioError(f"compressors={compressors!r}: N5 takes one compression")
    else:
        compression = n5_compression_from_codec(comps[0] if comps else None)
    return ArrayMetadataN5(
        tuple(reversed(shape)), tuple(reversed(chunk_shape)), dtype.newbyteorder("=").name, compression,
        dict(attributes),
    )


def fill_bytes_nonzero(fill: np.ndarray) -> bool:
    """Whether a fill value is anything but all-zero bytes."""
    return any(np.asarray(fill).tobytes())


def parse_fill_value_checked(fill: np.ndarray, dtype: np.dtype[Any]) -> np.ndarray:
    """The fill value as a 0-d array of ``dtype`` (validates via the JSON round trip)."""
    from .fill import encode_fill_value

    parsed = parse_fill_value(encode_fill_value(fill, dtype, 3), dtype, 3)
    if parsed is None:
        raise ZarrioError(f"fill_value={fill!r}: Zarr v3 arrays need a fill value")
    return parsed
