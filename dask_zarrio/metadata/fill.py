"""Fill values: JSON encodings of Zarr v2 and v3 to 0-d numpy arrays and back.

A fill value is kept as a 0-d array of the array's dtype, so that NaN payloads,
``-0.0`` and byte strings survive exactly. ``None`` (v2 ``null``) means "no fill
value"; missing chunks then read as zeros, as in zarr-python 3 (zarr-python#2271).

Encodings read: numbers, ``"NaN"``/``"Infinity"``/``"-Infinity"``, a bare JSON
``NaN`` (accepted, never written), hex bit patterns (``"0x7fc00001"``, v3), base64
for bytes and raw types, ``[re, im]`` pairs for complex numbers, integers or
``"NaT"`` for datetimes.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import MetadataError
from .structs import encode_struct_fill, parse_struct_fill

__all__ = ["encode_fill_value", "encode_variable_fill", "parse_fill_value", "parse_variable_fill"]

_CANONICAL_NAN_BITS = {
    2: int(np.array(np.nan, "f2").view("u2")),
    4: int(np.array(np.nan, "f4").view("u4")),
    8: int(np.array(np.nan, "f8").view("u8")),
}


_INT64 = np.iinfo(np.int64)


def _bad(value: object, dtype: np.dtype[Any], how: str) -> MetadataError:
    return MetadataError(f"fill_value={value!r} is not valid for dtype {dtype.str!r}: {how}")


def _parse_float(value: object, dtype: np.dtype[Any]) -> np.ndarray:
    if isinstance(value, str):
        special = {"NaN": np.nan, "Infinity": np.inf, "-Infinity": -np.inf}
        if value in special:
            return np.array(special[value], dtype)
        if value.startswith("0x"):
            try:
                bits = int(value, 16)
                return np.array(bits, f"u{dtype.itemsize}").view(dtype.newbyteorder("="))
            except (ValueError, OverflowError) as e:
                raise _bad(value, dtype, f"hex must fit in {dtype.itemsize} bytes") from e
        raise _bad(value, dtype, 'use a number, "NaN", "Infinity", "-Infinity" or "0x..." bits')
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _bad(value, dtype, "expected a number")
    try:
        # A finite number that rounds to infinity would silently change meaning.
        with np.errstate(over="ignore"):
            out = np.array(value, dtype)
    except OverflowError as e:  # an integer beyond any float, such as 10**400
        raise _bad(value, dtype, f"too large for {dtype.name}") from e
    if math.isfinite(value) and not np.isfinite(out):
        raise _bad(value, dtype, f"outside the range of {dtype.name}; use \"Infinity\" if meant")
    return out


def _encode_float(arr: np.ndarray, *, hex_nan: bool) -> object:
    value = float(arr)
    if math.isnan(value):
        bits = int(arr.view(f"u{arr.dtype.itemsize}"))
        if hex_nan and bits != _CANONICAL_NAN_BITS[arr.dtype.itemsize]:
            return f"0x{bits:0{2 * arr.dtype.itemsize}x}"
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def _parse_b64(value: object, dtype: np.dtype[Any]) -> bytes:
    if not isinstance(value, str):
        raise _bad(value, dtype, "expected a base64 string")
    try:
        raw = base64.b64decode(value, validate=True)
    except binascii.Error as e:
        raise _bad(value, dtype, "not valid base64") from e
    if len(raw) > dtype.itemsize:
        raise _bad(value, dtype, f"decodes to {len(raw)} bytes, more than {dtype.itemsize}")
    return raw.ljust(dtype.itemsize, b"\x00")


def _parse_complex(value: object, dtype: np.dtype[Any]) -> np.ndarray:
    """``[real, imag]``, each part as a float fill value."""
    if not (isinstance(value, list) and len(value) == 2):
        raise _bad(value, dtype, "complex fill values are [real, imag] pairs")
    part = np.dtype(f"f{dtype.itemsize // 2}")
    out = np.zeros((), dtype)
    out.real = _parse_float(value[0], part)
    out.imag = _parse_float(value[1], part)
    return out


def _parse_bool(value: object, dtype: np.dtype[Any]) -> np.ndarray:
    """``true``/``false`` (or 0/1, as some writers store them)."""
    if isinstance(value, bool) or value in (0, 1):
        return np.array(bool(value), dtype)
    raise _bad(value, dtype, "expected true or false")


def _parse_int(value: object, dtype: np.dtype[Any]) -> np.ndarray:
    """An integer (a float with no fraction too) within the dtype's range."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(value, dtype, "expected an integer")
    info = np.iinfo(dtype)
    if not info.min <= value <= info.max:
        raise _bad(value, dtype, f"outside [{info.min}, {info.max}]")
    return np.array(value, dtype)


