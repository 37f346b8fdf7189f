"""The ``vlen-utf8`` and ``vlen-bytes`` codecs: variable-length strings and bytes (zarr-python 3).

Array→bytes codecs for the v3 ``string`` and ``bytes`` data types. The layout is
numcodecs' VLenUTF8/VLenBytes: a little-endian uint32 item count, then per item a
uint32 length and the item's bytes, in C order. Decoding goes through the same
bounded path as Zarr v2's object filters
(:func:`~dask_zarrio.codecs.bounded.decode_filter`): the item count in the header
must be the chunk's element count before numcodecs allocates anything.

Elements are Python ``str`` (``vlen-utf8``) or ``bytes`` (``vlen-bytes``) in a
numpy object array, what zarr-python and ``xr.open_zarr`` give for these types;
``None`` is written as an empty item, as numcodecs does.
"""

from __future__ import annotations

from collections.abc import Sequence
from math import prod
from typing import Any, ClassVar

import numpy as np
from numcodecs import VLenBytes, VLenUTF8
from numcodecs.abc import Codec as NumcodecsCodec

from ..errors import MetadataError, ZarrioError
from .base import ArrayBytesCodec, Buffer
from .bounded import decode_filter

__all__ = ["VLenBytesCodec", "VLenUTF8Codec", "check_variable_serialiser"]


class _VLen(ArrayBytesCodec):
    """Shared by both: numcodecs' encoder, object elements of one Python type."""

    element: ClassVar[type]
    data_type: ClassVar[str]
    #: The other type, for the hint when an element has it.
    other: ClassVar[str]
    _numcodecs: ClassVar[type[NumcodecsCodec]]

    def __init__(self) -> None:
        self.codec = self._numcodecs()

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "configuration": {}}

    def max_encoded_size(self, shape: tuple[int, ...], dtype: np.dtype[Any]) -> int | None:
        # Checked when the array is opened: these codecs serialise Python objects only.
        if dtype.kind != "O":
            raise MetadataError(
                f"codec {self.name!r} serialises variable-length {self.data_type!r} elements, but "
                f"the chunk's data type is {dtype.str!r}; use the 'bytes' codec for fixed-size types"
            )
        return None  # strings have no size limit

    def encode(self, arr: np.ndarray) -> Buffer:
        flat = np.ascontiguousarray(arr).reshape(-1)
        if flat.dtype.kind != "O":
            flat = flat.astype(object)  # numpy StringDType, "U" or "S" blocks
        try:  # numcodecs checks each element's type in C: no Python pass unless one is wrong
            return self.codec.encode(flat)
        except (TypeError, ValueError):
            pass
        # None is stored as an empty item, as numcodecs and zarr-python do.
        wrong = next((v for v in flat if v is not None and not isinstance(v, self.element)), _NONE)
        if wrong is not _NONE:
            raise ZarrioError(
                f"codec {self.name!r} stores {self.element.__name__} elements of a "
                f"{self.data_type!r} array, not {wrong!r} ({type(wrong).__name__}); convert the "
                f"data first, or write a new array whose fill_value is a {self.other}"
            )
        return self.codec.encode(flat)

    def decode(self, data: Buffer, shape: tuple[int, ...], dtype: np.dtype[Any]) -> np.ndarray:
        arr = decode_filter(self.codec, data, prod(shape), 8)
        return np.asarray(arr, dtype=object).reshape(shape)


_NONE = object()


class VLenUTF8Codec(_VLen):
    """UTF-8 strings of any length, the v3 ``string`` data type.

    Examples
    --------
    >>> c = VLenUTF8Codec()
    >>> c.decode(c.encode(np.array([["a", "ü"], ["", "日本"]], dtype=object)), (2, 2), np.dtype("O"))
    array([['a', 'ü'],
           ['', '日本']], dtype=object)
    """

    name = "vlen-utf8"
    element = str
    data_type = "string"
    other = "bytes object (b'') for a 'bytes' array"
    _numcodecs = VLenUTF8


class VLenBytesCodec(_VLen):
    """Byte strings of any length, the v3 ``bytes`` (``variable_length_bytes``) data type.

    Examples
    --------
    >>> c = VLenBytesCodec()
    >>> c.decode(c.encode(np.array([b"a", b""], dtype=object)), (2,), np.dtype("O"))
    array([b'a', b''], dtype=object)
    """

    name = "vlen-bytes"
    element = bytes
    data_type = "bytes"
    other = "str ('') for a 'string' array"
    _numcodecs = VLenBytes


#: The array→bytes codec each variable-length data type is stored with (zarr-python 3).
_SERIALISER = {"string": "vlen-utf8", "bytes": "vlen-bytes"}


def check_variable_serialiser(data_type: str | None, codecs: Sequence[Any], where: str = "codecs") -> None:
    """Refuse a ``string``/``bytes`` array whose array→bytes codec stores the other type.

    Both data types read as numpy object arrays, so the chunk's dtype cannot tell
    them apart: a ``string`` array with ``vlen-bytes`` (or the plain ``bytes`` codec)
    would decode to the wrong element type, or to garbage, chunk by chunk. Checked
    when the array is opened; ``sharding_indexed`` is looked into.

    Examples
    --------
    >>> check_variable_serialiser("string", [VLenUTF8Codec()])
    >>> check_variable_serialiser("string", [VLenBytesCodec()])
    Traceback (most recent call last):
    ...
    dask_zarrio.errors.MetadataError: codecs[0] is 'vlen-bytes', but data_type 'string' is stored with 'vlen-utf8'; ...
    """
    if data_type is None:
        return
    for i, codec in enumerate(codecs):
        if not isinstance(codec, ArrayBytesCodec):
            continue
        name = getattr(codec, "name", type(codec).__name__)
        if name == "sharding_indexed":
            check_variable_serialiser(data_type, getattr(codec, "codecs", ()), f"{where}[{i}].configuration.codecs")
        elif name != _SERIALISER[data_type]:
            raise MetadataError(
                f"{where}[{i}] is {name!r}, but data_type {data_type!r} is stored with "
                f"{_SERIALISER[data_type]!r}; the chunks would not decode as {data_type} elements. "
                f"Fix the array's zarr.json: use {{'name': {_SERIALISER[data_type]!r}}}, or the data_type "
                "that matches its codec"
            )
