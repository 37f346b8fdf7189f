"""Conversions between numcodecs, Zarr v3 and N5 codec descriptions."""

from __future__ import annotations

import numcodecs
import numpy as np
import pytest

from dask_zarrio.codecs import ArrayArrayCodec, codec_from_json
from dask_zarrio.codecs.conversions import (
    n5_compression_codec,
    n5_compression_from_codec,
    numcodecs_v3_codec,
    parse_numcodecs,
    to_numcodecs,
    to_v3_codec,
)
from dask_zarrio.codecs.lz4_block import LZ4BlockStream
from dask_zarrio.errors import MetadataError, UnknownCodecError


@pytest.mark.parametrize("given,dtype,expected", [
    (numcodecs.Blosc("lz4", 5, shuffle=-1), "u1",
     {"name": "blosc",
      "configuration": {"cname": "lz4", "clevel": 5, "shuffle": "bitshuffle", "blocksize": 0, "typesize": 1}}),
    (numcodecs.Blosc("zstd", 3, shuffle=1), "<f4",
     {"name": "blosc",
      "configuration": {"cname": "zstd", "clevel": 3, "shuffle": "shuffle", "blocksize": 0, "typesize": 4}}),
    (numcodecs.Zstd(3), "<f4", {"name": "zstd", "configuration": {"level": 3, "checksum": False}}),
    (numcodecs.GZip(4), "<f4", {"name": "gzip", "configuration": {"level": 4}}),
    (numcodecs.Zlib(1), "<f4", {"name": "numcodecs.zlib", "configuration": {"level": 1}}),
    (numcodecs.Delta("<i4"), "<i4", {"name": "numcodecs.delta", "configuration": {"dtype": "<i4", "astype": "<i4"}}),
    ({"id": "zstd", "level": 2}, "<f4", {"name": "zstd", "configuration": {"level": 2, "checksum": False}}),
    ({"name": "blosc", "configuration": {"cname": "lz4", "shuffle": "noshuffle"}}, "<f8",
     {"name": "blosc",
      "configuration": {"cname": "lz4", "clevel": 5, "shuffle": "noshuffle", "blocksize": 0, "typesize": 8}}),
    ("crc32c", "<f4", {"name": "crc32c"}),
    (codec_from_json({"name": "gzip", "configuration": {"level": 7}}), "<f4",
     {"name": "gzip", "configuration": {"level": 7}}),
])
def test_to_v3_codec_prefers_built_in_codecs(given, dtype, expected):
    assert to_v3_codec(given, np.dtype(dtype)).to_dict() == expected


def test_numcodecs_filters_become_array_array_codecs():
    assert isinstance(to_v3_codec(numcodecs.Delta("<i4"), np.dtype("<i4")), ArrayArrayCodec)
    assert isinstance(
        numcodecs_v3_codec("numcodecs.fixedscaleoffset", {"offset": 0, "scale": 10, "dtype": "<f8"}), ArrayArrayCodec
    )


@pytest.mark.parametrize("given", [
    numcodecs.Zstd(3), {"id": "zstd", "level": 3}, {"name": "zstd", "configuration": {"level": 3}},
])
def test_to_numcodecs_takes_codecs_configs_and_v3_dicts(given):
    assert to_numcodecs(given, "compressors") == numcodecs.Zstd(3)


def test_to_numcodecs_takes_a_name():
    assert to_numcodecs("zlib", "filters") == numcodecs.Zlib()


@pytest.mark.parametrize("value,error,match", [
    ({"id": "snappy9"}, UnknownCodecError,
     r"compressor=\{'id': 'snappy9'\}: numcodecs has no codec 'snappy9'; install"),
    ({"id": "zlib", "lvl": 1}, MetadataError, "has invalid arguments"),
    ("zlib", MetadataError, r"must be a numcodecs config \{'id': ...\}"),
])
def test_parse_numcodecs_errors_name_the_field(value, error, match):
    with pytest.raises(error, match=match):
        parse_numcodecs(value, "compressor")


@pytest.mark.parametrize("codec", [
    numcodecs.GZip(3), numcodecs.Zlib(3), numcodecs.BZ2(5), numcodecs.LZMA(preset=4),
    numcodecs.Blosc("lz4", 5, shuffle=2, blocksize=0), numcodecs.Zstd(2), LZ4BlockStream(4096),
])
def test_n5_compression_round_trip(codec):
    compression = n5_compression_from_codec(codec)
    back = n5_compression_codec(compression)
    assert back.get_config() == codec.get_config()
    assert n5_compression_from_codec(back) == compression


@pytest.mark.parametrize("given,expected", [
    (None, {"type": "raw"}),
    ({"type": "gzip", "level": 5}, {"type": "gzip", "level": 5}),
    ({"id": "zlib", "level": 2}, {"type": "gzip", "level": 2, "useZlib": True}),
    ({"name": "gzip", "configuration": {"level": 2}}, {"type": "gzip", "level": 2, "useZlib": False}),
])
def test_n5_compression_from_dicts(given, expected):
    assert n5_compression_from_codec(given) == expected


@pytest.mark.parametrize("call,match", [
    (lambda: n5_compression_codec({"type": "snappy"}), "N5 compression type 'snappy' is not supported"),
    (lambda: n5_compression_codec("gzip"), "must be an object with a 'type'"),
    (lambda: n5_compression_from_codec(numcodecs.LZ4()), "has no N5 equivalent"),
    (lambda: n5_compression_from_codec(codec_from_json("gzip")), "has no N5 equivalent"),
])
def test_n5_errors_say_what_is_possible(call, match):
    with pytest.raises(MetadataError, match=match):
        call()
