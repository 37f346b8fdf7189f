"""The ``cast_value`` codec, against ``cast-value-rs`` (what zarr-python 3.4 casts with)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from cast_value_rs import cast_array
from codec_roundtrip import write_with_dz
from conftest import assert_same

import dask_zarrio as dz
from dask_zarrio.codecs import codec_from_json
from dask_zarrio.codecs.casting import ROUNDING, cast_values
from dask_zarrio.errors import MetadataError

SOURCES = ["f8", "f4", "f2", "i8", "u8", "i4", "i1", "u1"]
TARGETS = ["i1", "u1", "i2", "u4", "i8", "u8", "f2", "f4", "f8"]


def _values(dtype: np.dtype) -> np.ndarray:
    """Edge values of ``dtype``: ties, range limits, beyond them, NaN and ±inf for floats."""
    if dtype.kind == "f":
        base = [0.0, -0.0, 0.5, -0.5, 1.5, 2.5, -2.5, 126.5, 127.5, 127.6, -128.5, -128.6, 255.5, 256.0,
                -1.0, 65504.0, 65520.0, 1e5, -1e5, 2.0**31, 2.0**63, -2.0**63, 2.0**64, 1e300, 1 + 2**-30,
                16777217.0, 1 + 3 * 2**-24]
        with np.errstate(over="ignore"):
            return np.array(base, dtype)
    info = np.iinfo(dtype)
    base = [0, 1, -1, 127, 128, -128, -129, 255, 256, 2**24 + 1, 2**31, 2**53 + 1, info.min, info.max, info.max - 1]
    return np.array([v for v in base if info.min <= v <= info.max], dtype)


def _theirs(x: np.ndarray, target: np.dtype, rounding: str, out_of_range: str | None, scalar_map=None):
    try:
        return cast_array(x, target_dtype=target, rounding_mode=rounding, out_of_range_mode=out_of_range,
                          scalar_map_entries=scalar_map)
    except ValueError:
        return None


def _ours(x: np.ndarray, target: np.dtype, rounding: str, out_of_range: str | None, scalar_map=()):
    try:
        return cast_values(x, target, rounding=rounding, out_of_range=out_of_range, scalar_map=scalar_map)
    except ValueError:
        return None


@pytest.mark.parametrize("source,target", list(itertools.product(SOURCES, TARGETS)))
def test_every_value_casts_as_cast_value_rs_does(source, target):
    source, target = np.dtype(source), np.dtype(target)
    modes = [None, "clamp"] + (["wrap"] if target.kind in "iu" else [])
    for rounding, out_of_range in itertools.product(ROUNDING, modes):
        # One value at a time: an error for one must not hide the others' results.
        for x in _values(source):
            one = np.array([x], source)
            theirs, ours = _theirs(one, target, rounding, out_of_range), _ours(one, target, rounding, out_of_range)
            where = (source.str, target.str, rounding, out_of_range, x)
            assert (theirs is None) == (ours is None), (where, theirs, ours)
            if theirs is not None:
                assert_same(ours, theirs)


@pytest.mark.parametrize("source,target,key,value", [
    ("f4", "u1", np.float32("nan"), np.uint8(255)),
    ("f8", "i2", np.float64("inf"), np.int16(32767)),
    ("u1", "f4", np.uint8(255), np.float32("nan")),
    ("i4", "u1", np.int32(-1), np.uint8(0)),
])
def test_scalar_map_entries_win_over_every_other_rule(source, target, key, value):
    x = np.array([key, 3, key], source)
    theirs = cast_array(x, target_dtype=np.dtype(target), rounding_mode="nearest-even", out_of_range_mode=None,
                        scalar_map_entries={key.item(): value.item()})
    assert_same(cast_values(x, np.dtype(target), scalar_map=[(key, value)]), theirs)


def test_configuration_round_trips_as_zarr_python_writes_it():
    spec = {"name": "cast_value", "configuration": {
        "data_type": "uint8", "rounding": "towards-zero", "out_of_range": "clamp",
        "scalar_map": {"encode": [["NaN", 0]], "decode": [[0, "NaN"]]}}}
    assert codec_from_json(spec).to_dict() == spec
    defaults = {"name": "cast_value", "configuration": {"data_type": "int16", "rounding": "nearest-even"}}
    assert codec_from_json(defaults).to_dict() == {"name": "cast_value", "configuration": {"data_type": "int16"}}


@pytest.mark.parametrize("config,match", [
    ({"data_type": "complex64"}, "data_type='complex64' is not supported"),
    ({"data_type": "float32", "out_of_range": "wrap"}, "'wrap' needs an integer data_type"),
    ({"data_type": "int8", "rounding": "up"}, "rounding='up'"),
    ({"data_type": "int8", "out_of_range": "saturate"}, "out_of_range='saturate'"),
    ({"data_type": "int8", "scalar_map": {"encode": [["NaN"]]}}, r"scalar_map\['encode'\]"),
    ({"data_type": "int8", "scalar_map": {"both": []}}, "scalar_map="),
    ({"data_type": "int8", "extra": 1}, "invalid configuration"),
])
def test_invalid_configurations_name_the_field(config, match):
    with pytest.raises(MetadataError, match=match):
        codec_from_json({"name": "cast_value", "configuration": config})


def test_scalar_map_entries_the_data_types_cannot_hold_fail_on_opening():
    codec = codec_from_json({"name": "cast_value", "configuration": {
        "data_type": "uint8", "scalar_map": {"encode": [["NaN", 300]]}}})
    with pytest.raises(MetadataError, match="value=300 is not representable in 'uint8'"):
        codec.resolve((4,), np.dtype("f4"))


def test_a_nan_fill_needs_a_sentinel_to_reach_an_integer_type(tmp_path):
    codecs = [{"name": "cast_value", "configuration": {"data_type": "uint8"}}, {"name": "bytes"}]
    with pytest.raises(MetadataError, match="fill value .* cannot be encoded .*scalar_map"):
        write_with_dz(str(tmp_path / "a.zarr"), np.zeros(4, "f4"), (2,), codecs, fill_value=float("nan"))


@pytest.mark.parametrize("inner_first", [True, False], ids=["inside-shard", "before-shard"])
def test_nan_sentinels_through_sharding_read_back_as_nan(tmp_path, inner_first):
    """Empty inner chunks are the fill value in the encoded dtype: 255 here, NaN once decoded."""
    filters = [
        {"name": "scale_offset", "configuration": {"offset": -2, "scale": 4}},
        {"name": "cast_value", "configuration": {"data_type": "uint8", "out_of_range": "clamp",
                                                 "scalar_map": {"encode": [["NaN", 255]], "decode": [[255, "NaN"]]}}},
    ]
    inner = [{"name": "bytes"}]
    shard = {
        "name": "sharding_indexed",
        "configuration": {"chunk_shape": [2], "codecs": (filters + inner) if inner_first else inner},
    }
    codecs = [shard] if inner_first else [*filters, shard]
    data = np.array([np.nan, np.nan, 0.25, 1.0, np.nan, 3.5, np.nan, np.nan], "f4")
    url = str(tmp_path / "a.zarr")
    write_with_dz(url, data, (8,), codecs, fill_value=float("nan"))
    assert_same(dz.read(url).compute(), data)
