"""Sharding (Zarr v3 ``sharding_indexed``): interop, request counts, corruption, writes."""

from __future__ import annotations

import dataclasses
import json
import os

import dask.array as da
import numpy as np
import pytest
import zarr
from conftest import assert_same
from zarr.codecs import BytesCodec, Crc32cCodec, GzipCodec, ShardingCodec, TransposeCodec, ZstdCodec

import dask_zarrio as dz
from dask_zarrio.codecs.sharding import EMPTY
from dask_zarrio.codecs.sharding import ShardingCodec as DzSharding
from dask_zarrio.metadata.create import new_array_metadata
from dask_zarrio.metadata.node import read_array_metadata
from dask_zarrio.metadata.writer import write_node
from dask_zarrio.store import open_store
from dask_zarrio.testing import CountingStore

ts = pytest.importorskip("tensorstore")

SHAPE = (47, 38)  # partial edge shards and partial edge inner chunks on both axes
DATA = np.arange(np.prod(SHAPE), dtype="i4").reshape(SHAPE) * 7 - 1000


def _zarr_sharded(url, *, index_location="end", crc=True, inner=None, aa=(), shard=(20, 16), chunk=(5, 4)):
    inner = list(inner) if inner is not None else [BytesCodec(), ZstdCodec(level=1)]
    index_codecs = [BytesCodec(), Crc32cCodec()] if crc else [BytesCodec()]
    z = zarr.create_array(
        url, shape=SHAPE, chunks=shard, dtype="i4", fill_value=-1, compressors=None, filters=list(aa),
        serializer=ShardingCodec(
            chunk_shape=chunk, codecs=inner, index_codecs=index_codecs, index_location=index_location),
    )
    z[:40, :] = DATA[:40, :]  # rows 40-46 stay unwritten: fill value
    expected = DATA.copy()
    expected[40:] = -1
    return expected


@pytest.mark.parametrize("index_location", ["start", "end"])
@pytest.mark.parametrize("crc", [True, False])
@pytest.mark.parametrize("read_chunks", [None, (5, 4), (7, 9), "auto"])
def test_zarr_writes_sharded_dz_reads(tmp_path, index_location, crc, read_chunks):
    url = str(tmp_path / "a.zarr")
    expected = _zarr_sharded(url, index_location=index_location, crc=crc)
    x = dz.read(url, chunks=read_chunks)
    assert_same(x.compute(), expected)
    assert_same(x[3:30:4, 5].compute(), expected[3:30:4, 5])


def test_nested_sharding_and_transpose_inside_the_shard(tmp_path):
    url = str(tmp_path / "a.zarr")
    nested = ShardingCodec(chunk_shape=(5, 4), codecs=[TransposeCodec(order=(1, 0)), BytesCodec(), GzipCodec(level=1)])
    expected = _zarr_sharded(url, inner=[nested], chunk=(10, 8))
    assert_same(dz.read(url).compute(), expected)
    assert_same(dz.read(url, chunks=(10, 8))[12, 3:20].compute(), expected[12, 3:20])


def test_transpose_before_sharding(tmp_path):
    """Written by tensorstore: zarr-python 3.1.6 raises KeyError writing partial shards here."""
    url = str(tmp_path / "a.zarr")
    t = ts.open({
        "driver": "zarr3", "kvstore": {"driver": "file", "path": url}, "create": True,
        "metadata": {"shape": list(SHAPE), "data_type": "int32", "fill_value": -1,
                     "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [20, 16]}},
                     "codecs": [{"name": "transpose", "configuration": {"order": [1, 0]}},
                                {"name": "sharding_indexed", "configuration": {
                                    "chunk_shape": [4, 5],
                                    "codecs": [{"name": "bytes", "configuration": {"endian": "little"}}]}}]},
    }).result()
    t[:40].write(DATA[:40]).result()
    expected = DATA.copy()
    expected[40:] = -1
    assert_same(dz.read(url).compute(), expected)
    url2 = str(tmp_path / "b.zarr")
    write_node(open_store(url2), read_array_metadata(open_store(url)))
    dz.write(da.from_array(DATA, chunks=(20, 16)), url2, mode="r+")
    t2 = ts.open({"driver": "zarr3", "kvstore": {"driver": "file", "path": url2}}).result()
    assert_same(t2.read().result(), DATA)


