"""The serializer and chunk key encoding of a new array, from ``create_array`` style arguments.

zarr-python 3's ``create_array`` takes ``serializer=`` (the array→bytes codec of a v3
array: ``"auto"``, or a codec such as ``numcodecs.pcodec`` or ``bytes`` with an
``endian``) and ``chunk_key_encoding=`` (``{"name": "default" | "v2", "separator":
"/" | "."}``); :func:`new_serializer` and :func:`new_key_encoding` read them the same way.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..codecs import ArrayBytesCodec, Codec
from ..codecs.bytes import BytesCodec
from ..codecs.conversions import to_v3_codec
from ..codecs.vlen import VLenBytesCodec, VLenUTF8Codec
from ..errors import ArgumentTypeError, ZarrioError
from ..layout.grid import ChunkKeyEncoding
from .arguments import user_arguments
from .v3 import parse_chunk_key_encoding

__all__ = ["default_endian", "new_key_encoding", "new_serializer", "serializer_kind"]


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


@user_arguments()
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
    dask_zarrio.errors.ZarrioError: serializer={'name': 'zstd'} is not an array→bytes codec ...
    """
    if isinstance(serializer, str) and serializer == "auto":
        if zarr_format != 3:
            return None
        if kind is None:
            return BytesCodec(default_endian(dtype))
        return VLenUTF8Codec() if kind == "string" else VLenBytesCodec()
    if zarr_format != 3:
        raise ZarrioError(
            f"serializer={serializer!r}: Zarr {'v2' if zarr_format == 2 else zarr_format} arrays have no "
            "array→bytes codec; leave serializer='auto' (put codecs in filters/compressors) or use zarr_format=3"
        )
    codec = to_v3_codec(serializer, dtype)
    if not isinstance(codec, ArrayBytesCodec):
        raise ZarrioError(
            f"serializer={serializer!r} is not an array→bytes codec (such as 'bytes', 'vlen-utf8' or "
            "'numcodecs.pcodec'); put bytes→bytes codecs in compressors= and array→array codecs in filters="
        )
    return codec


def serializer_kind(serializer: Any) -> str | None:
    """``"string"``/``"bytes"`` where ``serializer`` is ``vlen-utf8``/``vlen-bytes``, else ``None``.

    Object arrays do not say whether they hold text or bytes: a ``vlen-bytes``
    serializer says so, as a ``vlen-bytes`` filter does in Zarr v2.

    Examples
    --------
    >>> serializer_kind("vlen-bytes"), serializer_kind({"name": "vlen-utf8"}), serializer_kind("auto")
    ('bytes', 'string', None)
    """
    name = serializer if isinstance(serializer, str) else None
    if isinstance(serializer, dict):
        name = serializer.get("name")
    if isinstance(serializer, (VLenUTF8Codec, VLenBytesCodec)):
        name = serializer.to_dict()["name"]
    return {"vlen-utf8": "string", "vlen-bytes": "bytes"}.get(name) if isinstance(name, str) else None


@user_arguments()
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
    dask_zarrio.errors.ZarrioError: chunk_key_encoding='default': Zarr v2 arrays take only the 'v2' encoding...
    """
    if zarr_format == "n5":
        if value is not None:
            raise ZarrioError(f"chunk_key_encoding={value!r}: N5 datasets have their own keys; leave it None")
        return None
    if value is None:
        return ChunkKeyEncoding("c", "/") if zarr_format == 3 else ChunkKeyEncoding(None, ".")
    if isinstance(value, ChunkKeyEncoding):
        encoding = value
    elif isinstance(value, str):
        encoding = parse_chunk_key_encoding({"name": value})
    elif not isinstance(value, dict):
        raise ArgumentTypeError(
            f"chunk_key_encoding={value!r} must be a name ('default', 'v2') or a dict such as "
            "{'name': 'v2', 'separator': '/'}"
        )
    elif "separator" in value and "configuration" not in value:
        if set(value) - {"name", "separator"}:
            raise ZarrioError(
                f"chunk_key_encoding={value!r} has keys {sorted(set(value) - {'name', 'separator'})!r}; "
                "give only 'name' and 'separator'"
            )
        separator = {"separator": value["separator"]}
        encoding = parse_chunk_key_encoding({"name": value.get("name"), "configuration": separator})
    else:
        encoding = parse_chunk_key_encoding(value)
    if zarr_format == 2 and encoding.prefix is not None:
        raise ZarrioError(
            f"chunk_key_encoding={value!r}: Zarr v2 arrays take only the 'v2' encoding, e.g. "
            "{'name': 'v2', 'separator': '/'}"
        )
    return encoding
