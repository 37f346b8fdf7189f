"""Writing metadata documents (metadata/writer.py): one writer, one mode check, for every caller."""

from __future__ import annotations

import json

import numpy as np
import pytest

import dask_zarrio as dz
from dask_zarrio.errors import ContainsArrayError, ZarrioError
from dask_zarrio.metadata.create import new_array_metadata
from dask_zarrio.metadata.group import ConsolidatedNode, GroupMetadata
from dask_zarrio.metadata.node import read_node
from dask_zarrio.metadata.writer import check_mode, consolidated_entry, prepare_node, write_node
from dask_zarrio.store import MappingStore


@pytest.mark.parametrize("fmt,keys", [(3, ["zarr.json"]), (2, [".zarray", ".zattrs"]), ("n5", ["attributes.json"])])
def test_write_node_then_read_node_round_trips_arrays(fmt, keys):
    meta = new_array_metadata(shape=(4, 3), dtype=np.dtype("u2"), chunk_shape=(2, 3), zarr_format=fmt,
                              attributes={"units": "m"} if fmt != "n5" else None)
    m: dict = {}
    write_node(MappingStore(m), meta)
    assert sorted(m) == sorted(keys)
    assert read_node(MappingStore(m)) == meta
    assert all(json.loads(v) for v in m.values())  # each a JSON object, no bare NaN


@pytest.mark.parametrize("fmt", [2, 3])
def test_write_node_writes_groups_with_consolidated_metadata(fmt):
    entry = ConsolidatedNode("group", {"zarr_format": 2} if fmt == 2 else {"zarr_format": 3, "node_type": "group", "attributes": {}})
    meta = GroupMetadata(fmt, {"title": "t"}, {"sub": entry})
    m: dict = {}
    write_node(MappingStore(m), meta)
    back = read_node(MappingStore(m), expect_group=True)
    assert isinstance(back, GroupMetadata) and back.attributes == {"title": "t"}
    assert back.consolidated is not None and set(back.consolidated) == {"sub"}


def test_n5_group_attributes_merge_into_attributes_json():
    m = {"attributes.json": b'{"resolution": [1, 2]}'}
    write_node(MappingStore(m), GroupMetadata("n5", {"n5": "4.0.0"}))
    assert json.loads(m["attributes.json"]) == {"resolution": [1, 2], "n5": "4.0.0"}


def test_consolidated_entry_of_an_array_carries_its_document_and_attributes():
    meta = new_array_metadata(shape=(2,), dtype=np.dtype("i1"), chunk_shape=(2,), zarr_format=2, attributes={"a": 1})
    entry = consolidated_entry(meta)
    assert (entry.kind, entry.document, entry.attributes) == ("array", meta.to_dict(), {"a": 1})


@pytest.mark.parametrize("call", [
    lambda url: dz.write(np.ones(2), url, mode="x"),
    lambda url: dz.init(url, shape=(2,), dtype="f4", chunks=(2,), mode="r+"),
    lambda url: dz.create_group(url, mode="r+"),
])
def test_every_call_checks_its_mode_in_one_place(call, tmp_path):
    with pytest.raises(ZarrioError, match=r"mode='(x|r\+)' must be one of 'w-' \(create; fail if anything exists there\)"):
        call(str(tmp_path / "a.zarr"))
    assert not (tmp_path / "a.zarr").exists()  # refused before anything was written


def test_check_mode_returns_the_mode():
    assert check_mode("a", ("w", "a"), "dz.write") == "a"


def test_prepare_node_refuses_or_clears_only_below_its_root():
    m = {"a/zarr.json": b"{}", "a/c/0": b"x", "b/zarr.json": b"{}"}
    with pytest.raises(ContainsArrayError, match="mode='w'"):
        prepare_node(MappingStore(m).child("a"), "w-")
    prepare_node(MappingStore(m).child("a"), "w")
    assert m == {"b/zarr.json": b"{}"}
