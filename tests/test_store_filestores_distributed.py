"""SQLite, LMDB and ZIP stores under a distributed LocalCluster with worker processes:
SQLite and LMDB take parallel writers from several processes; a ZIP archive refuses
them with advice (dask_zarrio/store/sqlite.py, lmdb_store.py, zip_store.py)."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
from distributed import Client, LocalCluster

import dask_zarrio as dz
from dask_zarrio.errors import StoreError


@pytest.fixture(scope="module")
def client():
    with LocalCluster(n_workers=2, threads_per_worker=2, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as c:
        yield c


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


def test_worker_processes_may_read_a_zip_but_not_write_it(tmp_path, client):
    x = np.arange(100).reshape(10, 10)
    with __import__("dask").config.set(scheduler="threads"):
        dz.write(da.from_array(x, chunks=5), f"zip://{tmp_path}/a.zip", chunks=(5, 5))
    np.testing.assert_array_equal(dz.read(f"zip://{tmp_path}/a.zip").compute(), x)
    # The worker's StoreError reaches the client as a plain Exception with the same text:
    # tblib cannot rebuild a ValueError+OSError subclass (a project-wide limitation).
    with pytest.raises((StoreError, Exception), match="one process only.*pack"):
        dz.write(da.from_array(x, chunks=5), f"zip://{tmp_path}/b.zip", chunks=(5, 5))
