"""Decoded sizes read from compressed frames' headers, which make decoding into ``out`` safe."""

from __future__ import annotations

import numcodecs
import numpy as np
import pytest

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
