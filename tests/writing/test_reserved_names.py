"""dask_zarrio deletes only the ``.dz-*`` nodes it made: a user's node of such a name is never
staged over, used as an intermediate array, or created by dz (issue 28)."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import zarr

import dask_zarrio as dz
from dask_zarrio.store import open_store

DATA = np.arange(64 * 64, dtype="i8").reshape(64, 64)


def _snapshot(url: str) -> dict[str, bytes]:
    store = open_store(url)
    return {k: bytes(store.get(k) or b"") for k in store.list_keys()}


def test_a_users_array_named_like_a_staged_node_is_kept(tmp_path):
    g = str(tmp_path / "g.zarr")
    dz.create_group(g)
    dz.write(da.arange(8, chunks=4), f"{g}/a", chunks=4)
    zarr.create_array(f"{g}/.dz-staging-a", shape=(3,), dtype="i4")[:] = [7, 8, 9]  # another tool made it
    before = _snapshot(g)
    with pytest.raises(dz.ZarrioError, match=r"\.dz-staging-a.*no dz.write staged"):
        dz.write(da.arange(8, chunks=4) * 2, f"{g}/a", chunks=4, mode="w")
    assert _snapshot(g) == before
    assert zarr.open_array(f"{g}/.dz-staging-a", mode="r")[:].tolist() == [7, 8, 9]


def test_an_interrupted_staged_write_is_still_replaced(tmp_path, monkeypatch):
    g = str(tmp_path / "g.zarr")
    dz.write(da.arange(8, chunks=4), f"{g}/a", chunks=4)

    def fail(block):
        raise RuntimeError("injected")

    with pytest.raises(RuntimeError, match="injected"):
        dz.write(da.arange(8, chunks=4).map_blocks(fail, dtype=int), f"{g}/a", chunks=4, mode="w")
    assert (tmp_path / "g.zarr" / ".dz-staging-a" / ".dz-write.json").exists()  # dz's own: it has a journal
    dz.write(da.arange(8, chunks=4) * 3, f"{g}/a", chunks=4, mode="w")
    assert dz.read(f"{g}/a").compute().tolist() == list(range(0, 24, 3))


@pytest.mark.parametrize("name", [".dz-staging-a", ".dz-rechunk-x", ".dz-anything"])
def test_dz_creates_no_node_with_a_reserved_name(tmp_path, name):
    g = str(tmp_path / "g.zarr")
    dz.write(da.arange(8, chunks=4), f"{g}/a", chunks=4)
    before = _snapshot(g)
    with pytest.raises(dz.ZarrioError, match="dask_zarrio's own"):
        dz.write(da.arange(8, chunks=4), f"{g}/{name}", chunks=4)
    with pytest.raises(dz.ZarrioError, match="dask_zarrio's own"):
        dz.rechunk(f"{g}/a", f"{g}/{name}", chunks=2)
    with pytest.raises(dz.ZarrioError, match="dask_zarrio's own"):
        dz.copy(g, str(tmp_path / name))
    assert _snapshot(g) == before and not (tmp_path / name).exists()


@pytest.mark.parametrize("where", ["given", "default"])
def test_a_temp_holding_someone_elses_data_is_refused(tmp_path, where):
    src, out = str(tmp_path / "s.zarr"), str(tmp_path / "out.zarr")
    dz.write(da.from_array(DATA, chunks=(1, 64)), src, chunks=(1, 64))
    temp = str(tmp_path / ("mine.zarr" if where == "given" else ".dz-rechunk-out.zarr"))
    zarr.create_array(temp, shape=(3,), dtype="i4")[:] = [7, 8, 9]
    before = _snapshot(str(tmp_path))
    with pytest.raises(dz.ZarrioError, match="not an intermediate array"):
        dz.rechunk(src, out, (64, 1), max_mem=4096, temp=temp if where == "given" else None)
    assert _snapshot(str(tmp_path)) == before and not (tmp_path / "out.zarr").exists()


def test_an_interrupted_rechunks_intermediate_is_taken_again(tmp_path, monkeypatch):
    from dask_zarrio.rechunking import tasks

    src, out, temp = (str(tmp_path / n) for n in ("s.zarr", "out.zarr", "tmp.zarr"))
    dz.write(da.from_array(DATA, chunks=(1, 64)), src, chunks=(1, 64))
    real = tasks.read_into

    def fail(*args, **kwargs):
        raise RuntimeError("injected")

    monkeypatch.setattr(tasks, "read_into", fail)
    with pytest.raises(RuntimeError):
        dz.rechunk(src, out, (64, 1), max_mem=4096, temp=temp)
    monkeypatch.setattr(tasks, "read_into", real)
    assert any((tmp_path / "tmp.zarr").iterdir())  # something of dz's is left there
    dz.rechunk(src, out, (64, 1), max_mem=4096, temp=temp, mode="w")
    np.testing.assert_array_equal(dz.read(out).compute(), DATA)
