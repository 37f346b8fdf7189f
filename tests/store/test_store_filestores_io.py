"""dz.read, dz.write, groups, consolidated metadata, the xarray engine and a distributed
cluster on SQLite, ZIP and LMDB URLs (dask_zarrio/store/backends/sqlite.py, zip_store.py,
lmdb_store.py), and zarr-python's ZipStore archives read and written both ways."""

from __future__ import annotations

import pickle
import sqlite3
import zipfile

import dask
import dask.array as da
import numpy as np
import pytest
import xarray as xr
import zarr

import dask_zarrio as dz
from dask_zarrio.errors import StoreError
from dask_zarrio.store import open_store
from dask_zarrio.store.backends.sqlite import SQLiteStore
from dask_zarrio.store.backends.zip_store import ZipStore, pack

KINDS = ["sqlite", "zip", "lmdb"]


def _url(tmp_path, kind: str, node: str = "") -> str:
    name = {"sqlite": "data.db", "zip": "data.zip", "lmdb": "env"}[kind]
    return f"{kind}://{tmp_path}/{name}" + (f"?path={node}" if node else "")


@pytest.mark.parametrize("zarr_format", [2, 3])
@pytest.mark.parametrize("kind", KINDS)
def test_write_then_regions_appends_and_shards_read_back(tmp_path, kind, zarr_format):
    x = np.arange(240, dtype="i4").reshape(12, 20)
    url = _url(tmp_path, kind, "grp/arr")
    dz.write(da.from_array(x, chunks=(4, 5)), url, chunks=(4, 5), zarr_format=zarr_format)
    np.testing.assert_array_equal(dz.read(url).compute(), x)
    # A region that cuts chunks (read, merge, rewrite) and an append along axis 0.
    dz.write(da.full((3, 7), -1, dtype="i4", chunks=3), url, region=(slice(2, 5), slice(3, 10)))
    x[2:5, 3:10] = -1
    dz.write(da.from_array(x[:5] * 2, chunks=(4, 5)), url, append_dim=0)
    x = np.concatenate([x, x[:5] * 2])
    np.testing.assert_array_equal(dz.read(url).compute(), x)
    if zarr_format == 3:
        sharded = _url(tmp_path, kind, "grp/sharded")
        dz.write(da.from_array(x, chunks=(8, 10)), sharded, chunks=(2, 5), shards=(8, 10))
        np.testing.assert_array_equal(dz.read(sharded, chunks=(2, 5)).compute(), x)
    # mode="w" replaces the array whole.
    dz.write(da.ones((3, 3), chunks=2), url, mode="w", zarr_format=zarr_format)
    np.testing.assert_array_equal(dz.read(url).compute(), np.ones((3, 3)))


@pytest.mark.parametrize("kind", KINDS)
def test_an_array_at_the_root_of_the_file_is_replaced_with_mode_w(tmp_path, kind):
    """The store's root is the whole database: replacing it first asks whether the root is one
    object (never, here; LMDB refused the empty key with MDB_BAD_VALSIZE)."""
    url = _url(tmp_path, kind)
    dz.write(da.zeros((4, 4), chunks=2), url, chunks=(2, 2))
    dz.write(da.ones((6, 2), chunks=2), url, mode="w", chunks=(2, 2))
    np.testing.assert_array_equal(dz.read(url).compute(), np.ones((6, 2)))


