"""Data types: Zarr v2 ``dtype`` strings and Zarr v3 ``data_type`` names to numpy and back.

v2 stores numpy's own ``dtype.str`` (``"<f4"``, ``"|S5"``) or a list of fields for
structured types. v3 names the type (``"float32"``) or gives ``{"name", "configuration"}``
for extension types; zarr-python 3.1 writes several names outside the core spec
(``fixed_length_utf32``, ``null_terminated_bytes``, ``raw_bytes``), which are read as
aliases. Structured types are ``struct`` (or zarr-python 3.1's ``structured``), see
:mod:`.structs`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import MetadataError
from .structs import STRUCT_NAMES, parse_struct_data_type, struct_data_type_to_json

__all__ = [
    "V3_VARIABLE_NAMES",
    "parse_v2_dtype",
    "parse_v3_data_type",
    "v2_dtype_to_json",
    "v3_data_type_to_json",
    "v3_variable_kind",
]

_V3_CORE = {
    "bool": "bool",
    "int8": "i1",
    "int16": "i2",
    "int32": "i4",
    "int64": "i8",
    "uint8": "u1",
    "uint16": "u2",
    "uint32": "u4",
    "uint64": "u8",
    "float16": "f2",
    "float32": "f4",
    "float64": "f8",
    "complex64": "c8",
    "complex128": "c16",
}
_NUMPY_TO_V3 = {np.dtype(v).str[1:]: k for k, v in _V3_CORE.items()}

# Names that zarr-python 3.0/3.1 and the zarr-extensions repository use for fixed-width
# text and bytes; each maps to (numpy kind, bytes per character).
_V3_FIXED_WIDTH = {
    "fixed_length_utf32": ("U", 4),
    "fixed_length_ucs4": ("U", 4),
    "null_terminated_bytes": ("S", 1),
    "fixed_length_ascii": ("S", 1),
    "fixed_length_bytes": ("V", 1),
    "raw_bytes": ("V", 1),
}
# Variable-length types, read as numpy object arrays of str or bytes: each name to
# which of the two it holds.
_V3_VARIABLE = {
    "string": "string",
    "variable_length_utf8": "string",
    "bytes": "bytes",
    "variable_length_bytes": "bytes",
}
#: The names dask_zarrio writes: zarr-python 3.1's, which reads no other for bytes.
V3_VARIABLE_NAMES = {"string": "string", "bytes": "variable_length_bytes"}


def v3_variable_kind(value: object) -> str | None:
    """``"string"`` or ``"bytes"`` for a variable-length v3 ``data_type``; else ``None``.

    Both read as numpy object arrays; this says whether their elements (and fill
    value) are ``str`` or ``bytes``.

    Examples
    --------
    >>> v3_variable_kind("variable_length_bytes"), v3_variable_kind({"name": "string"}), v3_variable_kind("int8")
    ('bytes', 'string', None)
    """
    name = value.get("name") if isinstance(value, dict) else value
    return _V3_VARIABLE.get(name) if isinstance(name, str) else None


def parse_v2_dtype(value: object, *, field: str = "dtype") -> np.dtype[Any]:
    """Parse a Zarr v2 ``dtype`` field into a numpy dtype.

    Parameters
    ----------
    value
        ``dtype.str`` such as ``"<f4"``, or a structured list of ``[name, type(, shape)]``.
    field
        The metadata field name quoted in errors.

    Examples
    --------
    >>> parse_v2_dtype("<i2")
    dtype('int16')
    >>> parse_v2_dtype([["x", "<f4"], ["y", "|u1", [2]]])
    dtype([('x', '<f4'), ('y', 'u1', (2,))])
    """
    try:
        if isinstance(value, str):
            return np.dtype(value)
        if isinstance(value, list) and value:
            fields = []
            for item in value:
                name, sub = item[0], item[1]
                inner = parse_v2_dtype(sub, field=field)
                fields.append((name, inner, tuple(item[2])) if len(item) > 2 else (name, inner))
            return np.dtype(fields)
    except (TypeError, ValueError, IndexError, OverflowError, KeyError, RecursionError) as e:
        raise MetadataError(
            f"{field}={value!r} is not a numpy dtype string such as '<f4' or '|S5'; "
            "fix the array's .zarray"
        ) from e
    raise MetadataError(
        f"{field}={value!r} must be a numpy dtype string such as '<f4' or a list of fields"
    )


def v2_dtype_to_json(dtype: np.dtype[Any]) -> str | list[Any]:
    """Encode a numpy dtype as a Zarr v2 ``dtype`` field.

    Examples
    --------
    >>> v2_dtype_to_json(np.dtype("float32"))
    '<f4'
    """
    if dtype.fields is None:
        return dtype.str
    out: list[Any] = []
    for name in dtype.names or ():
        sub = dtype.fields[name][0]
        if sub.subdtype is not None:
            base, shape = sub.subdtype
            out.append([name, v2_dtype_to_json(base), list(shape)])
        else:
            out.append([name, v2_dtype_to_json(sub)])
    return out


#: The units of numpy (and zarr-python's numpy.datetime64/numpy.timedelta64 data types).
TIME_UNITS = ("Y", "M", "W", "D", "h", "m", "s", "ms", "us", "μs", "ns", "ps", "fs", "as", "generic")


def _time_dtype(kind: str, config: object) -> np.dtype[Any]:
    if not isinstance(config, dict) or "unit" not in config:
        raise MetadataError(
            f"data_type configuration {config!r} of numpy.{kind} needs a 'unit' such as 'ns'"
        )
    scale = config.get("scale_factor", 1)
    if isinstance(scale, bool) or not isinstance(scale, int) or not 1 <= scale < 2**31:
        raise MetadataError(f"data_type scale_factor={scale!r} must be a positive integer below 2**31")
    code = "M8" if kind == "datetime64" else "m8"
    unit = config["unit"]
    if unit not in TIME_UNITS:
        raise MetadataError(f"data_type numpy.{kind}: unit={unit!r} must be one of {list(TIME_UNITS)}")
    try:
        return np.dtype(f"{code}[{scale if scale != 1 else ''}{unit}]")
    except (TypeError, ValueError, OverflowError) as e:  # a scale too large for the unit
        raise MetadataError(f"data_type numpy.{kind}: unit={unit!r} with scale_factor={scale!r}: {e}") from e


def _sized(name: str, kind: str, count: int) -> np.dtype[Any]:
    """``kind`` with ``count`` units; numpy refuses sizes past its limit (2**31 - 1 bytes)."""
    try:
        return np.dtype(f"{kind}{count}")
    except (TypeError, ValueError, OverflowError) as e:
        raise MetadataError(
            f"data_type {name!r} asks for {count} units per element, more than numpy allows: {e}"
        ) from e


def parse_v3_data_type(value: object) -> np.dtype[Any]:
    """Parse a Zarr v3 ``data_type`` into a numpy dtype in native byte order.

    Byte order on disk is the ``bytes`` codec's business, not the data type's.

    Examples
    --------
    >>> parse_v3_data_type("uint16")
    dtype('uint16')
    >>> parse_v3_data_type({"name": "numpy.datetime64", "configuration": {"unit": "s"}})
    dtype('<M8[s]')
    """
    name: object
    config: object
    if isinstance(value, dict):
        name, config = value.get("name"), value.get("configuration", {})
    else:
        name, config = value, {}
    if not isinstance(name, str):
        raise MetadataError(f"data_type={value!r} must be a name string or a {{'name': ...}} dict")
    if name in _V3_CORE:
        return np.dtype(_V3_CORE[name])
    # isascii: str.isdigit() also accepts digits such as "²" that int() refuses.
    if name.startswith("r") and name[1:].isascii() and name[1:].isdigit():
        bits = int(name[1:])
        if bits % 8 or bits == 0:
            raise MetadataError(f"data_type={name!r}: raw types need a whole number of bytes")
        return _sized(name, "V", bits // 8)
    if name in ("numpy.datetime64", "numpy.timedelta64"):
        return _time_dtype(name.split(".")[1], config)
    if name in _V3_FIXED_WIDTH:
        kind, per_char = _V3_FIXED_WIDTH[name]
        length = config.get("length_bytes") if isinstance(config, dict) else None
        if isinstance(length, bool) or not isinstance(length, int) or length < 0 or length % per_char:
            raise MetadataError(
                f"data_type {name!r} needs configuration.length_bytes, a multiple of "
                f"{per_char}; got {config!r}"
            )
        return _sized(name, kind, length // per_char)
    if name in _V3_VARIABLE:
        return np.dtype(object)
    if name in STRUCT_NAMES:
        return parse_struct_data_type(name, config, parse_v3_data_type)
    raise MetadataError(
        f"data_type={value!r}: {name!r} is not a Zarr v3 data type that dask_zarrio knows "
        f"(an extension it does not implement); known: {sorted(_V3_CORE)}, r<bits>, "
        f"numpy.datetime64, numpy.timedelta64, {sorted(_V3_FIXED_WIDTH)}, "
        f"{sorted(_V3_VARIABLE)}, {list(STRUCT_NAMES)}"
    )


def v3_data_type_to_json(dtype: np.dtype[Any]) -> str | dict[str, Any]:
    """Encode a numpy dtype as a Zarr v3 ``data_type`` (zarr-python 3 spelling).

    Examples
    --------
    >>> v3_data_type_to_json(np.dtype(">f8"))
    'float64'
    >>> v3_data_type_to_json(np.dtype("U3"))
    {'name': 'fixed_length_utf32', 'configuration': {'length_bytes': 12}}
    >>> v3_data_type_to_json(np.dtype([("t", "M8[s]")]))["configuration"]["fields"][0]["name"]
    't'
    """
    key = dtype.str[1:]
    if dtype.kind in "biufc" and key in _NUMPY_TO_V3:
        return _NUMPY_TO_V3[key]
    if dtype.kind in "Mm":
        unit, scale = np.datetime_data(dtype)
        name = "numpy.datetime64" if dtype.kind == "M" else "numpy.timedelta64"
        return {"name": name, "configuration": {"unit": unit, "scale_factor": scale}}
    if dtype.kind == "U":
        return {"name": "fixed_length_utf32", "configuration": {"length_bytes": dtype.itemsize}}
    if dtype.kind == "S":
        return {"name": "null_terminated_bytes", "configuration": {"length_bytes": dtype.itemsize}}
    if dtype.kind == "V" and dtype.subdtype is None:
        if dtype.fields is None:
            return {"name": "raw_bytes", "configuration": {"length_bytes": dtype.itemsize}}
        return struct_data_type_to_json(dtype, v3_data_type_to_json)
    raise MetadataError(
        f"dtype {dtype!r} has no Zarr v3 data type; use zarr_format=2, or cast the array "
        "(arr.astype(...)) first"
    )
