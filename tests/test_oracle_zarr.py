"""Interop with zarr-python 3, both directions: every dtype x codec x format.

What zarr-python writes, dask_zarrio must read identically; what dask_zarrio writes,
zarr-python must read identically.
"""

from __future__ import annotations

import dask.array as da
import numcodecs
import numpy as np
import pytest
import zarr
from conftest import DTYPES, array_data, assert_same
from zarr.codecs import BloscCodec, BytesCodec, Crc32cCodec, GzipCodec, TransposeCodec, ZstdCodec

import dask_zarrio as dz

V3_COMPRESSORS = {
    "none": None,
    "zstd": [ZstdCodec(level=3)],
    "zstd-checksum": [ZstdCodec(level=1, checksum=True)],
    "gzip": [GzipCodec(level=1)],
    "blosc-lz4-shuffle": [BloscCodec(cname="lz4", clevel=5, shuffle="shuffle")],
    "blosc-zstd-bitshuffle": [BloscCodec(cname="zstd", clevel=3, shuffle="bitshuffle")],
    "gzip+crc32c": [GzipCodec(level=1), Crc32cCodec()],
}
V2_COMPRESSORS = {
    "none": None,
    "zstd": numcodecs.Zstd(level=3),
    "blosc-auto-shuffle": numcodecs.Blosc(cname="lz4", clevel=5, shuffle=-1),
    "zlib": numcodecs.Zlib(level=1),
    "gzip": numcodecs.GZip(level=1),
    "bz2": numcodecs.BZ2(level=1),
    "lzma": numcodecs.LZMA(),
    "lz4": numcodecs.LZ4(),
}

SHAPE, CHUNKS = (7, 10), (3, 4)  # edge chunks on both axes


def _zarr_write(path, data, fmt, compressors, **kw):
    z = zarr.create_array(
        path, shape=data.shape, chunks=kw.pop("chunks", CHUNKS), dtype=data.dtype,
        zarr_format=fmt, compressors=compressors, **kw,
    )
    z[...] = data
    return z


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("codec", list(V3_COMPRESSORS))
def test_v3_zarr_writes_dz_reads(tmp_path, dtype, codec):
    data = array_data(np.dtype(dtype), SHAPE, seed=1)
    _zarr_write(str(tmp_path / "a.zarr"), data, 3, V3_COMPRESSORS[codec])
    assert_same(dz.read(str(tmp_path / "a.zarr")).compute(), data)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("codec", list(V2_COMPRESSORS))
def test_v2_zarr_writes_dz_reads(tmp_path, dtype, codec):
    data = array_data(np.dtype(dtype), SHAPE, seed=2)
    _zarr_write(str(tmp_path / "a.zarr"), data, 2, V2_COMPRESSORS[codec])
    assert_same(dz.read(str(tmp_path / "a.zarr")).compute(), data)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "fmt,codec",
    # v2 has a single compressor; a checksum goes in its filters (test_v2_filters_both_ways).
    [(f, c) for f in (2, 3) for c in ("auto", "none", "blosc")] + [(3, "gzip-crc32c")],
)
def test_dz_writes_zarr_reads(tmp_path, dtype, fmt, codec):
    compressors = {
        "auto": "auto",
        "none": None,
        "blosc": numcodecs.Blosc(cname="zstd", clevel=3, shuffle=-1),
        "gzip-crc32c": [{"name": "gzip", "configuration": {"level": 2}}, {"name": "crc32c"}],
    }[codec]
    data = array_data(np.dtype(dtype), SHAPE, seed=3)
    url = str(tmp_path / "a.zarr")
    dz.write(da.from_array(data, chunks=CHUNKS), url, zarr_format=fmt, compressors=compressors)
    assert_same(zarr.open_array(url, mode="r")[...], data)


@pytest.mark.parametrize(
    "filters",
    [
        [numcodecs.Delta(dtype="<i4")],
        [numcodecs.FixedScaleOffset(offset=1000, scale=10, dtype="<i4", astype="<u2")],
        [numcodecs.Shuffle(elementsize=4)],
        [numcodecs.CRC32()],
        [numcodecs.AsType(encode_dtype="<i8", decode_dtype="<i4")],
    ],
    ids=["delta", "fixedscaleoffset", "shuffle", "crc32", "astype"],
)
@pytest.mark.parametrize("direction", ["zarr->dz", "dz->zarr"])
def test_v2_filters_both_ways(tmp_path, filters, direction):
    data = np.arange(70, dtype="<i4").reshape(SHAPE) * 3 + 1000
    url = str(tmp_path / "a.zarr")
    if direction == "zarr->dz":
        _zarr_write(url, data, 2, numcodecs.Zlib(1), filters=filters)
        assert_same(dz.read(url).compute(), data)
    else:
        dz.write(da.from_array(data, chunks=CHUNKS), url, zarr_format=2, filters=filters)
        assert_same(zarr.open_array(url, mode="r")[...], data)


