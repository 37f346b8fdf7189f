"""Codec fast paths: decoding into preallocated buffers only when the size is certain."""

from __future__ import annotations

import numcodecs
import numpy as np
import pytest

from dask_zarrio.codecs import CodecPipeline, codec_from_json
from dask_zarrio.codecs.pipeline import decode_bytes
from dask_zarrio.codecs.sizes import blosc_decoded_size, gzip_decoded_size, zstd_decoded_size

DATA = np.arange(5000, dtype="f8").tobytes()


@pytest.mark.parametrize("codec,sniff", [
    (numcodecs.Zstd(3), zstd_decoded_size),
    (numcodecs.Zstd(3, checksum=True), zstd_decoded_size),
    (numcodecs.GZip(1), gzip_decoded_size),
    (numcodecs.Blosc("lz4", 5, shuffle=1), blosc_decoded_size),
    (numcodecs.Blosc("zstd", 3, shuffle=2), blosc_decoded_size),
])
def test_sizes_read_from_headers(codec, sniff):
    assert sniff(codec.encode(DATA)) == len(DATA)


@pytest.mark.parametrize("sniff", [zstd_decoded_size, gzip_decoded_size, blosc_decoded_size])
def test_size_sniffers_refuse_foreign_bytes(sniff):
    assert sniff(b"\x00" * 3) is None


@pytest.mark.parametrize("name", ["zstd", "gzip", "blosc"])
def test_wrong_expected_size_falls_back_and_is_caught(name):
    """numcodecs fills a too-large ``out`` without complaint: we must never hand that out."""
    config = {"typesize": 8, "cname": "lz4", "shuffle": "shuffle"} if name == "blosc" else {}
    bb = codec_from_json({"name": name, "configuration": config})
    short = bb.encode(DATA[:800])
    # The sniffed size (800) differs from what a 5000-element chunk needs: a plain decode, not `out`.
    assert bytes(decode_bytes(bb, short, len(DATA))) == DATA[:800]
    pipeline = CodecPipeline.from_codecs(
        [codec_from_json({"name": "bytes", "configuration": {"endian": "little"}}), bb], (5000,), np.dtype("f8"))
    with pytest.raises(ValueError, match="decoded to 800 bytes, expected 40000"):
        pipeline.decode(short)


def test_decoded_chunks_are_writable():
    pipeline = CodecPipeline.from_codecs(
        [codec_from_json({"name": "bytes", "configuration": {"endian": "little"}}), codec_from_json("zstd")], (5000,), np.dtype("f8"))
    arr = pipeline.decode(pipeline.encode(np.arange(5000.0)))
    assert arr.flags.writeable
    arr[0] = 1.0


BYTES_LE = {"name": "bytes", "configuration": {"endian": "little"}}
BYTES_BE = {"name": "bytes", "configuration": {"endian": "big"}}
BLOSC = {"name": "blosc", "configuration": {"cname": "zstd", "clevel": 3, "shuffle": "shuffle", "typesize": 4}}


@pytest.mark.parametrize("codecs,dtype,direct", [
    ([BYTES_LE], "<f4", True),
    ([BYTES_LE, BLOSC], "<f4", True),
    ([BYTES_LE, "zstd"], "<i4", True),
    ([BYTES_LE, "gzip"], "<u2", True),
    ([BYTES_LE, "crc32c"], "<f4", True),
    ([BYTES_LE, BLOSC, "crc32c"], "<f4", True),
    ([BYTES_BE, BLOSC], ">f4", True),  # stored order = dtype's order: a plain copy
    ([BYTES_BE, BLOSC], "<f4", False),  # needs a byte swap
    ([{"name": "transpose", "configuration": {"order": [1, 0]}}, BYTES_LE, BLOSC], "<f4", False),
    ([BYTES_LE, {"name": "numcodecs.zlib", "configuration": {"level": 1}}], "<f8", False),  # size unknown
])
def test_decode_into_writes_the_chunk_or_nothing(codecs, dtype, direct):
    pipeline = CodecPipeline.from_codecs([codec_from_json(c) for c in codecs], (40, 30), np.dtype(dtype))
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
    pipeline = CodecPipeline.from_codecs([codec_from_json(c) for c in (BYTES_LE, BLOSC)], (40, 30), np.dtype("<f4"))
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
    from dask_zarrio.codecs.pipeline import V2Pipeline

    pipeline = V2Pipeline(filters, compressor, order, (40, 30), np.dtype("<i4"))
    chunk = np.arange(1200, dtype="<i4").reshape(40, 30)
    out = np.zeros((40, 30), "<i4")
    assert pipeline.decode_into(pipeline.encode(chunk), out) is direct
    np.testing.assert_array_equal(out, chunk if direct else 0)


def _blosc_blocksize(frame) -> int:
    return int.from_bytes(bytes(frame[8:12]), "little")  # c-blosc chunk format: bytes 8-11


@pytest.mark.parametrize("cname,blocksize,expected", [
    ("zstd", 0, 2**20),  # "automatic": dask_zarrio's choice for zstd
    ("zstd", 65536, 65536),  # an explicit block size is kept
])
def test_blosc_block_size(cname, blocksize, expected):
    from dask_zarrio.codecs.blosc import BloscCodec

    data = np.random.default_rng(0).normal(size=2**20).astype("f4")  # 4 MiB
    for codec in (BloscCodec(cname, 3, "shuffle", 4, blocksize),
                  codec_from_json({"name": "numcodecs.blosc", "configuration": {"cname": cname, "clevel": 3, "shuffle": 1, "blocksize": blocksize}})):
        frame = codec.encode(data)
        assert _blosc_blocksize(frame) == expected
        assert codec.to_dict()["configuration"]["blocksize"] == blocksize  # metadata as configured
        assert bytes(numcodecs.Blosc().decode(frame)) == data.tobytes()  # any blosc reader decodes it


def test_blosc_automatic_block_size_of_other_compressors_is_c_blosc_s():
    from dask_zarrio.codecs.blosc import BloscCodec

    data = np.random.default_rng(0).normal(size=2**20).astype("f4")
    ours = BloscCodec("lz4", 1, "shuffle", 4, 0).encode(data)
    assert _blosc_blocksize(ours) == _blosc_blocksize(numcodecs.Blosc("lz4", 1, 1, 0).encode(data))
