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
from dask_zarrio.metadata.writer import consolidated_entry, write_node
from dask_zarrio.store import MappingStore
from dask_zarrio.writing.modes import check_mode, foreign_keys, prepare_node


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
    entry = ConsolidatedNode(
        "group", {"zarr_format": 2} if fmt == 2 else {"zarr_format": 3, "node_type": "group", "attributes": {}}
    )
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
    with pytest.raises(
        ZarrioError, match=r"mode='(x|r\+)' must be one of 'w-' \(create; fail if anything exists there\)"
    ):
        call(str(tmp_path / "a.zarr"))
    assert not (tmp_path / "a.zarr").exists()  # refused before anything was written


def test_check_mode_returns_the_mode():
    assert check_mode("a", ("w", "a"), "dz.write") == "a"


ARRAY_V3 = json.dumps({"zarr_format": 3, "node_type": "array", "shape": [4]}).encode()


def test_prepare_node_refuses_or_clears_only_below_its_root():
    m = {"a/zarr.json": ARRAY_V3, "a/c/0": b"x", "b/zarr.json": b"{}"}
    with pytest.raises(ContainsArrayError, match="mode='w'"):
        prepare_node(MappingStore(m).child("a"), "w-")
    prepare_node(MappingStore(m).child("a"), "w")
    assert m == {"b/zarr.json": b"{}"}


def _array(fmt: object, ndim: int, **extra: object) -> tuple[str, bytes]:
    if fmt == 3:
        return "zarr.json", json.dumps({"zarr_format": 3, "node_type": "array", "shape": [4] * ndim, **extra}).encode()
    if fmt == 2:
        return ".zarray", json.dumps({"zarr_format": 2, "shape": [4] * ndim, **extra}).encode()
    return "attributes.json", json.dumps({"dimensions": [4] * ndim, "dataType": "uint8", **extra}).encode()


V3_DOT = {"chunk_key_encoding": {"name": "default", "configuration": {"separator": "."}}}
V3_V2 = {"chunk_key_encoding": {"name": "v2", "configuration": {"separator": "."}}}


@pytest.mark.parametrize("fmt,ndim,extra,zarr_keys,foreign", [
    (3, 2, {}, ["c/0/1", "c/10/0"], ["c/0", "c/0/1/2", "c.0.1", "0/1", "c/x/1"]),
    (3, 2, V3_DOT, ["c.0.1"], ["c/0/1", "0.1"]),
    (3, 2, V3_V2, ["0.1"], ["c/0/1", "0/1"]),
    (3, 0, {}, ["c"], ["0", "c/0"]),
    (2, 2, {"dimension_separator": "."}, ["0.1"], ["0/1", "c/0/1"]),
    (2, 2, {"dimension_separator": "/"}, ["0/1"], ["0.1"]),
    (2, 2, {}, ["0.1", "0/1"], ["0.1.2"]),  # no declared separator: both spellings exist
    (2, 0, {}, ["0"], ["c"]),
    ("n5", 3, {}, ["0/1/2"], ["0.1.2", "0/1"]),
])
def test_foreign_keys_follow_each_arrays_chunk_key_encoding(fmt, ndim, extra, zarr_keys, foreign):
    name, doc = _array(fmt, ndim, **extra)
    m = {f"g/arr/{name}": doc, "zarr.json": b"{}", "g/zarr.json": b"{}", "g/.zattrs": b"{}"}
    m.update({f"g/arr/{k}": b"" for k in zarr_keys + foreign})
    got = foreign_keys(MappingStore(m), sorted(m))
    assert got == sorted(f"g/arr/{k}" for k in foreign)


@pytest.mark.parametrize("keys,foreign", [
    ({"notes.txt": b""}, ["notes.txt"]),
    ({"zarr.json": b"{}", "g/.zgroup": b"{}", "g/photo.jpg": b""}, ["g/photo.jpg"]),
    ({".dz-journal/0": b"", "a/.dz-lock-zarr.json": b"", "zarr.json": b"{}"}, []),
    ({"zarr.json": b"not json", "c/0": b""}, ["c/0"]),  # unreadable metadata claims no chunks
    # An interrupted write's temporary file is ours inside an array, not beside it.
    ({"zarr.json": b"{}", "a/zarr.json": ARRAY_V3, "a/c/0": b"", "a/c/.tmp-x1": b"", ".tmp-x2": b""}, [".tmp-x2"]),
])
def test_foreign_keys_of_groups_journals_and_broken_documents(keys, foreign):
    assert foreign_keys(MappingStore(dict(keys)), sorted(keys)) == foreign


def test_mode_w_refuses_foreign_objects_and_deletes_nothing():
    m = {"a/zarr.json": ARRAY_V3, "a/c/0": b"x", "a/notes.txt": b"mine"}
    with pytest.raises(ContainsArrayError, match=r"\['notes.txt'\]; nothing was deleted") as info:
        prepare_node(MappingStore(m).child("a"), "w")
    assert isinstance(info.value, FileExistsError)
    assert sorted(m) == ["a/c/0", "a/notes.txt", "a/zarr.json"]


def test_mode_w_on_an_empty_or_missing_node_is_fine():
    m: dict = {"b/notes.txt": b"sibling, not below the node"}
    prepare_node(MappingStore(m).child("a"), "w")
    assert m == {"b/notes.txt": b"sibling, not below the node"}


def test_mode_w_clears_stores_that_cannot_list_unchecked():
    """HTTP-like stores cannot enumerate: today's behaviour (clear what can be cleared) stays."""

    class Unlisted(MappingStore):
        @property
        def supports_listing(self) -> bool:
            return False

        def list_keys(self) -> list[str]:
            raise AssertionError("a store that declares no listing must not be asked for one")

    m = {"a/notes.txt": b"x"}
    prepare_node(Unlisted(m, "a"), "w")
    assert m == {}
