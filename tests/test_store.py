"""Stores: every URL form, mappings, pickling by constructor arguments, no secrets in repr."""

from __future__ import annotations

import pickle

import dask.array as da
import fsspec
import numpy as np
import pytest

import dask_zarrio as dz
from dask_zarrio.store import FsspecStore, MappingStore, open_store


@pytest.mark.parametrize("form", ["path", "file-url", "memory", "fsmap", "dict", "chained"])
def test_url_forms_round_trip(tmp_path, form):
    target = {
        "path": str(tmp_path / "a.zarr"),
        "file-url": f"file://{tmp_path}/a.zarr",
        "memory": f"memory://{tmp_path.name}/a.zarr",
        "fsmap": fsspec.get_mapper(str(tmp_path / "a.zarr")),
        "dict": {},
        "chained": f"simplecache::file://{tmp_path}/a.zarr",
    }[form]
    data = np.arange(30.0).reshape(5, 6)
    if form == "chained":
        dz.write(da.from_array(data, chunks=(2, 3)), str(tmp_path / "a.zarr"))
    else:
        dz.write(da.from_array(data, chunks=(2, 3)), target)
    np.testing.assert_array_equal(dz.read(target).compute(), data)


def test_dict_store_holds_standard_keys():
    m: dict[str, bytes] = {}
    dz.write(da.ones((4, 4), chunks=2), m)
    assert sorted(m) == ["c/0/0", "c/0/1", "c/1/0", "c/1/1", "zarr.json"]


def test_fsspec_store_pickles_by_constructor_args():
    fs = fsspec.filesystem("memory")
    store = FsspecStore(fs, "/p/a.zarr")
    clone = pickle.loads(pickle.dumps(store))
    assert clone.root == store.root and type(clone.fs) is type(fs)


def test_credentials_never_in_repr_or_names():
    store = open_store("s3://bucket/a.zarr", {"key": "AKIDSECRET", "secret": "VERYSECRET", "anon": False})
    assert "SECRET" not in repr(store)
    assert "SECRET" not in store.describe("c/0")
    assert "SECRET" not in store.token()


def test_s3_credentials_not_in_task_names(tmp_path):
    """A read graph's keys contain only hashes of the storage options."""
    m: dict[str, bytes] = {}
    dz.write(da.ones(4, chunks=2), m)
    x = dz.read(m)
    assert all("SECRET" not in str(k) for k in x.__dask_keys__())


def test_mapping_store_parent_and_child():
    s = MappingStore({}, "root.zarr/g")
    assert s.child("arr").root == "root.zarr/g/arr"
    assert s.parent().root == "root.zarr"
    assert s.parent().parent().root == ""
    assert s.parent().parent().parent() is None


def test_local_writes_are_atomic_no_temp_files_left(tmp_path):
    url = str(tmp_path / "a.zarr")
    dz.write(da.ones((8, 8), chunks=4), url)
    import os

    names = [f for _, _, fs in os.walk(url) for f in fs]
    assert not [n for n in names if n.startswith(".tmp-")]


def test_open_store_rejects_other_types():
    with pytest.raises(TypeError, match="must be a path or URL"):
        open_store(42)
