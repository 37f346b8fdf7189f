"""Chunk pipelines: codec order, and decoding into preallocated buffers only when the size is certain."""

from __future__ import annotations

import numcodecs
import numpy as np
import pytest

from dask_zarrio.codecs import CodecPipeline, V2Pipeline, codec_from_json
from dask_zarrio.codecs.pipeline import decode_bytes
from dask_zarrio.errors import MetadataError

DATA = np.arange(5000, dtype="f8").tobytes()
BYTES_LE = {"name": "bytes", "configuration": {"endian": "little"}}
BYTES_BE = {"name": "bytes", "configuration": {"endian": "big"}}
BLOSC = {"name": "blosc", "configuration": {"cname": "zstd", "clevel": 3, "shuffle": "shuffle", "typesize": 4}}
TRANSPOSE = {"name": "transpose", "configuration": {"order": [1, 0]}}


def _pipeline(codecs, shape, dtype) -> CodecPipeline:
    return CodecPipeline.from_codecs([codec_from_json(c) for c in codecs], shape, np.dtype(dtype))


@pytest.mark.parametrize("name", ["zstd", "gzip", "blosc"])
def test_wrong_expected_size_falls_back_and_is_caught(name):
    """numcodecs fills a too-large ``out`` without complaint: we must never hand that out."""
    config = {"typesize": 8, "cname": "lz4", "shuffle": "shuffle"} if name == "blosc" else {}
    bb = codec_from_json({"name": name, "configuration": config})
    short = bb.encode(DATA[:800])
    # The sniffed size (800) differs from what a 5000-element chunk needs: a plain decode, not `out`.
    assert bytes(decode_bytes(bb, short, len(DATA))) == DATA[:800]
    pipeline = _pipeline([BYTES_LE, bb.to_dict()], (5000,), "f8")
    with pytest.raises(ValueError, match="decoded to 800 bytes, expected 40000"):
        pipeline.decode(short)


def test_decoded_chunks_are_writable():
    pipeline = _pipeline([BYTES_LE, "zstd"], (5000,), "f8")
    arr = pipeline.decode(pipeline.encode(np.arange(5000.0)))
    assert arr.flags.writeable
    arr[0] = 1.0


@pytest.mark.parametrize("codecs,dtype,direct", [
    ([BYTES_LE], "<f4", True),
    ([BYTES_LE, BLOSC], "<f4", True),
    ([BYTES_LE, "zstd"], "<i4", True),
    ([BYTES_LE, "gzip"], "<u2", True),
    ([BYTES_LE, "crc32c"], "<f4", True),
    ([BYTES_LE, BLOSC, "crc32c"], "<f4", True),
    ([BYTES_BE, BLOSC], ">f4", True),  # stored order = dtype's order: a plain copy
    ([BYTES_BE, BLOSC], "<f4", False),  # needs a byte swap
    ([TRANSPOSE, BYTES_LE, BLOSC], "<f4", False),
    ([BYTES_LE, {"name": "numcodecs.zlib", "configuration": {"level": 1}}], "<f8", False),  # size unknown
])
def test_decode_into_writes_the_chunk_or_nothing(codecs, dtype, direct):
    pipeline = _pipeline(codecs, (40, 30), dtype)
    chunk = (np.arange(1200) % 97).astype(dtype).reshape(40, 30)
    data = pipeline.encode(chunk)
    block = np.full((120, 30), 99, dtype)
    assert pipeline.decode_into(data, block[40:80]) is direct
    if direct:
        np.testing.assert_array_equal(block[40:80], chunk)
    np.testing.assert_array_equal(np.delete(block, np.s_[40:80], axis=0) if direct else block, 99)
    np.testing.assert_array_equal(pipeline.decode(data), chunk)


@pytest.mark.parametrize("out", [
    np.zeros((40, 60), "<f4")[:, :30],  # not contiguous
    np.zeros((30, 40), "<f4"),  # another shape
    np.zeros((40, 30), "<f8"),  # another dtype
])
def test_decode_into_refuses_other_layouts(out):
    pipeline = _pipeline([BYTES_LE, BLOSC], (40, 30), "<f4")
    before = out.copy()
    assert pipeline.decode_into(pipeline.encode(np.ones((40, 30), "<f4")), out) is False
    np.testing.assert_array_equal(out, before)


@pytest.mark.parametrize("filters,order,compressor,direct", [
    ((), "C", numcodecs.Blosc("lz4", 5), True),
    ((), "C", None, True),
    ((), "F", numcodecs.Zstd(1), False),
    ((numcodecs.Delta("<i4"),), "C", numcodecs.Zstd(1), False),
])
def test_v2_decode_into(filters, order, compressor, direct):
    pipeline = V2Pipeline(filters, compressor, order, (40, 30), np.dtype("<i4"))
    chunk = np.arange(1200, dtype="<i4").reshape(40, 30)
    out = np.zeros((40, 30), "<i4")
    assert pipeline.decode_into(pipeline.encode(chunk), out) is direct
    np.testing.assert_array_equal(out, chunk if direct else 0)


@pytest.mark.parametrize("codecs,match", [
    (["crc32c", BYTES_LE], "out of place"),
    ([BYTES_LE, TRANSPOSE], "out of place"),
    ([BYTES_LE, BYTES_LE], "out of place"),
    ([TRANSPOSE], "no array→bytes codec"),
])
def test_codec_order_is_checked(codecs, match):
    with pytest.raises(MetadataError, match=match):
        _pipeline(codecs, (4,), "<u2")


def test_the_fill_value_reaches_sharding():
    sharding = {"name": "sharding_indexed", "configuration": {"chunk_shape": [2]}}
    pipeline = CodecPipeline.from_codecs([codec_from_json(sharding)], (4,), np.dtype("i1"), np.array(7, "i1"))
    index = 2 * 16 + 4  # two (offset, nbytes) pairs and a crc32c
    # Only the inner chunk [1, 7] is stored; the other one, all 7, reads back as the fill value.
    shard = pipeline.encode(np.array([1, 7, 7, 7], "i1"))
    assert len(shard) == 2 + index
    np.testing.assert_array_equal(pipeline.decode(shard), [1, 7, 7, 7])
    assert len(pipeline.encode(np.full(4, 7, "i1"))) == index
