"""dask_zarrio.testing: CountingStore passes the store contract and counts what it forwards."""

from __future__ import annotations

import pytest

from dask_zarrio.store import MappingStore, Store
from dask_zarrio.store.base import join_key
from dask_zarrio.testing import CountingStore
from dask_zarrio.testing.store_tests import StoreTests


def _inner(store: Store) -> MappingStore:
    assert isinstance(store, CountingStore) and isinstance(store.inner, MappingStore)
    return store.inner


class TestCountingStore(StoreTests):
    pickle_shares_data = False  # the wrapped dict pickles by value

    @pytest.fixture
    def store(self) -> Store:
        return CountingStore(MappingStore({}, "root.zarr/node"))

    def set_back_door(self, store: Store, key: str, value: bytes) -> None:
        inner = _inner(store)
        inner.mapping[join_key(inner.root, key)] = value

    def get_back_door(self, store: Store, key: str) -> bytes | None:
        inner = _inner(store)
        return inner.mapping.get(join_key(inner.root, key))


def test_counts_are_shared_by_children_and_declared_capabilities_forwarded():
    store = CountingStore(MappingStore({}, "a.zarr"))
    store.child("c").set("0", b"1")
    store.get_many(["c/0", "c/1"])
    assert store.sets["c/0"] == 1 and store.gets["c/0"] == 1 and store.gets["c/1"] == 1
    assert store.supports_listing and store.supports_deletes and not store.supports_partial_reads
