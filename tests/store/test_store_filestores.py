"""SQLiteStore, ZipStore and LMDBStore (dask_zarrio/store/backends/sqlite.py, zip_store.py, lmdb_store.py):
the store contract through a back door each (raw sqlite3, zipfile, lmdb), then what only
these stores do: URL forms, pickling without handles, refusals and corrupt files."""

from __future__ import annotations

import os
import sqlite3
import zipfile

import lmdb
import pytest

from dask_zarrio.store import Store, open_store
from dask_zarrio.store.backends.lmdb_store import LMDBStore
from dask_zarrio.store.backends.sqlite import SQLiteStore
from dask_zarrio.store.backends.zip_store import ZipStore
from dask_zarrio.store.base import join_key
from dask_zarrio.testing.store_tests import StoreTests


class TestSQLiteStore(StoreTests):
    @pytest.fixture
    def store(self, tmp_path) -> Store:
        return open_store(f"sqlite://{tmp_path}/data.db?path=root.zarr/node")

    def _db(self, store: Store) -> sqlite3.Connection:
        assert isinstance(store, SQLiteStore)
        conn = sqlite3.connect(store.path, isolation_level=None)
        conn.execute("CREATE TABLE IF NOT EXISTS zarr (k TEXT PRIMARY KEY, v BLOB)")
        return conn

    def set_back_door(self, store: Store, key: str, value: bytes) -> None:
        with self._db(store) as conn:
            conn.execute("INSERT OR REPLACE INTO zarr VALUES (?, ?)", (join_key(store.root, key), value))  # type: ignore[attr-defined]

    def get_back_door(self, store: Store, key: str) -> bytes | None:
        with self._db(store) as conn:
            row = conn.execute("SELECT v FROM zarr WHERE k = ?", (join_key(store.root, key),)).fetchone()  # type: ignore[attr-defined]
        return None if row is None else bytes(row[0])


class TestZipStore(StoreTests):
    @pytest.fixture
    def store(self, tmp_path) -> Store:
        return open_store(f"zip://{tmp_path}/data.zip?path=root.zarr/node")

    def set_back_door(self, store: Store, key: str, value: bytes) -> None:
        # What zarr-python's ZipStore does on a second write of a key: a duplicate member,
        # the last one winning.
        assert isinstance(store, ZipStore)
        with pytest.warns(UserWarning) if self.get_back_door(store, key) is not None else _nothing():
            with zipfile.ZipFile(store.path, "a") as zf:
                zf.writestr(join_key(store.root, key), value)

    def get_back_door(self, store: Store, key: str) -> bytes | None:
        assert isinstance(store, ZipStore)
        if not os.path.exists(store.path):
            return None
        with zipfile.ZipFile(store.path) as zf:
            try:
                return zf.read(join_key(store.root, key))
            except KeyError:
                return None


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


class TestLMDBStore(StoreTests):
    @pytest.fixture
    def store(self, tmp_path) -> Store:
        return open_store(f"lmdb://{tmp_path}/env?path=root.zarr/node")

    def set_back_door(self, store: Store, key: str, value: bytes) -> None:
        assert isinstance(store, LMDBStore)
        # A second environment handle in this process is what LMDB forbids; a child
        # process would be the cleanest back door, the store's own handle the closest.
        env = _back_door_env(store.path)
        with env.begin(write=True) as txn:
            txn.put(join_key(store.root, key).encode(), value)

    def get_back_door(self, store: Store, key: str) -> bytes | None:
        assert isinstance(store, LMDBStore)
        if not os.path.exists(os.path.join(store.path, "data.mdb")):
            return None
        with _back_door_env(store.path).begin() as txn:
            return txn.get(join_key(store.root, key).encode())


def _back_door_env(path: str) -> lmdb.Environment:
    """The raw lmdb environment of ``path`` (shared with the store: LMDB allows one per process)."""
    from dask_zarrio.store.backends.lmdb_store import _ENVIRONMENTS

    holder = _ENVIRONMENTS.get(path)
    if holder.env is None:
        holder.env = lmdb.open(path, map_size=2**30, subdir=True)
    return holder.env
