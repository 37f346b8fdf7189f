"""N5: tensorstore interop both ways (axes reversed), hand-built n5-java blocks, corrupt headers."""

from __future__ import annotations

import gzip
import json
import os
import struct

import dask.array as da
import numcodecs
import numpy as np
import pytest
from conftest import array_data, assert_same

import dask_zarrio as dz

ts = pytest.importorskip("tensorstore")

DTYPES = ["uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64", "float32", "float64"]
COMPRESSIONS = {
    "raw": {"type": "raw"},
    "gzip": {"type": "gzip", "level": 5},
    "zlib": {"type": "gzip", "level": 5, "useZlib": True},
    "bzip2": {"type": "bzip2", "blockSize": 9},
    "xz": {"type": "xz", "preset": 6},
    "blosc": {"type": "blosc", "cname": "zstd", "clevel": 3, "shuffle": 1},
    "zstd": {"type": "zstd", "level": 3},
}
N5_DIMS, N5_BLOCK = [11, 7, 3], [4, 3, 2]  # N5 order; edge blocks on every axis


def _ts(path, **kw):
    return ts.open({"driver": "n5", "kvstore": {"driver": "file", "path": str(path)}, **kw}).result()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("compression", list(COMPRESSIONS))
def test_tensorstore_writes_dz_reads(tmp_path, dtype, compression):
    data = array_data(np.dtype(dtype), tuple(N5_DIMS), seed=8)  # tensorstore's (N5) axis order
    t = _ts(tmp_path / "v.n5" / "raw", create=True, metadata={
        "dimensions": N5_DIMS, "blockSize": N5_BLOCK, "dataType": dtype, "compression": COMPRESSIONS[compression]})
    t.write(data).result()
    x = dz.read(str(tmp_path / "v.n5" / "raw"))
    assert x.shape == tuple(reversed(N5_DIMS))
    assert dz.read(str(tmp_path / "v.n5" / "raw"), chunks=tuple(reversed(N5_BLOCK))).npartitions == 3 * 3 * 2
    assert_same(x.compute(), data.T)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("compression", list(COMPRESSIONS))
def test_dz_writes_tensorstore_reads(tmp_path, dtype, compression):
    data = array_data(np.dtype(dtype), tuple(reversed(N5_DIMS)), seed=9)
    url = str(tmp_path / "v.n5" / "raw")
    dz.write(da.from_array(data, chunks=(1, 3, 4)), url, zarr_format="n5", chunks=(2, 3, 4),
             compressors=COMPRESSIONS[compression])
    attrs = json.load(open(os.path.join(url, "attributes.json")))
    assert attrs["dimensions"] == N5_DIMS and attrs["blockSize"] == N5_BLOCK and attrs["dataType"] == dtype
    assert json.load(open(tmp_path / "v.n5" / "attributes.json"))["n5"].startswith("2.")
    assert_same(_ts(url).read().result(), data.T)
    assert_same(dz.read(url).compute(), data)


@pytest.mark.parametrize("codec", [numcodecs.GZip(3), numcodecs.Zlib(3), numcodecs.BZ2(5), numcodecs.LZMA(),
                                   numcodecs.Blosc("lz4", 5, shuffle=2), numcodecs.Zstd(2), None])
def test_numcodecs_compressors_map_to_n5(tmp_path, codec):
    url = str(tmp_path / "v.n5" / "a")
    data = np.arange(60, dtype="f4").reshape(6, 10)
    dz.write(da.from_array(data, chunks=(3, 5)), url, zarr_format="n5", compressors=codec)
    assert_same(_ts(url).read().result(), data.T)


def test_lz4_round_trip_and_lz4_java_framing(tmp_path):
    """N5's lz4 is lz4-java's LZ4BlockOutputStream; check our frames against the lz4 library."""
    lz4_block = pytest.importorskip("lz4.block")
    xxhash = pytest.importorskip("xxhash")
    url = str(tmp_path / "v.n5" / "a")
    data = np.arange(50 * 40, dtype="i4").reshape(50, 40)
    dz.write(
        da.from_array(data, chunks=(50, 40)), url, zarr_format="n5", compressors={"type": "lz4", "blockSize": 1024}
    )
    assert_same(dz.read(url).compute(), data)
    raw = open(os.path.join(url, "0", "0"), "rb").read()
    body = raw[4 + 4 * 2:]
    pos, blocks = 0, []
    while True:
        assert body[pos:pos + 8] == b"LZ4Block"
        token, clen, olen, check = struct.unpack("<BiiI", body[pos + 8:pos + 21])
        pos += 21
        if olen == 0:
            break
        payload = body[pos:pos + clen]
        pos += clen
        block = lz4_block.decompress(payload, uncompressed_size=olen) if token & 0xF0 == 0x20 else payload
        assert check == xxhash.xxh32_intdigest(block, seed=0x9747B28C) & 0x0FFFFFFF
        blocks.append(block)
    assert np.array_equal(np.frombuffer(b"".join(blocks), ">i4"), data.reshape(-1))