def _parse_time(value: object, dtype: np.dtype[Any]) -> np.ndarray:
    """A datetime or timedelta: an int64 count of the dtype's units, or ``"NaT"``."""
    if value == "NaT":
        return np.array("NaT", dtype)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(value, dtype, 'expected an integer count of units or "NaT"')
    if not _INT64.min <= value <= _INT64.max:
        raise _bad(value, dtype, f"outside the int64 range [{_INT64.min}, {_INT64.max}] of datetimes")
    return np.array(value, "i8").view(dtype.newbyteorder("="))


def _parse_bytes(value: object, dtype: np.dtype[Any]) -> np.ndarray:
    """Fixed-width bytes, base64-encoded."""
    return np.array(_parse_b64(value, dtype), dtype)


def _parse_text(value: object, dtype: np.dtype[Any]) -> np.ndarray:
    """Fixed-width text: a string of at most the dtype's length."""
    if not isinstance(value, str):
        raise _bad(value, dtype, "expected a string")
    if len(value) > dtype.itemsize // 4:
        raise _bad(value, dtype, f"longer than {dtype.itemsize // 4} characters")
    return np.array(value, dtype)


def _parse_object(value: object, dtype: np.dtype[Any]) -> np.ndarray:
    """Any JSON value, held as it is."""
    out = np.empty((), dtype)
    out[()] = value
    return out


def _parse_void(value: object, dtype: np.dtype[Any], zarr_format: int) -> np.ndarray:
    """A v3 struct field by field; raw bytes as a v3 list of bytes or base64 (v2, and v3 too)."""
    if dtype.names is not None and zarr_format == 3:
        return parse_struct_fill(value, dtype, lambda v, d: parse_fill_value(v, d, 3))
    if zarr_format == 3 and isinstance(value, list):
        try:
            raw = bytes(value)
        except (TypeError, ValueError) as e:
            raise _bad(value, dtype, "raw fill values are lists of bytes 0-255") from e
        if len(raw) != dtype.itemsize:
            raise _bad(value, dtype, f"needs exactly {dtype.itemsize} bytes")
    else:
        raw = _parse_b64(value, dtype)
    return np.frombuffer(raw, dtype)[0:1].reshape(())


#: numpy dtype kind -> the parser of its JSON fill values (raw and struct ``V`` types apart: they depend on the format).
_PARSERS: dict[str, Callable[[object, np.dtype[Any]], np.ndarray]] = {
    "f": _parse_float,
    "c": _parse_complex,
    "b": _parse_bool,
    "i": _parse_int,
    "u": _parse_int,
    "M": _parse_time,
    "m": _parse_time,
    "S": _parse_bytes,
    "U": _parse_text,
    "O": _parse_object,
}


def parse_fill_value(value: object, dtype: np.dtype[Any], zarr_format: int) -> np.ndarray | None:
    """Decode a JSON fill value into a 0-d array of ``dtype`` (``None`` stays ``None``).

    Parameters
    ----------
    value
        The ``fill_value`` field as parsed from JSON.
    dtype
        The array's numpy dtype.
    zarr_format
        2 or 3; they differ for raw types and strings.

    Examples
    --------
    >>> parse_fill_value("0x7fc00001", np.dtype("f4"), 3).view("u4")
    array(2143289345, dtype=uint32)
    >>> parse_fill_value([1.0, "NaN"], np.dtype("c8"), 3)
    array(1.+nanj, dtype=complex64)
    """
    if value is None:
        return None
    if dtype.kind == "V":
        return _parse_void(value, dtype, zarr_format)
    parse = _PARSERS.get(dtype.kind)
    if parse is None:
        raise _bad(value, dtype, "dtype not supported")
    return parse(value, dtype)


