"""dz.copy and dz.rechunk of arrays on a rectilinear chunk grid (issue 27): the target
reads back as the source, and a copy keeps the grid."""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np
import pytest

import dask_zarrio as dz
from dask_zarrio.rechunking import tasks as rechunk_tasks

DATA = np.arange(80, dtype="i4").reshape(10, 8)
BLOCKS = ((3, 5, 2), (4, 4))


@pytest.fixture
def source(tmp_path):
    url = str(tmp_path / "s.zarr")
    dz.write(da.from_array(DATA, chunks=BLOCKS), url, chunks="dask")
    assert dz.read(url).chunks == BLOCKS
    return url


@pytest.mark.parametrize(("kw", "kind"), [({}, "copy"), ({"compressors": None}, "decode")])
def test_a_copy_keeps_the_grid_and_reads_back(tmp_path, source, kw, kind):
    assert dz.plan("copy", source, str(tmp_path / "t.zarr"), **kw).arrays[0].passes[0].kind == kind
    dz.copy(source, str(tmp_path / "t.zarr"), **kw)
    back = dz.read(str(tmp_path / "t.zarr"))
    assert back.chunks == BLOCKS
    np.testing.assert_array_equal(back.compute(), DATA)


@pytest.mark.parametrize("chunks", [(4, 4), (10, 1), ((2, 8), 8)])
def test_a_rechunk_reads_every_chunk_at_its_own_shape(tmp_path, source, chunks):
    dz.rechunk(source, str(tmp_path / "t.zarr"), chunks)
    np.testing.assert_array_equal(dz.read(str(tmp_path / "t.zarr")).compute(), DATA)


def test_a_rechunk_from_a_regular_array_into_a_rectilinear_grid(tmp_path):
    url = str(tmp_path / "s.zarr")
    dz.write(da.from_array(DATA, chunks=(4, 4)), url)
    job = dz.rechunk(url, str(tmp_path / "t.zarr"), ((3, 5, 2), (1, 7)), max_mem=700, compute=False)
    assert job.plan.passes[-1].tasks > 1  # several tasks, each writing whole chunks of their own
    job.compute()
    back = dz.read(str(tmp_path / "t.zarr"))
    assert back.chunks == ((3, 5, 2), (1, 7))
    np.testing.assert_array_equal(back.compute(), DATA)


def test_chunks_regroup_undecoded_into_a_rectilinear_grid_of_shards(tmp_path):
    data = np.arange(256, dtype="i4").reshape(16, 16)
    url = str(tmp_path / "s.zarr")
    dz.write(data, url, chunks=(2, 8))
    shards = ((2, 4, 2, 6, 2), 16)
    job = dz.rechunk(url, str(tmp_path / "t.zarr"), (2, 8), shards=shards, max_mem=1024, compute=False)
    assert [p.kind for p in job.plan.passes] == ["shards"] and job.plan.passes[0].tasks > 1
    job.compute()
    back = dz.read(str(tmp_path / "t.zarr"), chunks=-1)
    np.testing.assert_array_equal(back.compute(), data)
    assert dz.read(str(tmp_path / "t.zarr")).chunks[0] == shards[0]


def test_a_failed_rechunk_into_a_rectilinear_grid_resumes(tmp_path, monkeypatch):
    url, target = str(tmp_path / "s.zarr"), str(tmp_path / "t.zarr")
    dz.write(DATA, url, chunks=(10, 1))
    real, seen = rechunk_tasks.read_into, []

    def failing(spec, store, region, out, fetch):
        seen.append(region)
        if region[0].start == 3:
            raise RuntimeError("injected failure")
        return real(spec, store, region, out, fetch)

    monkeypatch.setattr(rechunk_tasks, "read_into", failing)
    with dask.config.set(scheduler="sync"), pytest.raises(RuntimeError):
        dz.rechunk(url, target, ((3, 5, 2), 8), max_mem=600)
    monkeypatch.setattr(rechunk_tasks, "read_into", lambda *a: seen.append(a[2]) or real(*a))
    first = {r[0].start for r in seen}
    done = len(seen)
    dz.rechunk(url, target, ((3, 5, 2), 8), max_mem=600, resume=True)
    again = {r[0].start for r in seen[done:]}
    assert 3 in again and not (first - {3}) & again  # blocks stored before the failure are kept
    back = dz.read(target)
    assert back.chunks == ((3, 5, 2), (8,))
    np.testing.assert_array_equal(back.compute(), DATA)
