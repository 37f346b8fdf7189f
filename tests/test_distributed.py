"""Everything sent to workers pickles: the same write/read under a process-based cluster
(the shared one of tests/conftest.py, through its ``client`` fixture)."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import zarr

import dask_zarrio as dz


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


@pytest.mark.parametrize("repeat", range(2))
def test_misaligned_write_on_process_cluster_is_not_corrupted(client, tmp_path, repeat):
    """dask/dask#12583 on distributed: the planner rechunks (p2p) instead of racing."""
    url = str(tmp_path / "m.zarr")
    source = np.random.default_rng(repeat).standard_normal((400, 400))
    dz.write(da.from_array(source, chunks=25), url, chunks=(40, 40))
    assert np.array_equal(zarr.open_array(url, mode="r")[...], source)


def test_region_and_append_on_process_cluster(client, tmp_path):
    url = str(tmp_path / "r.zarr")
    dz.write(da.zeros((23, 5), chunks=(5, 5)), url)
    dz.write(da.ones((9, 5), chunks=4), url, mode="r+", region=(slice(3, 12),))
    dz.write(da.full((6, 5), 2.0, chunks=3), url, mode="a", append_dim=0)
    expected = np.zeros((29, 5))
    expected[3:12] = 1
    expected[23:] = 2
    assert np.array_equal(dz.read(url).compute(), expected)


def test_tasks_really_run_on_the_cluster(client, tmp_path):
    url = str(tmp_path / "w.zarr")
    dz.write(da.ones(10, chunks=5), url)
    import dask

    assert dask.base.get_scheduler() == client.get
    dz.read(url).sum().compute()
    prefixes = client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.task_prefixes))
    assert "read-zarr" in prefixes and "write-zarr" in prefixes


def test_large_numpy_write_sends_a_small_graph(tmp_path):
    """dz.write of a large numpy array on a cluster scatters it: no "Sending large graph" warning
    from distributed, and the data arrive whole."""
    import warnings

    from distributed import Client, LocalCluster

    arr = np.random.default_rng(0).random((2048, 2048))  # 32 MiB
    url = str(tmp_path / "big.zarr")
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster, \
            Client(cluster):
        with warnings.catch_warnings():
            warnings.filterwarnings("error", message=".*[Ll]arge graph.*")
            dz.write(arr, url, chunks=(512, 512))
    np.testing.assert_array_equal(dz.read(url).compute(scheduler="sync"), arr)


def test_a_scattered_numpy_array_goes_block_by_block(tmp_path):
    """Each block is sent to one worker once: one scattered whole would be fetched whole by every
    worker that writes a block of it (workers x the array in memory)."""
    from distributed import Client, LocalCluster

    from dask_zarrio.writing.incoming import as_dask_array

    arr = np.random.default_rng(0).random((1000, 3000))  # 24 MB, over SCATTER_BYTES
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        x = as_dask_array(arr, (300, 1000))
        assert x.chunks == ((300, 300, 300, 100), (1000, 1000, 1000))
        sizes = client.run_on_scheduler(lambda dask_scheduler: sorted(
            ts.nbytes for ts in dask_scheduler.tasks.values() if ts.state == "memory"))
        assert len(sizes) == 12 and max(sizes) <= 300 * 1000 * 8 + 1024
        np.testing.assert_array_equal(x.compute(), arr)
