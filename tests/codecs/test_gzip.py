"""The ``gzip`` codec (numcodecs' GZip)."""

from __future__ import annotations

import numpy as np
import pytest
from codec_roundtrip import ROUTES, round_trip
from conftest import assert_same

from dask_zarrio.codecs import codec_from_json
from dask_zarrio.errors import MetadataError

BYTES = {"name": "bytes", "configuration": {"endian": "little"}}


@pytest.mark.parametrize("route", ROUTES, ids="->".join)
@pytest.mark.parametrize("level", [0, 1, 9])
def test_round_trip(tmp_path, route, level):
    data = (np.arange(23 * 17, dtype="<u4") % 7).reshape(23, 17)
    codecs = [BYTES, {"name": "gzip", "configuration": {"level": level}}]
    assert_same(round_trip(tmp_path, route, codecs, data, (8, 6)), data)


@pytest.mark.parametrize("level", [-1, 10, "5"])
def test_invalid_level(level):
    with pytest.raises(MetadataError, match=f"level={level!r}"):
        codec_from_json({"name": "gzip", "configuration": {"level": level}})


def test_decoded_size_comes_from_the_trailer():
    codec = codec_from_json("gzip")
    assert codec.decoded_size(codec.encode(b"x" * 1000)) == 1000