@pytest.mark.parametrize("fill_first", [False, True])
def test_dz_writes_sharded_zarr_and_tensorstore_read(tmp_path, fill_first):
    url = str(tmp_path / "a.zarr")
    data = DATA.copy()
    if fill_first:
        data[:20, :16] = 0  # a whole shard of fill: not stored
    dz.write(da.from_array(data, chunks=(10, 8)), url, chunks=(5, 4), shards=(20, 16))
    assert_same(zarr.open_array(url, mode="r")[...], data)
    t = ts.open({"driver": "zarr3", "kvstore": {"driver": "file", "path": url}}).result()
    assert_same(t.read().result(), data)
    assert os.path.exists(os.path.join(url, "c", "0", "0")) != fill_first


@pytest.mark.parametrize("index_location", ["start", "end"])
def test_dz_encodes_index_at_start_or_end_tensorstore_reads(tmp_path, index_location):
    url = str(tmp_path / "a.zarr")
    meta = new_array_metadata(shape=SHAPE, dtype=np.dtype("i4"), chunk_shape=(5, 4), shard_shape=(20, 16))
    codec = meta.codecs[0]
    meta = dataclasses.replace(
        meta, codecs=(DzSharding(codec.chunk_shape, codec.codecs, index_location=index_location),)
    )
    write_node(open_store(url), meta)
    dz.write(da.from_array(DATA, chunks=(20, 16)), url, mode="r+")
    t = ts.open({"driver": "zarr3", "kvstore": {"driver": "file", "path": url}}).result()
    assert_same(t.read().result(), DATA)
    assert_same(zarr.open_array(url, mode="r")[...], DATA)


def test_tensorstore_writes_sharded_dz_reads(tmp_path):
    url = str(tmp_path / "a.zarr")
    t = ts.open({
        "driver": "zarr3", "kvstore": {"driver": "file", "path": url}, "create": True,
        "metadata": {"shape": list(SHAPE), "data_type": "int32", "fill_value": -1,
                     "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [20, 16]}},
                     "codecs": [{"name": "sharding_indexed", "configuration": {
                         "chunk_shape": [5, 4], "index_location": "start",
                         "codecs": [{"name": "bytes", "configuration": {"endian": "little"}}, {"name": "zstd"}],
                         "index_codecs": [{"name": "bytes", "configuration": {"endian": "little"}},
                                          {"name": "crc32c"}]}}]},
    }).result()
    t[:30].write(DATA[:30]).result()
    expected = DATA.copy()
    expected[30:] = -1
    assert_same(dz.read(url).compute(), expected)
    assert_same(dz.read(url)[33, 1].compute(), np.int32(-1))


def _counting(url):
    store = CountingStore(open_store(url))
    return store


def test_store_without_partial_reads_gets_whole_shards(tmp_path):
    """A store that declares no partial reads (a plain mapping) is asked for whole shards only.

    Its get_range would fetch the whole object anyway, once for the index and again
    for every run of inner chunks; dask blocks then also follow shard boundaries.
    """
    from dask_zarrio.store import MappingStore

    data = np.arange(200 * 200, dtype="f4").reshape(200, 200)
    backing: dict = {}
    dz.write(da.from_array(data, chunks=100), backing, chunks=(10, 10), shards=(100, 100))
    store = CountingStore(MappingStore(backing))
    assert not store.supports_partial_reads
    x = dz.read(store, chunks=50)
    store.reset()
    assert_same(x[5, 5].compute(), np.float32(data[5, 5]))
    assert dict(store.gets) == {"c/0/0": 1} and not store.counters["get_range"]
    store.reset()
    assert_same(x.compute(), data)  # blocks of 50 still read each shard once
    assert dict(store.gets) == {f"c/{i}/{j}": 1 for i in (0, 1) for j in (0, 1)}


