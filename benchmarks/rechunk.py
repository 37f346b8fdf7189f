"""The rechunk case of ``python -m benchmarks`` (skip it with ``--skip rechunk``).

Daily maps ``(n, 192, 384)`` float32 in ``(1, 192, 384)`` chunks (blosc-zstd) to time series
``(n, 24, 24)``: the limit (read and decode every chunk into one array, then encode and write
every target chunk, 2 threads, plain files and numcodecs, no dask), ``dz.rechunk``, the same
``dz.rechunk`` on a 2-worker ``distributed.LocalCluster`` (processes, one thread each),
rechunker 0.5.4 on the v2 copy of the maps, ``dz.write(dz.read(src).rechunk(t))``, dask's
``rechunk().to_zarr()`` (zarr's default codec, and again with the source's codec), and the
undecoded v2 -> v3 copy against a plain file copy;
``--rechunk-large`` adds the case 4x larger.

rechunker needs zarr-python 2, so it runs under the python of ``.bench-venvs/rechunker``
(``bash scripts/bench-rechunker-venv.sh`` makes it); without that venv, or with ``--skip
rechunker``, its row says it was not measured and how to set it up. ``--skip rechunk-cluster``
leaves out the cluster.

Each run of each contender is a fresh subprocess (``python -m benchmarks.rechunk CASE ...``,
``benchmarks/rechunker_child.py`` for rechunker) that times the work alone and samples its own
resident memory every 2 ms: no contender inherits another's heap, caches or imported modules'
buffers. Modules are imported before the clock, including what dask imports at a process's
first array compute (:func:`benchmarks.memory.warm_imports`). Seconds are medians of interleaved
rounds; peak memory is the largest growth of the resident set over the process's size before the
work started (on the cluster: that of the process plus each worker's, see :func:`_on_cluster`).
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import statistics
import subprocess
import sys
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dask
import dask.array as da
import numpy as np

import dask_zarrio as dz
from benchmarks.memory import measure, warm_imports
from dask_zarrio.codecs.blosc import BloscCodec

CODEC = {
    "name": "blosc",
    "configuration": {"cname": "zstd", "clevel": 3, "shuffle": "shuffle", "typesize": 4, "blocksize": 0},
}
V2_CODEC = {"id": "blosc", "cname": "zstd", "clevel": 3, "shuffle": 1}
MAX_MEM = "64MiB"
#: Days whose (days, 24, 24) series chunk still fits MAX_MEM with its buffers; longer
#: series get MAX_MEM in proportion (the 4x case: 256 MiB), as a user would have to.
MAX_MEM_DAYS = 2920
THREADS = 2
MAP = (192, 384)
SERIES = (24, 24)
ROOT = Path(__file__).resolve().parent.parent
#: The zarr 2 venv the rechunker contender runs in (``scripts/bench-rechunker-venv.sh``).
RECHUNKER_VENV = ROOT / ".bench-venvs" / "rechunker"
RECHUNKER_SETUP = "bash scripts/bench-rechunker-venv.sh"

#: What each contender runs, by name; ``limit`` and ``file copy`` are the references.
CASES = {
    "limit": "limit: decode all, then encode+write all (2 threads, no dask)",
    "rechunk": f"dz.rechunk(max_mem={MAX_MEM!r} per {MAX_MEM_DAYS} days)",
    "cluster": "the same dz.rechunk, LocalCluster 2 workers x 1 thread",
    "rechunker": "rechunker 0.5.4 on the v2 copy (max_mem='256MB', zarr 2)",
    "write": "dz.write(dz.read(src).rechunk(t))",
    "dask": "da.from_zarr(src).rechunk(t).to_zarr(dst)",
    "dask codec": "the same, to_zarr(compressors=the source's blosc-zstd)",
    "copy": "dz.copy v2 -> v3 (undecoded)",
    "file copy": "plain file copy of the v2 array",
}


def _limit(src: str, dst: str, days: int) -> None:
    """Read and decode every map into one array, then encode and write every series chunk:
    plain files and the same Blosc encoding dz writes (1 MiB zstd blocks), decoded straight
    into the array, 2 threads, no dask."""
    codec = BloscCodec(**CODEC["configuration"])  # type: ignore[arg-type]
    out = np.empty((days, *MAP), np.float32)

    def read(i: int) -> None:
        with open(os.path.join(src, "c", str(i), "0", "0"), "rb") as f:
            codec.decode(f.read(), out=out[i])

    def write(jk: tuple[int, int]) -> None:
        j, k = jk
        part = np.ascontiguousarray(out[:, j * SERIES[0]:(j + 1) * SERIES[0], k * SERIES[1]:(k + 1) * SERIES[1]])
        folder = os.path.join(dst, "c", "0", str(j))
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, str(k)), "wb") as f:
            f.write(codec.encode(part))

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(read, range(days)))
        dz.init(dst, shape=out.shape, dtype=out.dtype, chunks=(days, *SERIES), compressors=CODEC, mode="w")
        list(pool.map(write, [(j, k) for j in range(MAP[0] // SERIES[0]) for k in range(MAP[1] // SERIES[1])]))


def _zarr_codec() -> list[object]:
    """The source's codec as zarr-python spells it: dask's ``to_zarr`` otherwise writes zarr's
    default (zstd, no shuffle), not the bytes ``dz.rechunk`` keeps."""
    from zarr.codecs import BloscCodec as ZarrBlosc

    return [ZarrBlosc(cname="zstd", clevel=3, shuffle="shuffle", typesize=4)]


def max_mem(days: int) -> int:
    """``dz.rechunk``'s max_mem for ``days`` maps: MAX_MEM per MAX_MEM_DAYS (rounded up)."""
    return dask.utils.parse_bytes(MAX_MEM) * -(-days // MAX_MEM_DAYS)


def contender(case: str, src: str, v2: str, out: str, days: int) -> Callable[[], object]:
    """The work of ``case`` (a key of :data:`CASES` but ``rechunker``, which runs in
    ``benchmarks/rechunker_child.py``; ``cluster``'s work is ``rechunk``'s, on the cluster
    that :func:`_on_cluster` starts around it)."""
    target = (days, *SERIES)
    return {
        "limit": lambda: _limit(src, out, days),
        "rechunk": lambda: dz.rechunk(src, out, target, max_mem=max_mem(days), mode="w"),
        "cluster": lambda: dz.rechunk(src, out, target, max_mem=max_mem(days), mode="w"),
        "write": lambda: dz.write(dz.read(src).rechunk(target), out, chunks=target, compressors=CODEC, mode="w"),
        "dask": lambda: da.from_zarr(src).rechunk(target).to_zarr(out, overwrite=True),
        "dask codec": lambda: da.from_zarr(src).rechunk(target).to_zarr(out, overwrite=True, compressors=_zarr_codec()),
        "copy": lambda: dz.copy(v2, out, zarr_format=3, mode="w"),
        "file copy": lambda: shutil.copytree(v2, out),
    }[case]


def _child(case: str, src: str, v2: str, out: str, days: int) -> dict[str, float]:
    """Run one contender in a fresh interpreter; its seconds and peak memory growth."""
    if case == "rechunker":  # zarr 2: its own venv, and a child that does not import dask_zarrio
        cmd = [str(RECHUNKER_VENV / "bin" / "python"), "-m", "benchmarks.rechunker_child", v2, out, str(days)]
    else:
        cmd = [sys.executable, "-m", "benchmarks.rechunk", case, src, v2, out, str(days)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if done.returncode:  # say which contender failed and why, not only the command
        raise RuntimeError(f"rechunk benchmark: {case!r} failed (exit {done.returncode}):\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def rechunker_ready() -> bool:
    """Whether the rechunker venv is there and imports rechunker with zarr 2."""
    python = RECHUNKER_VENV / "bin" / "python"
    check = "import rechunker, zarr; assert zarr.__version__.startswith('2.')"
    return python.exists() and subprocess.run([str(python), "-c", check], capture_output=True).returncode == 0


def not_measured(skip: Collection[str] = ()) -> dict[str, str]:
    """The optional contenders that will not run, with why: ``--skip`` names ``rechunker`` and
    ``rechunk-cluster``, and rechunker without its venv."""
    why = {}
    if "rechunker" in skip:
        why["rechunker"] = "not measured (--skip rechunker)"
    elif not rechunker_ready():
        why["rechunker"] = f"not measured: no zarr 2 venv for it; {RECHUNKER_SETUP} makes it"
    if "rechunk-cluster" in skip:
        why["cluster"] = "not measured (--skip rechunk-cluster)"
    return why


def run_size(scratch: Path, days: int, rounds: int, skip: Collection[str] = ()) -> list[str]:
    """Time every contender on ``days`` maps (those :func:`not_measured` names left out); the lines to print."""
    src, v2, out = str(scratch / "maps.zarr"), str(scratch / "maps_v2.zarr"), str(scratch / "series.zarr")
    x = da.random.default_rng(0).random((days, *MAP), chunks=(1, *MAP), dtype="f4").round(2)
    dz.write(x, src, chunks=(1, *MAP), compressors=CODEC, mode="w")
    dz.write(x, v2, chunks=(1, *MAP), zarr_format=2, compressors=V2_CODEC, mode="w")
    missing = not_measured(skip)
    cases = [c for c in CASES if c not in missing]
    seconds: dict[str, list[float]] = {c: [] for c in cases}
    peaks: dict[str, int] = {c: 0 for c in cases}
    for _ in range(rounds):
        for case in cases:
            shutil.rmtree(out, ignore_errors=True)
            os.sync()  # each contender starts with no dirty pages of the one before to write back
            try:
                got = _child(case, src, v2, out, days)
            finally:
                shutil.rmtree(out + ".tmp", ignore_errors=True)  # rechunker's intermediate, had it failed
            seconds[case].append(got["seconds"])
            peaks[case] = max(peaks[case], int(got["peak"]))
    shutil.rmtree(out, ignore_errors=True)
    median = {c: statistics.median(s) for c, s in seconds.items()}
    limit = median["limit"]
    gb = days * MAP[0] * MAP[1] * 4 / 1e9
    lines = [f"\nrechunk {days}x192x384 float32 ({gb:.2f} GB) (1,192,384) -> ({days}, 24, 24), "
             f"{THREADS} threads, a fresh process per run   seconds  x limit  peak MiB"]
    for case, name in CASES.items():
        if case in missing:
            lines.append(f"{name:<64} {missing[case]}")
        else:
            lines.append(f"{name:<64} {median[case]:7.2f} {limit / median[case]:8.2f} {peaks[case] / 2**20:9.0f}")
    budget = 2 * THREADS * max_mem(days)
    lines.append(f"dz.rechunk peak {peaks['rechunk'] / 2**20:.0f} MiB "
                 f"(goal <= 2 x threads x max_mem = {budget / 2**20:.0f} MiB); "
                 f"{median['dask'] / median['rechunk']:.2f} x dask's rechunk().to_zarr() "
                 f"({median['dask codec'] / median['rechunk']:.2f} x with the source's codec, as dz.rechunk writes)")
    if "rechunker" in median:
        lines.append(f"dz.rechunk is {median['rechunker'] / median['rechunk']:.2f} x rechunker (goal >= 2.5)")
    else:
        lines.append(f"rechunker {missing['rechunker']}")
    if "cluster" in median:
        lines.append(f"dz.rechunk on the cluster: {limit / median['cluster']:.2f} x the limit (goal >= 0.8), "
                     f"{median['rechunk'] / median['cluster']:.2f} x its speed on threads; "
                     "its peak counts this process and both workers")
    lines.append(f"undecoded v2 -> v3 copy: {median['file copy'] / median['copy']:.2f} x a plain file copy")
    return lines


def run(scratch: Path, days: int, rounds: int, large: bool = False, skip: Collection[str] = ()) -> list[str]:
    """The rechunk section: ``days`` maps, and 4x as many with ``large``; ``skip`` as in :func:`not_measured`."""
    lines = run_size(scratch, days, rounds, skip)
    if large:
        lines += run_size(scratch, 4 * days, rounds, skip)
    return lines


def _on_cluster(src: str, out: str, days: int) -> tuple[float, int]:
    """``dz.rechunk`` on a 2-worker ``LocalCluster`` (processes, one thread each): its seconds
    and peak memory growth.

    The cluster starts, its workers import dask_zarrio (as this process did before its clock),
    and only then is the rechunk timed; closing the cluster is not timed either. The work is
    in the worker processes, which this process's resident set does not include, so the peak
    is this process's growth (the scheduler, the client and the nannies live here) plus each
    worker's, every one sampled every 2 ms from its size before the rechunk started.
    """
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        client.run(importlib.import_module, "dask_zarrio")
        pids = [int(pid) for pid in client.run(os.getpid).values()]
        return measure(contender("cluster", src, "", out, days), pids)


def main(argv: list[str]) -> None:
    """Child entry point: ``CASE SRC V2 OUT DAYS``; prints one JSON line (seconds, peak bytes)."""
    case, src, v2, out, days = argv
    warm_imports()
    if case == "cluster":  # the client is the scheduler there, not threads
        seconds, peak = _on_cluster(src, out, int(days))
    else:
        fn = contender(case, src, v2, out, int(days))
        with dask.config.set(scheduler="threads", num_workers=THREADS):
            seconds, peak = measure(fn)
    print(json.dumps({"seconds": seconds, "peak": peak}))


if __name__ == "__main__":
    main(sys.argv[1:])
