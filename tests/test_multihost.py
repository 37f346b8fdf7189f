"""A real multi-host run: an S3 server, a scheduler and two workers, each on its own test host.

The hosts are network namespaces this test creates (private addresses on a bridge that exists
only here) and removes again; every process is started by the test and stopped by its pid.
"""

from __future__ import annotations

import sys
import time
import urllib.request

import dask.array as da
import numpy as np
import pytest

import dask_zarrio as dz
from tests.servers.netns import NetnsLab, netns_unavailable
from tests.servers.s3 import create_bucket, s3_options

REASON = netns_unavailable()
# One xdist worker runs the module, so that its lab (four hosts, moto, a scheduler, two
# workers) is built once, not once per worker (once pytest-xdist#1386 is fixed: see
# SHARED_BY_GROUP in tests/conftest.py; two labs at once are safe, NetnsLab names them apart).
pytestmark = [pytest.mark.multihost, pytest.mark.slow, pytest.mark.xdist_group("multihost"),
              pytest.mark.skipif(REASON is not None, reason=f"multi-host test skipped: {REASON}")]


def _wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not answer within {timeout} s") from None
            time.sleep(0.2)


@pytest.fixture(scope="module")
def lab():
    with NetnsLab(["s3", "sched", "w1", "w2"]) as lab:
        s3 = lab.address("s3")
        lab.start("s3", [sys.executable, "-m", "moto.server", "-H", s3, "-p", "5000"])
        lab.start("sched", [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", lab.address("sched"),
                            "--port", "8786", "--dashboard-address", f"{lab.address('sched')}:8787"])
        _wait_http(f"http://{s3}:5000/moto-api/")
        _wait_http(f"http://{lab.address('sched')}:8787/health")
        lab.workers = {}
        for name in ("w1", "w2"):
            lab.workers[name] = lab.start(name, [
                sys.executable, "-m", "distributed.cli.dask_worker", f"tcp://{lab.address('sched')}:8786",
                "--host", lab.address(name), "--nthreads", "1", "--name", name, "--no-dashboard"])
        yield lab


@pytest.fixture(scope="module")
def client(lab):
    from distributed import Client

    with Client(f"tcp://{lab.address('sched')}:8786", timeout=60) as c:
        c.wait_for_workers(2, timeout=60)
        yield c


def test_write_and_read_across_hosts(lab, client):
    endpoint = f"http://{lab.address('s3')}:5000"
    create_bucket(endpoint, "multi")
    opts = s3_options(endpoint)
    x = da.random.default_rng(7).standard_normal((400, 300), chunks=(50, 60))
    expected = x.compute(scheduler="threads")
    dz.write(x, "s3://multi/a.zarr", chunks=(25, 60), storage_options=opts)
    back = dz.read("s3://multi/a.zarr", storage_options=opts)
    assert np.array_equal(back.compute(), expected)
    # Both workers, each on its own host, did part of the work.
    hosts = {w["host"] for w in client.scheduler_info()["workers"].values()}
    assert hosts == {lab.address("w1"), lab.address("w2")}


def test_killing_a_worker_mid_write_still_writes_everything(lab, client):
    endpoint = f"http://{lab.address('s3')}:5000"
    create_bucket(endpoint, "killed")
    opts = s3_options(endpoint)
    source = np.random.default_rng(8).standard_normal((1200, 400))
    # 60 blocks of ~50 ms each (a lambda travels by value: the workers cannot import this module).
    x = da.from_array(source, chunks=(20, 400)).map_blocks(lambda b: (time.sleep(0.05), b)[1], dtype=source.dtype)
    future = client.compute(dz.write(x, "s3://killed/a.zarr", chunks=(20, 400), storage_options=opts, compute=False))

    def written(dask_scheduler):
        return sum(1 for ts in dask_scheduler.tasks.values() if "write-zarr" in str(ts.key) and ts.state == "memory")

    deadline = time.monotonic() + 60
    while (done := client.run_on_scheduler(written)) < 3:
        assert time.monotonic() < deadline, "the write never started"
        time.sleep(0.02)
    lab.stop(lab.workers["w1"])  # mid-write: the scheduler reruns the lost tasks on w2
    assert done < 60, "the write finished before the worker was killed"
    assert future.result(timeout=120) == 60
    assert len(client.scheduler_info()["workers"]) == 1
    back = dz.read("s3://killed/a.zarr", storage_options=opts).compute(scheduler="threads")
    assert np.array_equal(back, source)