def test_request_counts(tmp_path):
    """from_zarr: 400 tasks and 800 ranged reads for 4 shards (dask#12586, zarr-python#1355)."""
    url = str(tmp_path / "a.zarr")
    data = np.arange(200 * 200, dtype="f4").reshape(200, 200)
    dz.write(da.from_array(data, chunks=100), url, chunks=(10, 10), shards=(100, 100))
    store = _counting(url)
    x = dz.read(store)
    assert all(c % 100 == 0 for axis in x.chunks for c in axis)  # whole shards per task
    store.reset()
    assert_same(x.compute(), data)
    assert sum(store.gets.values()) == 4 and not store.counters["get_range"]
    store.reset()
    assert x[5, 5].compute() == data[5, 5]
    assert not store.gets and store.counters["get_range"] == {"c/0/0": 2}  # index + one inner chunk
    # A write is one PUT per shard.
    wstore = _counting(str(tmp_path / "b.zarr"))
    dz.write(da.from_array(data, chunks=50), wstore, chunks=(10, 10), shards=(100, 100))
    shard_puts = {k: v for k, v in wstore.sets.items() if k.startswith("c/")}
    assert shard_puts == {f"c/{i}/{j}": 1 for i in (0, 1) for j in (0, 1)}


def test_inner_chunk_reads_coalesce(tmp_path):
    url = str(tmp_path / "a.zarr")
    data = np.arange(100 * 100, dtype="u2").reshape(100, 100)
    dz.write(da.from_array(data, chunks=100), url, chunks=(10, 10), shards=(100, 100), compressors=None)
    store = _counting(url)
    x = dz.read(store)
    store.reset()
    assert_same(x[5, :].compute(), data[5, :])
    assert store.counters["get_range"]["c/0/0"] == 2  # the index, then 10 adjacent inner chunks at once


def test_empty_inner_chunks_are_not_stored(tmp_path):
    url = str(tmp_path / "a.zarr")
    data = np.zeros((20, 20), "i2")
    data[:5, :5] = 1
    dz.write(da.from_array(data, chunks=20), url, chunks=(5, 5), shards=(20, 20))
    raw = open(os.path.join(url, "c", "0", "0"), "rb").read()
    index = np.frombuffer(raw[-(16 * 16 + 4):-4], "<u8").reshape(4, 4, 2)
    assert (index[0, 0] != EMPTY).all() and (index.reshape(-1, 2)[1:] == EMPTY).all()


def _corrupt(url, key, mutate):
    path = os.path.join(url, *key.split("/"))
    raw = bytearray(open(path, "rb").read())
    mutate(raw)
    open(path, "wb").write(bytes(raw))


@pytest.mark.parametrize("partial", [False, True])
def test_bad_index_checksum_is_a_decode_error(tmp_path, partial):
    url = str(tmp_path / "a.zarr")
    dz.write(da.from_array(DATA, chunks=(20, 16)), url, chunks=(5, 4), shards=(20, 16))

    def flip(raw):
        raw[-10] ^= 0xFF

    _corrupt(url, "c/0/0", flip)
    x = dz.read(url)
    with pytest.raises(dz.ChunkDecodeError, match=r"c/0/0.*(crc32c|checksum)"):
        (x[1, 1] if partial else x).compute()


