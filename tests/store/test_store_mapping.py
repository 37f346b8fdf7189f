"""MappingStore (dask_zarrio/store/backends/mapping.py): the store contract over a dict, and its paths."""

from __future__ import annotations

import pytest

from dask_zarrio.store import MappingStore, Store
from dask_zarrio.store.base import join_key
from dask_zarrio.testing.store_tests import StoreTests


class TestMappingStore(StoreTests):
    pickle_shares_data = False  # a dict pickles by value

    @pytest.fixture
    def store(self) -> Store:
        return MappingStore({}, "root.zarr/node")

    def set_back_door(self, store: Store, key: str, value: bytes) -> None:
        assert isinstance(store, MappingStore)
        store.mapping[join_key(store.root, key)] = value

    def get_back_door(self, store: Store, key: str) -> bytes | None:
        assert isinstance(store, MappingStore)
        return store.mapping.get(join_key(store.root, key))


def test_mapping_store_parent_and_child():
    s = MappingStore({}, "root.zarr/g")
    assert s.child("arr").root == "root.zarr/g/arr"
    assert s.parent().root == "root.zarr"
    assert s.parent().parent().root == ""
    assert s.parent().parent().parent() is None


def test_a_store_at_the_top_of_the_mapping_sees_every_key():
    m = {"zarr.json": b"{}", "a/zarr.json": b"{}"}
    s = MappingStore(m)
    assert s.list_dir() == ["a", "zarr.json"]
    assert s.child("a").get("zarr.json") == b"{}"
    s.clear()
    assert m == {}
