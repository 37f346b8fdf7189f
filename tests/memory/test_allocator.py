"""glibc malloc thresholds in distributed workers: one switch, no surprises elsewhere.

The task scope raises them while dask_zarrio's tasks run in a worker (``worker-memory:
auto``) and gives the worker its own settings back; ``off`` leaves malloc alone;
``on``, :func:`tune_malloc`, :class:`MallocTuning` and :data:`WORKER_ENV` keep them
raised for good. Effects are checked by counting page faults: under distributed's
setting every freed 3 MiB buffer is faulted in again, with raised thresholds it is not.
"""

from __future__ import annotations

import logging
import platform
import subprocess
import sys
import threading
import time

import dask
import dask.array as da
import pytest

import dask_zarrio as dz
from dask_zarrio.memory import allocator as worker_memory
from dask_zarrio.memory.allocator import WORKER_ENV, MallocTuning
from tests.conftest import wait_until

GLIBC = sys.platform.startswith("linux") and "glibc" in " ".join(platform.libc_ver())
needs_glibc = pytest.mark.skipif(not GLIBC, reason="needs glibc's mallopt (Linux)")

REFAULTED = 20 * 700  # 20 buffers of 768 pages, each faulted in again

_PROBE = """
import resource

import numpy as np

def faults(dask_worker=None):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(20):
        a = np.ones(3 * 2**20, np.uint8)  # 3 MiB: under numpy's huge-page size, 768 pages
        del a
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
"""


def faults(dask_worker=None) -> int:
    """Page faults of allocating and freeing a 3 MiB buffer 20 times (few once malloc reuses it)."""
    namespace: dict = {}
    exec(_PROBE, namespace)
    return namespace["faults"]()


def _subprocess(code: str, env: dict[str, str]) -> list[str]:
    out = subprocess.run([sys.executable, "-c", _PROBE + code], env={"PATH": "/usr/bin:/bin", **env},
                         capture_output=True, text=True, check=True)
    return out.stdout.split()


class FakeLibc:
    """Records the settings a scope applies instead of calling mallopt."""

    def __init__(self, monkeypatch, worker=(131072, 65536), in_worker=True):
        self.calls: list[tuple[int, int]] = []
        monkeypatch.setattr(worker_memory, "_worker_settings", lambda: worker)
        monkeypatch.setattr(worker_memory, "_in_worker", lambda: in_worker)
        monkeypatch.setattr(worker_memory, "_set", lambda m, t: self.calls.append((m, t)) or True)
        monkeypatch.setattr(worker_memory, "_libc", lambda: None)
        monkeypatch.setattr(worker_memory, "LINGER", 0.2)
        self.scope = worker_memory._Scope()
        monkeypatch.setattr(worker_memory, "_SCOPE", self.scope)


@pytest.fixture(autouse=True)
def _auto():
    """The scope's tests run with it switched on (opt-in since the codecs own their contexts)."""
    with dask.config.set({"dask_zarrio.worker-memory": "auto"}):
        yield


# --- the switch -------------------------------------------------------------------------


def test_default_is_off_and_bad_values_raise_without_counting(monkeypatch):
    from dask_zarrio.config import DEFAULTS

    assert DEFAULTS["worker-memory"] == "off"
    fake = FakeLibc(monkeypatch)
    with dask.config.set({"dask_zarrio.worker-memory": "sometimes"}):
        with pytest.raises(ValueError, match="worker-memory"):
            with worker_memory.working():
                pass
    assert fake.scope.active == 0 and fake.calls == []


def test_off_leaves_malloc_alone(monkeypatch):
    fake = FakeLibc(monkeypatch)
    with dask.config.set({"dask_zarrio.worker-memory": "off"}):
        with worker_memory.working():
            pass
    assert fake.calls == [] and fake.scope.restore is None
    with worker_memory.working():  # read per task: back to auto without a restart
        assert fake.calls == [(worker_memory.MMAP_THRESHOLD, worker_memory.TRIM_THRESHOLD)]
    wait_until(lambda: fake.scope.restore is None, 5, "the restore")  # the watcher done before the fakes go


