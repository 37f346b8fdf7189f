"""Metadata values: dtypes, fill values and documents round-trip exactly."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dask_zarrio.errors import MetadataError
from dask_zarrio.metadata import (
    ArrayMetadataV2,
    ArrayMetadataV3,
    encode_fill_value,
    parse_fill_value,
    parse_v2_dtype,
    parse_v3_data_type,
    v2_dtype_to_json,
    v3_data_type_to_json,
)


@pytest.mark.parametrize("dtype", ["bool", "i1", "<i8", ">u4", "<f2", ">f8", "<c16", "<M8[ns]", ">m8[10s]", "|S7", "<U3", "|V6"])
def test_v2_dtype_round_trip(dtype):
    assert parse_v2_dtype(v2_dtype_to_json(np.dtype(dtype))) == np.dtype(dtype)


def test_v2_structured_dtype_with_subarray():
    """zarr-python 3 cannot read subarray fields (its structured data type has no sub-array fields)."""
    spec = [["a", "<i4"], ["b", "<f8", [2, 3]]]
    dtype = parse_v2_dtype(spec)
    assert dtype["b"].shape == (2, 3)
    assert v2_dtype_to_json(dtype) == spec


@pytest.mark.parametrize("dtype", ["bool", "i1", "u8", "f2", "c8", "M8[s]", "m8[25ms]", "S4", "U2", "V3"])
def test_v3_data_type_round_trip(dtype):
    dtype = np.dtype(dtype)
    assert parse_v3_data_type(v3_data_type_to_json(dtype)) == dtype


@pytest.mark.parametrize("alias,expected", [
    ({"name": "fixed_length_ucs4", "configuration": {"length_bytes": 8}}, "U2"),
    ({"name": "fixed_length_ascii", "configuration": {"length_bytes": 3}}, "S3"),
    ("r16", "V2"),
    ("string", "O"),
])
def test_v3_data_type_aliases(alias, expected):
    """zarr-python 3.x names outside the core spec are read as aliases (variable_length_bytes, structured, ...)."""
    assert parse_v3_data_type(alias) == np.dtype(expected)


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


@pytest.mark.parametrize("value,dtype", [("nan", "f4"), ("0x1ffffffff", "f4"), (1.5, "i4"), (300, "u1"), ("!!", "S2"), ([1], "c8"), ("x", "bool")])
def test_invalid_fill_values(value, dtype):
    with pytest.raises(MetadataError, match="fill_value="):
        parse_fill_value(value, np.dtype(dtype), 3)


V3_DOC = {
    "zarr_format": 3, "node_type": "array", "shape": [10, 5], "data_type": "float32",
    "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [4, 5]}},
    "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
    "fill_value": "NaN",
    "codecs": [{"name": "bytes", "configuration": {"endian": "little"}},
               {"name": "zstd", "configuration": {"level": 3, "checksum": True}}],
    "attributes": {"a": [1, 2]}, "dimension_names": ["t", None],
}


def test_v3_document_round_trip():
    assert ArrayMetadataV3.from_dict(V3_DOC).to_dict() == V3_DOC


def test_v3_shorthand_codec_names():
    """Zarr v3.1 short-hand names ("crc32c" as a plain string, Zarr v3.1 "Extension naming")."""
    doc = dict(V3_DOC, codecs=[{"name": "bytes", "configuration": {"endian": "little"}}, "crc32c"])
    meta = ArrayMetadataV3.from_dict(doc)
    assert [c.name for c in meta.codecs] == ["bytes", "crc32c"]


def test_v2_document_round_trip():
    doc = {"zarr_format": 2, "shape": [3], "chunks": [2], "dtype": "<i8",
           "compressor": {"id": "blosc", "cname": "lz4", "clevel": 5, "shuffle": -1, "blocksize": 0},
           "fill_value": 0, "order": "F", "filters": [{"id": "delta", "dtype": "<i8", "astype": "<i8"}],
           "dimension_separator": "/"}
    assert ArrayMetadataV2.from_dict(doc).to_dict() == doc
