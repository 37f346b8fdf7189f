"""The codecs and chunk key encoding of a new array, from ``create_array`` style arguments.

zarr-python 3's ``create_array`` takes ``serializer=`` (the array→bytes codec of a v3
array: ``"auto"``, or a codec such as ``numcodecs.pcodec`` or ``bytes`` with an
``endian``) and ``chunk_key_encoding=`` (``{"name": "default" | "v2", "separator":
"/" | "."}``); :func:`new_serializer` and :func:`new_key_encoding` read them the same way.
:func:`new_v3_codecs` and :func:`new_v2_codecs` make the whole chain from ``filters=``,
``serializer=`` and ``compressors=``.
"""

from __future__ import annotations

from typing import Any

import numcodecs
import numpy as np

from ..codecs import ArrayArrayCodec, ArrayBytesCodec, BytesBytesCodec, Codec
from ..codecs.bytes import BytesCodec
from ..codecs.conversions import to_numcodecs, to_v3_codec
from ..codecs.transpose import TransposeCodec
from ..codecs.vlen import VLenBytesCodec, VLenUTF8Codec
from ..codecs.zstd import ZstdCodec
from ..errors import MetadataError
from ..layout.grid import ChunkKeyEncoding
from .v3 import parse_chunk_key_encoding

__all__ = ["as_list", "default_endian", "new_key_encoding", "new_serializer", "new_v2_codecs", "new_v3_codecs",
           "serializer_kind"]


def as_list(value: Any) -> list[Any]:
    """``filters=``/``compressors=`` as a list: ``None`` is none, one codec a list of one.

    Examples
    --------
    >>> as_list(None), as_list("zstd"), as_list(("zstd", "crc32c"))
    ([], ['zstd'], ['zstd', 'crc32c'])
    """
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def default_endian(dtype: np.dtype[Any]) -> str | None:
    """The ``bytes`` codec's byte order for ``dtype``, where zarr-python 3.4 writes one.

    Structs get one when a field has several bytes (even text), other types when
    they are numbers of several bytes.

    Examples
    --------
    >>> default_endian(np.dtype("<i2")), default_endian(np.dtype("u1"))
    ('little', None)
    """
    if dtype.names is not None:
        return "little" if any(dtype.fields[n][0].itemsize > 1 for n in dtype.names) else None  # type: ignore[index]
    return None if dtype.itemsize == 1 or dtype.kind in "SV" else "little"


def new_serializer(serializer: Any, kind: str | None, dtype: np.dtype[Any], zarr_format: int | str) -> Codec | None:
    """The array→bytes codec of a new array (``None`` for v2 and N5, which have none).

    ``"auto"`` is zarr-python's choice: ``bytes`` (little-endian where the type has a
    byte order), ``vlen-utf8`` for ``string`` and ``vlen-bytes`` for ``bytes`` data.
    Otherwise a codec object, a v3 codec dict or name, or a numcodecs codec that
    serialises arrays itself (``numcodecs.pcodec``, ``numcodecs.zfpy``); ``dtype`` is what
    the serializer sees (after the filters).

    Examples
    --------
    >>> new_serializer("auto", None, np.dtype("<f4"), 3).to_dict()
    {'name': 'bytes', 'configuration': {'endian': 'little'}}
    >>> new_serializer({"name": "bytes", "configuration": {"endian": "big"}}, None, np.dtype("<f4"), 3).to_dict()
    {'name': 'bytes', 'configuration': {'endian': 'big'}}
    >>> new_serializer({"name": "zstd"}, None, np.dtype("<f4"), 3)
    Traceback (most recent call last):
    ...
    dask_zarrio.errors.MetadataError: serializer={'name': 'zstd'} is not an array→bytes codec ...
    """
    if isinstance(serializer, str) and serializer == "auto":
        if zarr_format != 3:
            return None
        if kind is None:
            return BytesCodec(default_endian(dtype))
        return VLenUTF8Codec() if kind == "string" else VLenBytesCodec()
    if zarr_format != 3:
        raise MetadataError(
            f"serializer={serializer!r}: Zarr {'v2' if zarr_format == 2 else zarr_format} arrays have no "
            "array→bytes codec; leave serializer='auto' (put codecs in filters/compressors) or use zarr_format=3"
        )
    codec = to_v3_codec(serializer, dtype)
    if not isinstance(codec, ArrayBytesCodec):
        raise MetadataError(
            f"serializer={serializer!r} is not an array→bytes codec (such as 'bytes', 'vlen-utf8' or "
            "'numcodecs.pcodec'); put bytes→bytes codecs in compressors= and array→array codecs in filters="
        )
    return codec


