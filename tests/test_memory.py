"""Worker malloc tuning: freed chunk-sized buffers are reused, not re-faulted."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from dask_zarrio.memory import WORKER_ENV, MallocTuning

# Checked without calling mallopt: this module is imported inside the workers too.
pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or "glibc" not in " ".join(platform.libc_ver()),
    reason="needs glibc's mallopt (Linux)",
)

_PROBE = """
import resource
import numpy as np

def faults():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(20):
        a = np.ones(3 * 2**20, np.uint8)  # 3 MiB: under numpy's huge-page size, 768 pages
        del a
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
"""


def _faults_in_worker(dask_worker=None):
    namespace: dict = {}
    exec(_PROBE, namespace)
    return namespace["faults"]()


def _run_probe(env, tune):
    code = _PROBE + f"""
from dask_zarrio.memory import tune_malloc
before = faults()
assert tune_malloc() if {tune} else True
print(before, faults())
"""
    out = subprocess.run([sys.executable, "-c", code], env={"PATH": "/usr/bin:/bin", **env},
                         capture_output=True, text=True, check=True)
    return [int(v) for v in out.stdout.split()]


def test_tuning_stops_refaulting_under_distributeds_trim_setting():
    before, after = _run_probe({"MALLOC_TRIM_THRESHOLD_": "65536"}, tune=True)
    assert before >= 20 * 700  # every 3 MiB buffer was faulted in again
    assert after < before / 10


def test_worker_env_does_the_same_at_process_start():
    first, second = _run_probe(WORKER_ENV, tune=False)
    assert first < 20 * 700 / 10 and second < 20 * 700 / 10


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_plugin_tunes_every_worker_process():
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        (before,) = client.run(_faults_in_worker).values()
        client.register_plugin(MallocTuning())
        (after,) = client.run(_faults_in_worker).values()
        (applied,) = client.run(lambda dask_worker: dask_worker.dask_zarrio_malloc_tuned).values()
    assert applied is True
    assert before >= 20 * 700 and after < before / 10
