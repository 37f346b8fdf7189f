"""The read and write graphs: O(1) construction, culling, chunk alignment, names."""

from __future__ import annotations

import json
import time

import dask
import dask.array as da
import numpy as np
import pytest

import dask_zarrio as dz
import dask_zarrio.store
from dask_zarrio.metadata.create import new_array_metadata
from dask_zarrio.store import MappingStore
from dask_zarrio.testing import CountingStore


def _million_chunk_store():
    meta = new_array_metadata(shape=(1000, 1000), dtype=np.dtype("f4"), chunk_shape=(1, 1))
    return MappingStore({"zarr.json": json.dumps(meta.to_dict()).encode()})


def test_read_builds_in_constant_time_for_a_million_chunks():
    store = CountingStore(_million_chunk_store())
    t = time.perf_counter()
    x = dz.read(store, chunks=(1, 1))  # one task per stored chunk (the default would group them)
    elapsed = time.perf_counter() - t
    assert x.npartitions == 10**6
    # A generous bound: a per-chunk graph would take tens of seconds here.
    assert elapsed < 0.5, elapsed
    assert len(x.dask.layers) == 1
    assert sum(store.gets.values()) == 1  # only zarr.json


def test_slice_touches_only_its_chunk():
    store = CountingStore(_million_chunk_store())
    x = dz.read(store)
    store.reset()
    assert x[0, 0].compute() == 0
    assert dict(store.gets) == {"c/0/0": 1}
    store.reset()
    x[10:12, 500].compute()
    assert dict(store.gets) == {"c/10/500": 1, "c/11/500": 1}


def test_open_v3_costs_one_request_and_never_probes_v2(url):
    dz.write(da.zeros(4, chunks=2), url)
    from dask_zarrio.store import open_store

    store = CountingStore(open_store(url))
    dz.read(store)
    assert dict(store.gets) == {"zarr.json": 1}


def test_name_is_deterministic_and_depends_on_chunks(url):
    dz.write(da.arange(10, chunks=5), url)
    assert dz.read(url).name == dz.read(url).name
    assert dz.read(url).name != dz.read(url, chunks=10).name


@pytest.mark.parametrize(
    "chunks,expected",
    [((2,), ((2, 2, 2, 2, 2),)), (10, ((10,),)), (-1, ((10,),)), ({0: 4}, ((4, 4, 2),)), ("auto", ((10,),))],
)
def test_chunks_argument_forms(url, chunks, expected):
    dz.write(da.arange(10, chunks=2), url)
    x = dz.read(url, chunks=chunks)
    assert x.chunks == expected
    np.testing.assert_array_equal(x.compute(), np.arange(10))


def test_auto_chunks_group_whole_stored_chunks(url):
    dz.write(da.zeros((64, 64), chunks=8, dtype="u1"), url)
    with dask.config.set({"array.chunk-size": "1KiB"}):
        x = dz.read(url, chunks="auto")
    assert all(c % 8 == 0 for axis in x.chunks for c in axis[:-1])
    assert x.npartitions < 64


def test_splitting_chunks_decodes_each_stored_chunk_once(url):
    """from_zarr decodes a stored chunk once per piece when chunks= split it."""
    data = np.arange(100.0).reshape(10, 10)
    dz.write(da.from_array(data, chunks=(10, 5)), url)
    from dask_zarrio.store import open_store

    store = CountingStore(open_store(url))
    x = dz.read(store, chunks=(1, 5))
    store.reset()
    np.testing.assert_array_equal(x.compute(), data)
    assert x.chunks == ((1,) * 10, (5, 5))
    assert dict(store.gets) == {"c/0/0": 1, "c/0/1": 1}


def test_write_graph_is_one_layer_per_block_and_stores_each_chunk_once(tmp_path):
    from dask_zarrio.store import open_store

    store = CountingStore(open_store(str(tmp_path / "a.zarr")))
    x = da.random.default_rng(0).random((40, 30), chunks=(20, 15))
    dz.write(x, store, chunks=(10, 5))
    chunk_sets = {k: v for k, v in store.sets.items() if k.startswith("c/")}
    assert len(chunk_sets) == 4 * 6
    assert set(chunk_sets.values()) == {1}


def test_compute_false_returns_delayed_and_commits_metadata_with_the_data(tmp_path):
    url = str(tmp_path / "a.zarr")
    d = dz.write(da.ones(8, chunks=4), url, compute=False)
    from dask.delayed import Delayed

    assert isinstance(d, Delayed)
    import os

    # Until computed, only the write journal: no reader takes it for an array.
    assert sorted(os.listdir(url)) == [".dz-write.json"]
    with pytest.raises(dz.IncompleteWriteError, match="compute=False"):
        dz.read(url)
    assert d.compute() == 2
    assert sorted(os.listdir(url)) == ["c", "zarr.json"]
    np.testing.assert_array_equal(dz.read(url).compute(), np.ones(8))


