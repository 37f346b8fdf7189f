"""The rechunk case of ``python -m benchmarks`` (skip it with ``--skip rechunk``).

Daily maps ``(n, 192, 384)`` float32 in ``(1, 192, 384)`` chunks (blosc-zstd) to time series
``(n, 24, 24)``: the limit (read and decode every chunk into one array, then encode and write
every target chunk, 2 threads, plain files and numcodecs, no dask), ``dz.rechunk``,
``dz.write(dz.read(src).rechunk(t))``, dask's ``rechunk().to_zarr()``, and the undecoded
v2 -> v3 copy against a plain file copy; ``--rechunk-large`` adds the case 4x larger.

Each run of each contender is a fresh subprocess (``python -m benchmarks.rechunk CASE ...``)
that times the work alone and samples its own resident memory every 2 ms: no contender
inherits another's heap, caches or imported modules' buffers. Seconds are medians of
interleaved rounds; peak memory is the largest growth of the resident set over the
process's size before the work started.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dask
import dask.array as da
import numpy as np

import dask_zarrio as dz
from benchmarks.memory import measure
from dask_zarrio.codecs.blosc import BloscCodec

CODEC = {"name": "blosc", "configuration": {"cname": "zstd", "clevel": 3, "shuffle": "shuffle", "typesize": 4, "blocksize": 0}}
V2_CODEC = {"id": "blosc", "cname": "zstd", "clevel": 3, "shuffle": 1}
MAX_MEM = "64MiB"
#: Days whose (days, 24, 24) series chunk still fits MAX_MEM with its buffers; longer
#: series get MAX_MEM in proportion (the 4x case: 256 MiB), as a user would have to.
MAX_MEM_DAYS = 2920
THREADS = 2
MAP = (192, 384)
SERIES = (24, 24)

#: What each contender runs, by name; ``limit`` and ``file copy`` are the references.
CASES = {
    "limit": "limit: decode all, then encode+write all (2 threads, no dask)",
    "rechunk": f"dz.rechunk(max_mem={MAX_MEM!r} per {MAX_MEM_DAYS} days)",
    "write": "dz.write(dz.read(src).rechunk(t))",
    "dask": "da.from_zarr(src).rechunk(t).to_zarr(dst)",
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


def max_mem(days: int) -> int:
    """``dz.rechunk``'s max_mem for ``days`` maps: MAX_MEM per MAX_MEM_DAYS (rounded up)."""
    return dask.utils.parse_bytes(MAX_MEM) * -(-days // MAX_MEM_DAYS)


def contender(case: str, src: str, v2: str, out: str, days: int) -> Callable[[], object]:
    """The work of ``case`` (a key of :data:`CASES`)."""
    target = (days, *SERIES)
    return {
        "limit": lambda: _limit(src, out, days),
        "rechunk": lambda: dz.rechunk(src, out, target, max_mem=max_mem(days), mode="w"),
        "write": lambda: dz.write(dz.read(src).rechunk(target), out, chunks=target, compressors=CODEC, mode="w"),
        "dask": lambda: da.from_zarr(src).rechunk(target).to_zarr(out, overwrite=True),
        "copy": lambda: dz.copy(v2, out, zarr_format=3, mode="w"),
        "file copy": lambda: shutil.copytree(v2, out),
    }[case]


def _child(case: str, src: str, v2: str, out: str, days: int) -> dict[str, float]:
    """Run one contender in a fresh interpreter; its seconds and peak memory growth."""
    cmd = [sys.executable, "-m", "benchmarks.rechunk", case, src, v2, out, str(days)]
    root = str(Path(__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def run_size(scratch: Path, days: int, rounds: int) -> list[str]:
    """Time every contender on ``days`` maps; the lines to print."""
    src, v2, out = str(scratch / "maps.zarr"), str(scratch / "maps_v2.zarr"), str(scratch / "series.zarr")
    x = da.random.default_rng(0).random((days, *MAP), chunks=(1, *MAP), dtype="f4").round(2)
    dz.write(x, src, chunks=(1, *MAP), compressors=CODEC, mode="w")
    dz.write(x, v2, chunks=(1, *MAP), zarr_format=2, compressors=V2_CODEC, mode="w")
    seconds: dict[str, list[float]] = {c: [] for c in CASES}
    peaks: dict[str, int] = {c: 0 for c in CASES}
    for _ in range(rounds):
        for case in CASES:
            shutil.rmtree(out, ignore_errors=True)
            got = _child(case, src, v2, out, days)
            seconds[case].append(got["seconds"])
            peaks[case] = max(peaks[case], int(got["peak"]))
    shutil.rmtree(out, ignore_errors=True)
    median = {c: statistics.median(s) for c, s in seconds.items()}
    limit = median["limit"]
    gb = days * MAP[0] * MAP[1] * 4 / 1e9
    lines = [f"\nrechunk {days}x192x384 float32 ({gb:.2f} GB) (1,192,384) -> ({days}, 24, 24), "
             f"{THREADS} threads, a fresh process per run   seconds  x limit  peak MiB"]
    for case, name in CASES.items():
        lines.append(f"{name:<64} {median[case]:7.2f} {limit / median[case]:8.2f} {peaks[case] / 2**20:9.0f}")
    budget = 2 * THREADS * max_mem(days)
    lines.append(f"dz.rechunk peak {peaks['rechunk'] / 2**20:.0f} MiB (goal <= 2 x threads x max_mem = {budget / 2**20:.0f} MiB); "
                 f"{median['dask'] / median['rechunk']:.2f} x dask's rechunk().to_zarr()")
    lines.append(f"undecoded v2 -> v3 copy: {median['file copy'] / median['copy']:.2f} x a plain file copy")
    return lines


def run(scratch: Path, days: int, rounds: int, large: bool = False) -> list[str]:
    """The rechunk section: ``days`` maps, and 4x as many with ``large``."""
    lines = run_size(scratch, days, rounds)
    if large:
        lines += run_size(scratch, 4 * days, rounds)
    return lines


def main(argv: list[str]) -> None:
    """Child entry point: ``CASE SRC V2 OUT DAYS``; prints one JSON line (seconds, peak bytes)."""
    case, src, v2, out, days = argv
    fn = contender(case, src, v2, out, int(days))
    with dask.config.set(scheduler="threads", num_workers=THREADS):
        seconds, peak = measure(fn)
    print(json.dumps({"seconds": seconds, "peak": peak}))


if __name__ == "__main__":
    main(sys.argv[1:])
