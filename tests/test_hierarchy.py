"""Groups, attributes, trees and consolidated metadata, against zarr-python."""

from __future__ import annotations

import logging
import uuid

import dask.array as da
import numpy as np
import pytest
import zarr
from conftest import assert_same

import dask_zarrio as dz
from dask_zarrio.store import open_store
from dask_zarrio.testing import CountingStore


@pytest.fixture(params=[2, 3])
def zarr_tree(tmp_path, request):
    """A hierarchy written by zarr-python: root (attrs) / grp (attrs) / temp, and root / mask."""
    url = str(tmp_path / "h.zarr")
    root = zarr.open_group(url, mode="w", zarr_format=request.param, attributes={"title": "test"})
    grp = root.create_group("grp", attributes={"kind": "ocean"})
    t = grp.create_array("temp", shape=(6, 4), chunks=(3, 2), dtype="f4")
    t[...] = np.arange(24, dtype="f4").reshape(6, 4)
    m = root.create_array("mask", shape=(5,), chunks=(5,), dtype="bool")
    m[...] = [True, False, True, False, True]
    return url, request.param


def test_open_zarr_written_group(zarr_tree):
    url, fmt = zarr_tree
    g = dz.open_group(url)
    assert g.zarr_format == fmt and g.attrs == {"title": "test"}
    assert sorted(g) == ["grp", "mask"]
    assert list(g.array_keys()) == ["mask"] and list(g.group_keys()) == ["grp"]
    assert g["grp"].attrs == {"kind": "ocean"}
    assert_same(g["grp/temp"].compute(), np.arange(24, dtype="f4").reshape(6, 4))
    assert_same(dict(g["grp"].arrays())["temp"][1].compute(), np.arange(4, 8, dtype="f4"))
    assert "grp/temp" in g and "nope" not in g
    with pytest.raises(KeyError, match="nope"):
        g["nope"]


def test_tree(zarr_tree):
    url, fmt = zarr_tree
    text = str(dz.tree(url))
    assert text.splitlines()[0] == f"/ (group, v{fmt}) attrs: title"
    assert "├── grp (group) attrs: kind" in text
    assert "│   └── temp (6, 4) float32 chunks=(3, 2)" in text
    assert "└── mask (5,) bool chunks=(5,)" in text


@pytest.mark.parametrize("fmt", [2, 3])
def test_create_group_read_by_zarr(tmp_path, fmt):
    url = str(tmp_path / "g.zarr")
    dz.create_group(url, attributes={"a": [1, 2]}, zarr_format=fmt)
    dz.create_group(f"{url}/sub/deeper", zarr_format=fmt)  # parents created
    dz.write(da.arange(6, chunks=3), f"{url}/sub/deeper/x", zarr_format=fmt)
    g = zarr.open_group(url, mode="r")
    assert g.attrs["a"] == [1, 2]
    assert_same(g["sub/deeper/x"][...], np.arange(6))
    with pytest.raises(dz.ContainsArrayError):
        dz.create_group(url, zarr_format=fmt)
    assert dz.create_group(url, mode="a").attrs == {"a": [1, 2]}
    assert dz.create_group(url, mode="w", zarr_format=fmt).attrs == {}


def test_zarr_consolidated_opens_in_one_request(zarr_tree):
    url, fmt = zarr_tree
    zarr.consolidate_metadata(url)
    store = CountingStore(open_store(url))
    g = dz.open_group(store)
    arrays = {name: arr for name, arr in g.arrays()}
    temp = g["grp/temp"]
    assert sorted(arrays) == ["mask"] and temp.shape == (6, 4)
    expected = {"zarr.json": 1} if fmt == 3 else {"zarr.json": 1, ".zmetadata": 1}
    assert dict(store.gets) == expected


def test_dz_consolidate_read_by_zarr_open_consolidated(zarr_tree):
    url, fmt = zarr_tree
    dz.consolidate(url)
    g = zarr.open_consolidated(url, zarr_format=fmt)
    assert g.attrs["title"] == "test"
    assert_same(g["grp/temp"][...], np.arange(24, dtype="f4").reshape(6, 4))
    assert sorted(g.array_keys()) == ["mask"] and sorted(g["grp"].array_keys()) == ["temp"]


def test_writes_keep_consolidated_metadata_fresh(zarr_tree):
    url, fmt = zarr_tree
    dz.consolidate(url)
    dz.write(da.ones(3, chunks=3), f"{url}/grp/new/arr", zarr_format=fmt)
    dz.write(da.zeros((2, 4), dtype="f4", chunks=2), f"{url}/grp/temp", mode="a", append_dim=0)
    g = zarr.open_consolidated(url, zarr_format=fmt)
    assert g["grp/temp"].shape == (8, 4)
    assert_same(g["grp/new/arr"][...], np.ones(3))
    cons = dz.open_group(url).metadata.consolidated
    assert cons["grp/temp"].document["shape"] == [8, 4] and "grp/new" in cons


def test_compute_false_refreshes_consolidated_after_the_data(tmp_path):
    url = str(tmp_path / "h.zarr")
    dz.create_group(url)
    dz.write(da.ones(4, chunks=2), f"{url}/x")
    dz.consolidate(url)
    d = dz.write(da.ones(2, chunks=2), f"{url}/x", mode="a", append_dim=0, compute=False)
    assert dz.open_group(url).metadata.consolidated["x"].document["shape"] == [4]
    d.compute()
    assert dz.open_group(url).metadata.consolidated["x"].document["shape"] == [6]


