"""Metadata for new arrays, from zarr-python 3 style ``create_array`` arguments."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numcodecs
import numpy as np

from ..codecs.conversions import n5_compression_from_codec, to_numcodecs
from ..codecs.sharding import ShardingCodec
from ..errors import MetadataError
from ..layout.grid import ChunkKeyEncoding
from .create_codecs import as_list, new_key_encoding, new_serializer, new_v2_codecs, new_v3_codecs, serializer_kind
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
    given = [to_numcodecs(f, "filters") for f in as_list(filters)]
    ids = [f.codec_id for f in given]
    if "vlen-utf8" in ids or "vlen-bytes" in ids:
        return ("bytes" if "vlen-bytes" in ids else "string"), given
    if any(i in OBJECT_CODECS for i in ids):
        return None, given
    return kind, [numcodecs.VLenUTF8() if kind == "string" else numcodecs.VLenBytes(), *given]


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
    (:mod:`.create_codecs`).

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
        raise MetadataError(f"order={order!r} must be 'C' or 'F'")
    if dimension_names is not None and len(dimension_names) != len(shape):
        raise MetadataError(
            f"dimension_names={list(dimension_names)!r} must name each of the {len(shape)} dimensions"
        )
    attributes = dict(attributes or {})
    keys = new_key_encoding(chunk_key_encoding, zarr_format)
    kind, filters = _new_kind(dtype, fill_value, filters, serializer, zarr_format)
    if kind is not None:
        dtype = np.dtype(object)
    fill = _new_fill(fill_value, dtype, kind, zarr_format)
    if zarr_format == "n5":
        new_serializer(serializer, None, dtype, zarr_format)  # refuses one
        return _new_n5(shape, dtype, chunk_shape, compressors, filters, fill, order, attributes,
                       dimension_names, shard_shape)
    if shard_shape is not None:
        shard_shape, edges = _shard_grid(shard_shape, chunk_shape, edges, shape, zarr_format)
    if zarr_format == 2:
        new_serializer(serializer, None, dtype, zarr_format)  # refuses one
        compressor, v2_filters = new_v2_codecs(compressors, filters)
        if dimension_names is not None:
            attributes["_ARRAY_DIMENSIONS"] = list(dimension_names)
        return ArrayMetadataV2(
            shape=shape, chunk_shape=chunk_shape, dtype=dtype, compressor=compressor, fill_value=fill, order=order,
            filters=v2_filters, dimension_separator=keys.separator if keys is not None else ".", attributes=attributes,
        )
    if zarr_format != 3:
        raise MetadataError(f"zarr_format={zarr_format!r} must be 2 or 3")
    assert keys is not None  # v3 arrays always have one
    return _new_v3(
        shape, chunk_shape, shard_shape, edges, dtype, kind, fill, keys, attributes, dimension_names,
        order=order, filters=filters, compressors=compressors, serializer=serializer,
    )


def _new_kind(
    dtype: np.dtype[Any], fill_value: Any, filters: Any, serializer: Any, zarr_format: int | str
) -> tuple[str | None, Any]:
    """Which variable-length type (``string``/``bytes``) a new array holds, if any, and its filters.

    Zarr v2 says it with an object codec among the filters (:func:`_v2_variable` adds
    one); v3 with its data type, where a ``vlen-bytes`` serializer says that object
    data holds bytes. N5 has no variable-length types.
    """
    if zarr_format == 2:
        return _v2_variable(dtype, fill_value, filters)
    kind = variable_kind(dtype, fill_value) if zarr_format == 3 else None
    if kind is not None and dtype.kind == "O":
        kind = serializer_kind(serializer) or kind  # a vlen-bytes serializer: object data of bytes
    return kind, filters


def _new_fill(fill_value: Any, dtype: np.dtype[Any], kind: str | None, zarr_format: int | str) -> np.ndarray | None:
    """A new array's fill value as a 0-d array of ``dtype``; ``None`` for :data:`NO_FILL` (Zarr v2 only).

    Examples
    --------
    >>> _new_fill(None, np.dtype("i2"), None, 3), _new_fill(7, np.dtype("u1"), None, 2)
    (array(0, dtype=int16), array(7, dtype=uint8))
    >>> _new_fill(NO_FILL, np.dtype("i2"), None, 3)
    Traceback (most recent call last):
    ...
    dask_zarrio.errors.MetadataError: fill_value=NO_FILL: Zarr v3 arrays always have a fill value
    """
    if kind is not None and fill_value is not NO_FILL:
        return _variable_fill(fill_value, kind)
    if fill_value is NO_FILL:
        if zarr_format == 3:
            raise MetadataError("fill_value=NO_FILL: Zarr v3 arrays always have a fill value")
        return None
    if fill_value is None:
        return default_fill_value(dtype)
    if isinstance(fill_value, np.ndarray) and fill_value.shape == () and fill_value.dtype == dtype:
        return fill_value
    try:
        return np.array(fill_value, dtype)
    except (TypeError, ValueError, OverflowError) as e:
        raise MetadataError(f"fill_value={fill_value!r} cannot be cast to {dtype.str!r}") from e


def _shard_grid(
    shard_shape: Sequence[int | Sequence[int]],
    chunk_shape: tuple[int, ...],
    edges: tuple[AxisEdges, ...] | None,
    shape: tuple[int, ...],
    zarr_format: int | str,
) -> tuple[tuple[int, ...], tuple[AxisEdges, ...] | None]:
    """The shard shape and, for irregular shards, their edges: each shard holds whole inner chunks.

    Examples
    --------
    >>> _shard_grid([(4, 6)], (2,), None, (10,), 3)
    ((6,), ((4, 6),))
    >>> _shard_grid([5], (2,), None, (10,), 3)
    Traceback (most recent call last):
    ...
    dask_zarrio.errors.MetadataError: shards=(5,) must be a positive multiple of chunks=(2,) along every axis ...
    """
    if zarr_format != 3:
        raise MetadataError(f"shards={shard_shape!r}: sharding needs zarr_format=3")
    if edges is not None:
        raise MetadataError(
            f"chunks={chunk_shape!r}: the inner chunks of shards must be regular; give "
            "irregular lengths to shards= instead"
        )
    shard_shape, edges = grid_lengths(shard_shape, shape, "shards", zarr_format)
    lengths = edges or shard_shape
    if any(e % c for a, c in zip(lengths, chunk_shape) for e in ((a,) if isinstance(a, int) else set(a))):
        raise MetadataError(
            f"shards={shard_shape if edges is None else edges!r} must be a positive multiple of "
            f"chunks={chunk_shape!r} along every axis (each shard holds whole inner chunks)"
        )
    return shard_shape, edges


def _new_v3(
    shape: tuple[int, ...],
    chunk_shape: tuple[int, ...],
    shard_shape: tuple[int, ...] | None,
    edges: tuple[AxisEdges, ...] | None,
    dtype: np.dtype[Any],
    kind: str | None,
    fill: np.ndarray | None,
    keys: ChunkKeyEncoding,
    attributes: dict[str, Any],
    dimension_names: Sequence[str | None] | None,
    **codecs: Any,
) -> ArrayMetadataV3:
    """A Zarr v3 array: its data type without byte order, its codec chain (:func:`.new_v3_codecs`
    of the ``order``, ``filters``, ``compressors`` and ``serializer`` in ``codecs``), shards around it."""
    # v3 data types have no byte order (the bytes codec has) and structs no padding.
    native = packed(dtype)
    if kind is None:
        v3_data_type_to_json(native)  # refuses what v3 cannot store, before anything is written
    chain = new_v3_codecs(len(shape), chunk_shape, native, kind, **codecs)
    if shard_shape is not None:
        # As zarr-python writes it: every codec inside the shard, index at the end with crc32c.
        chain = (ShardingCodec(chunk_shape=chunk_shape, codecs=chain),)
        chunk_shape = shard_shape
    return ArrayMetadataV3(
        shape=shape,
        dtype=native,
        chunk_shape=chunk_shape,
        chunk_key_encoding=keys,
        fill_value=fill if kind is not None else None if fill is None else parse_fill_value_checked(fill, native),
        codecs=chain,
        attributes=attributes,
        dimension_names=None if dimension_names is None else tuple(dimension_names),
        data_type_json=None if kind is None else V3_VARIABLE_NAMES[kind],
        chunk_edges=edges,
    )


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
    dask_zarrio.errors.MetadataError: chunks=[(3, 5, 2)]: irregular chunk lengths need zarr_format=3 ...
    """
    where = f"{field}={list(value)!r}"
    if len(value) != len(shape):
        raise MetadataError(
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
            raise MetadataError(
                f"{where}: entry {axis} ({v!r}) must be a positive chunk length, or positive chunk "
                f"lengths that add up to at least the array's length {n} along axis {axis}"
            )
    regular = tuple(e for e in out if isinstance(e, int))
    if len(regular) == len(out):
        return regular, None
    if zarr_format != 3:
        raise MetadataError(
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
        raise MetadataError(f"zarr_format='n5' cannot store: {'; '.join(problems)}")
    comps = as_list(compressors)
    if compressors == "auto":
        compression: dict[str, Any] = {"type": "gzip", "level": -1, "useZlib": False}
    elif len(comps) > 1:
        raise MetadataError(f"compressors={compressors!r}: N5 takes one compression")
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
        raise MetadataError(f"fill_value={fill!r}: Zarr v3 arrays need a fill value")
    return parsed