@pytest.mark.parametrize("kind", KINDS)
def test_groups_consolidated_metadata_and_the_xarray_engine(tmp_path, kind):
    url = _url(tmp_path, kind)
    ds = xr.Dataset(
        {"t": (("y", "x"), np.arange(12.0).reshape(3, 4)), "p": ("x", np.arange(4, dtype="i2"))},
        coords={"x": np.arange(4) * 10},
        attrs={"title": "file stores"},
    ).chunk({"y": 1})
    dz.write_dataset(ds, url)
    got = xr.open_dataset(url, engine="dask_zarrio", chunks={})
    xr.testing.assert_identical(got.compute(), ds.compute())
    group = dz.consolidate(url)
    assert sorted(group.array_keys()) == ["p", "t", "x"]
    assert sorted(dz.open_group(url).array_keys()) == ["p", "t", "x"]
    np.testing.assert_array_equal(dz.open_group(url)["t"].compute(), ds["t"].values)


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_zarr_python_reads_our_zip_and_we_read_its_zip(tmp_path, zarr_format):
    x = np.arange(60, dtype="f4").reshape(6, 10)
    ours = tmp_path / "ours.zip"
    dz.write(da.from_array(x, chunks=(3, 5)), f"zip://{ours}?path=g/a", chunks=(3, 5), zarr_format=zarr_format,
             attributes={"units": "m"})
    dz.write(da.from_array(x + 1, chunks=(3, 5)), f"zip://{ours}?path=g/a", mode="w", chunks=(3, 5),
             zarr_format=zarr_format)  # deletes and overwrites members: zarr-python must see only the live ones
    with zarr.storage.ZipStore(ours, mode="r") as store:
        arr = zarr.open_array(store, path="g/a", mode="r", zarr_format=zarr_format)
        np.testing.assert_array_equal(arr[:], x + 1)
    theirs = tmp_path / "theirs.zip"
    with zarr.storage.ZipStore(theirs, mode="w") as store:
        z = zarr.create_array(store, name="g/a", shape=x.shape, chunks=(3, 5), dtype=x.dtype, zarr_format=zarr_format)
        z[:] = x
        z.attrs["units"] = "m"  # rewrites the metadata member: a duplicate, the last one wins
    for url in (f"zip://{theirs}?path=g/a", f"zip://{theirs}/g/a"):
        np.testing.assert_array_equal(dz.read(url).compute(), x)
    # The plain path of an archive, and zarr-python's store object, open it too.
    # (never opened: zarr-python 3.1's ZipStore.close fails on an unopened store)
    assert isinstance(open_store(zarr.storage.ZipStore(theirs, mode="r")), ZipStore)
    assert sorted(dz.open_group(str(theirs)).group_keys()) == ["g"]


def test_pack_turns_a_folder_into_an_archive_and_compacts_one(tmp_path):
    x = np.arange(50).reshape(5, 10)
    dz.write(da.from_array(x, chunks=5), str(tmp_path / "a.zarr"), chunks=(5, 5))
    packed = pack(tmp_path / "a.zarr", tmp_path / "a.zip")
    np.testing.assert_array_equal(dz.read(packed).compute(), x)
    url = f"zip://{tmp_path}/a.zip"
    for _ in range(3):
        dz.write(da.from_array(x, chunks=5), url, mode="w", chunks=(5, 5))  # leaves dead space
    bloated = (tmp_path / "a.zip").stat().st_size
    pack(open_store(url), tmp_path / "b.zip")
    assert (tmp_path / "b.zip").stat().st_size < bloated
    np.testing.assert_array_equal(dz.read(f"zip://{tmp_path}/b.zip").compute(), x)


@pytest.mark.parametrize("kind", KINDS)
def test_a_store_pickles_without_its_handle(tmp_path, kind):
    url = _url(tmp_path, kind, "g")
    store = open_store(url)
    store.set("zarr.json", b"{}")
    data = pickle.dumps(store)
    assert len(data) < 600  # path and options only: no connection, archive or environment
    for handle in (b"Connection", b"ZipFile", b"Environment"):
        assert handle not in data
    clone = pickle.loads(data)
    assert clone.get("zarr.json") == b"{}" and clone.describe() == store.describe()
    assert dask.base.tokenize(clone.token()) == dask.base.tokenize(store.token())


@pytest.mark.parametrize("kind", KINDS)
def test_a_missing_file_reads_as_no_array_and_is_not_created(tmp_path, kind):
    url = _url(tmp_path, kind)
    with pytest.raises(dz.ArrayNotFoundError, match=kind):
        dz.read(url)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kind", KINDS)