def test_on_tunes_a_worker_for_good(monkeypatch):
    fake = FakeLibc(monkeypatch, worker=None)  # even one started without distributed's setting
    with dask.config.set({"dask_zarrio.worker-memory": "on"}):
        with worker_memory.working():
            pass
    time.sleep(2 * worker_memory.LINGER)  # not a wait: nothing may undo it once LINGER is over
    assert fake.calls == [(worker_memory.MMAP_THRESHOLD, worker_memory.TRIM_THRESHOLD)]
    assert fake.scope.settled and fake.scope.restore is None


def test_on_stays_out_of_processes_that_are_not_workers(monkeypatch):
    fake = FakeLibc(monkeypatch, in_worker=False)
    with dask.config.set({"dask_zarrio.worker-memory": "on"}):
        with worker_memory.working():
            pass
    assert fake.calls == []


def test_engaging_is_logged_once_at_info(monkeypatch, caplog):
    fake = FakeLibc(monkeypatch)
    with caplog.at_level(logging.INFO, logger="dask_zarrio.memory.allocator"):
        for _ in range(2):
            with worker_memory.working():
                pass
            wait_until(lambda: fake.scope.restore is None, 5, "the restore")  # so the next task engages again
    assert len(fake.calls) == 4  # tuned, restored, tuned, restored
    records = [r for r in caplog.records if r.name == "dask_zarrio.memory.allocator"]
    assert len(records) == 1 and records[0].levelno == logging.INFO
    assert "worker-memory: off" in records[0].getMessage()


# --- the task scope ---------------------------------------------------------------------


def test_scope_tunes_on_first_task_and_restores_after_the_last_one(monkeypatch):
    fake = FakeLibc(monkeypatch)
    started, release = threading.Event(), threading.Event()

    @worker_memory.task
    def slow() -> None:
        started.set()
        release.wait(5)

    with worker_memory.working():
        t = threading.Thread(target=slow)
        t.start()
        started.wait(5)
    assert fake.calls == [(worker_memory.MMAP_THRESHOLD, worker_memory.TRIM_THRESHOLD)]  # once, for both tasks
    time.sleep(0.5)  # not a wait: longer than LINGER, and no restore may happen meanwhile
    assert len(fake.calls) == 1, "restored while a task still runs"
    release.set()
    t.join()
    wait_until(lambda: len(fake.calls) >= 2, 5, "the restore after LINGER")
    assert fake.calls[1] == (131072, 65536)  # the worker's own settings, after LINGER
    with worker_memory.working():  # and tuned again by the next task
        assert fake.calls[2] == (worker_memory.MMAP_THRESHOLD, worker_memory.TRIM_THRESHOLD)
    wait_until(lambda: fake.scope.restore is None, 5, "the second restore")
    assert fake.calls[3] == (131072, 65536)


def test_scope_stays_out_of_processes_without_distributeds_setting(monkeypatch):
    fake = FakeLibc(monkeypatch, worker=None)
    with worker_memory.working():
        pass
    assert fake.calls == []


def test_scope_leaves_a_permanently_tuned_process_alone(monkeypatch):
    fake = FakeLibc(monkeypatch)
    fake.scope.settled = True
    with worker_memory.working():
        pass
    time.sleep(2 * worker_memory.LINGER)  # not a wait: nothing may happen once LINGER is over
    assert fake.calls == []


def test_task_decorator_keeps_the_function_picklable():
    import pickle

    from dask_zarrio.graph.tasks import write_region

    assert pickle.loads(pickle.dumps(write_region)) is write_region
    assert write_region.__doc__ and write_region.__name__ == "write_region"


@pytest.mark.parametrize("env", [
    {},  # glibc's own dynamic thresholds
    {"MALLOC_TRIM_THRESHOLD_": "65536"},  # not a distributed worker
    {"MALLOC_TRIM_THRESHOLD_": "junk"},
])
def test_worker_settings_outside_a_worker(monkeypatch, env):
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert worker_memory._worker_settings() is None


# --- real processes ---------------------------------------------------------------------


