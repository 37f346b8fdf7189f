"""The ``blosc`` codec: v3 needs ``typesize`` and a string ``shuffle``; dz picks zstd's block size."""

from __future__ import annotations

import numcodecs
import numpy as np
import pytest
from codec_roundtrip import ROUTES, round_trip
from conftest import assert_same

from dask_zarrio.codecs import codec_from_json
from dask_zarrio.codecs.blosc import BloscCodec
from dask_zarrio.errors import MetadataError

BYTES = {"name": "bytes", "configuration": {"endian": "little"}}


def _blosc(cname: str, shuffle: str, **extra) -> dict:
    return {
        "name": "blosc",
        "configuration": {"cname": cname, "clevel": 3, "shuffle": shuffle, "typesize": 4, "blocksize": 0, **extra},
    }


@pytest.mark.parametrize("route", ROUTES, ids="->".join)
@pytest.mark.parametrize("codec", [
    _blosc("lz4", "shuffle"), _blosc("zstd", "bitshuffle"), _blosc("zlib", "noshuffle"),
    _blosc("zstd", "shuffle", blocksize=8192),
], ids=lambda c: f"{c['configuration']['cname']}-{c['configuration']['shuffle']}-{c['configuration']['blocksize']}")
def test_round_trip(tmp_path, route, codec):
    data = np.random.default_rng(0).normal(size=(23, 17)).astype("<f4")
    assert_same(round_trip(tmp_path, route, [BYTES, codec], data, (8, 6)), data)


def _blosc_blocksize(frame) -> int:
    return int.from_bytes(bytes(frame[8:12]), "little")  # c-blosc chunk format: bytes 8-11


@pytest.mark.parametrize("cname,blocksize,expected", [
    ("zstd", 0, 2**20),  # "automatic": dask_zarrio's choice for zstd
    ("zstd", 65536, 65536),  # an explicit block size is kept
])
def test_blosc_block_size(cname, blocksize, expected):
    data = np.random.default_rng(0).normal(size=2**20).astype("f4")  # 4 MiB
    numcodecs_config = {"cname": cname, "clevel": 3, "shuffle": 1, "blocksize": blocksize}
    for codec in (BloscCodec(cname, 3, "shuffle", 4, blocksize),
                  codec_from_json({"name": "numcodecs.blosc", "configuration": numcodecs_config})):
        frame = codec.encode(data)
        assert _blosc_blocksize(frame) == expected
        assert codec.to_dict()["configuration"]["blocksize"] == blocksize  # metadata as configured
        assert bytes(numcodecs.Blosc().decode(frame)) == data.tobytes()  # any blosc reader decodes it


def test_blosc_automatic_block_size_of_other_compressors_is_c_blosc_s():
    data = np.random.default_rng(0).normal(size=2**20).astype("f4")
    ours = BloscCodec("lz4", 1, "shuffle", 4, 0).encode(data)
    assert _blosc_blocksize(ours) == _blosc_blocksize(numcodecs.Blosc("lz4", 1, 1, 0).encode(data))


@pytest.mark.parametrize("typesize,dtype,expected", [(None, "<f8", 8), (2, "<f8", 2)])
def test_for_dtype_fills_only_a_missing_typesize(typesize, dtype, expected):
    assert BloscCodec("lz4", 5, "noshuffle", typesize).for_dtype(np.dtype(dtype)).typesize == expected


@pytest.mark.parametrize("config,match", [
    ({"cname": "snappy9"}, "cname='snappy9'"),
    ({"shuffle": "all"}, "shuffle='all'"),
    ({"clevel": 10, "typesize": 4}, "clevel=10"),
    ({"shuffle": "shuffle"}, "needs a positive integer 'typesize'"),
])
def test_invalid_configuration_names_the_field(config, match):
    with pytest.raises(MetadataError, match=match):
        codec_from_json({"name": "blosc", "configuration": config})