def test_a_corrupt_file_is_a_store_error_naming_it(tmp_path, kind):
    url = _url(tmp_path, kind)
    path = tmp_path / {"sqlite": "data.db", "zip": "data.zip", "lmdb": "env"}[kind]
    if kind == "lmdb":
        path.mkdir()
        (path / "data.mdb").write_bytes(b"not an lmdb environment" * 300)
    else:
        path.write_bytes(b"not a database nor an archive" * 300)
    with pytest.raises(StoreError, match=str(path)):
        open_store(url).get("zarr.json")
    with pytest.raises(StoreError, match=str(path)):
        open_store(url).set("zarr.json", b"{}")


def test_sqlite_refuses_a_table_name_that_is_not_plain(tmp_path):
    with pytest.raises(StoreError, match="table='x; DROP'"):
        open_store(f"sqlite://{tmp_path}/a.db?table=x; DROP")
    s = open_store(f"sqlite://{tmp_path}/a.db?table=arrays")
    s.set("k", b"v")
    assert sqlite3.connect(tmp_path / "a.db").execute("SELECT v FROM arrays").fetchall() == [(b"v",)]
    assert "table='arrays'" in repr(s) and isinstance(s, SQLiteStore)


def test_sqlite_writers_from_threads_all_land(tmp_path):
    url = _url(tmp_path, "sqlite", "a")
    x = da.arange(4000, chunks=10)
    with dask.config.set(scheduler="threads", num_workers=8):
        dz.write(x, url, chunks=(10,))
    np.testing.assert_array_equal(dz.read(url).compute(), np.arange(4000))


def test_zip_is_not_confused_with_fsspecs_chained_zip_urls(tmp_path):
    x = np.arange(6)
    dz.write(x, str(tmp_path / "a.zarr"), chunks=(3,))
    with zipfile.ZipFile(tmp_path / "outer.zip", "w") as zf:
        for p in (tmp_path / "a.zarr").rglob("*"):
            if p.is_file():
                zf.write(p, p.relative_to(tmp_path).as_posix())
    np.testing.assert_array_equal(dz.read(f"zip://a.zarr::file://{tmp_path}/outer.zip").compute(), x)


def test_lmdb_grows_its_map_when_a_write_fills_it(tmp_path):
    url = f"lmdb://{tmp_path}/env?map_size=65536"
    x = np.random.default_rng(0).random((200, 200))  # 320 kB: five times the first map
    dz.write(da.from_array(x, chunks=50), url, chunks=(50, 50), compressors=None)
    np.testing.assert_array_equal(dz.read(url).compute(), x)


def test_lmdb_needs_its_package_and_says_how_to_install_it(monkeypatch, tmp_path):
    import sys

    monkeypatch.setitem(sys.modules, "lmdb", None)
    with pytest.raises(ImportError, match=r"pip install 'dask_zarrio\[lmdb\]'"):
        open_store(f"lmdb://{tmp_path}/env")


@pytest.mark.parametrize("scheduler,refused", [("processes", True), ("threads", False), ("sync", False)])
def test_dz_write_checks_the_scheduler_before_writing_a_zip(tmp_path, scheduler, refused):
    """ZipStore declares supports_multiprocess_writes=False; SQLite/LMDB take any scheduler."""
    url = f"zip://{tmp_path}/a.zip"
    with dask.config.set(scheduler=scheduler):
        if refused:
            with pytest.raises(StoreError, match=r"one process only.*'processes'.*nothing was written"):
                dz.write(np.arange(4), url, chunks=(2,))
            assert not (tmp_path / "a.zip").exists()
        else:
            dz.write(np.arange(4), url, chunks=(2,))
            np.testing.assert_array_equal(dz.read(url).compute(), np.arange(4))
    assert not ZipStore(str(tmp_path / "a.zip")).supports_multiprocess_writes
    assert SQLiteStore(str(tmp_path / "a.db")).supports_multiprocess_writes
