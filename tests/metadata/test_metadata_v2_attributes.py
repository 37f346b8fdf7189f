"""A v2 array's metadata is read in one step: ``.zarray`` with its ``.zattrs``.

v2 keeps attributes and xarray's ``_ARRAY_DIMENSIONS`` in ``.zattrs``; every read of
an array's metadata (``read_array_metadata``, ``read_node``, consolidated members)
gives them in the same value, so no caller has to patch them in, and none forgets to
(an append by dimension name, an append inside a consolidated group).
"""

from __future__ import annotations

import json
import os

import dask.array as da
import numpy as np
import pytest

import dask_zarrio as dz
from dask_zarrio.errors import MetadataError
from dask_zarrio.metadata import ArrayMetadataV2
from dask_zarrio.metadata.node import read_array_metadata, read_node
from dask_zarrio.store import MappingStore, open_store
from dask_zarrio.store.base import Buffer
from dask_zarrio.testing import CountingStore

ZARRAY = {"zarr_format": 2, "shape": [4, 3], "chunks": [2, 3], "dtype": "<i2", "compressor": None,
          "fill_value": 0, "order": "C", "filters": None, "dimension_separator": "."}
ATTRS = {"units": "K", "_ARRAY_DIMENSIONS": ["time", "x"]}


def _v2(attrs: object = ATTRS, raw: bytes | None = None) -> dict[str, bytes]:
    docs = {".zarray": json.dumps(ZARRAY).encode()}
    if raw is not None or attrs is not None:
        docs[".zattrs"] = raw if raw is not None else json.dumps(attrs).encode()
    return docs


def _write_v2(url: str) -> None:
    dz.write(da.zeros((4, 3), chunks=(2, 3), dtype="i2"), url, zarr_format=2, mode="w",
             dimension_names=["time", "x"], attributes={"units": "K"})


def _zattrs(url: str) -> dict:
    with open(os.path.join(url, ".zattrs")) as f:
        return json.load(f)


@pytest.mark.parametrize("read", [read_array_metadata, read_node], ids=["read_array_metadata", "read_node"])
def test_array_metadata_holds_attributes_and_dimension_names(read):
    meta = read(MappingStore(_v2()))
    assert isinstance(meta, ArrayMetadataV2)
    assert meta.attributes == ATTRS and meta.dimension_names == ("time", "x")


def test_a_missing_zattrs_is_no_attributes():
    meta = read_array_metadata(MappingStore(_v2(attrs=None)))
    assert meta.attributes == {} and meta.dimension_names is None


@pytest.mark.parametrize("raw,match", [
    (b'{"units": ', "not valid JSON"),
    (b"[1, 2]", "must hold a JSON object"),
])
def test_a_malformed_zattrs_names_the_key(raw, match):
    with pytest.raises(MetadataError, match=rf"\.zattrs.*{match}|{match}.*\.zattrs"):
        read_array_metadata(MappingStore(_v2(raw=raw)))
    with pytest.raises(MetadataError, match=r"\.zattrs"):
        dz.read(_v2(raw=raw))


class _Batching(CountingStore):
    """A store that overlaps requests: records which keys each ``get_many`` asked for together."""

    batches: list[list[str]]

    @property
    def supports_concurrent_requests(self) -> bool:
        return True

    def get_many(self, keys: list[str], limit: int | None = None) -> list[Buffer | None]:
        self.batches.append(list(keys))
        return super().get_many(keys, limit)


def test_zarray_and_zattrs_are_fetched_together(tmp_path):
    url = str(tmp_path / "a.zarr")
    _write_v2(url)
    store = _Batching(open_store(url))
    store.batches = []
    assert read_array_metadata(store).dimension_names == ("time", "x")
    assert store.batches == [[".zarray", ".zattrs"]]
    assert dict(store.gets) == {"zarr.json": 1, ".zarray": 1, ".zattrs": 1}


