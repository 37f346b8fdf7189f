"""The ``transpose`` codec: axes permuted before serialising."""

from __future__ import annotations

import numpy as np
import pytest
from codec_roundtrip import ROUTES, round_trip
from conftest import assert_same

from dask_zarrio.codecs import CodecPipeline, codec_from_json
from dask_zarrio.codecs.transpose import TransposeCodec
from dask_zarrio.errors import MetadataError

BYTES = {"name": "bytes", "configuration": {"endian": "little"}}


@pytest.mark.parametrize("route", ROUTES, ids="->".join)
@pytest.mark.parametrize("order,shape,chunks", [
    ([1, 0], (23, 17), (8, 6)),
    ([2, 0, 1], (9, 7, 5), (4, 3, 5)),
    ([0, 1], (23, 17), (8, 6)),
])
def test_round_trip(tmp_path, route, order, shape, chunks):
    data = np.arange(np.prod(shape), dtype="<i2").reshape(shape)
    codecs = [
        {"name": "transpose", "configuration": {"order": order}}, BYTES,
        {"name": "gzip", "configuration": {"level": 1}},
    ]
    assert_same(round_trip(tmp_path, route, codecs, data, chunks), data)


def test_stores_the_permuted_chunk():
    pipeline = CodecPipeline.from_codecs([TransposeCodec([1, 0]), codec_from_json(BYTES)], (2, 3), np.dtype("<u1"))
    chunk = np.arange(6, dtype="u1").reshape(2, 3)
    assert bytes(pipeline.encode(chunk)) == chunk.T.tobytes()


@pytest.mark.parametrize("order,match", [([0, 0], "permutation"), ("X", "permutation")])
def test_invalid_order(order, match):
    with pytest.raises(MetadataError, match=match):
        TransposeCodec(order)


def test_order_of_another_rank_is_refused():
    with pytest.raises(MetadataError, match="has 2 axes but the array has 3"):
        TransposeCodec([1, 0]).resolve((2, 3, 4), np.dtype("u1"))
