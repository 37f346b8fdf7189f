"""A shard written in pieces (issues 30, 31): the sharding codec hands back its encoded inner
chunks and index unjoined, local files take them with ``writev``, every other store joins
them once; the stored bytes are the same as the joined encoding's, and peers read them."""

from __future__ import annotations

import dataclasses
import os
from itertools import product

import dask.array as da
import numpy as np
import pytest
import zarr

import dask_zarrio as dz
from dask_zarrio.codecs import codec_from_json
from dask_zarrio.codecs.sharding import EMPTY
from dask_zarrio.codecs.sharding import ShardingCodec as DzSharding
from dask_zarrio.metadata import ArraySpec
from dask_zarrio.metadata.create import new_array_metadata
from dask_zarrio.metadata.node import read_array_metadata
from dask_zarrio.metadata.writer import write_node
from dask_zarrio.store import MappingStore, open_store
from dask_zarrio.store.support import local_files
from dask_zarrio.testing import CountingStore

ts = pytest.importorskip("tensorstore")

SHAPE, SHARD, CHUNK = (47, 38), (20, 16), (5, 4)
DATA = np.arange(np.prod(SHAPE), dtype="i4").reshape(SHAPE) * 7 - 1000
DATA[:5, :8] = 0  # empty inner chunks: not stored, EMPTY in the index
DATA[20:40, 16:32] = 0  # a whole shard of fill: no object at all

BYTES = {"name": "bytes", "configuration": {"endian": "little"}}
INNER = {"zstd": [BYTES, {"name": "zstd", "configuration": {"level": 1}}], "none": [BYTES]}


def reference_shard(codec: DzSharding, shard: np.ndarray) -> bytes:
    """The sharding spec's layout built here, independently: inner chunks in C order, then the index."""
    layout = codec.layout(shard.shape, shard.dtype)
    start = codec.index_location == "start"
    index = np.full((*layout.chunks_per_shard, 2), EMPTY, np.uint64)
    body, pos = b"", layout.index_nbytes if start else 0
    for inner in product(*(range(n) for n in layout.chunks_per_shard)):
        block = shard[layout.inner_region(inner)]
        if (block == 0).all():
            continue
        encoded = bytes(memoryview(layout.inner.encode(np.ascontiguousarray(block))).cast("B"))
        index[inner] = (pos, len(encoded))
        body, pos = body + encoded, pos + len(encoded)
    encoded_index = bytes(memoryview(layout.index.encode(index)).cast("B"))
    return encoded_index + body if start else body + encoded_index


def _init(url: str, index_location: str, crc: bool, inner: str, after: bool = False) -> DzSharding:
    index_codecs = [BYTES] + ([{"name": "crc32c"}] if crc else [])
    codec = DzSharding(CHUNK, INNER[inner], index_codecs=index_codecs, index_location=index_location)
    meta = new_array_metadata(shape=SHAPE, dtype=np.dtype("i4"), chunk_shape=SHARD, fill_value=0)
    codecs = (codec, codec_from_json({"name": "crc32c"})) if after else (codec,)
    write_node(open_store(url), dataclasses.replace(meta, codecs=codecs))
    return codec


@pytest.mark.parametrize("index_location", ["start", "end"])
@pytest.mark.parametrize("crc", [True, False])
@pytest.mark.parametrize("inner", ["zstd", "none"])
def test_shards_in_pieces_are_the_bytes_of_the_layout_and_peers_read_them(tmp_path, index_location, crc, inner):
    url, mem = str(tmp_path / "a.zarr"), f"memory://parts/{index_location}-{crc}-{inner}.zarr"
    codec = _init(url, index_location, crc, inner)
    _init(mem, index_location, crc, inner)
    for where in (url, mem):  # local files: writev of the pieces; memory: joined once
        dz.write(da.from_array(DATA, chunks=SHARD), where, mode="r+")
    local, joined = open_store(url), open_store(mem)
    spec_shape = read_array_metadata(local).chunk_shape
    keys = sorted(k for k in local.list_keys() if k.startswith("c/"))
    assert "c/1/1" not in keys and len(keys) == 3 * 3 - 1
    for key in keys:
        i, j = (int(x) for x in key.split("/")[1:])
        shard = np.zeros(spec_shape, "i4")
        part = DATA[i * SHARD[0] : (i + 1) * SHARD[0], j * SHARD[1] : (j + 1) * SHARD[1]]
        shard[: part.shape[0], : part.shape[1]] = part
        assert local.get(key) == joined.get(key) == reference_shard(codec, shard) == codec.encode(shard)
    assert not [n for n in os.listdir(os.path.join(url, "c", "0")) if n.startswith(".tmp-")]
    np.testing.assert_array_equal(zarr.open_array(url, mode="r")[...], DATA)
    t = ts.open({"driver": "zarr3", "kvstore": {"driver": "file", "path": url}}).result()
    np.testing.assert_array_equal(t.read().result(), DATA)


