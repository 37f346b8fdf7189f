"""Failed writes lose nothing, and ``resume=True`` writes only what is missing.

A new array's metadata is committed after its data, so a write that fails or is
killed leaves no array that any reader (dask_zarrio, zarr-python) takes for a
finished one; zarr-python and xarray instead leave a silent mix of old values, new
values and fill after a failed ``mode="w"``, and a rerun starts from nothing.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from pathlib import Path

import dask
import dask.array as da
import numpy as np
import pytest
import zarr

import dask_zarrio as dz
from dask_zarrio.layout.write_plan import plan_write
from dask_zarrio.metadata.create import new_array_metadata
from dask_zarrio.metadata.journal import begin_write
from dask_zarrio.metadata.node import read_array_metadata
from dask_zarrio.metadata.spec import ArraySpec
from dask_zarrio.store import MappingStore, open_store
from dask_zarrio.writing.resume import blocks_to_write

SOURCE = np.arange(1600.0).reshape(40, 40)


def _counted(calls: Path, fail_at: tuple[int, int] | None = None, *, kill: bool = False) -> da.Array:
    """SOURCE * 2 in 16 blocks; each computed block leaves a file in ``calls``; one may fail."""
    calls.mkdir(exist_ok=True)

    def double(block: np.ndarray, block_info: dict | None = None) -> np.ndarray:
        where = tuple(block_info[0]["chunk-location"])  # type: ignore[index]
        (calls / f"{where[0]}-{where[1]}-{uuid.uuid4().hex}").touch()
        if where == fail_at and not (calls / "heal").exists():
            time.sleep(0.5)  # let the other threads or workers store their blocks first
            if kill:
                os._exit(1)  # the worker process dies mid-task
            raise RuntimeError("injected failure")
        return block * 2

    return da.from_array(SOURCE, chunks=10).map_blocks(double, dtype=SOURCE.dtype)


def _computed(calls: Path) -> list[str]:
    return [p.name.rsplit("-", 1)[0] for p in calls.iterdir() if p.name != "heal"]


def _heal(calls: Path) -> None:
    for p in calls.iterdir():
        p.unlink()
    (calls / "heal").touch()


@pytest.mark.parametrize("fmt", [3, 2, "n5"])
def test_a_failed_replacement_of_a_local_array_keeps_the_old_one_then_resumes(tmp_path, caplog, fmt):
    """A local folder renames cheaply: the new array is staged beside the old one, which every
    reader keeps reading unchanged until the new one is complete and renamed over it."""
    url = str(tmp_path / ("a.n5" if fmt == "n5" else "a.zarr"))
    dz.write(da.ones((40, 40), chunks=10), url, zarr_format=fmt)
    calls = tmp_path / "calls"
    with pytest.raises(RuntimeError, match="injected"):
        dz.write(_counted(calls, fail_at=(2, 2)), url, mode="w", zarr_format=fmt)
    np.testing.assert_array_equal(dz.read(url).compute(), np.ones((40, 40)))
    if fmt != "n5":
        np.testing.assert_array_equal(zarr.open_array(url, mode="r")[...], np.ones((40, 40)))
    assert sorted(os.listdir(tmp_path)) == [f".dz-staging-{os.path.basename(url)}", os.path.basename(url), "calls"]
    _heal(calls)
    with caplog.at_level(logging.INFO, logger="dask_zarrio"):
        dz.write(_counted(calls), url, mode="w", zarr_format=fmt, resume=True)
    recomputed = _computed(calls)
    assert "2-2" in recomputed and 1 <= len(recomputed) < 16
    assert any("resuming" in r.message and f"{16 - len(recomputed)} stored chunks" in r.message for r in caplog.records)
    np.testing.assert_array_equal(dz.read(url).compute(), SOURCE * 2)
    assert sorted(os.listdir(tmp_path)) == [os.path.basename(url), "calls"]  # nothing left beside it
    assert not os.path.exists(os.path.join(url, ".dz-write.json"))


@pytest.mark.parametrize("where", ["memory", "s3"])
def test_a_failed_replacement_on_an_object_store_is_refused_by_every_reader_then_resumed(tmp_path, request, where):
    """Object stores have no rename: the old array goes when the write starts, and until the new
    one is complete no reader (dask_zarrio or zarr-python) finds an array, never a mix."""
    opts: dict = {}
    if where == "s3":
        from tests.servers.s3 import s3_options

        endpoint, bucket = request.getfixturevalue("s3_endpoint"), request.getfixturevalue("bucket")
        url, opts = f"s3://{bucket}/a.zarr", s3_options(endpoint)
    else:
        url = f"memory://replace-{uuid.uuid4().hex}/a.zarr"
    dz.write(da.ones((40, 40), chunks=10), url, storage_options=opts)
    calls = tmp_path / "calls"
    with pytest.raises(RuntimeError, match="injected"):
        dz.write(_counted(calls, fail_at=(2, 2)), url, mode="w", storage_options=opts)
    with pytest.raises(dz.IncompleteWriteError, match="resume=True"):
        dz.read(url, storage_options=opts)
    if where == "s3":
        with pytest.raises(FileNotFoundError):
            zarr.open_array(url, mode="r", storage_options=opts)
    _heal(calls)
    dz.write(_counted(calls), url, mode="w", resume=True, storage_options=opts)
    assert 1 <= len(_computed(calls)) < 16
    np.testing.assert_array_equal(dz.read(url, storage_options=opts).compute(), SOURCE * 2)


def test_resume_of_a_sharded_write_skips_whole_shards(tmp_path):
    url = str(tmp_path / "s.zarr")
    calls = tmp_path / "calls"
    with pytest.raises(RuntimeError):
        dz.write(_counted(calls, fail_at=(3, 3)), url, chunks=(5, 5), shards=(10, 10))
    _heal(calls)
    dz.write(_counted(calls), url, chunks=(5, 5), shards=(10, 10), resume=True)
    assert 1 <= len(_computed(calls)) < 16
    np.testing.assert_array_equal(zarr.open_array(url, mode="r")[...], SOURCE * 2)


def test_resume_refuses_other_metadata_and_other_modes(tmp_path):
    url = str(tmp_path / "a.zarr")
    calls = tmp_path / "calls"
    with pytest.raises(RuntimeError):
        dz.write(_counted(calls, fail_at=(0, 0)), url)
    with pytest.raises(dz.ZarrioError, match=r"differs from this write in \['chunk_grid'\]"):
        dz.write(_counted(calls), url, chunks=(20, 20), resume=True)
    with pytest.raises(dz.ZarrioError, match="resume=True completes a write"):
        dz.write(_counted(calls), url, mode="r+", resume=True)
    with pytest.raises(dz.IncompleteWriteError, match="resume=True"):
        dz.write(_counted(calls), url)  # "w-" over an unfinished write says how to finish it
    with pytest.raises(dz.IncompleteWriteError):
        dz.write(_counted(calls), url, mode="a")  # "a" does not create over its leftovers
    dz.write(_counted(calls), url, mode="w")  # "w" starts over
    np.testing.assert_array_equal(dz.read(url).compute(), SOURCE * 2)


def test_resume_where_nothing_or_everything_is_there(tmp_path):
    url = str(tmp_path / "a.zarr")
    calls = tmp_path / "calls"
    dz.write(_counted(calls), url, resume=True)  # nothing there: a plain write
    assert len(_computed(calls)) == 16
    _heal(calls)
    dz.write(_counted(calls), url, mode="w", resume=True)  # complete with the same metadata
    assert _computed(calls) == []
    np.testing.assert_array_equal(dz.read(url).compute(), SOURCE * 2)


def test_resume_rewrites_blocks_whose_chunks_held_only_fill(tmp_path):
    """Fill-only chunks are never stored, so their blocks cannot be told done: they run again."""
    url = str(tmp_path / "a.zarr")
    ran: list[int] = []

    def noted(block: np.ndarray, block_info: dict | None = None) -> np.ndarray:
        ran.append(block_info[0]["chunk-location"][0])  # type: ignore[index]
        return block

    x = da.concatenate([da.zeros(20, chunks=10), da.ones(20, chunks=10)]).map_blocks(noted, dtype="f8")
    dz.write(x, url)
    ran.clear()
    assert dz.write(x, url, mode="w", resume=True, compute=False).compute() == 0
    assert ran == []  # complete already (its metadata is committed last): nothing to redo
    store = open_store(url)
    meta = read_array_metadata(store)
    store.delete("zarr.json")
    begin_write(store, meta)  # as if the write had stopped after its data
    assert dz.write(x, url, mode="w", resume=True, compute=False).compute() == 0
    assert sorted(ran) == [0, 1]  # the two fill blocks ran (storing nothing); the others were skipped
    np.testing.assert_array_equal(dz.read(url).compute(), [0] * 20 + [1] * 20)


@pytest.mark.slow
def test_a_killed_worker_leaves_an_incomplete_array_that_resume_completes(tmp_path):
    distributed = pytest.importorskip("distributed")
    url = str(tmp_path / "a.zarr")
    calls = tmp_path / "calls"
    # A cluster of its own, not tests/conftest.py's shared one: a worker is killed, and
    # allowed-failures is read when the scheduler starts.
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    ) as cluster, distributed.Client(cluster):
        with pytest.raises(distributed.KilledWorker):
            dz.write(_counted(calls, fail_at=(3, 3), kill=True), url)
        with pytest.raises(dz.IncompleteWriteError):
            dz.read(url)
        _heal(calls)
        dz.write(_counted(calls), url, resume=True)
    assert "3-3" in _computed(calls) and len(_computed(calls)) < 16
    np.testing.assert_array_equal(zarr.open_array(url, mode="r")[...], SOURCE * 2)


def test_blocks_to_write():
    m: dict[str, bytes] = {}
    store = MappingStore(m, "a.zarr")
    spec = ArraySpec.from_metadata(new_array_metadata(shape=(6, 4), dtype=np.dtype("i1"), chunk_shape=(2, 2)))
    plan = plan_write(((4, 2), (4,)), (2, 2), 1, target=(slice(0, 6), slice(0, 4)), shape=(6, 4))
    for key in ("c/0/0", "c/0/1", "c/1/0", "c/1/1", "c/2/0"):
        store.set(key, b"x")
    store.set("zarr.json", b"{}")
    assert blocks_to_write(spec, store, plan) == ([(1, 0)], 4)


def test_staged_replace_can_be_switched_off(tmp_path):
    """``dask_zarrio.staged-replace = False``: a local folder is replaced in place, as an object
    store is (the old array goes first, the node reads as incomplete until the new one is done)."""
    url = str(tmp_path / "a.zarr")
    dz.write(da.ones((40, 40), chunks=10), url)
    calls = tmp_path / "calls"
    with dask.config.set({"dask_zarrio.staged-replace": False}):
        with pytest.raises(RuntimeError, match="injected"):
            dz.write(_counted(calls, fail_at=(2, 2)), url, mode="w")
    assert sorted(os.listdir(tmp_path)) == ["a.zarr", "calls"]
    with pytest.raises(dz.IncompleteWriteError):
        dz.read(url)
    with dask.config.set({"dask_zarrio.staged-replace": "sometimes"}):
        with pytest.raises(dz.ZarrioError, match="staged-replace"):
            dz.write(_counted(calls), url, mode="w")
