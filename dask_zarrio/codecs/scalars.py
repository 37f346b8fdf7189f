"""Numeric scalars in codec configurations, and the numeric data type names codecs accept.

``scale_offset``'s ``offset``/``scale`` and ``cast_value``'s ``scalar_map`` entries are
JSON scalars in the Zarr v3 fill-value encoding of a data type: a JSON integer for
integer types; a number, ``"NaN"``, ``"Infinity"``, ``"-Infinity"`` or the bit pattern as
``"0x..."`` hex for floating-point types. The metadata package parses fill values the
same way, but codecs sit below it (see ``docs/architecture.md``), so this is the small
numeric part of that parser.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import MetadataError

__all__ = ["NUMERIC_DATA_TYPES", "numeric_data_type", "parse_json_scalar", "scalar_to_json"]

#: Zarr v3 names of the integer and floating-point data types numpy has natively.
NUMERIC_DATA_TYPES: dict[str, np.dtype[Any]] = {
    name: np.dtype(name)
    for name in ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                 "float16", "float32", "float64")
}
_SPECIAL = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def numeric_data_type(dtype: np.dtype[Any]) -> str | None:
    """The Zarr v3 name of an integer or floating-point ``dtype``; ``None`` for any other.

    Examples
    --------
    >>> numeric_data_type(np.dtype(">i2")), numeric_data_type(np.dtype("bool"))
    ('int16', None)
    """
    if dtype.kind not in "iuf":
        return None
    name = dtype.newbyteorder("=").name
    return name if name in NUMERIC_DATA_TYPES else None


def parse_json_scalar(value: object, dtype: np.dtype[Any], field: str) -> np.generic:
    """``value`` (fill-value encoding) as a scalar of ``dtype``; ``field`` names it in errors.

    Examples
    --------
    >>> parse_json_scalar("NaN", np.dtype("f4"), "offset")
    np.float32(nan)
    >>> parse_json_scalar("0x3f800000", np.dtype("f4"), "scale")
    np.float32(1.0)
    >>> parse_json_scalar(300, np.dtype("u1"), "offset")
    Traceback (most recent call last):
    ...
    dask_zarrio.errors.MetadataError: offset=300 is not representable in 'uint8'; ...
    """
    native = dtype.newbyteorder("=")
    fix = f"write it as a JSON {'integer' if native.kind in 'iu' else 'number'} within the range of {native.name!r}"
    if native.kind in "iu":
        if isinstance(value, bool) or not isinstance(value, int):
            raise MetadataError(f"{field}={value!r} must be a JSON integer for {native.name!r}; {fix}")
        info = np.iinfo(native)
        if not info.min <= value <= info.max:
            raise MetadataError(f"{field}={value!r} is not representable in {native.name!r}; {fix}")
        return native.type(value)  # type: ignore[no-any-return]
    if native.kind != "f":
        raise MetadataError(f"{field}={value!r}: {native.str!r} is not an integer or floating-point type")
    if isinstance(value, str) and value in _SPECIAL:
        return native.type(_SPECIAL[value])  # type: ignore[no-any-return]
    if isinstance(value, str) and value.startswith("0x"):
        try:
            bits = int(value, 16)
            return np.array(bits, f"u{native.itemsize}").view(native)[()]  # type: ignore[return-value]
        except (ValueError, OverflowError) as e:
            raise MetadataError(
                f"{field}={value!r} is not the hex bit pattern of a {native.name!r}; {fix}"
            ) from e
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise MetadataError(
            f"{field}={value!r} must be a number, 'NaN', 'Infinity', '-Infinity' or '0x...' hex "
            f"for {native.name!r}"
        )
    with np.errstate(over="ignore"):
        number: np.generic = native.type(value)
    if math.isfinite(value) and not np.isfinite(number):
        raise MetadataError(f"{field}={value!r} is not representable in {native.name!r}; {fix}")
    return number


def scalar_to_json(value: np.generic) -> Any:
    """A numeric scalar in the fill-value encoding (NaN and infinities as strings).

    Examples
    --------
    >>> scalar_to_json(np.float32("nan")), scalar_to_json(np.uint8(7)), scalar_to_json(np.float64(0.5))
    ('NaN', 7, 0.5)
    """
    if isinstance(value, np.integer):
        return int(value)
    number = float(value)  # type: ignore[arg-type]
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "Infinity" if number > 0 else "-Infinity"
    return number
