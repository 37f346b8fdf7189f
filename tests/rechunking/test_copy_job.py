"""dz.copy(compute=False): a Copy job that writes nothing until it runs, then does what dz.copy does."""

from __future__ import annotations

import os

import dask
import dask.array as da
import numpy as np
import pytest

import dask_zarrio as dz
from dask_zarrio.rechunking.copy import Copy


def _group(root: str, consolidated: bool = False) -> None:
    dz.create_group(root, attributes={"title": "t"}, zarr_format=2)
    dz.write(da.arange(20, chunks=5).reshape(4, 5), f"{root}/a", chunks=(2, 5), zarr_format=2)
    dz.create_group(f"{root}/sub", attributes={"level": 1}, zarr_format=2)
    dz.write(da.ones(8, chunks=2), f"{root}/sub/b", chunks=(2,), zarr_format=2)
    if consolidated:
        dz.consolidate(root)


def _check(url: str, fmt: int = 3) -> None:
    g = dz.open_group(url)
    assert (g.zarr_format, g.attrs, g.group("sub").attrs) == (fmt, {"title": "t"}, {"level": 1})
    np.testing.assert_array_equal(g["a"].compute(), np.arange(20).reshape(4, 5))
    np.testing.assert_array_equal(g["sub/b"].compute(), np.ones(8))


def test_building_a_group_copy_writes_nothing(tmp_path):
    _group(str(tmp_path / "g.zarr"))
    job = dz.copy(str(tmp_path / "g.zarr"), str(tmp_path / "c.zarr"), zarr_format=3, chunks={"a": (4, 1)},
                  compute=False)
    assert isinstance(job, Copy) and not (tmp_path / "c.zarr").exists()
    assert [g.store.name for g in job.groups] == ["c.zarr", "sub"] and list(job.members) == ["sub/b", "a"]
    assert job.members["a"].plan.passes[0].kind == "decode" and job.consolidate is False
    job.compute()
    _check(str(tmp_path / "c.zarr"))
    assert dz.read(str(tmp_path / "c.zarr/a")).chunksize == (4, 1)


def test_a_copy_job_as_one_delayed_consolidates_at_the_end(tmp_path):
    _group(str(tmp_path / "g.zarr"), consolidated=True)
    job = dz.copy(str(tmp_path / "g.zarr"), str(tmp_path / "c.zarr"), zarr_format=3, compute=False)
    assert job is not None and job.consolidate
    delayed = job.to_delayed()  # creates the groups, begins each member's write
    assert (tmp_path / "c.zarr" / "zarr.json").exists()
    with pytest.raises(dz.IncompleteWriteError):
        dz.read(str(tmp_path / "c.zarr/a"))
    assert delayed.compute() == 2 + 4  # objects stored: every chunk, copied undecoded
    _check(str(tmp_path / "c.zarr"))
    assert sorted(dz.open_group(str(tmp_path / "c.zarr")).metadata.consolidated) == ["a", "sub", "sub/b"]


def test_a_copy_replaces_a_target_with_mode_w_and_refuses_it_with_w_minus(tmp_path):
    _group(str(tmp_path / "g.zarr"))
    src, dst = str(tmp_path / "g.zarr"), str(tmp_path / "c.zarr")
    dz.copy(src, dst, zarr_format=3)
    dz.write(da.zeros(3, chunks=3), f"{dst}/stale")
    with pytest.raises(dz.ContainsArrayError, match="already exists"):
        dz.copy(src, dst, zarr_format=3, compute=False)
    job = dz.copy(src, dst, zarr_format=3, mode="w", compute=False)
    assert job is not None and (tmp_path / "c.zarr" / "stale").exists()  # built: nothing replaced yet
    job.compute()
    _check(dst)
    assert not (tmp_path / "c.zarr" / "stale").exists() and not any(n.startswith(".dz") for n in os.listdir(tmp_path))


def test_a_lone_array_copy_job_is_its_rechunk(tmp_path):
    dz.write(da.arange(10, chunks=5), str(tmp_path / "a.zarr"), zarr_format=2)
    job = dz.copy(str(tmp_path / "a.zarr"), str(tmp_path / "b.zarr"), zarr_format=3, compute=False)
    assert job is not None and job.groups == [] and list(job.members) == [""]
    assert job.target.describe() == job.members[""].target.describe() and not (tmp_path / "b.zarr").exists()
    with dask.config.set(scheduler="sync"):
        assert job.to_delayed().compute() == 2
    assert dz.read(str(tmp_path / "b.zarr")).compute().tolist() == list(range(10))