@pytest.mark.parametrize("partial", [False, True])
def test_offsets_past_the_end_are_a_decode_error(tmp_path, partial):
    url = str(tmp_path / "a.zarr")
    dz.write(da.from_array(DATA, chunks=(20, 16)), url, chunks=(5, 4), shards=(20, 16),
             compressors=None)
    meta = new_array_metadata(shape=SHAPE, dtype=np.dtype("i4"), chunk_shape=(5, 4), shard_shape=(20, 16))
    layout = meta.codecs[0].with_fill(None).layout((20, 16), np.dtype("i4"))
    path = os.path.join(url, "c", "0", "0")
    raw = open(path, "rb").read()
    index = layout.decode_index(raw[-layout.index_nbytes:]).copy()
    index[0, 0] = (10**6, 80)
    open(path, "wb").write(raw[: -layout.index_nbytes] + bytes(layout.index.encode(index)))
    with pytest.raises(dz.ChunkDecodeError, match=r"c/0/0.*(past the shard's end|has only)"):
        (dz.read(url)[0, 0] if partial else dz.read(url)).compute()


def test_region_write_cutting_shards(tmp_path):
    url = str(tmp_path / "a.zarr")
    dz.write(da.from_array(DATA, chunks=(20, 16)), url, chunks=(5, 4), shards=(20, 16))
    patch = np.full((15, 21), 9, "i4")
    dz.write(da.from_array(patch, chunks=7), url, mode="r+", region=(slice(13, 28), slice(3, 24)))
    expected = DATA.copy()
    expected[13:28, 3:24] = 9
    assert_same(zarr.open_array(url, mode="r")[...], expected)


def test_append_to_sharded_array(tmp_path):
    url = str(tmp_path / "a.zarr")
    dz.write(da.from_array(DATA[:25], chunks=(5, 16)), url, chunks=(5, 4), shards=(20, 16))
    dz.write(da.from_array(DATA[25:], chunks=(3, 16)), url, mode="a", append_dim=0)
    assert_same(zarr.open_array(url, mode="r")[...], DATA)


def test_shards_must_be_multiples_of_chunks(tmp_path):
    with pytest.raises(dz.ZarrioError, match="multiple of chunks") as info:
        dz.write(da.zeros((10, 10), chunks=5), str(tmp_path / "a.zarr"), chunks=(3, 3), shards=(10, 10))
    assert not isinstance(info.value, (dz.MetadataError, dz.MisalignedWriteError))
    with pytest.raises(dz.ZarrioError, match="zarr_format=3") as info:
        dz.write(da.zeros((10, 10), chunks=5), str(tmp_path / "b.zarr"), chunks=(5, 5), shards=(10, 10), zarr_format=2)
    assert not isinstance(info.value, dz.MetadataError)


def test_misaligned_dask_chunks_with_shards_are_not_corrupted(tmp_path):
    """The dask/dask#12583 reproduction with shards=(100, 100)."""
    url = str(tmp_path / "a.zarr")
    source = np.random.default_rng(0).standard_normal((400, 400))
    dz.write(da.from_array(source, chunks=25), url, chunks=(20, 20), shards=(100, 100))
    assert_same(zarr.open_array(url, mode="r")[...], source)


@pytest.mark.parametrize("crc", [True, False])
def test_dz_encodes_nested_sharding_without_crc_and_transpose_inside(tmp_path, crc):
    """Our encoder, in the layouts peers must read: nested shards, plain index, transpose inside."""
    from dask_zarrio.codecs import codec_from_json

    url = str(tmp_path / "a.zarr")
    inner = DzSharding(
        (5, 4),
        codecs=[codec_from_json({"name": "transpose", "configuration": {"order": [1, 0]}}),
                codec_from_json({"name": "bytes", "configuration": {"endian": "little"}}),
                codec_from_json({"name": "gzip", "configuration": {"level": 1}})],
    )
    index_codecs = [{"name": "bytes", "configuration": {"endian": "little"}}] + ([{"name": "crc32c"}] if crc else [])
    outer = DzSharding((10, 8), codecs=[inner], index_codecs=index_codecs)
    meta = new_array_metadata(shape=SHAPE, dtype=np.dtype("i4"), chunk_shape=(20, 16))
    write_node(open_store(url), dataclasses.replace(meta, codecs=(outer,)))
    dz.write(da.from_array(DATA, chunks=(20, 16)), url, mode="r+")
    t = ts.open({"driver": "zarr3", "kvstore": {"driver": "file", "path": url}}).result()
    assert_same(t.read().result(), DATA)
    assert_same(zarr.open_array(url, mode="r")[...], DATA)
    assert_same(dz.read(url, chunks=(10, 8))[17, 3:30].compute(), DATA[17, 3:30])