@pytest.mark.parametrize("filters", [
    [numcodecs.Quantize(digits=3, dtype="<f8")],
    [numcodecs.PackBits()],
    [numcodecs.Categorize(labels=["a", "bb", "ccc"], dtype="<U3", astype="u1")],
], ids=["quantize", "packbits", "categorize"])
def test_v2_lossy_and_typed_filters(tmp_path, filters):
    codec_id = filters[0].codec_id
    if codec_id == "quantize":
        data = np.linspace(0, 1, 70).reshape(SHAPE)
    elif codec_id == "packbits":
        data = (np.arange(70) % 3 == 0).reshape(SHAPE)
    else:
        data = np.array(["a", "bb", "ccc", "a", "bb"] * 14, dtype="<U3").reshape(SHAPE)
    url = str(tmp_path / "a.zarr")
    _zarr_write(url, data, 2, None, filters=filters)
    assert_same(dz.read(url).compute(), zarr.open_array(url, mode="r")[...])
    url2 = str(tmp_path / "b.zarr")
    dz.write(da.from_array(data, chunks=CHUNKS), url2, zarr_format=2, filters=filters, compressors=None)
    assert_same(zarr.open_array(url2, mode="r")[...], zarr.open_array(url, mode="r")[...])


@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("sep", [".", "/"])
def test_v2_order_and_separator(tmp_path, order, sep):
    data = np.arange(7 * 10 * 3, dtype="f8").reshape(7, 10, 3)
    url = str(tmp_path / "a.zarr")
    z = zarr.create_array(url, shape=data.shape, chunks=(3, 4, 2), dtype="f8", zarr_format=2,
                          order=order, chunk_key_encoding={"name": "v2", "separator": sep})
    z[...] = data
    assert_same(dz.read(url).compute(), data)
    url2 = str(tmp_path / "b.zarr")
    dz.write(da.from_array(data, chunks=(3, 4, 2)), url2, zarr_format=2, order=order)
    assert_same(zarr.open_array(url2, mode="r")[...], data)


@pytest.mark.parametrize("encoding", [
    {"name": "default", "separator": "/"},
    {"name": "default", "separator": "."},
    {"name": "v2", "separator": "."},
    {"name": "v2", "separator": "/"},
])
def test_v3_chunk_key_encodings(tmp_path, encoding):
    data = np.arange(70, dtype="u2").reshape(SHAPE)
    url = str(tmp_path / "a.zarr")
    _zarr_write(url, data, 3, None, chunk_key_encoding=encoding)
    assert_same(dz.read(url).compute(), data)


@pytest.mark.parametrize("endian", ["little", "big"])
def test_v3_transpose_and_endian(tmp_path, endian):
    data = np.arange(7 * 10 * 3, dtype="i4").reshape(7, 10, 3)
    url = str(tmp_path / "a.zarr")
    z = zarr.create_array(url, shape=data.shape, chunks=(3, 4, 2), dtype="i4",
                          filters=[TransposeCodec(order=(2, 0, 1))],
                          serializer=BytesCodec(endian=endian), compressors=None)
    z[...] = data
    assert_same(dz.read(url).compute(), data)


def test_v3_order_f_written_as_transpose(tmp_path, url):
    """zarr-python 3 does not persist order="F" in v3 (no transpose codec is written); we write a transpose codec."""
    data = np.arange(70, dtype="f4").reshape(SHAPE)
    dz.write(da.from_array(data, chunks=CHUNKS), url, order="F")
    z = zarr.open_array(url, mode="r")
    assert any(type(c).__name__ == "TransposeCodec" for c in z.metadata.codecs)
    assert_same(z[...], data)


@pytest.mark.parametrize("fmt", [2, 3])
@pytest.mark.parametrize(
    "dtype,fill",
    [("f4", np.nan), ("f8", -np.inf), ("f8", 1.5), ("i2", -7), ("u8", 2**64 - 1),
     ("bool", True), ("c8", 1 + 2j), ("S5", b"ab"), ("U3", "xy"), ("M8[s]", np.datetime64("NaT"))],
)
@pytest.mark.parametrize("direction", ["zarr->dz", "dz->zarr"])
def test_fill_values_and_missing_chunks(tmp_path, fmt, dtype, fill, direction):
    dtype = np.dtype(dtype)
    url = str(tmp_path / "a.zarr")
    part = array_data(dtype, (3, 4), seed=4)
    expected = np.full(SHAPE, fill, dtype)
    expected[:3, :4] = part
    if direction == "zarr->dz":
        z = zarr.create_array(url, shape=SHAPE, chunks=CHUNKS, dtype=dtype, fill_value=fill, zarr_format=fmt)
        z[:3, :4] = part  # one chunk written, the rest missing
        assert_same(dz.read(url).compute(), expected)
    else:
        dz.write(da.from_array(expected, chunks=CHUNKS), url, fill_value=fill, zarr_format=fmt)
        z = zarr.open_array(url, mode="r")
        assert_same(z[...], expected)
        assert_same(np.asarray(z.fill_value, dtype), np.asarray(fill, dtype))