def encode_fill_value(fill: np.ndarray | None, dtype: np.dtype[Any], zarr_format: int) -> Any:
    """Encode a fill value as JSON for ``zarr_format`` 2 or 3.

    NaNs with a non-default payload are written as hex bit patterns in v3 (v2 has no
    such form). v2 byte strings are base64 of the full width, which every reader takes
    (tensorstore rejects the short form zarr-python writes); v3 ones (which tensorstore
    does not read) lose their trailing NULs, as zarr-python writes them. v3 structs are
    objects of field values (zarr-python 3.4's ``struct``).

    Examples
    --------
    >>> encode_fill_value(np.array(np.nan, "f8"), np.dtype("f8"), 3)
    'NaN'
    >>> encode_fill_value(np.array(b"ab", "S3"), np.dtype("S3"), 2)
    'YWIA'
    >>> encode_fill_value(np.array(b"ab", "S3"), np.dtype("S3"), 3)
    'YWI='
    """
    if fill is None:
        return None
    kind = dtype.kind
    arr = np.asarray(fill, dtype=dtype.newbyteorder("=") if dtype.kind in "fcMm" else dtype)
    if kind == "f":
        return _encode_float(arr, hex_nan=zarr_format == 3)
    if kind == "c":
        part = f"f{dtype.itemsize // 2}"
        return [
            _encode_float(np.array(arr.real, part), hex_nan=zarr_format == 3),
            _encode_float(np.array(arr.imag, part), hex_nan=zarr_format == 3),
        ]
    if kind == "b":
        return bool(arr)
    if kind in "iu":
        return int(arr)
    if kind in "Mm":
        return int(arr.view("i8"))
    if kind == "U":
        return str(arr)
    if kind == "S" and zarr_format == 3:
        return base64.standard_b64encode(arr.tobytes().rstrip(b"\x00")).decode("ascii")
    if kind == "V" and dtype.names is not None and zarr_format == 3:
        return encode_struct_fill(arr, dtype, "struct", lambda f, d: encode_fill_value(f, d, 3))
    if kind in "SV":
        return base64.standard_b64encode(arr.tobytes()).decode("ascii")
    if kind == "O":
        return arr[()]
    raise MetadataError(f"cannot encode a fill value for dtype {dtype.str!r}")


def parse_variable_fill(value: object, kind: str) -> np.ndarray:
    """The fill value of a v3 ``string`` or ``bytes`` array, as a 0-d object array.

    ``string``: a JSON string. ``bytes``: base64, as zarr-python 3.1 writes it, or
    a list of byte values (0-255), the zarr-extensions form.

    Examples
    --------
    >>> parse_variable_fill("", "string")[()], parse_variable_fill("eno=", "bytes")[()]
    ('', b'zz')
    >>> parse_variable_fill([122, 122], "bytes")[()]
    b'zz'
    """
    out = np.empty((), object)
    if kind == "string":
        if not isinstance(value, str):
            raise MetadataError(f"fill_value={value!r} of a 'string' array must be a JSON string, e.g. \"\"")
        out[()] = value
        return out
    if isinstance(value, list):
        if not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255 for v in value):
            raise MetadataError(
                f"fill_value={value!r} of a 'bytes' array must be base64 or a list of byte values 0-255"
            )
        out[()] = bytes(value)
        return out
    try:
        if not isinstance(value, str):
            raise TypeError(value)
        out[()] = base64.b64decode(value, validate=True)
    except (TypeError, binascii.Error) as e:
        raise MetadataError(
            f"fill_value={value!r} of a 'bytes' array must be a base64 string (\"\" for b'') "
            "or a list of byte values 0-255"
        ) from e
    return out


def encode_variable_fill(fill: np.ndarray, kind: str) -> str:
    """The JSON fill value of a v3 ``string`` or ``bytes`` array (base64 for bytes, as zarr-python).

    Examples
    --------
    >>> encode_variable_fill(np.array("ü", object), "string"), encode_variable_fill(np.array(b"zz", object), "bytes")
    ('ü', 'eno=')
    """
    value = np.asarray(fill)[()]
    if kind == "bytes" and isinstance(value, bytes):
        return base64.standard_b64encode(value).decode("ascii")
    if kind == "string" and isinstance(value, str):
        return value
    raise MetadataError(
        f"fill_value={value!r} does not fit a {kind!r} array; give a "
        f"{'str' if kind == 'string' else 'bytes object'}"
    )
