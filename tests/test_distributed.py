"""Everything sent to workers pickles: the same write/read under a process-based cluster."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import zarr
from distributed import Client, LocalCluster

import dask_zarrio as dz


@pytest.fixture(scope="module")
def client():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with Client(cluster) as c:
            yield c


@pytest.mark.parametrize("fmt", [2, 3])
def test_write_and_read_on_process_cluster(client, tmp_path, fmt):
    url = str(tmp_path / "a.zarr")
    x = da.random.default_rng(1).standard_normal((200, 120), chunks=(50, 40))
    expected = x.compute()
    dz.write(x, url, zarr_format=fmt, chunks=(25, 40))
    assert np.array_equal(zarr.open_array(url, mode="r")[...], expected)
    y = dz.read(url, chunks=(100, 120))
    assert np.array_equal(y.compute(), expected)
    assert float(y.sum().compute()) == pytest.approx(float(expected.sum()))


def test_memory_store_errors_travel_back(client, tmp_path):
    url = str(tmp_path / "b.zarr")
    dz.write(da.ones(10, chunks=5), url)
    (tmp_path / "b.zarr" / "c" / "1").write_bytes(b"junk")
    with pytest.raises(dz.ChunkDecodeError, match="c/1"):
        dz.read(url).compute()
