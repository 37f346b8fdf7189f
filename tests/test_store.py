"""open_store and the store package (dask_zarrio/store/__init__.py): every URL form, no secrets in
reprs, and the package's place at the bottom of the import order.

Each store's contract tests are in test_store_<module>.py."""

from __future__ import annotations

import ast
from pathlib import Path

import dask.array as da
import fsspec
import numpy as np
import pytest

import dask_zarrio as dz
import dask_zarrio.store
from dask_zarrio.store import MappingStore, open_store


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


def test_open_store_rejects_other_types():
    with pytest.raises(TypeError, match="must be a path or URL"):
        open_store(42)


def test_open_store_passes_a_store_through():
    store = MappingStore({}, "a")
    assert open_store(store) is store


def test_the_store_package_imports_nothing_above_it():
    """url -> store -> metadata -> ... : the store may use only retry, errors, config, buffers."""
    allowed = {"retry", "errors", "config", "buffers"}
    package = Path(dask_zarrio.store.__file__).parent
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 2:
                modules = [node.module] if node.module else [a.name for a in node.names]
                assert {m.split(".")[0] for m in modules} <= allowed, (path.name, modules)
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                assert not node.module.startswith("dask_zarrio"), (path.name, node.module)
            if isinstance(node, ast.Import):
                assert not any(a.name.startswith("dask_zarrio") for a in node.names), path.name
