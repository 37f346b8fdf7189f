"""malloc thresholds raised while dask_zarrio's tasks run in a distributed worker, and given back."""

from __future__ import annotations

import platform
import subprocess
import sys
import threading
import time

import dask
import dask.array as da
import numpy as np
import pytest

import dask_zarrio as dz
from dask_zarrio import malloc
from dask_zarrio.memory import MallocTuning

GLIBC = sys.platform.startswith("linux") and "glibc" in " ".join(platform.libc_ver())
needs_glibc = pytest.mark.skipif(not GLIBC, reason="needs glibc's mallopt (Linux)")

REFAULTED = 20 * 700  # 20 buffers of 768 pages, each faulted in again


def faults(dask_worker=None) -> int:
    """Page faults of allocating and freeing a 3 MiB buffer 20 times (few once malloc reuses it)."""
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(20):
        a = np.ones(3 * 2**20, np.uint8)  # under numpy's huge-page size: 768 pages
        del a
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


class FakeLibc:
    """Records the settings a scope applies instead of calling mallopt."""

    def __init__(self, monkeypatch, worker=(131072, 65536)):
        self.calls: list[tuple[int, int]] = []
        monkeypatch.setattr(malloc, "_worker_settings", lambda: worker)
        monkeypatch.setattr(malloc, "_set", lambda m, t: self.calls.append((m, t)) or True)
        monkeypatch.setattr(malloc, "_libc", lambda: None)
        monkeypatch.setattr(malloc, "LINGER", 0.2)
        self.scope = malloc._Scope()
        monkeypatch.setattr(malloc, "_SCOPE", self.scope)


def test_scope_tunes_on_first_task_and_restores_after_the_last_one(monkeypatch):
    fake = FakeLibc(monkeypatch)
    started, release = threading.Event(), threading.Event()

    @malloc.task
    def slow() -> None:
        started.set()
        release.wait(5)

    with malloc.working():
        t = threading.Thread(target=slow)
        t.start()
        started.wait(5)
    assert fake.calls == [(malloc.MMAP_THRESHOLD, malloc.TRIM_THRESHOLD)]  # once, for both tasks
    time.sleep(0.5)
    assert len(fake.calls) == 1, "restored while a task still runs"
    release.set()
    t.join()
    deadline = time.monotonic() + 5
    while len(fake.calls) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert fake.calls[1] == (131072, 65536)  # the worker's own settings, after LINGER
    with malloc.working():  # and tuned again by the next task
        assert fake.calls[2] == (malloc.MMAP_THRESHOLD, malloc.TRIM_THRESHOLD)
    while fake.scope.restore is not None and time.monotonic() < deadline + 5:
        time.sleep(0.02)  # let the watcher finish before the fakes go
    assert fake.calls[3] == (131072, 65536)


def test_scope_stays_out_of_processes_without_distributeds_setting(monkeypatch):
    fake = FakeLibc(monkeypatch, worker=None)
    with malloc.working():
        pass
    assert fake.calls == []


def test_scope_leaves_a_permanently_tuned_process_alone(monkeypatch):
    fake = FakeLibc(monkeypatch)
    fake.scope.settled = True
    with malloc.working():
        pass
    time.sleep(0.4)
    assert fake.calls == []


def test_task_decorator_keeps_the_function_picklable():
    import pickle

    from dask_zarrio.tasks import write_region

    assert pickle.loads(pickle.dumps(write_region)) is write_region
    assert write_region.__doc__ and write_region.__name__ == "write_region"


@pytest.mark.parametrize("env, expected", [
    ({}, None),  # glibc's own dynamic thresholds
    ({"MALLOC_TRIM_THRESHOLD_": "65536"}, None),  # not a distributed worker
    ({"MALLOC_TRIM_THRESHOLD_": "junk"}, None),
])
def test_worker_settings_outside_a_worker(monkeypatch, env, expected):
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert malloc._worker_settings() == expected


def _write_one(url: str) -> None:
    dz.write(da.ones((64, 64), chunks=32), url, mode="w")


@needs_glibc
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_worker_reuses_memory_while_dask_zarrio_works_and_gets_its_setting_back(tmp_path):
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        client.run(lambda: setattr(malloc, "LINGER", 3.0))
        (before,) = client.run(faults).values()
        _write_one(str(tmp_path / "a.zarr"))
        (during,) = client.run(faults).values()  # within LINGER of the task
        time.sleep(4.5)
        (after,) = client.run(faults).values()
        assert dz.read(str(tmp_path / "a.zarr")).sum().compute() == 64 * 64
        (reading,) = client.run(faults).values()
    assert before >= REFAULTED and after >= REFAULTED  # distributed's setting, as started and restored
    assert during < REFAULTED / 10 and reading < REFAULTED / 10


@needs_glibc
@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("how", ["keep", "plugin"])
def test_worker_malloc_is_left_alone_when_asked_or_already_tuned(tmp_path, how):
    from distributed import Client, LocalCluster

    with dask.config.set({"dask_zarrio.worker-malloc": "keep" if how == "keep" else "auto"}), \
            LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        client.run(lambda: setattr(malloc, "LINGER", 0.5))
        if how == "plugin":
            client.register_plugin(MallocTuning())
        _write_one(str(tmp_path / "a.zarr"))
        time.sleep(1.5)
        (after,) = client.run(faults).values()
    if how == "keep":
        assert after >= REFAULTED  # distributed's setting untouched
    else:
        assert after < REFAULTED / 10  # the plugin's tuning is never undone


@needs_glibc
def test_threaded_scheduler_leaves_malloc_alone(tmp_path):
    code = f"""
import dask, dask.array as da, dask_zarrio as dz
import numpy as np, resource
from dask_zarrio import malloc
malloc.LINGER = 60
dz.write(da.ones((64, 64), chunks=32), {str(tmp_path / "b.zarr")!r}, mode="w")
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    a = np.ones(3 * 2**20, np.uint8); del a
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before, malloc._SCOPE.restore)
"""
    out = subprocess.run([sys.executable, "-c", code], env={"PATH": "/usr/bin:/bin", "MALLOC_TRIM_THRESHOLD_": "65536"},
                         capture_output=True, text=True, check=True)
    refaults, restore = out.stdout.split()
    assert int(refaults) >= REFAULTED and restore == "None"
