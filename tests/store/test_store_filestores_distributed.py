"""SQLite, LMDB and ZIP stores under a distributed LocalCluster with worker processes (the
shared one of tests/conftest.py, through its ``client`` fixture):
SQLite and LMDB take parallel writers from several processes; a ZIP archive refuses
them with advice (dask_zarrio/store/backends/sqlite.py, lmdb_store.py, zip_store.py)."""

from __future__ import annotations

import os

import dask
import dask.array as da
import numpy as np
import pytest

import dask_zarrio as dz
from dask_zarrio.errors import (
    ArrayNotFoundError,
    ChunkDecodeError,
    StoreError,
    StorePermissionError,
)
from dask_zarrio.store.backends.zip_store import ZipStore


@pytest.mark.parametrize("kind,name", [("sqlite", "data.db"), ("lmdb", "env")])
def test_worker_processes_write_and_read_one_file(tmp_path, client, kind, name):
    url = f"{kind}://{tmp_path}/{name}?path=arr"
    x = da.arange(20_000, dtype="i8", chunks=500).reshape(200, 100)
    dz.write(x, url, chunks=(10, 100))
    # Every worker process wrote some of the chunks.
    who = client.run(lambda: __import__("os").getpid())
    assert len(set(who.values())) == 2
    np.testing.assert_array_equal(dz.read(url).compute(), np.arange(20_000).reshape(200, 100))
    assert (dz.read(url).sum().compute()) == np.arange(20_000).sum()


def test_worker_processes_may_read_a_zip_but_dz_write_refuses_them_up_front(tmp_path, client):
    x = np.arange(100).reshape(10, 10)
    with dask.config.set(scheduler="threads"):
        dz.write(da.from_array(x, chunks=5), f"zip://{tmp_path}/a.zip", chunks=(5, 5))
    np.testing.assert_array_equal(dz.read(f"zip://{tmp_path}/a.zip").compute(), x)
    for compute in (True, False):
        with pytest.raises(StoreError, match="one process only.*nothing was written.*pack"):
            dz.write(da.from_array(x, chunks=5), f"zip://{tmp_path}/b.zip", chunks=(5, 5), compute=compute)
    assert not os.path.exists(tmp_path / "b.zip")  # not even the write journal


def _write_member(store: ZipStore) -> None:
    store.set("c/0", b"x")


def test_a_zip_written_from_a_worker_process_refuses_with_its_own_error_class(tmp_path, client):
    """Past dz.write's check (a store used directly): the worker's StoreError reaches the
    client as a StoreError, not a plain Exception (errors pickle by constructor arguments)."""
    with pytest.raises(StoreError, match="one process only.*pack") as caught:
        client.submit(_write_member, ZipStore(str(tmp_path / "c.zip"))).result()
    assert type(caught.value) is StoreError


@pytest.mark.parametrize("cls", [StoreError, ArrayNotFoundError, StorePermissionError, ChunkDecodeError])
def test_errors_raised_on_worker_processes_reach_the_client_as_their_class(client, cls):
    with pytest.raises(cls, match="'a/c/0'") as caught:
        client.submit(_raise, cls, "'a/c/0' failed; fix it", pure=False).result()
    assert type(caught.value) is cls


def _raise(cls: type[Exception], message: str) -> None:
    raise cls(message)
