"""The ``scale_offset`` codec: zarr-python 3.4's arithmetic, in the input data type."""

from __future__ import annotations

import numpy as np
import pytest
from codec_roundtrip import write_with_dz
from conftest import assert_same

import dask_zarrio as dz
from dask_zarrio.codecs import codec_from_json
from dask_zarrio.codecs.scale_offset import scale_offset_decode, scale_offset_encode
from dask_zarrio.errors import MetadataError


@pytest.mark.parametrize("dtype,offset,scale", [
    ("f4", 1.5, 4), ("f8", "NaN", 1), ("i2", -100, 3), ("u1", 10, 2), ("i8", 2**40, -2), ("u8", 2**63, 1),
])
def test_round_trip_through_dz(tmp_path, dtype, offset, scale):
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else None
    data = np.arange(12, dtype=dtype) + (np.dtype(dtype).type(offset) if info is not None else 0)
    if dtype == "f8":  # a NaN offset makes every value NaN, both ways
        data = np.full(12, np.nan)
    url = str(tmp_path / "a.zarr")
    codecs = [{"name": "scale_offset", "configuration": {"offset": offset, "scale": scale}},
              {"name": "bytes", "configuration": {"endian": "big"}}]
    write_with_dz(url, data, (5,), codecs, fill_value=offset if info is not None else 0)  # an encodable fill
    assert_same(dz.read(url).compute(), data)


def test_uint64_beyond_int64_is_exact():
    x = np.array([2**64 - 1, 2**63], "u8")
    enc = scale_offset_encode(x, np.uint64(2**63), np.uint64(1))
    assert enc.tolist() == [2**63 - 1, 0]
    assert_same(scale_offset_decode(enc, np.uint64(2**63), np.uint64(1)), x)


@pytest.mark.parametrize("x,offset,scale,match", [
    (np.array([100], "i1"), -100, 1, "encode produced a value outside the range of 'int8'"),
    (np.array([0], "u1"), 1, 1, "outside the range of 'uint8'"),
    (np.array([2**62], "i8"), 0, 4, "outside the range of 'int64'"),
])
def test_integer_overflow_is_an_error_not_a_wrap(x, offset, scale, match):
    with pytest.raises(ValueError, match=match):
        scale_offset_encode(x, x.dtype.type(offset), x.dtype.type(scale))


def test_float_arithmetic_stays_in_the_input_type():
    out = scale_offset_encode(np.array([1.0], "f4"), np.float32(0.1), np.float32(3))
    assert out.dtype == np.float32 and out[0] == (np.float32(1.0) - np.float32(0.1)) * np.float32(3)


def test_inexact_integer_decode_is_an_error():
    with pytest.raises(ValueError, match="7 is not a multiple of scale=2"):
        scale_offset_decode(np.array([4, 7], "i4"), np.int32(0), np.int32(2))


@pytest.mark.parametrize("spec,dtype,match", [
    ({"offset": 0.5}, "i4", r"offset=0.5 must be a JSON integer"),
    ({"scale": 0}, "f4", "scale=0 must not be zero"),
    ({"offset": 300}, "u1", "offset=300 is not representable"),
    ({"scale": 1e40}, "f4", "scale=1e\\+40 is not representable"),
    ({}, "bool", "not an integer or floating-point type"),
])
def test_configurations_the_data_type_cannot_hold_fail_on_opening(spec, dtype, match):
    codec = codec_from_json({"name": "scale_offset", "configuration": spec})
    with pytest.raises(MetadataError, match=match):
        codec.resolve((4,), np.dtype(dtype))


@pytest.mark.parametrize("spec", [{"offset": [1]}, {"scale": True}, {"offset": 1, "bias": 2}])
def test_malformed_configurations_are_metadata_errors(spec):
    with pytest.raises(MetadataError, match="scale_offset"):
        codec_from_json({"name": "scale_offset", "configuration": spec})


def test_defaults_are_left_out_as_zarr_python_writes_them():
    explicit = codec_from_json({"name": "scale_offset", "configuration": {"offset": 0, "scale": 1}})
    assert explicit.to_dict() == {"name": "scale_offset"}
    assert codec_from_json("scale_offset").to_dict() == {"name": "scale_offset"}