def new_v3_codecs(
    ndim: int,
    chunk_shape: tuple[int, ...],
    dtype: np.dtype[Any],
    kind: str | None,
    *,
    order: str,
    filters: Any,
    compressors: Any,
    serializer: Any,
) -> tuple[Codec, ...]:
    """The codec chain of a new v3 array: array→array codecs, the serializer, the compressors.

    ``order="F"`` is a ``transpose`` before the filters; ``compressors="auto"`` is
    zstd at level 0. Each codec is completed for the chunks it sees, as zarr-python
    does: filters such as cast_value or packbits change the data type the serializer
    and compressors get.

    Examples
    --------
    >>> chain = new_v3_codecs(2, (4, 4), np.dtype("<f4"), None, order="F", filters=None, compressors="auto",
    ...                       serializer="auto")
    >>> [c.to_dict()["name"] for c in chain]
    ['transpose', 'bytes', 'zstd']
    """
    aa: list[Codec] = [TransposeCodec(list(reversed(range(ndim))))] if order == "F" and ndim > 1 else []
    inner_shape, encoded = chunk_shape, dtype
    for f in as_list(filters):
        codec = to_v3_codec(f, encoded)
        if not isinstance(codec, ArrayArrayCodec):
            raise MetadataError(f"filters: {codec.to_dict()!r} is not an array→array codec")
        aa.append(codec)
        inner_shape, encoded = codec.resolve(inner_shape, encoded)
    bb: list[Codec] = []
    comps = [ZstdCodec(level=0, checksum=False)] if compressors == "auto" else as_list(compressors)
    for c in comps:
        codec = to_v3_codec(c, encoded)
        if not isinstance(codec, BytesBytesCodec):
            raise MetadataError(f"compressors: {codec.to_dict()!r} is not a bytes→bytes codec")
        bb.append(codec)
    ab = new_serializer(serializer, kind, encoded, 3)
    assert ab is not None  # v3 arrays always have one
    return (*aa, ab, *bb)


def new_v2_codecs(compressors: Any, filters: Any) -> tuple[Any, tuple[Any, ...] | None]:
    """The compressor (one at most; ``"auto"`` is zstd at level 0) and filters of a new v2 array, as numcodecs.

    Examples
    --------
    >>> new_v2_codecs("auto", None)
    (Zstd(level=0), None)
    >>> new_v2_codecs(["zstd", "gzip"], None)
    Traceback (most recent call last):
    ...
    dask_zarrio.errors.MetadataError: compressors=['zstd', 'gzip']: Zarr v2 allows one compressor; ...
    """
    comps = [numcodecs.Zstd(level=0)] if compressors == "auto" else as_list(compressors)
    if len(comps) > 1:
        raise MetadataError(
            f"compressors={compressors!r}: Zarr v2 allows one compressor; put the others "
            "in filters or use zarr_format=3"
        )
    compressor = to_numcodecs(comps[0], "compressors") if comps else None
    return compressor, tuple(to_numcodecs(f, "filters") for f in as_list(filters)) or None


def serializer_kind(serializer: Any) -> str | None:
    """``"string"``/``"bytes"`` where ``serializer`` is ``vlen-utf8``/``vlen-bytes``, else ``None``.

    Object arrays do not say whether they hold text or bytes: a ``vlen-bytes``
    serializer says so, as a ``vlen-bytes`` filter does in Zarr v2.

    Examples
    --------
    >>> serializer_kind("vlen-bytes"), serializer_kind({"name": "vlen-utf8"}), serializer_kind("auto")
    ('bytes', 'string', None)
    """
    name = serializer.get("name") if isinstance(serializer, dict) else None
    if isinstance(serializer, str):
        name = serializer
    elif isinstance(serializer, (VLenUTF8Codec, VLenBytesCodec)):
        name = serializer.to_dict()["name"]
    return {"vlen-utf8": "string", "vlen-bytes": "bytes"}.get(name) if isinstance(name, str) else None


def new_key_encoding(value: Any, zarr_format: int | str) -> ChunkKeyEncoding | None:
    """A new array's chunk key encoding, as zarr-python's ``create_array`` reads ``chunk_key_encoding``.

    ``None`` is the format's default (v3: ``default`` with ``/``; v2: ``.``); a name
    (``"default"``, ``"v2"``) takes that encoding's default separator (``/`` and ``.``);
    a dict is ``{"name": ..., "separator": ...}`` or the ``zarr.json`` form with a
    ``configuration``. Zarr v2 arrays take only the ``v2`` encoding (its separator is
    the ``.zarray``'s ``dimension_separator``). ``None`` comes back for N5.

    Examples
    --------
    >>> new_key_encoding(None, 3), new_key_encoding("v2", 3)
    (ChunkKeyEncoding(prefix='c', separator='/'), ChunkKeyEncoding(prefix=None, separator='.'))
    >>> new_key_encoding({"name": "v2", "separator": "/"}, 2)
    ChunkKeyEncoding(prefix=None, separator='/')
    >>> new_key_encoding("default", 2)
    Traceback (most recent call last):
    ...
    dask_zarrio.errors.MetadataError: chunk_key_encoding='default': Zarr v2 arrays take only the 'v2' encoding...
    """
    if zarr_format == "n5":
        if value is not None:
            raise MetadataError(f"chunk_key_encoding={value!r}: N5 datasets have their own keys; leave it None")
        return None
    if value is None:
        return ChunkKeyEncoding("c", "/") if zarr_format == 3 else ChunkKeyEncoding(None, ".")
    if isinstance(value, ChunkKeyEncoding):
        encoding = value
    elif isinstance(value, str):
        encoding = parse_chunk_key_encoding({"name": value})
    elif isinstance(value, dict) and "separator" in value and "configuration" not in value:
        if set(value) - {"name", "separator"}:
            raise MetadataError(
                f"chunk_key_encoding={value!r} has keys {sorted(set(value) - {'name', 'separator'})!r}; "
                "give only 'name' and 'separator'"
            )
        encoding = parse_chunk_key_encoding(
            {"name": value.get("name"), "configuration": {"separator": value["separator"]}}
        )
    else:
        encoding = parse_chunk_key_encoding(value)
    if zarr_format == 2 and encoding.prefix is not None:
        raise MetadataError(
            f"chunk_key_encoding={value!r}: Zarr v2 arrays take only the 'v2' encoding, e.g. "
            "{'name': 'v2', 'separator': '/'}"
        )
    return encoding
