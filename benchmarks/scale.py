"""Scale, memory and object-store cases of the benchmark (see benchmarks/__main__.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np

import dask_zarrio as dz
from dask_zarrio.metadata.create import new_array_metadata

CODEC = {
    "name": "blosc",
    "configuration": {"cname": "zstd", "clevel": 3, "shuffle": "shuffle", "typesize": 4, "blocksize": 0},
}


def _prepare(arr: da.Array) -> tuple[float, float, int]:
    """Seconds and peak MB to build ``arr.sum()`` and optimise + materialise its graph."""
    tracemalloc.start()
    t = time.perf_counter()
    total = arr.sum()
    graph = total.__dask_optimize__(total.__dask_graph__(), total.__dask_keys__())
    n = len(dict(graph))
    seconds = time.perf_counter() - t
    peak = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    return seconds, peak, n


def graph_preparation(nchunks: int = 10**6, peer_chunks: int = 10**4) -> list[str]:
    """Preparing ``.sum()`` over an array of ``nchunks`` stored chunks (no data needed)."""
    side = int(round(nchunks ** 0.5))
    meta = new_array_metadata(shape=(side, side), dtype=np.dtype("f4"), chunk_shape=(1, 1))
    store = {"zarr.json": json.dumps(meta.to_dict()).encode()}
    out = []
    s, mb, n = _prepare(dz.read(store))
    out.append(f"scale: .sum() over {side * side:,} stored chunks, default chunks: prepared in {s:.3f} s, "
               f"peak {mb:.0f} MB traced, {n} tasks")
    s, mb, n = _prepare(dz.read(store, chunks=(side // 10, side)))
    out.append(f"scale: the same with 10 dask blocks (chunks=(100, 1000)): {s:.3f} s, peak {mb:.0f} MB, {n} tasks")
    try:
        import zarr

        zstore = zarr.storage.MemoryStore()
        pside = int(round(peer_chunks ** 0.5))
        zarr.create_array(zstore, shape=(pside, pside), chunks=(1, 1), dtype="f4")
        s2, mb2, n2 = _prepare(da.from_zarr(zarr.open_array(zstore, mode="r")))
        out.append(f"scale: da.from_zarr(...).sum() over {pside * pside:,} chunks: prepared in {s2:.2f} s, "
                   f"peak {mb2:.0f} MB traced, {n2} tasks")
    except ImportError:
        out.append("note: zarr-python not installed; from_zarr scale case skipped")
    return out


def tiny_chunks(scratch: Path, nchunks: int = 10**5, peer_chunks: int = 10**4) -> list[str]:
    """``.sum()`` over ``nchunks`` tiny chunks of which 1 % are written."""
    out = []
    try:
        import zarr
    except ImportError:
        return ["note: zarr-python not installed; tiny-chunk case skipped"]

    def make(n: int) -> str:
        url = str(scratch / f"tiny-{n}.zarr")
        rows = n // 1000
        z = zarr.create_array(
            url, shape=(rows * 10, 1000), chunks=(10, 1), dtype="f8", overwrite=True, compressors=None
        )
        for k in range(0, n, 100):
            i, j = divmod(k, 1000)
            z[i * 10:(i + 1) * 10, j] = np.arange(10.0) + k
        return url

    url, peer_url = make(nchunks), make(peer_chunks)
    timings: dict[str, float] = {}
    t = time.perf_counter()
    dz_total = float(dz.read(url).sum().compute())
    timings["dz"] = time.perf_counter() - t
    try:
        import tensorstore as ts

        t = time.perf_counter()
        arr = ts.open({"driver": "zarr3", "kvstore": {"driver": "file", "path": url}}).result()
        ts_total = float(arr.read().result().sum())
        timings["tensorstore"] = time.perf_counter() - t
        assert ts_total == dz_total
    except ImportError:
        pass
    t = time.perf_counter()
    dz_peer = float(dz.read(peer_url).sum().compute())
    timings["dz-peer"] = time.perf_counter() - t
    t = time.perf_counter()
    fz_peer = float(da.from_zarr(peer_url).sum().compute())
    timings["from_zarr-peer"] = time.perf_counter() - t
    assert fz_peer == dz_peer
    line = f"tiny chunks: .sum() over {nchunks:,} chunks of 80 B (1 % written): dz {timings['dz']:.2f} s"
    if "tensorstore" in timings:
        line += (f", tensorstore {timings['tensorstore']:.2f} s "
                 f"(dz = {timings['dz'] / timings['tensorstore']:.2f}x tensorstore's time)")
    out.append(line)
    out.append(f"tiny chunks: over {peer_chunks:,} chunks: dz {timings['dz-peer']:.2f} s, "
               f"da.from_zarr {timings['from_zarr-peer']:.2f} s "
               f"(dz {timings['from_zarr-peer'] / timings['dz-peer']:.0f}x faster)")
    out += _tiny_chunks_distributed(url, peer_url, dz_total, fz_peer, nchunks, peer_chunks)
    return out


def _tiny_chunks_distributed(
    url: str, peer_url: str, dz_total: float, fz_peer: float, nchunks: int, peer_chunks: int
) -> list[str]:
    """The same sums on ``LocalCluster(2 workers x 1 thread)``; from_zarr only over the smaller array
    (one task per chunk: ``nchunks`` of them would take minutes)."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster):
        dz.read(peer_url).sum().compute()  # warm the workers' imports
        t = time.perf_counter()
        assert float(dz.read(url).sum().compute()) == dz_total
        dz_big = time.perf_counter() - t
        t = time.perf_counter()
        dz.read(peer_url).sum().compute()
        dz_small = time.perf_counter() - t
        t = time.perf_counter()
        assert float(da.from_zarr(peer_url).sum().compute()) == fz_peer
        fz_small = time.perf_counter() - t
    return [f"tiny chunks, distributed 2x1: dz {dz_big:.2f} s over {nchunks:,} chunks; "
            f"over {peer_chunks:,}: dz {dz_small:.2f} s, "
            f"da.from_zarr {fz_small:.2f} s (dz {fz_small / dz_small:.0f}x faster)"]


