"""Reading metadata documents (metadata/node.py): formats, the v2 separator check, consolidated members."""

from __future__ import annotations

import json

import dask.array as da
import numpy as np
import pytest

import dask_zarrio as dz
from dask_zarrio.errors import ArrayNotFoundError, MetadataError
from dask_zarrio.metadata import ArrayMetadataN5, ArrayMetadataV2, ArrayMetadataV3
from dask_zarrio.metadata.group import ConsolidatedNode, GroupMetadata
from dask_zarrio.metadata.node import consolidated_member, read_array_metadata, read_node
from dask_zarrio.store import MappingStore
from dask_zarrio.testing import CountingStore


def test_v2_nested_keys_without_separator_are_detected(tmp_path, caplog):
    """zarr-python and tensorstore read only fill values here (zarr-python#717)."""
    import logging
    import os

    import zarr

    url = str(tmp_path / "a.zarr")
    data = np.arange(12, dtype="i4").reshape(3, 4)
    z = zarr.create_array(url, shape=(3, 4), chunks=(2, 2), dtype="i4", zarr_format=2,
                          chunk_key_encoding={"name": "v2", "separator": "/"})
    z[...] = data
    meta = json.load(open(os.path.join(url, ".zarray")))
    del meta["dimension_separator"]
    json.dump(meta, open(os.path.join(url, ".zarray"), "w"))
    with caplog.at_level(logging.WARNING, logger="dask_zarrio"):
        back = dz.read(url).compute()
    np.testing.assert_array_equal(back, data)
    assert "dimension_separator" in caplog.text


def test_v2_dot_keys_without_separator_cost_one_check(tmp_path):
    from dask_zarrio.store import open_store

    url = str(tmp_path / "a.zarr")
    dz.write(da.ones((4, 4), chunks=2), url, zarr_format=2)
    import os

    meta = json.load(open(os.path.join(url, ".zarray")))
    del meta["dimension_separator"]
    json.dump(meta, open(os.path.join(url, ".zarray"), "w"))
    store = CountingStore(open_store(url))
    dz.read(store)
    assert dict(store.counters["exists"]) == {"0.0": 1}


V2_NESTED = {"zarr_format": 2, "shape": [2, 2], "chunks": [1, 2], "dtype": "<i2", "compressor": None,
             "fill_value": 0, "order": "C", "filters": None}


def test_consolidated_v2_member_without_separator_is_checked_where_it_lives():
    store = MappingStore({"a/0/0": b"\x01\x00\x02\x00"})
    meta = consolidated_member(store.child("a"), ConsolidatedNode("array", V2_NESTED), 2)
    assert isinstance(meta, ArrayMetadataV2) and meta.dimension_separator == "/"


def test_consolidated_group_member_and_bad_entry():
    store = MappingStore({})
    group = consolidated_member(store, ConsolidatedNode("group", {"zarr_format": 2}, {"a": 1}), 2)
    assert isinstance(group, GroupMetadata) and (group.zarr_format, group.attributes) == (2, {"a": 1})
    with pytest.raises(MetadataError, match="consolidated metadata of"):
        consolidated_member(store.child("x"), ConsolidatedNode("array", {"zarr_format": 2}), 2)


@pytest.mark.parametrize("docs,kind", [
    ({"zarr.json": {"zarr_format": 3, "node_type": "group", "attributes": {}}}, GroupMetadata),
    ({".zgroup": {"zarr_format": 2}}, GroupMetadata),
    ({".zarray": V2_NESTED}, ArrayMetadataV2),
    ({"attributes.json": {"dimensions": [2], "blockSize": [2], "dataType": "uint8", "compression": {"type": "raw"}}},
     ArrayMetadataN5),
])
def test_read_node_finds_each_format(docs, kind):
    store = MappingStore({k: json.dumps(v).encode() for k, v in docs.items()})
    assert isinstance(read_node(store), kind)


def test_read_array_metadata_of_a_group_says_how_to_open_it():
    with pytest.raises(ArrayNotFoundError, match="open_group"):
        read_array_metadata(MappingStore({"zarr.json": b'{"zarr_format": 3, "node_type": "group"}'}))


def test_v3_array_is_read_with_one_request(tmp_path):
    url = str(tmp_path / "a.zarr")
    dz.write(da.ones(4, chunks=2), url)
    store = CountingStore(dz.store.open_store(url))
    assert isinstance(read_array_metadata(store), ArrayMetadataV3)
    assert sum(store.gets.values()) == 1 and not store.counters["exists"]