def test_nan_payload_fill_value_kept(tmp_path, url):
    """zarr-python writes "NaN" and loses the payload (the v3 spec keeps it in the hex form); we write hex bits."""
    fill = np.array(0x7FC00001, "u4").view("f4")
    dz.write(da.zeros(4, dtype="f4", chunks=2) + fill, url, fill_value=fill)
    import json
    doc = json.load(open(f"{url}/zarr.json"))
    assert doc["fill_value"] == "0x7fc00001"
    back = dz.read(url).compute()
    assert (back.view("u4") == 0x7FC00001).all()


@pytest.mark.parametrize("fmt", [2, 3])
def test_zero_dimensional(tmp_path, fmt):
    url = str(tmp_path / "a.zarr")
    z = zarr.create_array(url, shape=(), dtype="f8", zarr_format=fmt)
    z[...] = 3.25
    assert_same(dz.read(url).compute(), np.array(3.25))
    url2 = str(tmp_path / "b.zarr")
    dz.write(da.from_array(np.array(-1.5)), url2, zarr_format=fmt)
    assert_same(zarr.open_array(url2, mode="r")[...], np.array(-1.5))


@pytest.mark.parametrize("fmt", [2, 3])
def test_empty_axis(tmp_path, fmt):
    url = str(tmp_path / "a.zarr")
    zarr.create_array(url, shape=(0, 5), chunks=(2, 2), dtype="i4", zarr_format=fmt)
    assert dz.read(url).compute().shape == (0, 5)
    url2 = str(tmp_path / "b.zarr")
    dz.write(da.zeros((0, 5), dtype="i4", chunks=(2, 2)), url2, zarr_format=fmt)
    assert zarr.open_array(url2, mode="r")[...].shape == (0, 5)


@pytest.mark.parametrize("fmt", [2, 3])
def test_attributes_and_dimension_names(tmp_path, url, fmt):
    dz.write(da.zeros((4, 2), chunks=2), url, zarr_format=fmt, attributes={"units": "K"},
             dimension_names=["time", "x"])
    z = zarr.open_array(url, mode="r")
    assert z.attrs["units"] == "K"
    if fmt == 3:
        assert z.metadata.dimension_names == ("time", "x")
    else:
        assert z.attrs["_ARRAY_DIMENSIONS"] == ["time", "x"]


def test_v3_numcodecs_filters_from_zarr(tmp_path, url):
    from zarr.codecs.numcodecs import Delta, Zlib

    data = np.arange(70, dtype="i8").reshape(SHAPE)
    z = zarr.create_array(url, shape=SHAPE, chunks=CHUNKS, dtype="i8",
                          filters=[Delta(dtype="<i8")], compressors=[Zlib(level=1)])
    z[...] = data
    assert_same(dz.read(url).compute(), data)


def test_parent_groups_created_readable_by_zarr(tmp_path):
    root = tmp_path / "root.zarr"
    dz.write(da.arange(6, chunks=3), str(root / "g1" / "g2" / "arr"))
    g = zarr.open_group(str(root), mode="r")
    assert_same(g["g1/g2/arr"][...], np.arange(6))


def test_read_array_inside_zarr_hierarchy(tmp_path):
    root = zarr.open_group(str(tmp_path / "h.zarr"), mode="w")
    a = root.create_group("grp").create_array("temp", shape=(6,), chunks=(4,), dtype="f8")
    a[...] = np.arange(6.0)
    assert_same(dz.read(str(tmp_path / "h.zarr" / "grp" / "temp")).compute(), np.arange(6.0))


@pytest.mark.parametrize("fill", [b"", b"ab"])
def test_v2_vlen_bytes_fill_is_bytes_both_ways(tmp_path, fill):
    """zarr-python stores a vlen-bytes array's fill value as base64; unwritten chunks are bytes,
    not the str that the raw JSON text would give."""
    from zarr.core.dtype import VariableLengthBytes

    theirs, ours = str(tmp_path / "theirs.zarr"), str(tmp_path / "ours.zarr")
    z = zarr.create_array(theirs, shape=(4,), chunks=(2,), dtype=VariableLengthBytes(), zarr_format=2, fill_value=fill)
    z[:2] = np.array([b"a", b"\xff\x00"], dtype=object)
    expected = np.array([b"a", b"\xff\x00", fill, fill], dtype=object)
    back = dz.read(theirs).compute()
    assert back.tolist() == expected.tolist() and all(isinstance(v, bytes) for v in back)
    # The second chunk holds only the fill value, so it is not stored: zarr-python reads the fill.
    dz.write(da.from_array(expected, chunks=2), ours, zarr_format=2, filters=[numcodecs.VLenBytes()], fill_value=fill)
    assert zarr.open_array(ours, mode="r")[...].tolist() == expected.tolist()
    assert dz.read(ours).compute().tolist() == expected.tolist()
