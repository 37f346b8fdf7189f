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
