"""RequestCounter: the requests reads make, counted as an S3 client makes them; writing through it is refused."""

from __future__ import annotations

import pickle

import dask
import dask.array as da
import numpy as np
import pytest

import dask_zarrio as dz
from dask_zarrio.store import open_store
from dask_zarrio.tools.requests import RequestCount, RequestCounter


@pytest.fixture
def sharded(tmp_path):
    url = str(tmp_path / "v.zarr")
    dz.write(da.arange(16 * 16, chunks=64).reshape(16, 16), url, chunks=(2, 4), shards=(4, 8), mode="w")
    return url


@pytest.mark.parametrize("scheduler", ["sync", "threads"])
def test_a_row_of_a_sharded_array_reads_index_and_inner_chunks_by_range(sharded, scheduler):
    counter = RequestCounter(sharded)
    x = dz.read(counter.store)
    counter.reset()
    row = x[5].compute(scheduler=scheduler)
    np.testing.assert_array_equal(row, np.arange(80, 96))
    got = counter.requests
    # row 5 lies in 2 shards (4 x 8 each) and in 2 inner chunks (2 x 4) of each, stored side by
    # side: per shard one ranged GET of its index and one of those two chunks; no whole object
    assert got.gets == 0 and got.ranged_gets == 2 * 2, got
    assert 0 < got.bytes_received < 16 * 16 * 8


def test_unsharded_chunks_are_whole_gets_and_counts_reset(tmp_path):
    url = str(tmp_path / "p.zarr")
    dz.write(da.ones((4, 4), chunks=2), url, mode="w")
    counter = RequestCounter(url)
    x = dz.read(counter.store)
    assert counter.requests.gets >= 1  # the metadata document
    counter.reset()
    assert counter.requests == RequestCount()
    x.sum().compute()
    assert counter.requests.gets == 4 and counter.requests.ranged_gets == 0


def test_threads_lose_no_count(sharded):
    counter = RequestCounter(sharded)
    x = dz.read(counter.store)
    counter.reset()
    with dask.config.set(scheduler="sync"):
        x.sum().compute()
    sync = counter.requests
    counter.reset()
    with dask.config.set(scheduler="threads", num_workers=8):
        x.sum().compute()
    assert counter.requests == sync


def test_groups_and_members_are_counted(tmp_path):
    url = str(tmp_path / "g.zarr")
    dz.create_group(url, mode="w")
    dz.write(da.ones(4, chunks=2), url + "/a")
    counter = RequestCounter(url)
    g = dz.open_group(counter.store)
    list(g.members())
    g["a"].compute()
    got = counter.requests
    assert got.lists >= 1 and got.gets >= 4  # group, member metadata, 2 chunks


@pytest.mark.parametrize("write", [
    lambda s: s.set("k", b"1"),
    lambda s: s.set_many({"k": b"1"}),
    lambda s: s.set_if_unchanged("k", b"1", None),
    lambda s: s.delete("zarr.json"),
    lambda s: s.clear(),
    lambda s: s.child("sub").set("k", b"1"),
    lambda s: s.copy_object(s, "zarr.json", "copy.json"),
    lambda s: dz.write(da.ones(2, chunks=2), s, mode="w"),
    lambda s: dz.create_group(s, mode="w"),
], ids=["set", "set_many", "set_if_unchanged", "delete", "clear", "child", "copy_object", "dz.write",
        "dz.create_group"])
def test_writing_through_a_counter_is_refused(tmp_path, write):
    url = str(tmp_path / "r.zarr")
    dz.write(da.ones(4, chunks=2), url, mode="w")
    before = sorted(open_store(url).list_keys())
    counter = RequestCounter(url)
    with pytest.raises(PermissionError, match="RequestCounter, which only reads"):
        write(counter.store)
    assert sorted(open_store(url).list_keys()) == before


def test_a_counter_does_not_travel_to_other_processes(sharded):
    with pytest.raises(TypeError, match="threads scheduler"):
        pickle.dumps(RequestCounter(sharded).store)
