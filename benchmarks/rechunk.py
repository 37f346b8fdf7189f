"""The rechunk case of ``python -m benchmarks`` (skip it with ``--skip rechunk``).

Daily maps ``(n, 192, 384)`` float32 in ``(1, 192, 384)`` chunks (blosc-zstd) to time series
``(n, 24, 24)``: the limit (read and decode all, then encode and write all, 2 threads, no
dask), ``dz.rechunk``, ``dz.write(dz.read(src).rechunk(t))``, dask's ``rechunk().to_zarr()``,
and the undecoded v2 -> v3 copy against a plain file copy. Seconds (median, interleaved
rounds), ratios to the limit, and peak resident memory growth of one run of each.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dask
import dask.array as da
import numpy as np

import dask_zarrio as dz
from dask_zarrio.metadata.node import read_array_metadata
from dask_zarrio.metadata.spec import ArraySpec
from dask_zarrio.store import open_store

CODEC = {"name": "blosc", "configuration": {"cname": "zstd", "clevel": 3, "shuffle": "shuffle", "typesize": 4, "blocksize": 0}}


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def peak_growth(fn: Callable[[], object]) -> int:
    """Bytes the resident set grew by at its peak while ``fn`` ran (sampled every 5 ms)."""
    base, peak, done = _rss(), [0], [False]

    def sample() -> None:
        while not done[0]:
            peak[0] = max(peak[0], _rss())
            time.sleep(0.005)

    t = threading.Thread(target=sample)
    t.start()
    try:
        fn()
    finally:
        done[0] = True
        t.join()
    return max(0, peak[0] - base)


def _limit(src: str, dst: str, target: tuple[int, ...]) -> None:
    """Read and decode every chunk into one array, then encode and write every target chunk."""
    store = open_store(src)
    spec = ArraySpec.from_metadata(read_array_metadata(store))
    out = np.empty(spec.shape, spec.dtype)
    with ThreadPoolExecutor(2) as pool:
        def read(i: int) -> None:
            out[i] = spec.pipeline.decode(store.get(spec.chunk_key((i, 0, 0))))[0]
        list(pool.map(read, range(spec.shape[0])))
        dz.init(dst, shape=spec.shape, dtype=spec.dtype, chunks=target, compressors=CODEC, mode="w")
        dst_store = open_store(dst)
        dst_spec = ArraySpec.from_metadata(read_array_metadata(dst_store))
        def write(index: tuple[int, int, int]) -> None:
            part = out[tuple(slice(i * c, (i + 1) * c) for i, c in zip(index, target))]
            dst_store.set(dst_spec.chunk_key(index), dst_spec.pipeline.encode(np.ascontiguousarray(part)))
        grid = [(0, j, k) for j in range(spec.shape[1] // target[1]) for k in range(spec.shape[2] // target[2])]
        list(pool.map(write, grid))


def run(scratch: Path, days: int, rounds: int, interleaved: Callable[..., dict[str, float]]) -> list[str]:
    """Time the contenders and return the lines to print."""
    src, v2 = str(scratch / "maps.zarr"), str(scratch / "maps_v2.zarr")
    x = da.random.default_rng(0).random((days, 192, 384), chunks=(1, 192, 384), dtype="f4").round(2)
    dz.write(x, src, chunks=(1, 192, 384), compressors=CODEC, mode="w")
    dz.write(x, v2, chunks=(1, 192, 384), zarr_format=2, compressors={"id": "blosc", "cname": "zstd", "clevel": 3, "shuffle": 1}, mode="w")
    target = (days, 24, 24)
    out = str(scratch / "series.zarr")

    def clear(*paths: str) -> Callable[[], None]:
        return lambda: [shutil.rmtree(p, ignore_errors=True) for p in paths]  # type: ignore[func-returns-value]

    cases: dict[str, tuple[Callable[[], object], Callable[[], object] | None]] = {
        "limit: decode all, then encode+write all (2 threads)": (lambda: _limit(src, out, target), clear(out)),
        "dz.rechunk(max_mem='64MiB')": (lambda: dz.rechunk(src, out, target, max_mem="64MiB", mode="w"), clear(out)),
        "dz.write(dz.read(src).rechunk(t))": (lambda: dz.write(dz.read(src).rechunk(target), out, chunks=target, compressors=CODEC, mode="w"), clear(out)),
        "da.from_zarr(src).rechunk(t).to_zarr(dst)": (lambda: da.from_zarr(src).rechunk(target).to_zarr(out, overwrite=True), clear(out)),
        "dz.copy v2 -> v3 (undecoded)": (lambda: dz.copy(v2, out, zarr_format=3, mode="w"), clear(out)),
        "plain file copy of the v2 array": (lambda: shutil.copytree(v2, out), clear(out)),
    }
    with dask.config.set(scheduler="threads", num_workers=2):
        seconds = interleaved(cases, rounds)
        peaks = {}
        for name, (fn, setup) in cases.items():
            if setup is not None:
                setup()
            peaks[name] = peak_growth(fn)
    limit = next(iter(seconds.values()))
    lines = [f"\nrechunk {days}x192x384 float32 (1,192,384) -> {target}, 2 threads   seconds  x limit  peak MiB"]
    for name, s in seconds.items():
        lines.append(f"{name:<56} {s:7.2f} {limit / s:8.2f} {peaks[name] / 2**20:9.0f}")
    copy_ratio = seconds["plain file copy of the v2 array"] / seconds["dz.copy v2 -> v3 (undecoded)"]
    lines.append(f"undecoded v2 -> v3 copy: {copy_ratio:.2f} x a plain file copy")
    return lines
