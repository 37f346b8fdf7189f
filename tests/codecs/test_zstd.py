"""The ``zstd`` codec (numcodecs' Zstd), with the optional frame checksum."""

from __future__ import annotations

import numpy as np
import pytest
from codec_roundtrip import ROUTES, round_trip
from conftest import assert_same

from dask_zarrio.codecs import codec_from_json
from dask_zarrio.errors import MetadataError

BYTES = {"name": "bytes", "configuration": {"endian": "little"}}


@pytest.mark.parametrize("route", ROUTES, ids="->".join)
@pytest.mark.parametrize("level,checksum", [(0, False), (3, True), (-5, False), (19, False)])
def test_round_trip(tmp_path, route, level, checksum):
    data = np.random.default_rng(0).integers(0, 9, size=(23, 17)).astype("<i8")
    codecs = [BYTES, {"name": "zstd", "configuration": {"level": level, "checksum": checksum}}]
    assert_same(round_trip(tmp_path, route, codecs, data, (8, 6)), data)


@pytest.mark.parametrize("config,match", [
    ({"level": 23}, "level=23"), ({"level": True}, "level=True"), ({"checksum": 1}, "checksum=1"),
])
def test_invalid_configuration(config, match):
    with pytest.raises(MetadataError, match=match):
        codec_from_json({"name": "zstd", "configuration": config})


def test_a_damaged_frame_with_checksum_fails():
    codec = codec_from_json({"name": "zstd", "configuration": {"level": 1, "checksum": True}})
    frame = bytearray(codec.encode(b"abc" * 100))
    frame[-1] ^= 0xFF
    with pytest.raises(RuntimeError):
        codec.decode(bytes(frame))
