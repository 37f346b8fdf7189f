"""Interop with tensorstore (``zarr3`` and ``zarr`` drivers), both directions."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
from conftest import array_data, assert_same

import dask_zarrio as dz

ts = pytest.importorskip("tensorstore")

NUMERIC = ["bool", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2", "f4", "f8", "c8", "c16"]
SHAPE, CHUNKS = (9, 10), (4, 3)

V3_CODECS = {
    "raw": [{"name": "bytes", "configuration": {"endian": "little"}}],
    "big-zstd": [
        {"name": "bytes", "configuration": {"endian": "big"}}, {"name": "zstd", "configuration": {"level": 3}},
    ],
    "transpose-gzip-crc": [
        {"name": "transpose", "configuration": {"order": [1, 0]}},
        {"name": "bytes", "configuration": {"endian": "little"}},
        {"name": "gzip", "configuration": {"level": 1}},
        {"name": "crc32c"},
    ],
    "blosc": [
        {"name": "bytes", "configuration": {"endian": "little"}},
        {"name": "blosc",
         "configuration": {"cname": "lz4", "clevel": 5, "shuffle": "shuffle", "typesize": 4, "blocksize": 0}},
    ],
}


def _kv(path):
    return {"driver": "file", "path": str(path)}


def _ts_v3_codecs(name, dtype):
    codecs = [dict(c) for c in V3_CODECS[name]]
    if np.dtype(dtype).itemsize == 1:
        codecs = [{"name": "bytes"} if c["name"] == "bytes" else c for c in codecs]
    return codecs


@pytest.mark.parametrize("dtype", NUMERIC)
@pytest.mark.parametrize("codecs", list(V3_CODECS))
def test_tensorstore_v3_writes_dz_reads(tmp_path, dtype, codecs):
    data = array_data(np.dtype(dtype), SHAPE, seed=5)
    spec = {
        "driver": "zarr3", "kvstore": _kv(tmp_path / "a.zarr"), "create": True,
        "metadata": {"shape": list(SHAPE), "data_type": np.dtype(dtype).name if dtype != "bool" else "bool",
                     "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": list(CHUNKS)}},
                     "codecs": _ts_v3_codecs(codecs, dtype)},
    }
    arr = ts.open(spec).result()
    arr[:7, :].write(data[:7, :]).result()  # rows 7-8 left unwritten: fill value
    expected = data.copy()
    expected[7:] = np.zeros((), dtype)
    assert_same(dz.read(str(tmp_path / "a.zarr")).compute(), expected)


@pytest.mark.parametrize("dtype", NUMERIC)
@pytest.mark.parametrize("fmt", [2, 3])
def test_dz_writes_tensorstore_reads(tmp_path, dtype, fmt):
    data = array_data(np.dtype(dtype), SHAPE, seed=6)
    url = str(tmp_path / "a.zarr")
    dz.write(da.from_array(data, chunks=CHUNKS), url, zarr_format=fmt,
             compressors=[{"name": "zstd", "configuration": {"level": 1}}] if fmt == 3 else {"id": "zstd", "level": 1})
    arr = ts.open({"driver": "zarr3" if fmt == 3 else "zarr", "kvstore": _kv(url)}).result()
    assert_same(arr.read().result(), data)


@pytest.mark.parametrize("dtype", ["i4", "f8", "u2"])
def test_tensorstore_v2_writes_dz_reads(tmp_path, dtype):
    data = array_data(np.dtype(dtype), SHAPE, seed=7)
    arr = ts.open({
        "driver": "zarr", "kvstore": _kv(tmp_path / "a.zarr"), "create": True,
        "metadata": {"shape": list(SHAPE), "chunks": list(CHUNKS), "dtype": np.dtype(dtype).str,
                     "compressor": {"id": "blosc", "cname": "zstd", "clevel": 3, "shuffle": 1}},
    }).result()
    arr.write(data).result()
    assert_same(dz.read(str(tmp_path / "a.zarr")).compute(), data)


def test_dz_writes_blosc_with_typesize_tensorstore_reads(tmp_path, url):
    """v3 blosc needs typesize (Zarr v3 blosc codec spec): we fill it in from the dtype."""
    import numcodecs

    data = np.arange(90, dtype="f4").reshape(SHAPE)
    dz.write(da.from_array(data, chunks=CHUNKS), url, compressors=numcodecs.Blosc("zstd", 3, shuffle=-1))
    import json

    blosc = json.load(open(f"{url}/zarr.json"))["codecs"][1]["configuration"]
    assert blosc["typesize"] == 4 and blosc["shuffle"] == "shuffle"
    arr = ts.open({"driver": "zarr3", "kvstore": _kv(url)}).result()
    assert_same(arr.read().result(), data)


@pytest.mark.parametrize("fmt", [2, 3])
def test_dz_blosc_zstd_with_big_blocks_tensorstore_and_zarr_read(tmp_path, fmt):
    """blocksize 0 lets the writer choose: dz compresses zstd in 1 MiB blocks (4 per chunk here)."""
    import numcodecs
    import zarr

    data = np.random.default_rng(3).normal(280, 5, (1024, 2048)).astype("f4")  # chunks of 4 MiB
    url = str(tmp_path / "a.zarr")
    dz.write(da.from_array(data, chunks=(512, 2048)), url, zarr_format=fmt,
             compressors=numcodecs.Blosc("zstd", 3, shuffle=1, blocksize=0))
    chunk = (tmp_path / "a.zarr" / ("c/0/0" if fmt == 3 else "0.0")).read_bytes()
    assert int.from_bytes(chunk[8:12], "little") == 2**20
    driver = "zarr3" if fmt == 3 else "zarr"
    assert_same(ts.open({"driver": driver, "kvstore": _kv(url)}).result().read().result(), data)
    assert_same(zarr.open_array(url, mode="r")[...], data)