def test_a_bytes_codec_after_sharding_gets_the_joined_shard(tmp_path):
    """crc32c over the whole shard needs it contiguous: one piece, checked by zarr-python."""
    url = str(tmp_path / "a.zarr")
    codec = _init(url, "end", True, "zstd", after=True)
    pipeline = ArraySpec.from_metadata(read_array_metadata(open_store(url))).pipeline
    shard = np.ascontiguousarray(DATA[:20, :16])
    assert len(codec.encode_parts(shard)) > 1
    assert [bytes(p) for p in pipeline.encode_parts(shard)] == [bytes(pipeline.encode(shard))]
    dz.write(da.from_array(DATA, chunks=SHARD), url, mode="r+")
    np.testing.assert_array_equal(zarr.open_array(url, mode="r")[...], DATA)


def test_a_sharded_write_counts_one_put_per_shard():
    store = CountingStore(MappingStore({}))
    dz.write(da.from_array(DATA, chunks=(40, 32)), store, chunks=CHUNK, shards=SHARD, fill_value=0)
    shards = {k: n for k, n in store.sets.items() if k.startswith("c/")}
    assert shards and set(shards.values()) == {1} and "c/1/1" not in shards
    np.testing.assert_array_equal(dz.read(store).compute(), DATA)


def _pieces(n: int) -> list:
    rng = np.random.default_rng(n)
    return [b"", *(rng.integers(0, 256, int(rng.integers(0, 40)), dtype="u1") for _ in range(n)), memoryview(b"end")]


@pytest.mark.parametrize("n", [0, 3, local_files.IOV_MAX + 5, 3 * local_files.IOV_MAX])
@pytest.mark.parametrize("writev", ["writev", "short writes", "no writev"])
def test_atomic_write_of_pieces(tmp_path, monkeypatch, n, writev):
    """More pieces than one writev takes, writes that stop mid-piece (signals), systems without writev."""
    real = os.writev
    if writev == "short writes":
        monkeypatch.setattr(os, "writev", lambda fd, bufs: real(fd, [memoryview(b"".join(bufs))[:7]]))
    elif writev == "no writev":
        monkeypatch.delattr(os, "writev")
    pieces = _pieces(n)
    path = str(tmp_path / "c" / "0")
    local_files.atomic_write(path, pieces)
    assert open(path, "rb").read() == b"".join(pieces)


def test_a_failed_write_of_pieces_leaves_the_old_object_and_no_temporary_file(tmp_path, monkeypatch):
    path = str(tmp_path / "k")
    local_files.atomic_write(path, b"old")

    def fail(fd, bufs):
        os.write(fd, b"half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "writev", fail)
    with pytest.raises(OSError, match="No space"):
        local_files.atomic_write(path, [b"new ", b"object"])
    assert open(path, "rb").read() == b"old" and os.listdir(tmp_path) == ["k"]


@pytest.mark.parametrize("index_location", ["start", "end"])
@pytest.mark.parametrize("edge", [(20, 16), (7, 16), (20, 6), (7, 6), (1, 1), (5, 4)])
def test_an_edge_shard_encodes_as_its_padded_copy_would(index_location, edge):
    """A shard cut by the array's edge (its leading ``edge`` part given) is padded an inner chunk at
    a time: the stored bytes are those of the shard padded whole with the fill value."""
    fill = np.array(-3, "i4")
    codec = DzSharding(CHUNK, INNER["zstd"], index_location=index_location).with_fill(fill)
    part = DATA[5:5 + edge[0], 8:8 + edge[1]]
    padded = np.full(SHARD, fill, "i4")
    padded[: edge[0], : edge[1]] = part
    got = b"".join(bytes(memoryview(p).cast("B")) for p in codec.encode_parts(part, SHARD))
    assert got == b"".join(bytes(memoryview(p).cast("B")) for p in codec.encode_parts(padded))


def test_a_sharded_write_pads_no_edge_shard_whole(tmp_path, monkeypatch):
    """dz.write hands edge shards to the codec as they are: no shard-sized fill array is made."""
    from dask_zarrio.metadata import spec as spec_module

    made: list[tuple[int, ...]] = []
    original = spec_module.ArraySpec.fill_chunk
    monkeypatch.setattr(spec_module.ArraySpec, "fill_chunk",
                        lambda self, shape: made.append(shape) or original(self, shape))
    url = str(tmp_path / "a.zarr")
    dz.write(da.from_array(DATA, chunks=SHARD), url, chunks=CHUNK, shards=SHARD)
    assert SHARD not in made
    np.testing.assert_array_equal(zarr.open_array(url, mode="r")[...], DATA)
