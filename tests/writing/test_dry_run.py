"""The dry run dz.plan counts on: views that count every request and never write the real store."""

from __future__ import annotations

import dask.array as da
import numpy as np

import dask_zarrio as dz
from dask_zarrio.api import prepare_write
from dask_zarrio.store import MappingStore, open_store
from dask_zarrio.writing.dry_run import DryRun, DryStore, Requests


def test_a_view_reads_through_and_keeps_its_writes():
    real = {"g.zarr/a/zarr.json": b"{}", "g.zarr/a/c/0": b"x", "g.zarr/zarr.json": b"{}"}
    before = dict(real)
    dry = DryRun()
    g = dry.view(MappingStore(real, "g.zarr"))
    assert dry.view(g) is g and isinstance(g.child("a"), DryStore) and g.child("a").parent().describe() == g.describe()
    g.set("b/zarr.json", b"{}")
    g.child("a").delete("c/0")
    assert g.get("b/zarr.json") == b"{}" and g.get("a/c/0") is None and g.exists("a/zarr.json")
    assert g.list_dir() == ["a", "b", "zarr.json"] and g.list_keys() == ["a/zarr.json", "b/zarr.json", "zarr.json"]
    g.child("a").clear()
    assert g.child("a").is_empty() and g.list_keys() == ["b/zarr.json", "zarr.json"]
    assert not g.set_if_unchanged("zarr.json", b"new", b"other") and g.set_if_unchanged("zarr.json", b"new", b"{}")
    assert g.get_range("zarr.json", 1, 2) == b"ew" and g.get_ranges("zarr.json", [(0, 1), (-2, 2)]) == [b"n", b"ew"]
    assert real == before  # nothing reached the real store
    assert dry.requests == Requests(get=6, put=3, list=5)


def test_a_staged_node_replaces_the_old_one_in_the_view(tmp_path):
    dz.write(da.zeros(4, chunks=2), str(tmp_path / "a.zarr"), chunks=(2,))
    dry = DryRun()
    planned = prepare_write(np.arange(4), dry.view(open_store(str(tmp_path / "a.zarr"))), chunks=(4,), mode="w")
    assert planned.w.sink.name == ".dz-staging-a.zarr"  # a local folder is replaced by a rename
    spent = planned.requests(dry)
    assert spent.put == 1 + 2 and dz.read(str(tmp_path / "a.zarr")).chunksize == (2,)  # the real one untouched
    assert not any(p.name.startswith(".dz") for p in tmp_path.iterdir())
    view = dry.view(open_store(str(tmp_path / "a.zarr")))
    assert "c/0" not in view.list_keys() and view.exists(".dz-write.json") is False


def test_asking_a_job_for_its_requests_writes_nothing_and_it_still_runs(tmp_path):
    dz.write(da.arange(16, chunks=4).reshape(4, 4), str(tmp_path / "s.zarr"), chunks=(1, 4))
    job = dz.rechunk(str(tmp_path / "s.zarr"), str(tmp_path / "t.zarr"), (4, 1), compute=False)
    assert job is not None
    assert job.requests() == job.requests()  # as often as asked: nothing it counted was written
    assert not (tmp_path / "t.zarr").exists()
    job.compute()
    np.testing.assert_array_equal(dz.read(str(tmp_path / "t.zarr")).compute(), np.arange(16).reshape(4, 4))


def test_prepare_write_writes_nothing_and_write_runs_it(tmp_path):
    planned = prepare_write(da.ones((6, 6), chunks=3), str(tmp_path / "w.zarr"), chunks=(2, 6))
    # 3-row blocks re-blocked to 2-row chunks: blocks of at most a source block (3 x 6), so one chunk each
    assert planned.data.chunks == ((2, 2, 2), (6,)) and planned.todo is None and not (tmp_path / "w.zarr").exists()
    assert planned.requests().put == 3 + 2
    dz.write(da.ones((6, 6), chunks=3), str(tmp_path / "w.zarr"), chunks=(2, 6))
    assert float(dz.read(str(tmp_path / "w.zarr")).sum().compute()) == 36.0
