"""open_store and the store package (dask_zarrio/store/__init__.py): every URL form, no secrets in
reprs, and the package's place at the bottom of the import order.

Each store's contract tests are in test_store_<module>.py."""

from __future__ import annotations

import ast
from pathlib import Path

import dask
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


def test_a_local_copy_goes_file_to_file_in_the_kernel(tmp_path, monkeypatch):
    # An undecoded copy between local folders never reads an object into Python.
    src, dst = open_store(str(tmp_path / "a")), open_store(str(tmp_path / "b"))
    src.set("c/0", b"x" * 100_000)
    monkeypatch.setattr(type(src), "get", lambda self, key: pytest.fail(f"read {key} into Python"))
    assert dst.copy_object(src, "c/0", "0.0") is True and dst.copy_object(src, "c/9", "9.0") is False
    assert (tmp_path / "b" / "0.0").read_bytes() == b"x" * 100_000 and not (tmp_path / "b" / "9.0").exists()
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["0.0"]  # no temporary file left


@pytest.mark.parametrize("refusal", ["EXDEV", "ENOSYS", "missing"])
def test_a_local_copy_the_kernel_refuses_goes_through_memory(tmp_path, monkeypatch, refusal):
    import errno
    import os

    def refuse(*args):
        raise OSError(getattr(errno, refusal), "refused")

    if refusal == "missing":
        monkeypatch.delattr(os, "copy_file_range")  # macOS has none
    else:
        monkeypatch.setattr(os, "copy_file_range", refuse)
    src, dst = open_store(str(tmp_path / "a")), open_store(str(tmp_path / "b"))
    data = bytes(range(256)) * 100_000  # more than one 16 MiB read
    src.set("k", data)
    assert dst.copy_object(src, "k", "k") and (tmp_path / "b" / "k").read_bytes() == data


def test_a_local_copy_that_fails_leaves_nothing_half_written(tmp_path, monkeypatch):
    import errno
    import os

    def full(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "copy_file_range", full)
    src, dst = open_store(str(tmp_path / "a")), open_store(str(tmp_path / "b"))
    src.set("k", b"v")
    dst.set("k", b"old")
    with dask.config.set({"dask_zarrio.retry.attempts": 1}), pytest.raises(OSError, match="No space left"):
        dst.copy_object(src, "k", "k")
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["k"] and (tmp_path / "b" / "k").read_bytes() == b"old"