def _block(dims, payload, mode=0):
    return struct.pack(f">HH{len(dims)}I", mode, len(dims), *dims) + payload


def test_truncated_edge_blocks_as_n5_java_writes_them(tmp_path):
    """n5-java and z5 store edge blocks cut to the dataset; tensorstore and zarr 2 store them full."""
    url = tmp_path / "j.n5" / "vol"
    url.mkdir(parents=True)
    dims, block = [5, 3], [2, 2]  # N5 order: x has 5, y has 3
    (url / "attributes.json").write_text(json.dumps(
        {"dimensions": dims, "blockSize": block, "dataType": "int16", "compression": {"type": "gzip"}}))
    full = np.arange(15, dtype="i2").reshape(3, 5)  # C order (y, x)
    for bx in range(3):
        for by in range(2):
            part = full[by * 2:(by + 1) * 2, bx * 2:(bx + 1) * 2]
            (url / str(bx)).mkdir(exist_ok=True)
            payload = gzip.compress(part.astype(">i2").tobytes())
            (url / str(bx) / str(by)).write_bytes(_block([part.shape[1], part.shape[0]], payload))
    assert_same(dz.read(str(url)).compute(), full)
    assert_same(_ts(url).read().result(), full.T)  # tensorstore agrees on the layout


@pytest.mark.parametrize("header,match", [
    (lambda: _block([2, 2, 2], b""), "ndim 3"),
    (lambda: _block([3, 2], b""), "exceed the blockSize"),
    (lambda: _block([2, 2], b"", mode=1), "mode 1 \\(varlength\\)"),
    (lambda: _block([2, 2], b"", mode=2), "mode 2 \\(object\\)"),
    (lambda: b"\x00", "too short"),
])
def test_corrupt_headers_are_decode_errors_naming_the_key(tmp_path, header, match):
    url = tmp_path / "c.n5" / "vol"
    dz.write(da.ones((4, 4), dtype="u1", chunks=2), str(url), zarr_format="n5")
    (url / "1" / "0").write_bytes(header())
    with pytest.raises(dz.ChunkDecodeError, match=rf"vol/1/0 does not decode.*{match}"):
        dz.read(str(url)).compute()


def test_planner_region_and_append_on_n5(tmp_path):
    url = str(tmp_path / "v.n5" / "raw")
    data = np.arange(20 * 9, dtype="u2").reshape(20, 9)
    dz.write(da.from_array(data, chunks=(7, 4)), url, zarr_format="n5", chunks=(5, 3))  # misaligned: planned
    dz.write(da.zeros((6, 9), dtype="u2", chunks=3), url, mode="r+", region=(slice(2, 8),))
    dz.write(da.ones((3, 9), dtype="u2", chunks=3), url, mode="a", append_dim=0)
    expected = np.concatenate([data, np.ones((3, 9), "u2")])
    expected[2:8] = 0
    assert_same(dz.read(url).compute(), expected)
    assert_same(_ts(url).read().result(), expected.T)


def test_n5_groups_and_errors(tmp_path):
    root = tmp_path / "g.n5"
    dz.write(da.ones((4, 4), chunks=2), str(root / "a" / "b"), zarr_format="n5")
    with pytest.raises(dz.ArrayNotFoundError, match="group"):
        dz.read(str(root))
    assert "b (4, 4) float64 chunks=(2, 2) codecs=[n5 gzip]" in str(dz.tree(str(root)))
    # The caller's arguments: ZarrioError, never MetadataError (for stored documents).
    for kwargs, match in [({"dtype": "c8"}, "dtype '<c8'"), ({"fill_value": 3}, "fill_value"),
                          ({"compressors": numcodecs.LZ4()}, "no N5 equivalent")]:
        data = da.ones(4, dtype=kwargs.pop("dtype", "f8"), chunks=2)
        with pytest.raises(dz.ZarrioError, match=match) as info:
            dz.write(data, str(root / "c"), zarr_format="n5", **kwargs)
        assert not isinstance(info.value, dz.MetadataError)
