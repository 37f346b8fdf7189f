"""MongoDBStore (dask_zarrio/store/backends/mongodb_store.py) against mongomock: no MongoDB server can be
installed on these machines, so the adapter is proven against pymongo's in-memory imitation."""

from __future__ import annotations

import pickle
import sys
import uuid

import pytest

from dask_zarrio.errors import MissingDependencyError, ZarrioError
from dask_zarrio.store import Store, open_store
from dask_zarrio.store.backends.mongodb_store import GRIDFS_THRESHOLD, MongoDBStore
from dask_zarrio.store.base import join_key
from dask_zarrio.testing.store_tests import StoreTests


class TestMongoDBStore(StoreTests):
    secrets = ("hunter2-secret",)

    @pytest.fixture
    def store(self, mongomock_client) -> Store:
        return open_store(f"mongodb://me:hunter2-secret@localhost/db/{uuid.uuid4().hex}/root.zarr/node?collection=c")

    def _collection(self, store: Store):
        assert isinstance(store, MongoDBStore)
        return store.client()["db"]["c"]

    def set_back_door(self, store: Store, key: str, value: bytes) -> None:
        assert isinstance(store, MongoDBStore)
        path = join_key(store.root, key)
        self._collection(store).replace_one({"_id": path}, {"_id": path, "v": value}, upsert=True)

    def get_back_door(self, store: Store, key: str) -> bytes | None:
        assert isinstance(store, MongoDBStore)
        doc = self._collection(store).find_one({"_id": join_key(store.root, key)})
        return None if doc is None else store._value(store.client(), doc)


def test_values_over_the_document_limit_go_to_gridfs(mongomock_client):
    store = open_store("mongodb://localhost/db/big.zarr")
    big = bytes(range(256)) * (GRIDFS_THRESHOLD // 256 + 1)
    store.set("c/0", big)
    doc = mongomock_client["db"]["zarr"].find_one({"_id": "big.zarr/c/0"})
    assert "gridfs" in doc and "v" not in doc
    assert store.get("c/0") == big and store.get_range("c/0", -3) == big[-3:]
    store.set("c/0", b"small again")  # the GridFS file goes with the old value
    assert store.get("c/0") == b"small again"
    assert mongomock_client["db"]["zarr_gridfs.files"].count_documents({}) == 0


@pytest.mark.parametrize("url", ["mongodb://localhost", "mongodb:///db", "redis+mongodb://h/db"])
def test_bad_urls_say_how_to_write_one(url):
    with pytest.raises(ZarrioError, match="mongodb://host:port/db"):
        MongoDBStore.from_url(url)


def test_pickles_without_client_or_password_in_repr(mongomock_client):
    store = open_store("mongodb://me:hunter2-secret@localhost/db/a.zarr")
    store.set("k", b"v")
    assert "hunter2-secret" not in repr(store.__reduce__())
    assert b"mongomock" not in pickle.dumps(store)
    assert pickle.loads(pickle.dumps(store)).get("k") == b"v"


def test_a_missing_package_says_which_extra_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "pymongo", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'dask_zarrio\[mongodb\]'"):
        MongoDBStore.from_url("mongodb://127.0.0.1:1/db").get("k")
