"""Time a call and sample resident memory while it runs (Linux ``/proc``), standard library only.

Kept apart from the benchmarks that import ``dask_zarrio`` so that a child running under
another interpreter (``benchmarks/rechunker_child.py``, in the zarr 2 venv of
``scripts/bench-rechunker-venv.sh``, where ``dask_zarrio`` is not installed) measures itself
exactly as the other contenders do.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path


def warm_imports() -> None:
    """Import what dask imports lazily at a process's first array compute, before the clock.

    dask (2026.x) imports ``distributed.shuffle`` when it first finalizes an array graph,
    threaded scheduler or not: 0.15-0.3 s inside the first ``dask.compute`` of a fresh
    process. Every contender's modules are imported before its clock; this one too, for each
    dask-based contender alike (dz, dask, rechunker).
    """
    try:
        import distributed.shuffle._core  # noqa: F401
    except ImportError:  # an environment without distributed: dask skips it too
        pass


def _rss(pid: int | str = "self") -> int:
    """Resident bytes of process ``pid`` (default: this one)."""
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def measure(fn: Callable[[], object], pids: Sequence[int] = ()) -> tuple[float, int]:
    """Seconds ``fn`` took and the bytes the resident set grew by at its peak (sampled every 2 ms).

    Parameters
    ----------
    fn
        The work; only its call is timed.
    pids
        Other processes doing the work (a cluster's workers): each is sampled alongside this
        one and its own peak growth over its size before ``fn`` started is added. Summing each
        process's peak overstates a peak they never reached together, if anything: a bound,
        not an underestimate. A process that has gone counts with its last sample.
    """
    procs: list[int | str] = ["self", *pids]
    base = {p: _rss(p) for p in procs}
    peak, done = dict(base), threading.Event()

    def sample() -> None:
        while not done.is_set():
            for p in procs:
                try:
                    peak[p] = max(peak[p], _rss(p))
                except OSError:  # exited (a worker restarted): keep what it reached
                    pass
            done.wait(0.002)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t = time.perf_counter()
    try:
        fn()
    finally:
        seconds = time.perf_counter() - t
        done.set()
        sampler.join()
    for p in procs:  # the last word: work shorter than one sampling interval
        try:
            peak[p] = max(peak[p], _rss(p))
        except OSError:
            pass
    return seconds, sum(max(0, peak[p] - base[p]) for p in procs)


def run_child(module: str, args: Sequence[object], timeout: float = 3600) -> dict[str, float]:
    """``python -m <module> --child <args>`` in a fresh process, from the repository root: the JSON
    figures it prints last (each benchmark's child measures itself with :func:`measure`)."""
    cmd = [sys.executable, "-m", module, "--child", *map(str, args)]
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(cmd, cwd=root, capture_output=True, text=True, check=True, timeout=timeout)
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@contextmanager
def scratch_folder(given: str | None, prefix: str) -> Iterator[Path]:
    """``given``, or a temporary folder removed afterwards: where a benchmark writes its data."""
    path = Path(given or tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        if not given:
            shutil.rmtree(path, ignore_errors=True)
