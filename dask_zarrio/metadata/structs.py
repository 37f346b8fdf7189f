"""Structured (record) data types of Zarr v3, and their fill values.

Two spellings exist. zarr-python 3.4 writes ``struct`` (zarr-extensions
``data-types/struct``): fields as ``{"name", "data_type"}`` objects and the fill value as
an object of field values, each in its field type's own JSON form. zarr-python 3.0/3.1
wrote ``structured``: fields as ``[name, data_type]`` pairs and the fill value as base64
of the element's bytes. Both are read; ``struct`` is written, unless the array being
rewritten already says ``structured``. Multi-byte fields are stored in the byte order of
the ``bytes`` codec (little-endian where it names none, as zarr-python 3.4 assumes), so
the parsed dtype has native fields and no padding; v3 has no sub-array fields.

The element parsers are passed in (``parse_field``, ``parse_fill``...), so that this
module and ``dtypes``/``fill`` do not import each other.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import MetadataError

__all__ = [
    "STRUCT_NAMES",
    "encode_struct_fill",
    "parse_struct_data_type",
    "parse_struct_fill",
    "struct_data_type_to_json",
]

#: zarr-python 3.4's name first (the one written), then zarr-python 3.1's.
STRUCT_NAMES = ("struct", "structured")

FieldParser = Callable[[object], "np.dtype[Any]"]
FieldWriter = Callable[["np.dtype[Any]"], Any]


def _field(item: object, name: str, index: int) -> tuple[object, object]:
    """``(name, data_type)`` of one field in either spelling."""
    if isinstance(item, dict) and set(item) >= {"name", "data_type"}:
        return item["name"], item["data_type"]
    if isinstance(item, (list, tuple)) and len(item) == 2:
        return item[0], item[1]
    raise MetadataError(
        f"data_type {name!r}: configuration.fields[{index}]={item!r} must be "
        '{"name": ..., "data_type": ...} (or [name, data_type] as zarr-python 3.1 wrote it)'
    )


def parse_struct_data_type(name: str, config: object, parse_field: FieldParser) -> np.dtype[Any]:
    """The numpy dtype of a ``struct``/``structured`` data type: packed, native fields.

    Examples
    --------
    >>> parse_struct_data_type("struct", {"fields": [{"name": "x", "data_type": "uint8"}]}, np.dtype)
    dtype([('x', 'u1')])
    """
    fields = config.get("fields") if isinstance(config, dict) else None
    if not isinstance(fields, list) or not fields:
        raise MetadataError(
            f"data_type {name!r} needs configuration.fields, a non-empty list of fields; got {config!r}"
        )
    out: list[tuple[str, np.dtype[Any]]] = []
    for index, item in enumerate(fields):
        field_name, field_type = _field(item, name, index)
        if not isinstance(field_name, str) or not field_name:
            raise MetadataError(
                f"data_type {name!r}: configuration.fields[{index}] has name={field_name!r}; "
                "field names are non-empty strings"
            )
        sub = parse_field(field_type)
        if sub.kind == "O":
            raise MetadataError(
                f"data_type {name!r}: field {field_name!r} is variable-length ({field_type!r}); "
                "struct fields must have a fixed size"
            )
        out.append((field_name, sub))
    try:
        return np.dtype(out)
    except (TypeError, ValueError) as e:  # duplicate names, or past numpy's size limit
        raise MetadataError(f"data_type {name!r} has fields numpy refuses: {e}") from e


def struct_data_type_to_json(dtype: np.dtype[Any], field_to_json: FieldWriter) -> dict[str, Any]:
    """The ``struct`` data type of a structured numpy dtype (zarr-python 3.4's spelling).

    Examples
    --------
    >>> struct_data_type_to_json(np.dtype([("x", "u1")]), lambda d: d.name)
    {'name': 'struct', 'configuration': {'fields': [{'name': 'x', 'data_type': 'uint8'}]}}
    """
    fields = []
    for name in dtype.names or ():
        sub, _offset, *title = dtype.fields[name]  # type: ignore[index]
        if title:
            raise MetadataError(
                f"dtype {dtype!r}: field {name!r} has a title ({title[0]!r}), which Zarr v3 "
                "cannot store; drop the titles (or use zarr_format=2)"
            )
        if sub.subdtype is not None:
            raise MetadataError(
                f"dtype {dtype!r}: field {name!r} is a sub-array of shape {sub.shape}, which "
                "Zarr v3 struct data types cannot hold; use zarr_format=2 (it stores sub-array "
                "fields) or give each element its own field"
            )
        fields.append({"name": name, "data_type": field_to_json(sub)})
    return {"name": "struct", "configuration": {"fields": fields}}


def packed(dtype: np.dtype[Any]) -> np.dtype[Any]:
    """``dtype`` without padding or offsets, fields in native byte order (how v3 parses it).

    Examples
    --------
    >>> packed(np.dtype({"names": ["a"], "formats": [">i2"], "itemsize": 4})).itemsize
    2
    """
    if dtype.names is None:
        return dtype.newbyteorder("=") if dtype.byteorder not in ("|", "=") else dtype
    parts: list[tuple[Any, ...]] = []
    for name in dtype.names:
        sub = dtype.fields[name][0]  # type: ignore[index]
        if sub.subdtype is not None:
            base, shape = sub.subdtype
            parts.append((name, packed(base), shape))
        else:
            parts.append((name, packed(sub)))
    return np.dtype(parts)


def _b64_element(value: str, dtype: np.dtype[Any]) -> np.ndarray:
    """A base64 fill value: the element's bytes, fields little-endian (zarr-python 3.1)."""
    try:
        raw = base64.b64decode(value, validate=True)
    except binascii.Error as e:
        raise MetadataError(f"fill_value={value!r} of a struct array is not valid base64") from e
    if len(raw) != dtype.itemsize:
        raise MetadataError(
            f"fill_value={value!r} decodes to {len(raw)} bytes; the struct {dtype!r} has {dtype.itemsize}"
        )
    return np.frombuffer(raw, dtype.newbyteorder("<")).astype(dtype).reshape(())


def parse_struct_fill(
    value: object, dtype: np.dtype[Any], parse_fill: Callable[[object, np.dtype[Any]], np.ndarray | None]
) -> np.ndarray:
    """A v3 struct fill value: an object of field values (absent fields are zero) or base64.

    Examples
    --------
    >>> dt = np.dtype([("a", "i2"), ("b", "f4")])
    >>> parse_struct_fill({"b": 1.5}, dt, lambda v, d: np.array(v, d))[()]
    np.void((0, 1.5), dtype=[('a', '<i2'), ('b', '<f4')])
    """
    if isinstance(value, str):
        return _b64_element(value, dtype)
    if not isinstance(value, dict):
        raise MetadataError(
            f"fill_value={value!r} of a struct array must be an object of field values, "
            'e.g. {"a": 0}, or base64 of its bytes'
        )
    unknown = sorted(set(value) - set(dtype.names or ()))
    if unknown:
        raise MetadataError(
            f"fill_value={value!r} names fields {unknown!r} that the struct does not have; "
            f"its fields are {list(dtype.names or ())!r}"
        )
    out = np.zeros((), dtype)
    for name in dtype.names or ():
        if name in value:
            sub = parse_fill(value[name], dtype.fields[name][0])  # type: ignore[index]
            if sub is None:
                raise MetadataError(f"fill_value[{name!r}]=null: struct fields need a value")
            out[name] = sub
    return out


def encode_struct_fill(
    fill: np.ndarray, dtype: np.dtype[Any], name: str, encode_fill: Callable[[np.ndarray, np.dtype[Any]], Any]
) -> Any:
    """The JSON fill value of a v3 struct array: field values for ``struct``, base64 for ``structured``.

    Examples
    --------
    >>> dt = np.dtype([("a", "i2")])
    >>> encode_struct_fill(np.array((3,), dt), dt, "struct", lambda f, d: int(f))
    {'a': 3}
    >>> encode_struct_fill(np.array((3,), dt), dt, "structured", lambda f, d: int(f))
    'AwA='
    """
    arr = np.asarray(fill).astype(dtype).reshape(())
    if name == "structured":
        return base64.standard_b64encode(arr.astype(dtype.newbyteorder("<")).tobytes()).decode("ascii")
    return {
        field: encode_fill(np.asarray(arr[field]), dtype.fields[field][0])  # type: ignore[index]
        for field in dtype.names or ()
    }