@needs_glibc
def test_reading_and_writing_on_threads_leaves_malloc_alone(tmp_path):
    """The threaded scheduler's process keeps distributed's (or any) malloc setting."""
    code = f"""
import dask, dask.array as da, dask_zarrio as dz
from dask_zarrio.memory import allocator as worker_memory
worker_memory.LINGER = 60
url = {str(tmp_path / "b.zarr")!r}
with dask.config.set(scheduler="threads"):
    dz.write(da.ones((64, 64), chunks=32), url, mode="w")
    assert dz.read(url).sum().compute() == 64 * 64
print(faults(), worker_memory._SCOPE.restore, worker_memory._SCOPE.settled)
"""
    refaults, restore, settled = _subprocess(code, {"MALLOC_TRIM_THRESHOLD_": "65536"})
    assert int(refaults) >= REFAULTED and restore == "None" and settled == "False"


@needs_glibc
def test_tune_malloc_stops_refaulting_under_distributeds_trim_setting():
    code = """
from dask_zarrio.memory.allocator import tune_malloc
before = faults()
assert tune_malloc()
print(before, faults())
"""
    before, after = map(int, _subprocess(code, {"MALLOC_TRIM_THRESHOLD_": "65536"}))
    assert before >= REFAULTED
    assert after < before / 10


@needs_glibc
def test_worker_env_does_the_same_at_process_start():
    first, second = map(int, _subprocess("print(faults(), faults())", WORKER_ENV))
    assert first < REFAULTED / 10 and second < REFAULTED / 10


def _write_one(url: str) -> None:
    dz.write(da.ones((64, 64), chunks=32), url, mode="w")


def _lingered(client) -> bool:
    """Whether the worker's LINGER after its last dask_zarrio task is over and nothing is left
    to restore: what its malloc settings are now, they keep."""

    def over() -> bool:
        scope = worker_memory._SCOPE
        with scope.cond:
            return scope.restore is None and time.monotonic() - scope.last_exit > worker_memory.LINGER

    return all(client.run(over).values())


# Each test below has a LocalCluster of its own, not tests/conftest.py's shared one: a
# single worker process whose page faults are counted, started under the dask config the
# test sets, and changed for good (LINGER, MallocTuning, malloc itself).


@needs_glibc
@pytest.mark.slow  # LINGER is 3 s, for the measurement within it to be safe on a loaded machine
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_worker_reuses_memory_while_dask_zarrio_works_and_gets_its_setting_back(tmp_path):
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        client.run(lambda: setattr(worker_memory, "LINGER", 3.0))
        (before,) = client.run(faults).values()
        _write_one(str(tmp_path / "a.zarr"))
        (during,) = client.run(faults).values()  # within LINGER of the task
        wait_until(lambda: _lingered(client), 15, "the worker's settings coming back after LINGER")
        (after,) = client.run(faults).values()
        assert dz.read(str(tmp_path / "a.zarr")).sum().compute() == 64 * 64
        (reading,) = client.run(faults).values()
        (logged,) = client.run(lambda: worker_memory._SCOPE.logged).values()
    assert before >= REFAULTED and after >= REFAULTED  # distributed's setting, as started and restored
    assert during < REFAULTED / 10 and reading < REFAULTED / 10
    assert logged is True


@needs_glibc
@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("how", ["off", "on", "plugin"])
def test_worker_malloc_follows_the_switch_and_the_plugin(tmp_path, how):
    from distributed import Client, LocalCluster

    # LocalCluster's worker processes take the dask config in force when they start.
    with dask.config.set({"dask_zarrio.worker-memory": "auto" if how == "plugin" else how}), \
            LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        client.run(lambda: setattr(worker_memory, "LINGER", 0.5))
        if how == "plugin":
            client.register_plugin(MallocTuning())
            (applied,) = client.run(lambda dask_worker: dask_worker.dask_zarrio_malloc_tuned).values()
            assert applied is True
        _write_one(str(tmp_path / "a.zarr"))
        assert dz.read(str(tmp_path / "a.zarr")).sum().compute() == 64 * 64
        wait_until(lambda: _lingered(client), 15, "the end of LINGER")  # when "auto" would restore
        (after,) = client.run(faults).values()
    if how == "off":
        assert after >= REFAULTED  # distributed's setting untouched
    else:
        assert after < REFAULTED / 10  # raised for good: never undone


@needs_glibc
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_plugin_tunes_every_worker_process():
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        (before,) = client.run(faults).values()
        client.register_plugin(MallocTuning())
        (after,) = client.run(faults).values()
    assert before >= REFAULTED and after < before / 10