_MEMORY_SCRIPT = """
import os, threading, time, dask, dask_zarrio as dz
dask.config.set(scheduler="threads", num_workers={threads})
page = os.sysconf("SC_PAGE_SIZE")
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * page
x = dz.read({url!r})
base = rss()
peak = [base]
done = threading.Event()
def sample():
    while not done.is_set():
        peak[0] = max(peak[0], rss())
        time.sleep(0.002)
t = threading.Thread(target=sample)
t.start()
x.sum().compute()
done.set()
t.join()
print(base, peak[0])
"""


def peak_memory(url: str, threads: int, chunk_bytes: int) -> list[str]:
    """Peak RSS of a streaming ``dz.read(url).sum()`` above the interpreter's baseline (own process)."""
    code = _MEMORY_SCRIPT.format(threads=threads, url=url)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    base, peak = (int(v) for v in out.stdout.split())
    budget = 2 * threads * chunk_bytes
    return [f"memory: streaming dz.read(url).sum(): peak RSS {(peak - base) / 2**20:.0f} MiB above baseline; "
            f"target 2 x {threads} threads x {chunk_bytes / 2**20:.0f} MiB dask blocks = {budget / 2**20:.0f} MiB"]


def s3_throughput(rounds: int, interleaved: Any, mib: int = 256) -> tuple[dict[str, float], int]:
    """Read + sum of a ``mib`` MiB array on a local S3 server, against raw GETs in a thread pool."""
    try:
        import fsspec
        import zarr

        from dask_zarrio.codecs.blosc import BloscCodec
        from tests.servers.s3 import create_bucket, moto_server, s3_options
    except ImportError:
        return {}, 0
    side = int((mib * 2**20 / 4) ** 0.5)
    chunk = side // 4
    rng = np.random.default_rng(0)
    data = np.round(280 + rng.normal(0, 0.5, (side, side)), 2).astype("f4")
    with moto_server() as endpoint:
        create_bucket(endpoint, "tput")
        # fsspec's instance cache on, as users have it: one filesystem (and S3 client) per
        # process, not one per dz.read (the test helper turns the cache off).
        opts = s3_options(endpoint, skip_instance_cache=False)
        url = "s3://tput/a.zarr"
        dz.write(da.from_array(data, chunks=chunk), url, storage_options=opts, compressors=[CODEC])
        fs = fsspec.filesystem("s3", **opts)
        paths = [p for p in fs.find("tput/a.zarr/c")]
        codec = BloscCodec(**CODEC["configuration"])  # type: ignore[arg-type]

        def raw() -> float:  # GET + decode + sum per chunk in a thread pool, no zarr or dask
            def one(path: str) -> float:
                # max_concurrency=1: one GET, no size request first (as dz does; fsspec/s3fs#1027)
                return float(np.frombuffer(codec.decode(fs.cat_file(path, max_concurrency=1)), "f4").sum())

            with ThreadPoolExecutor(os.cpu_count() or 2) as pool:
                return sum(pool.map(one, paths))

        zstore = zarr.storage.FsspecStore.from_url(url, storage_options=opts, read_only=True)
        rows = interleaved({
            "limit: GET + decode + sum, thread pool": (raw, None),
            "dz.read(url).sum()": (lambda: dz.read(url, storage_options=opts).sum().compute(), None),
            "da.from_zarr(url).sum()": (lambda: da.from_zarr(zarr.open_array(zstore, mode="r")).sum().compute(), None)},
            rounds)
    return rows, data.nbytes