def test_a_plain_store_asks_for_zattrs_once_and_only_where_a_v2_node_is(tmp_path):
    url = str(tmp_path / "a.zarr")
    _write_v2(url)
    store = CountingStore(open_store(url))
    read_array_metadata(store)
    assert dict(store.gets) == {"zarr.json": 1, ".zarray": 1, ".zattrs": 1}
    dz.write(da.zeros(2, chunks=2), url + "3", mode="w")
    v3 = CountingStore(open_store(url + "3"))
    read_array_metadata(v3)
    assert dict(v3.gets) == {"zarr.json": 1}


def test_v2_group_documents_are_read_once(tmp_path):
    url = str(tmp_path / "g.zarr")
    dz.create_group(url, zarr_format=2, attributes={"title": "t"}, mode="w")
    store = CountingStore(open_store(url))
    assert read_node(store).attributes == {"title": "t"}
    assert max(store.gets.values()) == 1


def test_append_by_dimension_name_to_a_v2_array(tmp_path):
    """The report: dz.write(y, url, mode="a", append_dim="time") saw dimension_names []."""
    url = str(tmp_path / "a.zarr")
    _write_v2(url)
    dz.write(da.ones((2, 3), chunks=(2, 3), dtype="i2"), url, mode="a", append_dim="time")
    np.testing.assert_array_equal(dz.read(url).compute(), np.concatenate([np.zeros((4, 3)), np.ones((2, 3))]))
    assert _zattrs(url) == ATTRS


def test_an_append_keeps_the_member_attributes_in_consolidated_metadata(tmp_path):
    """The consolidated entry of an appended v2 member was rewritten without its .zattrs."""
    root = str(tmp_path / "g.zarr")
    dz.create_group(root, zarr_format=2, mode="w")
    _write_v2(f"{root}/t")
    dz.consolidate(root)
    dz.write(da.ones((2, 3), chunks=(2, 3), dtype="i2"), f"{root}/t", mode="a", append_dim="time")
    _, meta = dz.open_group(root).node("t")
    assert meta.shape == (6, 3) and meta.attributes == ATTRS and meta.dimension_names == ("time", "x")


def test_a_region_write_keeps_attributes(tmp_path):
    root = str(tmp_path / "g.zarr")
    dz.create_group(root, zarr_format=2, mode="w")
    _write_v2(f"{root}/t")
    dz.consolidate(root)
    dz.write(da.ones((2, 3), chunks=(2, 3), dtype="i2"), f"{root}/t", mode="r+", region=(slice(2, 4),))
    assert _zattrs(f"{root}/t") == ATTRS
    _, meta = dz.open_group(root).node("t")
    assert meta.attributes == ATTRS and int(dz.read(f"{root}/t").sum().compute()) == 6


@pytest.mark.parametrize("how", ["rechunk", "copy", "copy to v3", "copy of the group"])
def test_rechunk_and_copy_keep_dimension_names_and_attributes(tmp_path, how):
    root = str(tmp_path / "g.zarr")
    dz.create_group(root, zarr_format=2, mode="w")
    src, dst = f"{root}/t", str(tmp_path / "out.zarr")
    _write_v2(src)
    if how == "rechunk":
        dz.rechunk(src, dst, {"time": 4})
    elif how == "copy of the group":
        dz.copy(root, dst)
        dst += "/t"
    else:
        dz.copy(src, dst, zarr_format=3 if how == "copy to v3" else None)
    info = dz.info(dst)
    assert info["dimension_names"] == ["time", "x"] and info["attributes"] == {"units": "K"}
    assert info["chunks"] == ([4, 3] if how == "rechunk" else [2, 3])


def test_a_copy_to_v3_keeps_dimension_names_out_of_the_attributes(tmp_path):
    """xarray reads a v3 array's attributes as they are: _ARRAY_DIMENSIONS became a variable attribute."""
    xr = pytest.importorskip("xarray")
    root, dst = str(tmp_path / "g.zarr"), str(tmp_path / "g3.zarr")
    dz.create_group(root, zarr_format=2, mode="w")
    _write_v2(f"{root}/t")
    dz.copy(root, dst, zarr_format=3)
    meta = read_array_metadata(open_store(f"{dst}/t"))
    assert meta.dimension_names == ("time", "x") and meta.attributes == {"units": "K"}
    assert xr.open_zarr(dst, consolidated=False)["t"].attrs == {"units": "K"}
