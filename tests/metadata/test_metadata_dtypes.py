"""Data types (metadata/dtypes.py): v2 dtype strings and v3 data type names round-trip."""

from __future__ import annotations

import numpy as np
import pytest

from dask_zarrio.errors import MetadataError
from dask_zarrio.metadata import (
    encode_fill_value,
    parse_fill_value,
    parse_v2_dtype,
    parse_v3_data_type,
    v2_dtype_to_json,
    v3_data_type_to_json,
)
from dask_zarrio.metadata.create import new_array_metadata


@pytest.mark.parametrize(
    "dtype", ["bool", "i1", "<i8", ">u4", "<f2", ">f8", "<c16", "<M8[ns]", ">m8[10s]", "|S7", "<U3", "|V6"]
)
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


STRUCT_JSON = {"name": "struct", "configuration": {"fields": [
    {"name": "a", "data_type": "int16"},
    {"name": "b", "data_type": {"name": "struct", "configuration": {"fields": [{"name": "t", "data_type": {
        "name": "numpy.datetime64", "configuration": {"unit": "s", "scale_factor": 1}}}]}}},
]}}


def test_v3_struct_nested_round_trip():
    dtype = parse_v3_data_type(STRUCT_JSON)
    assert dtype == np.dtype([("a", "i2"), ("b", [("t", "M8[s]")])])
    assert v3_data_type_to_json(dtype) == STRUCT_JSON


def test_v3_structured_is_read_as_struct():
    """zarr-python 3.1 wrote "structured" with [name, data_type] pairs."""
    legacy = {"name": "structured", "configuration": {"fields": [["a", "int16"], ["b", "float64"]]}}
    assert parse_v3_data_type(legacy) == np.dtype([("a", "i2"), ("b", "f8")])


@pytest.mark.parametrize(
    "unit", ["Y", "M", "W", "D", "h", "m", "s", "ms", "us", "μs", "ns", "ps", "fs", "as", "generic"]
)
@pytest.mark.parametrize("kind", ["datetime64", "timedelta64"])
def test_v3_every_time_unit(unit, kind):
    dtype = parse_v3_data_type({"name": f"numpy.{kind}", "configuration": {"unit": unit, "scale_factor": 1}})
    assert dtype.kind == ("M" if kind == "datetime64" else "m")
    assert parse_v3_data_type(v3_data_type_to_json(dtype)) == dtype


@pytest.mark.parametrize("value,words", [
    ({"name": "numpy.datetime64", "configuration": {"unit": "10s"}}, ["unit='10s'", "must be one of"]),
    ({"name": "struct", "configuration": {}}, ["'struct'", "configuration.fields"]),
    ({"name": "struct", "configuration": {"fields": [{"name": "a"}]}}, ["fields[0]", "data_type"]),
    ({"name": "struct", "configuration": {"fields": [["a", "string"]]}}, ["'a'", "variable-length"]),
    ({"name": "struct", "configuration": {"fields": [["a", "int8"], ["a", "int8"]]}}, ["numpy refuses"]),
    ({"name": "float8_e4m3"}, ["data_type=", "'float8_e4m3'", "extension"]),
])
def test_v3_bad_data_types_name_the_problem(value, words):
    with pytest.raises(MetadataError) as info:
        parse_v3_data_type(value)
    assert all(w in str(info.value) for w in words), str(info.value)


@pytest.mark.parametrize("dtype,words", [
    (np.dtype([("a", "i4", (2,))]), ["sub-array", "zarr_format=2"]),
    (np.dtype([(("title", "a"), "i4")]), ["title"]),
])
def test_v3_refuses_what_struct_cannot_hold(dtype, words):
    with pytest.raises(MetadataError) as info:
        v3_data_type_to_json(dtype)
    assert all(w in str(info.value) for w in words), str(info.value)


STRUCT = np.dtype([("a", "i2"), ("b", [("t", "M8[s]")]), ("s", "S3"), ("u", "U2"), ("c", "c8")])


@pytest.mark.parametrize("value,expected", [
    ({"a": 7, "b": {"t": "NaT"}, "s": "eg==", "u": "é", "c": [1.0, "NaN"]},
     (7, (np.datetime64("NaT"),), b"z", "é", complex(1, np.nan))),
    ({"a": -1}, (-1, (np.datetime64(0, "s"),), b"", "", 0j)),
])
def test_v3_struct_fill_values(value, expected):
    """zarr-python 3.4 writes field values; absent fields are zero."""
    fill = parse_fill_value(value, STRUCT, 3)
    assert fill.tobytes() == np.array(expected, STRUCT).tobytes()


def test_v3_struct_fill_round_trips_as_zarr_34_writes():
    fill = np.array((1, (np.datetime64("NaT"),), b"z", "é", 1 + 2j), STRUCT)
    assert encode_fill_value(fill, STRUCT, 3) == {
        "a": 1, "b": {"t": -9223372036854775808}, "s": "eg==", "u": "é", "c": [1.0, 2.0]}


def test_v3_structured_fill_is_little_endian_base64():
    """zarr-python 3.1's form: base64 of the element, fields little-endian."""
    dtype = np.dtype([("a", "i2"), ("b", "f4")])
    assert parse_fill_value("AQAAAMA/", dtype, 3)[()] == np.array((1, 1.5), dtype)[()]


@pytest.mark.parametrize("value", [3, {"zz": 1}, "!!", "AQA="])
def test_v3_bad_struct_fills(value):
    with pytest.raises(MetadataError, match="fill_value"):
        parse_fill_value(value, np.dtype([("a", "i2"), ("b", "f4")]), 3)


@pytest.mark.parametrize("dtype", ["M8[ns]", "m8[3W]", "M8"])
def test_times_default_to_nat_fill(dtype):
    """As zarr-python 3 writes them: -2**63, NaT."""
    meta = new_array_metadata(shape=(2,), dtype=np.dtype(dtype), chunk_shape=(2,))
    assert meta.to_dict()["fill_value"] == -(2**63)
