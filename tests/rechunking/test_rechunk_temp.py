"""The intermediate array of a two-pass rechunk: the second pass deletes its chunks as it
reads them for the last time, and a resume keeps it only where the chunks it needs are there."""

from __future__ import annotations

import shutil

import dask
import dask.array as da
import fsspec
import numpy as np
import pytest
import zarr
from dask.callbacks import Callback

import dask_zarrio as dz
from dask_zarrio.metadata.create import new_array_metadata
from dask_zarrio.metadata.journal import begin_write
from dask_zarrio.rechunking import tasks as rechunk_tasks
from dask_zarrio.rechunking.temp import reusable
from dask_zarrio.store import MappingStore

DATA = np.random.default_rng(7).random((60, 12, 16)).astype("f4")
KW = {"max_mem": 8000}


@pytest.fixture
def source(tmp_path):
    url = str(tmp_path / "s.zarr")
    dz.write(da.from_array(DATA, chunks=(1, 12, 16)), url, chunks=(1, 12, 16))
    return url


def _chunks(folder) -> int:
    return sum(1 for p in folder.iterdir() if p.name[0].isdigit()) if folder.exists() else 0


def test_the_second_pass_deletes_intermediate_chunks_as_it_reads_them(tmp_path, source):
    temp = tmp_path / "tmp.zarr"
    job = dz.rechunk(source, str(tmp_path / "t.zarr"), (60, 2, 2), temp=str(temp), compute=False, **KW)
    first, last = job.plan.passes
    assert first.unit[1:] == last.block[1:]  # every intermediate chunk has one reader
    left: list[int] = []

    class Count(Callback):
        def _posttask(self, key, result, dsk, state, id):
            if str(key[0] if isinstance(key, tuple) else key).startswith("rechunk-decode-target-"):
                left.append(_chunks(temp))

    with dask.config.set(scheduler="sync"), Count():
        job.compute()
    # each second-pass task leaves fewer: the chunks it read are gone before the pass ends
    assert len(left) == last.tasks > 1 and all(a > b for a, b in zip(left, left[1:])) and left[-1] == 0
    np.testing.assert_array_equal(zarr.open_array(str(tmp_path / "t.zarr"), mode="r")[...], DATA)
    assert not temp.exists() or not any(temp.iterdir())


def _fail_second_pass_after(n: int, monkeypatch) -> None:
    real, done = rechunk_tasks.read_into, []

    def failing(spec, store, region, out, fetch):
        if "tmp.zarr" in store.describe():  # a second-pass task
            if len(done) == n:
                raise RuntimeError("injected failure")
            done.append(region)
        return real(spec, store, region, out, fetch)

    monkeypatch.setattr(rechunk_tasks, "read_into", failing)


def test_a_resume_continues_the_second_pass_over_what_it_has_consumed(tmp_path, source, monkeypatch):
    _fail_second_pass_after(3, monkeypatch)
    target, temp = str(tmp_path / "t.zarr"), str(tmp_path / "tmp.zarr")
    with dask.config.set(scheduler="sync"), pytest.raises(RuntimeError, match="injected"):
        dz.rechunk(source, target, (60, 2, 2), temp=temp, **KW)
    assert any(p.name.startswith(".dz-consumed-") for p in (tmp_path / "tmp.zarr").iterdir())
    monkeypatch.undo()
    dz.rechunk(source, target, (60, 2, 2), temp=temp, resume=True, **KW)
    np.testing.assert_array_equal(zarr.open_array(target, mode="r")[...], DATA)


def test_a_resume_whose_target_is_gone_writes_the_intermediate_again(tmp_path, source, monkeypatch):
    # The chunks the failed second pass consumed are gone: without its target (deleted since),
    # nothing says which blocks they went to, so the first pass runs again.
    _fail_second_pass_after(3, monkeypatch)
    target, temp = str(tmp_path / "t.zarr"), str(tmp_path / "tmp.zarr")
    with dask.config.set(scheduler="sync"), pytest.raises(RuntimeError, match="injected"):
        dz.rechunk(source, target, (60, 2, 2), temp=temp, **KW)
    monkeypatch.undo()
    shutil.rmtree(target)
    dz.rechunk(source, target, (60, 2, 2), temp=temp, resume=True, **KW)
    np.testing.assert_array_equal(zarr.open_array(target, mode="r")[...], DATA)


def test_an_intermediate_is_reusable_unless_consumed_without_a_write_to_resume():
    fresh, consumed = MappingStore({"zarr.json": b"{}"}), MappingStore({"zarr.json": b"{}", ".dz-consumed-0.0": b""})
    assert reusable(fresh, MappingStore({}), "w-")
    assert not reusable(consumed, MappingStore({}), "w-")
    writing = MappingStore({})
    begin_write(writing, new_array_metadata(shape=(4,), dtype=np.dtype("f4"), chunk_shape=(2,)))
    assert reusable(consumed, writing, "w-")  # the second pass resumes: its finished blocks are skipped


@pytest.mark.parametrize("cleaned", [True, False], ids=["at the end", "before the end"])
def test_an_intermediate_in_a_bucket_is_consumed_by_the_second_pass(s3_endpoint, bucket, source, monkeypatch, cleaned):
    import importlib

    from tests.servers.s3 import s3_options

    if not cleaned:  # what the second pass left before the intermediate is deleted
        monkeypatch.setattr(
            importlib.import_module("dask_zarrio.rechunking.rechunk"), "_clean", lambda count, stores: count
        )
    opts = s3_options(s3_endpoint)
    target, temp = f"s3://{bucket}/t.zarr", f"s3://{bucket}/tmp.zarr"
    dz.rechunk(source, target, (60, 2, 2), temp=temp, target_options=opts, **KW)
    np.testing.assert_array_equal(zarr.open_array(target, mode="r", storage_options=opts)[...], DATA)
    fs = fsspec.filesystem("s3", **opts)
    fs.invalidate_cache()
    left = sorted(p.rsplit("/", 1)[1] for p in fs.find(temp)) if fs.exists(temp) else []
    if cleaned:
        assert left == []
    else:  # every chunk deleted by the task that read it: its metadata and the tasks' keys are left
        assert "zarr.json" in left and all(k == "zarr.json" or k.startswith(".dz-consumed-") for k in left), left