def test_fill_value_chunks_are_not_stored(tmp_path):
    url = str(tmp_path / "a.zarr")
    x = da.zeros(12, chunks=3).astype("f8")
    x = da.concatenate([x[:9], da.ones(3, chunks=3)])
    dz.write(x, url)
    import os

    assert sorted(os.listdir(os.path.join(url, "c"))) == ["3"]


def test_negative_zero_is_not_the_fill_value(tmp_path):
    url = str(tmp_path / "a.zarr")
    dz.write(da.from_array(np.array([-0.0, -0.0]), chunks=2), url)
    assert np.signbit(dz.read(url).compute()).all()


def test_default_blocks_group_whole_chunks_leading_axis_first(tmp_path):
    """dask costs milliseconds per task on a cluster (dask's best practices: avoid very many tasks):
    one task per small chunk is slow."""
    small, big = str(tmp_path / "s.zarr"), str(tmp_path / "b.zarr")
    dz.write(da.zeros((1000, 1000), chunks=10), small)
    dz.write(da.zeros((2048, 1024), chunks=(1024, 1024)), big)  # 8 MiB chunks, only 2 of them
    x = dz.read(small)
    # 10,000 chunks of 800 B: whole columns of chunks first, at least MIN_READ_BLOCKS blocks.
    assert x.chunks == ((1000,), (60,) * 16 + (40,))
    assert dz.read(big).chunks == ((1024, 1024), (1024,))
    store = CountingStore(dz.store.open_store(small))
    y = dz.read(store)
    store.reset()
    assert y[15, 15].compute() == 0 and dict(store.gets) == {"c/1/1": 1}  # slicing still reads one chunk


def test_sum_of_blocks_computes_only_the_chosen_blocks():
    from dask_zarrio.graph.builder import sum_of_blocks

    ran = []

    def noted(block, block_info=None):
        ran.append(block_info[0]["chunk-location"][0])
        return block

    x = da.ones(10, chunks=2, dtype="i8").map_blocks(noted, dtype="i8")
    assert sum_of_blocks(x, [(1,), (3,)]).compute() == 4
    assert sorted(ran) == [1, 3]


def test_stores_read_by_finds_sources_through_operations_and_wrappers(tmp_path):
    from dask_zarrio.graph.builder import stores_read_by

    dz.write(da.ones(8, chunks=4), str(tmp_path / "a.zarr"))
    dz.write(da.ones(8, chunks=4), str(tmp_path / "b.zarr"))
    a, b = dz.read(str(tmp_path / "a.zarr")), dz.read(str(tmp_path / "b.zarr"))
    mixed = (a.rechunk(8) + b[::-1]).sum()
    assert sorted(s.name for s in stores_read_by(mixed)) == ["a.zarr", "b.zarr"]
    assert stores_read_by(da.ones(3)) == []  # (through xarray's wrappers: tests/test_api.py)


def _absurd(shape: list[int], chunks: list[int]) -> dict[str, bytes]:
    doc = {"zarr_format": 2, "shape": shape, "chunks": chunks, "dtype": "|u1",
           "compressor": None, "fill_value": 7, "order": "C", "filters": None}
    return {".zarray": json.dumps(doc).encode(), "0.0": b"\x01"}


def test_absurd_grid_reads_lazily_in_small_memory():
    """[1e9, 1e9] of [1, 1] chunks: the default blocks keep each axis under 10**5 blocks.

    Before, dask built a 10**9-entry chunks tuple (minutes, gigabytes).
    """
    import tracemalloc

    tracemalloc.start()
    start = time.perf_counter()
    x = dz.read(_absurd([10**9, 10**9], [1, 1]))
    corner = x[:2, :2].compute()
    elapsed, (_, peak) = time.perf_counter() - start, tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert x.shape == (10**9, 10**9) and max(x.numblocks) <= 10**5
    assert corner.tolist() == [[1, 7], [7, 7]]
    # The guard is the memory (a 10**9-entry tuple is gigabytes); time only catches the minutes it took,
    # with room for a loaded machine (it takes 2 s alone).
    assert peak < 64 * 2**20 and elapsed < 60


@pytest.mark.parametrize("chunks", [1, (1, 1), (10**9, 1), {0: 1}, (1, -1), "auto", ("auto", -1)])
def test_chunks_making_too_many_blocks_are_refused_quickly(chunks):
    """chunks= that dask would spell out block by block: 10**9 along an axis took minutes.

    "auto" on [2**62, 1] u1 makes blocks of dask's array.chunk-size, 2**35 along axis 0.
    """
    store = _absurd([2**62, 1], [1, 1]) if chunks in ("auto", ("auto", -1)) else _absurd([10**9, 10**9], [1, 1])
    start = time.perf_counter()
    with pytest.raises(dz.ZarrioError, match="blocks along axis .*pass larger chunks="):
        dz.read(store, chunks=chunks)
    assert time.perf_counter() - start < 2


@pytest.mark.parametrize("chunks", [(10**4, 10**4), "auto", (1000, "auto")])
def test_chunks_within_the_block_limit_are_kept(chunks):
    x = dz.read(_absurd([10**9, 10**9], [1, 1]), chunks=chunks)
    assert max(x.numblocks) <= 10**6
