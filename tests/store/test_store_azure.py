"""Azure Blob through adlfs (FsspecStore + dask_zarrio/store/support/azure.py) against the Azurite
emulator: the store contract, credentials from the environment, ranges and conditional writes."""

from __future__ import annotations

import pickle

import dask.array as da
import fsspec
import numpy as np
import pytest

import dask_zarrio as dz
from dask_zarrio.store import FsspecStore, Store, open_store
from dask_zarrio.testing.store_tests import StoreTests
from tests.conftest import assert_same
from tests.servers.azurite import ACCOUNT_KEY, azure_options, connection_string


class TestAzureStore(StoreTests):
    secrets = (ACCOUNT_KEY,)

    @pytest.fixture
    def store(self, azurite_endpoint: str, container: str) -> Store:
        return open_store(f"az://{container}/root.zarr/node", azure_options(azurite_endpoint))

    def _fs(self, store: Store) -> fsspec.AbstractFileSystem:
        assert isinstance(store, FsspecStore)
        # A second filesystem instance: no cache shared with the store under test.
        return fsspec.filesystem("az", **store.fs.storage_options)

    def set_back_door(self, store: Store, key: str, value: bytes) -> None:
        assert isinstance(store, FsspecStore)
        self._fs(store).pipe_file(f"{store.root}/{key}", value)

    def get_back_door(self, store: Store, key: str) -> bytes | None:
        assert isinstance(store, FsspecStore)
        try:
            return bytes(self._fs(store).cat_file(f"{store.root}/{key}"))
        except FileNotFoundError:
            return None


@pytest.mark.parametrize("scheme", ["az", "abfs"])
def test_credentials_from_the_environment(azurite_endpoint, container, monkeypatch, scheme):
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", connection_string(azurite_endpoint))
    url = f"{scheme}://{container}/a.zarr"
    dz.write(da.arange(30, chunks=7), url, storage_options={"skip_instance_cache": True})
    store = open_store(url, {"skip_instance_cache": True})
    assert ACCOUNT_KEY not in repr(store) and ACCOUNT_KEY not in store.token()
    assert_same(dz.read(pickle.loads(pickle.dumps(store))).compute(), np.arange(30))


def test_the_account_key_never_shows_in_task_names_or_reprs(azurite_endpoint, container):
    opts = azure_options(azurite_endpoint)
    dz.write(da.ones(8, chunks=4), f"az://{container}/a.zarr", storage_options=opts)
    y = dz.read(f"az://{container}/a.zarr", storage_options=opts)
    texts = [y.name, repr(y.dask), *map(str, y.__dask_keys__())]
    assert all(ACCOUNT_KEY not in t and "AccountKey" not in t for t in texts)
