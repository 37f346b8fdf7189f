"""Fill values (metadata/fill.py): every JSON encoding round-trips exactly; bad ones are refused."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dask_zarrio.errors import MetadataError
from dask_zarrio.metadata import (
    encode_fill_value,
    parse_fill_value,
)


@pytest.mark.parametrize("value,dtype,fmt,bits", [
    ("NaN", "f4", 3, 0x7FC00000),
    ("0x7fc00001", "f4", 3, 0x7FC00001),
    ("0xfff8000000000001", "f8", 3, 0xFFF8000000000001),
    ("Infinity", "f2", 2, 0x7C00),
    ("-Infinity", "f8", 2, 0xFFF0000000000000),
    (float("nan"), "f8", 2, 0x7FF8000000000000),  # a bare NaN token parsed by json
])
def test_float_fill_encodings(value, dtype, fmt, bits):
    fill = parse_fill_value(value, np.dtype(dtype), fmt)
    assert int(fill.view(f"u{np.dtype(dtype).itemsize}")) == bits


@pytest.mark.parametrize("fill,dtype,fmt,expected", [
    (np.array(np.nan, "f4"), "f4", 3, "NaN"),
    (np.array(0x7FC00001, "u4").view("f4"), "f4", 3, "0x7fc00001"),
    (np.array(0x7FC00001, "u4").view("f4"), "f4", 2, "NaN"),
    (np.array(-np.inf), "f8", 3, "-Infinity"),
    (np.array(1 + 2j, "c8"), "c8", 3, [1.0, 2.0]),
    (np.array(b"ab", "S5"), "S5", 2, "YWIAAAA="),  # full width: tensorstore rejects the short form
    (np.array("xy", "U3"), "U3", 3, "xy"),
    (np.array("NaT", "M8[s]"), "M8[s]", 3, -(2**63)),
    (np.array(True), "bool", 3, True),
    (None, "i4", 2, None),
])
def test_fill_encode(fill, dtype, fmt, expected):
    out = encode_fill_value(fill, np.dtype(dtype), fmt)
    assert out == expected
    json.dumps(out, allow_nan=False)


@pytest.mark.parametrize("value,expected", [("eno=", b"zz"), ("", b""), ("enoAAAA=", b"zz")])
def test_bytes_fill_short_or_full_width(value, expected):
    """zarr-python writes short base64 ("eno=" for |S5), tensorstore full width: read both."""
    fill = parse_fill_value(value, np.dtype("S5"), 2)
    assert fill.tobytes() == expected.ljust(5, b"\x00")


def test_raw_fill_as_byte_list():
    fill = parse_fill_value([1, 2, 255], np.dtype("V3"), 3)
    assert fill.tobytes() == b"\x01\x02\xff"


@pytest.mark.parametrize("value,dtype", [
    ("nan", "f4"), ("0x1ffffffff", "f4"), (1.5, "i4"), (300, "u1"), ("!!", "S2"), ([1], "c8"), ("x", "bool"),
])
def test_invalid_fill_values(value, dtype):
    with pytest.raises(MetadataError, match="fill_value="):
        parse_fill_value(value, np.dtype(dtype), 3)


@pytest.mark.parametrize("value,dtype,fmt,why", [
    (10**400, "f8", 2, "too large"),
    (10**400, "f2", 3, "too large"),
    (1e300, "f2", 2, "outside the range"),
    ([10**400, 0], "c8", 3, "too large"),
    (10**30, "M8[s]", 3, "int64 range"),
    (2**63, "m8[s]", 2, "int64 range"),
    (-(2**63) - 1, "M8[ns]", 3, "int64 range"),
    (2**64, "u8", 3, "outside"),
    (2**63, "i8", 2, "outside"),
    (10**400, "i4", 3, "outside"),
])
def test_fill_values_out_of_range_name_the_field(value, dtype, fmt, why):
    """Out-of-range numbers are a MetadataError, never numpy's OverflowError.

    zarr-python raised OverflowError for the same documents (zarr-python#1981, #342)
    and once silently wrapped them (zarr-python#2205).
    """
    with pytest.raises(MetadataError, match=f"fill_value=.*{why}"):
        parse_fill_value(value, np.dtype(dtype), fmt)