def _edit_sharding(url, **config):
    """Replace fields of the sharding codec's configuration in zarr.json."""
    path = os.path.join(url, "zarr.json")
    doc = json.load(open(path))
    doc["codecs"][0]["configuration"].update(config)
    json.dump(doc, open(path, "w"))


@pytest.mark.parametrize("config,match", [
    ({"chunk_shape": [5]}, r"configuration\.chunk_shape=\[5\] has 1 dimensions but the shard shape \[20, 16\]"),
    ({"chunk_shape": [5, 4, 1]}, r"configuration\.chunk_shape=\[5, 4, 1\] has 3 dimensions"),
    ({"chunk_shape": [3, 4]}, r"chunk_shape=\[3, 4\] must evenly divide the shard shape \[20, 16\]"),
    ({"index_codecs": []}, r"index_codecs=\[\] must be a non-empty list"),
    ({"codecs": []}, r"codecs=\[\] must be a non-empty list"),
])
def test_sharding_configuration_is_checked_against_the_array_on_open(tmp_path, config, match):
    """A metadata error when the array is opened, not a 'corrupt chunk, delete it' about good data."""
    url = str(tmp_path / "a.zarr")
    dz.write(da.from_array(DATA, chunks=(20, 16)), url, chunks=(5, 4), shards=(20, 16))
    _edit_sharding(url, **config)
    with pytest.raises(dz.MetadataError, match=match):
        dz.read(url)


#: Index entries that lie: (inner chunk, (offset, nbytes)) pairs written over the real ones.
LIES = {
    "past-the-end": [((0, 0), (10**6, 80))],
    "bigger-than-any-inner-chunk": [((0, 0), (0, 2**40))],
    "offset-plus-size-overflows": [((0, 0), (2**64 - 2, 2**63))],
    "overlapping": [((0, 0), (0, 80)), ((0, 1), (40, 80))],
}


@pytest.mark.parametrize("partial", [False, True], ids=["whole", "partial"])
@pytest.mark.parametrize("lie", LIES)
def test_a_lying_index_is_a_decode_error_without_a_giant_read(tmp_path, lie, partial):
    """Never a MemoryError, an OverflowError from seek, or a StoreError after retries."""
    url = str(tmp_path / "a.zarr")
    dz.write(da.from_array(DATA, chunks=(20, 16)), url, chunks=(5, 4), shards=(20, 16), compressors=None)
    meta = new_array_metadata(shape=SHAPE, dtype=np.dtype("i4"), chunk_shape=(5, 4), shard_shape=(20, 16))
    layout = meta.codecs[0].with_fill(None).layout((20, 16), np.dtype("i4"))
    path = os.path.join(url, "c", "0", "0")
    raw = open(path, "rb").read()
    index = layout.decode_index(raw[-layout.index_nbytes:]).copy()
    for inner, entry in LIES[lie]:
        index[inner] = entry
    open(path, "wb").write(raw[: -layout.index_nbytes] + bytes(layout.index.encode(index)))
    x = dz.read(url)
    with pytest.raises(
        dz.ChunkDecodeError, match=r"c/0/0.*(past the shard's end|has only|bigger than an inner chunk|overlap)"
    ):
        (x[0:5, 0:8] if partial else x).compute()
