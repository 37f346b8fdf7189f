"""Metadata for new arrays, from zarr-python 3 style ``create_array`` arguments."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numcodecs
import numpy as np

from ..codecs import ArrayArrayCodec, BytesBytesCodec, Codec
from ..codecs.bytes import BytesCodec
from ..codecs.conversions import n5_compression_from_codec, to_numcodecs, to_v3_codec
from ..codecs.sharding import ShardingCodec
from ..codecs.transpose import TransposeCodec
from ..codecs.vlen import VLenBytesCodec, VLenUTF8Codec
from ..codecs.zstd import ZstdCodec
from ..errors import MetadataError
from ..grid import ChunkKeyEncoding
from .dtypes import V3_VARIABLE_NAMES
from .fill import encode_variable_fill, parse_fill_value, parse_variable_fill
from .n5 import N5_DTYPES, ArrayMetadataN5
from .v2 import OBJECT_CODECS, ArrayMetadataV2
from .v3 import ArrayMetadataV3

__all__ = ["NO_FILL", "default_fill_value", "new_array_metadata", "variable_kind"]


class _NoFill:
    """Marker for "no fill value" (v2 ``"fill_value": null``), unlike ``None`` (the default)."""

    def __repr__(self) -> str:
        return "NO_FILL"

    def __reduce__(self) -> str:
        return "NO_FILL"


#: Pass as ``fill_value`` to write a Zarr v2 array with ``"fill_value": null``.
NO_FILL = _NoFill()


def default_fill_value(dtype: np.dtype[Any]) -> np.ndarray | None:
    """The dtype's zero (False, 0, 0.0, '', b''), zarr-python 3's default.

    Examples
    --------
    >>> default_fill_value(np.dtype("f4"))
    array(0., dtype=float32)
    """
    if dtype.kind == "O":
        return None
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


def new_array_metadata(
    *,
    shape: Sequence[int],
    dtype: np.dtype[Any],
    chunk_shape: Sequence[int],
    compressors: Any = "auto",
    filters: Any = None,
    fill_value: Any = None,
    zarr_format: int | str = 3,
    order: str = "C",
    attributes: dict[str, Any] | None = None,
    dimension_names: Sequence[str | None] | None = None,
    shard_shape: Sequence[int] | None = None,
) -> ArrayMetadataV2 | ArrayMetadataV3 | ArrayMetadataN5:
    """Metadata of a new array, as zarr-python 3's ``create_array`` would write it.

    Examples
    --------
    >>> m = new_array_metadata(shape=(10,), dtype=np.dtype("i2"), chunk_shape=(5,))
    >>> [c["name"] for c in m.to_dict()["codecs"]]
    ['bytes', 'zstd']
    >>> m = new_array_metadata(shape=(10,), dtype=np.dtype("i2"), chunk_shape=(2,), shard_shape=(10,))
    >>> m.chunk_shape, [c["name"] for c in m.to_dict()["codecs"][0]["configuration"]["codecs"]]
    ((10,), ['bytes', 'zstd'])
    """
    shape, chunk_shape = tuple(int(s) for s in shape), tuple(int(c) for c in chunk_shape)
    if len(chunk_shape) != len(shape) or any(c < 1 for c in chunk_shape):
        raise MetadataError(
            f"chunks={chunk_shape!r} must give a positive chunk length for each of the "
            f"{len(shape)} dimensions of shape={shape!r}"
        )
    if order not in ("C", "F"):
        raise MetadataError(f"order={order!r} must be 'C' or 'F'")
    if dimension_names is not None and len(dimension_names) != len(shape):
        raise MetadataError(
            f"dimension_names={list(dimension_names)!r} must name each of the {len(shape)} dimensions"
        )
    attributes = dict(attributes or {})
    kind = variable_kind(dtype, fill_value) if zarr_format == 3 else None
    if zarr_format == 2:
        kind, filters = _v2_variable(dtype, fill_value, filters)
    if kind is not None:
        dtype = np.dtype(object)
    if kind is not None and fill_value is not NO_FILL:
        fill: np.ndarray | None = _variable_fill(fill_value, kind)
    elif fill_value is NO_FILL:
        if zarr_format == 3:
            raise MetadataError("fill_value=NO_FILL: Zarr v3 arrays always have a fill value")
        fill = None
    elif fill_value is None:
        fill = default_fill_value(dtype)
    elif isinstance(fill_value, np.ndarray) and fill_value.shape == () and fill_value.dtype == dtype:
        fill = fill_value
    else:
        try:
            fill = np.array(fill_value, dtype)
        except (TypeError, ValueError, OverflowError) as e:
            raise MetadataError(f"fill_value={fill_value!r} cannot be cast to {dtype.str!r}") from e
    if zarr_format == "n5":
        return _new_n5(shape, dtype, chunk_shape, compressors, filters, fill, order, attributes,
                       dimension_names, shard_shape)
    if shard_shape is not None:
        shard_shape = tuple(int(s) for s in shard_shape)
        if zarr_format != 3:
            raise MetadataError(f"shards={shard_shape!r}: sharding needs zarr_format=3")
        if len(shard_shape) != len(shape) or any(
            s < 1 or s % c for s, c in zip(shard_shape, chunk_shape)
        ):
            raise MetadataError(
                f"shards={shard_shape!r} must be a positive multiple of chunks={chunk_shape!r} "
                "along every axis (each shard holds whole inner chunks)"
            )
    if zarr_format == 2:
        comps = [numcodecs.Zstd(level=0)] if compressors == "auto" else _as_list(compressors)
        if len(comps) > 1:
            raise MetadataError(
                f"compressors={compressors!r}: Zarr v2 allows one compressor; put the others "
                "in filters or use zarr_format=3"
            )
        if dimension_names is not None:
            attributes["_ARRAY_DIMENSIONS"] = list(dimension_names)
        return ArrayMetadataV2(
            shape=shape,
            chunk_shape=chunk_shape,
            dtype=dtype,
            compressor=to_numcodecs(comps[0], "compressors") if comps else None,
            fill_value=fill,
            order=order,
            filters=tuple(to_numcodecs(f, "filters") for f in _as_list(filters)) or None,
            dimension_separator=".",
            attributes=attributes,
        )
    if zarr_format != 3:
        raise MetadataError(f"zarr_format={zarr_format!r} must be 2 or 3")
    native = dtype.newbyteorder("=") if dtype.byteorder not in ("|", "=") else dtype
    aa: list[Codec] = [TransposeCodec(list(reversed(range(len(shape)))))] if order == "F" and len(shape) > 1 else []
    for f in _as_list(filters):
        codec = to_v3_codec(f, native)
        if not isinstance(codec, ArrayArrayCodec):
            raise MetadataError(f"filters: {codec.to_dict()!r} is not an array→array codec")
        aa.append(codec)
    bb: list[Codec] = []
    comps = [ZstdCodec(level=0, checksum=False)] if compressors == "auto" else _as_list(compressors)
    for c in comps:
        codec = to_v3_codec(c, native)
        if not isinstance(codec, BytesBytesCodec):
            raise MetadataError(f"compressors: {codec.to_dict()!r} is not a bytes→bytes codec")
        bb.append(codec)
    endian = None if native.itemsize == 1 or native.kind in "SV" else "little"
    # As zarr-python: variable-length elements go through vlen-utf8/vlen-bytes.
    serializer: Codec = (
        BytesCodec(endian) if kind is None else VLenUTF8Codec() if kind == "string" else VLenBytesCodec()
    )
    codecs: tuple[Codec, ...] = (*aa, serializer, *bb)
    if shard_shape is not None:
        # As zarr-python writes it: every codec inside the shard, index at the end with crc32c.
        codecs = (ShardingCodec(chunk_shape=chunk_shape, codecs=codecs),)
        chunk_shape = shard_shape
    return ArrayMetadataV3(
        shape=shape,
        dtype=native,
        chunk_shape=chunk_shape,
        chunk_key_encoding=ChunkKeyEncoding("c", "/"),
        fill_value=fill if kind is not None else None if fill is None else parse_fill_value_checked(fill, native),
        codecs=codecs,
        attributes=attributes,
        dimension_names=None if dimension_names is None else tuple(dimension_names),
        data_type_json=None if kind is None else V3_VARIABLE_NAMES[kind],
    )


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
    comps = _as_list(compressors)
    if compressors == "auto":
        compression: dict[str, Any] = {"type": "gzip", "level": -1, "useZlib": False}
    elif len(comps) > 1:
        raise MetadataError(f"compressors={compressors!r}: N5 takes one compression")
    else:
        compression = n5_compression_from_codec(comps[0] if comps else None)
    return ArrayMetadataN5(
        tuple(reversed(shape)), tuple(reversed(chunk_shape)), dtype.newbyteorder("=").name, compression, dict(attributes),
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
