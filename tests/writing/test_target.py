"""The one write lifecycle (``writing/target.py``): every writing call goes through a target,
and Icechunk options belong to Icechunk targets only."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest

import dask_zarrio as dz
from dask_zarrio.store import MappingStore
from dask_zarrio.writing.destination import Incoming, NewArray
from dask_zarrio.writing.target import PlainTarget, open_target


@pytest.fixture(params=["folder", "memory"])
def plain_url(request, tmp_path):
    if request.param == "folder":
        return str(tmp_path / "a.zarr")
    return f"memory://target-{tmp_path.name}/a.zarr"


@pytest.mark.parametrize("option", [{"commit": "v2"}, {"branch": "dev"}, {"rebase": True},
                                    {"branch": "main", "commit": "m"}])
def test_icechunk_write_options_on_a_plain_store_are_refused_before_anything_is_written(plain_url, option):
    """``commit="v2"`` on a folder used to be ignored: the user believed something was committed."""
    with pytest.raises(dz.ZarrioError, match="Icechunk targets only") as info:
        dz.write(da.ones(4, chunks=2), plain_url, **option)
    for name, value in option.items():
        assert f"{name}={value!r}" in str(info.value)
    with pytest.raises(dz.ArrayNotFoundError):
        dz.read(plain_url)


@pytest.mark.parametrize("option", [{"branch": "main"}, {"tag": "v1"}, {"snapshot": "ABC"}])
def test_icechunk_read_options_on_a_plain_store_are_refused(plain_url, option):
    dz.write(da.ones(4, chunks=2), plain_url)
    with pytest.raises(dz.ZarrioError, match="Icechunk targets only"):
        dz.read(plain_url, **option)
    assert dz.read(plain_url).sum().compute() == 4  # without them it reads as before


def test_init_refuses_icechunk_options_it_does_not_take(plain_url):
    """``dz.init`` takes no Icechunk options at all: its signature refuses them."""
    with pytest.raises(TypeError):
        dz.init(plain_url, shape=(4,), dtype="i1", chunks=(2,), commit="x")  # type: ignore[call-arg]


def test_prepare_writes_nothing_and_begin_and_finish_commit_the_node():
    """The lifecycle's steps: a prepared write is invisible; the journal comes with begin, the
    metadata with finish."""
    m: dict[str, bytes] = {}
    target = PlainTarget(MappingStore(m, "g.zarr/a"))
    new = NewArray((2,), None, None, None, None, 3, "C", None, None)
    w = target.prepare(Incoming((4,), np.dtype("i2"), ((4,),)), "w-", new=new, cap=1 << 20)
    assert m == {}
    target.begin(w)
    assert "g.zarr/a/.dz-write.json" in m or any(k.startswith("g.zarr/a/.dz-") for k in m)
    assert "g.zarr/a/zarr.json" not in m and "g.zarr/zarr.json" in m  # the parent group comes first
    target.finish(w, None)
    assert "g.zarr/a/zarr.json" in m and not any(k.startswith("g.zarr/a/.dz-") for k in m)


def test_open_target_picks_icechunk_for_repositories():
    icechunk = pytest.importorskip("icechunk")
    repo = icechunk.Repository.create(icechunk.in_memory_storage())
    assert type(open_target(repo)).__name__ == "IcechunkTarget"


def test_init_into_icechunk_commits_the_metadata_once():
    """``dz.init`` goes through the same lifecycle, so an Icechunk repository takes it too."""
    icechunk = pytest.importorskip("icechunk")
    repo = icechunk.Repository.create(icechunk.in_memory_storage())
    before = len(list(repo.ancestry(branch="main")))
    dz.init((repo, "t"), shape=(6,), dtype="f4", chunks=(3,))
    assert len(list(repo.ancestry(branch="main"))) == before + 1
    np.testing.assert_array_equal(dz.read((repo, "t")).compute(), np.zeros(6, "f4"))
    dz.write(da.ones(3, chunks=3, dtype="f4"), (repo, "t"), mode="r+", region=(slice(3, 6),))
    np.testing.assert_array_equal(dz.read((repo, "t")).compute(), [0, 0, 0, 1, 1, 1])


@pytest.mark.parametrize("call", ["rechunk", "copy"])
def test_rechunk_and_copy_into_icechunk_commit_once_through_the_same_lifecycle(call):
    icechunk = pytest.importorskip("icechunk")
    repo = icechunk.Repository.create(icechunk.in_memory_storage())
    src = f"memory://target-{call}/src.zarr"
    dz.write(da.arange(64, chunks=8).reshape(8, 8), src, mode="w", chunks=(1, 8))
    before = len(list(repo.ancestry(branch="main")))
    if call == "rechunk":
        dz.rechunk(src, (repo, "out"), (8, 1), max_mem="1MiB")
    else:
        dz.copy(src, (repo, "out"))
    assert len(list(repo.ancestry(branch="main"))) == before + 1
    out = dz.read((repo, "out"))
    assert out.chunksize == ((8, 1) if call == "rechunk" else (1, 8))
    np.testing.assert_array_equal(out.compute(), np.arange(64).reshape(8, 8))
