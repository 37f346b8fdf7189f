"""Data types (metadata/dtypes.py): v2 dtype strings and v3 data type names round-trip."""

from __future__ import annotations

import numpy as np
import pytest

from dask_zarrio.metadata import (
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