def test_open_group_on_an_array(tmp_path):
    url = str(tmp_path / "a.zarr")
    dz.write(da.ones(2, chunks=2), url)
    with pytest.raises(dz.ArrayNotFoundError, match="dz.read"):
        dz.open_group(url)
    dz.create_group(str(tmp_path / "g2.zarr"))
    with pytest.raises(dz.ArrayNotFoundError, match="dz.open_group"):
        dz.read(str(tmp_path / "g2.zarr"))


def test_writing_a_root_array_asks_nothing_above_it(tmp_path):
    """A new array whose own name ends in .zarr is a root: no requests go to the folders above."""
    url = str(tmp_path / "root.zarr")
    store = CountingStore(open_store(url))
    dz.write(da.ones(4, chunks=2), store)
    assert not [k for k in store.gets if k.startswith("../")]


def test_array_with_group_in_its_attributes_is_not_taken_for_a_group(tmp_path):
    """A parent is recognised by its metadata, not by the word "group" in its zarr.json."""
    dz.write(da.ones(4, chunks=2), str(tmp_path / "r.zarr" / "a"), attributes={"role": "group"})
    with pytest.raises(dz.ContainsArrayError, match="inside the array"):
        dz.write(da.ones(4, chunks=2), str(tmp_path / "r.zarr" / "a" / "b"))


@pytest.mark.parametrize("consolidated", [False, True])
def test_v2_nested_keys_without_separator_read_the_same_through_a_group(tmp_path, consolidated):
    """zarr 2.x's NestedDirectoryStore left "/"-nested keys and no dimension_separator.

    dz.read detected it, but a group (and so the xarray engine) read only fill values:
    the check now lives where the metadata is read (zarr-python#717).
    """
    import json
    import os

    root = str(tmp_path / "r.zarr")
    data = np.arange(12, dtype="i4").reshape(3, 4)
    g = zarr.open_group(root, mode="w", zarr_format=2)
    z = g.create_array("a", shape=(3, 4), chunks=(2, 2), dtype="i4",
                       chunk_key_encoding={"name": "v2", "separator": "/"})
    z[...] = data
    path = os.path.join(root, "a", ".zarray")
    meta = json.load(open(path))
    del meta["dimension_separator"]
    json.dump(meta, open(path, "w"))
    if consolidated:
        zarr.consolidate_metadata(root, zarr_format=2)
        # zarr-python fills in its default "." while consolidating: take it out as the
        # old writers left it.
        cons_path = os.path.join(root, ".zmetadata")
        cons = json.load(open(cons_path))
        cons["metadata"]["a/.zarray"].pop("dimension_separator", None)
        json.dump(cons, open(cons_path, "w"))
    group = dz.open_group(root)
    assert (group.metadata.consolidated is not None) == consolidated
    assert_same(group["a"].compute(), data)
    assert_same(dz.read(root + "/a").compute(), data)


@pytest.mark.parametrize("fmt", [2, 3])
@pytest.mark.parametrize("member", ["..", "../outside", "a/../../outside", "/etc/passwd/.."])
def test_consolidated_member_names_never_leave_the_group(tmp_path, fmt, member):
    """A consolidated entry named ".." read a file outside the group; now it is refused."""
    import json
    import os

    outside = tmp_path / "outside"
    dz.write(np.arange(3), str(outside))  # what a '..' entry would reach
    root = str(tmp_path / "h.zarr")
    dz.create_group(root, zarr_format=fmt)
    if fmt == 3:
        doc = json.load(open(os.path.join(root, "zarr.json")))
        doc["consolidated_metadata"] = {"kind": "inline", "must_understand": False, "metadata": {
            member: json.loads((outside / "zarr.json").read_text()) if (outside / "zarr.json").exists()
            else {"zarr_format": 3, "node_type": "group"}}}
        json.dump(doc, open(os.path.join(root, "zarr.json"), "w"))
    else:
        cons = {"zarr_consolidated_format": 1, "metadata": {".zgroup": {"zarr_format": 2},
                                                            f"{member}/.zgroup": {"zarr_format": 2}}}
        json.dump(cons, open(os.path.join(root, ".zmetadata"), "w"))
    with pytest.raises(dz.MetadataError, match="lists the member"):
        dz.open_group(root)


@pytest.mark.parametrize("name", ["../x", "..", "a//b", "a\\b", "/a/../../x"])
def test_user_member_names_never_leave_the_group(tmp_path, name):
    root = str(tmp_path / "h.zarr")
    dz.create_group(root)
    dz.write(np.arange(3), str(tmp_path / "x"))  # a real array where '../x' would point
    g = dz.open_group(root)
    with pytest.raises(dz.ZarrioError, match="member name"):
        g[name]
    assert name not in g


def test_a_member_whose_write_did_not_finish_is_not_listed(caplog):
    """It is no array until its metadata is committed; the group still lists the others."""
    url = f"memory://unfinished-{uuid.uuid4().hex}/g.zarr"
    dz.create_group(url)
    dz.write(da.ones(4, chunks=2), f"{url}/done")
    pending = dz.write(da.ones(4, chunks=2), f"{url}/pending", compute=False)
    with caplog.at_level(logging.WARNING, logger="dask_zarrio"):
        assert list(dz.open_group(url).array_keys()) == ["done"]
    assert any("pending is incomplete" in r.message for r in caplog.records)
    pending.compute()
    assert list(dz.open_group(url).array_keys()) == ["done", "pending"]
