"""Run ``python -m benchmarks [--size GiB] [--rounds N] [--dir PATH]``.

Generates a compressible float32 array (a smooth field plus rounded noise, like
instrument data), writes it as a Zarr v3 array (blosc-zstd + shuffle), then times,
in one run:

- read + sum: a raw limit (read the chunk files, decode, sum in a thread pool, no
  zarr or dask), ``dz.read(url).sum()``, ``da.from_zarr(url).sum()`` (zarr-python 3),
  and tensorstore read + sum;
- write: a raw limit (encode + write files in a thread pool), ``dz.write``,
  ``da.to_zarr`` and tensorstore write.

Prints GB/s (uncompressed bytes per second, median of the rounds), the ratio to the
limit and to each peer. Peers that cannot be imported are skipped with a note.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import dask
import dask.array as da
import numpy as np

import dask_zarrio as dz
from benchmarks import cluster, peers, scale, stores, strings
from benchmarks import icechunk as icechunk_bench
from dask_zarrio.codecs.blosc import BloscCodec
from dask_zarrio.memory.buffers import empty

CODEC = {
    "name": "blosc",
    "configuration": {"cname": "zstd", "clevel": 3, "shuffle": "shuffle", "typesize": 4, "blocksize": 0},
}


def make_source(gib: float, chunk_mib: int) -> tuple[da.Array, tuple[int, int]]:
    """A 2-D float32 array of ``gib`` GiB in square-ish chunks of ``chunk_mib`` MiB."""
    side = int(np.sqrt(chunk_mib * 2**20 / 4))
    nchunks_rows = max(1, int(round(gib * 2**30 / (chunk_mib * 2**20) / 4)))
    shape = (side * nchunks_rows, side * 4)

    def block(block_id: tuple[int, int]) -> np.ndarray:
        rng = np.random.default_rng(block_id[0] * 1000 + block_id[1])
        y = np.linspace(0, 3, side, dtype=np.float32)[:, None]
        x = np.linspace(0, 3, side, dtype=np.float32)[None, :]
        field = 280 + 10 * np.sin(y + block_id[0]) * np.cos(x + block_id[1])
        return np.round(field + rng.normal(0, 0.5, (side, side)).astype(np.float32), 2)

    return _blocks(block, shape, side), (side, side)


def _blocks(fn: Callable[[tuple[int, int]], np.ndarray], shape: tuple[int, int], side: int) -> da.Array:
    rows = []
    for i in range(shape[0] // side):
        rows.append(
            [da.from_delayed(dask.delayed(fn)((i, j)), (side, side), np.float32) for j in range(shape[1] // side)]
        )
    return da.block(rows)


def timed(fn: Callable[[], object], rounds: int, setup: Callable[[], object] | None = None) -> float:
    """The median seconds of ``rounds`` calls of ``fn`` (``setup`` runs untimed before each)."""
    return interleaved({"": (fn, setup)}, rounds)[""]


def interleaved(
    cases: dict[str, tuple[Callable[[], object], Callable[[], object] | None]], rounds: int
) -> dict[str, float]:
    """Median seconds per case, the rounds taken in turn (A B C A B C ...).

    The machine drifts by +-20 % over minutes; taking every contender's rounds side by
    side makes the drift hit them alike, so their ratios hold even when GB/s move.
    """
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, (fn, setup) in cases.items():
            if setup is not None:
                setup()
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    return {name: statistics.median(ts) for name, ts in times.items()}


def chunk_files(url: str) -> list[str]:
    return [os.path.join(dp, f) for dp, _, fs in os.walk(os.path.join(url, "c")) for f in fs]


def raw_read_sum(url: str, threads: int, chunk_shape: tuple[int, int]) -> float:
    codec = BloscCodec(**CODEC["configuration"])  # type: ignore[arg-type]
    nbytes = chunk_shape[0] * chunk_shape[1] * 4

    def one(path: str) -> float:
        # The plainest fast way: one readinto, decode straight into a fresh output
        # (both huge-page aligned, as dz's are, so the comparison is about zarr/dask).
        with open(path, "rb", buffering=0) as f:
            data = empty(os.fstat(f.fileno()).st_size)
            f.readinto(data.data)
        out = empty(nbytes)
        codec.decode(data, out)
        return float(out.view(np.float32).sum())  # the same float32 sum dask does per block

    with ThreadPoolExecutor(threads) as pool:
        return sum(pool.map(one, chunk_files(url)))


def raw_encode_write(blocks: list[np.ndarray], folder: str, threads: int) -> None:
    codec = BloscCodec(**CODEC["configuration"])  # type: ignore[arg-type]
    os.makedirs(folder, exist_ok=True)

    def one(item: tuple[int, np.ndarray]) -> None:
        with open(os.path.join(folder, str(item[0])), "wb") as f:
            f.write(codec.encode(item[1]))

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, enumerate(blocks)))


def same_codec(url: str, first_block: np.ndarray) -> str:
    """Whether the write limit encodes with dz's codec parameters: its first chunk against dz's.

    Both go through :class:`BloscCodec` (zstd in 1 MiB blosc blocks where the metadata says
    ``blocksize: 0``), so the write ratio compares like with like; this says so from the chunk
    headers (c-blosc's thread pool, used on the main thread, may order a block's bytes otherwise).
    """
    limit = bytes(memoryview(BloscCodec(**CODEC["configuration"]).encode(first_block)))  # type: ignore[arg-type]
    first = sorted(chunk_files(url))[0]
    with open(first, "rb") as f:
        stored = f.read()
    fields = lambda b: (b[3], int.from_bytes(b[8:12], "little"), b[2])  # noqa: E731  typesize, block, flags
    return (f"write limit codec: blosc-zstd typesize {fields(limit)[0]}, {fields(limit)[1] / 2**20:g} MiB blocks, "
            f"flags {fields(limit)[2]:#x}; dz's first chunk {fields(stored)[0]}, {fields(stored)[1] / 2**20:g} MiB, "
            f"{fields(stored)[2]:#x}; same parameters: {fields(limit) == fields(stored)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=float, default=1.0, help="array size in GiB (default 1)")
    parser.add_argument("--chunk-mib", type=int, default=16, help="chunk size in MiB (default 16)")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds per contender (median)")
    parser.add_argument("--dir", default=None, help="scratch folder (default: a temporary one)")
    parser.add_argument("--plot", default=None, help="write a PNG bar chart of GB/s here (needs matplotlib)")
    parser.add_argument("--skip", default="",
                        help="comma-separated sections to skip: distributed,peers,s3,s3write,stores,scale,tiny,memory,"
                        "strings,rechunk,reblock,icechunk,references,fullload,open,pyramid; and rechunk contenders: "
                        "rechunker,rechunk-cluster")
    parser.add_argument("--latency-ms", type=float, default=50.0,
                        help="per-request latency of the S3 case (local moto server behind a proxy); 0 skips it")
    parser.add_argument(
        "--rechunk-size", type=float, default=None, help="the rechunk case's size in GiB (default: --size)"
    )
    parser.add_argument("--rechunk-large", action="store_true", help="also run the rechunk case 4x larger")
    args = parser.parse_args(argv)
    threads = os.cpu_count() or 2
    scratch = Path(args.dir or tempfile.mkdtemp(prefix="dz-bench-"))
    scratch.mkdir(parents=True, exist_ok=True)
    dask.config.set(scheduler="threads", num_workers=threads)

    generator, chunks = make_source(args.size, args.chunk_mib)
    source = generator.persist()
    nbytes = source.nbytes
    url = str(scratch / "bench.zarr")
    dz.write(source, url, mode="w", chunks=chunks, compressors=[CODEC])
    stored = sum(os.path.getsize(p) for p in chunk_files(url))
    print(f"data: shape={source.shape} float32, {nbytes / 2**30:.2f} GiB, chunks {chunks} "
          f"({args.chunk_mib} MiB), blosc-zstd+shuffle ratio {nbytes / stored:.2f}, "
          f"{threads} threads, {args.rounds} rounds (median)")

    reads: dict[str, tuple[Callable[[], object], Callable[[], object] | None]] = {
        "limit: read+decode+sum, thread pool": (lambda: raw_read_sum(url, threads, chunks), None),
        "dz.read(url).sum()": (lambda: dz.read(url).sum().compute(), None),
    }
    try:
        import zarr  # noqa: F401

        reads["da.from_zarr(url).sum()"] = (lambda: da.from_zarr(url).sum().compute(), None)
    except ImportError:
        print("note: zarr-python not installed; da.from_zarr skipped")
    try:
        import tensorstore as ts

        def ts_read() -> float:
            arr = ts.open({"driver": "zarr3", "kvstore": {"driver": "file", "path": url}}).result()
            return float(arr.read().result().sum(dtype=np.float64))

        reads["tensorstore read + sum"] = (ts_read, None)
    except ImportError:
        ts = None  # type: ignore[assignment]
        print("note: tensorstore not installed; skipped")
    read_rows = interleaved(reads, args.rounds)

    blocks = list(dask.compute(*source.to_delayed().ravel()))
    out = str(scratch / "out.zarr")

    def clean() -> None:
        shutil.rmtree(out, ignore_errors=True)

    writes: dict[str, tuple[Callable[[], object], Callable[[], object] | None]] = {
        "limit: encode+write, thread pool": (lambda: raw_encode_write(blocks, out, threads), clean),
        "dz.write": (lambda: dz.write(source, out, mode="w", chunks=chunks, compressors=[CODEC]), clean),
    }
    try:
        import zarr
        from zarr.codecs import BloscCodec as ZBlosc

        def to_zarr() -> None:
            z = zarr.create_array(out, shape=source.shape, chunks=chunks, dtype="f4",
                                  compressors=[ZBlosc(cname="zstd", clevel=3, shuffle="shuffle")])
            da.to_zarr(source, z)

        writes["da.to_zarr"] = (to_zarr, clean)
    except ImportError:
        pass
    if ts is not None:
        ncols = source.shape[1] // chunks[1]
        full = np.block([[blocks[i * ncols + j] for j in range(ncols)] for i in range(source.shape[0] // chunks[0])])

        def ts_write() -> None:
            grid = {"name": "regular", "configuration": {"chunk_shape": list(chunks)}}
            codecs = [{"name": "bytes", "configuration": {"endian": "little"}}, CODEC]
            arr = ts.open({"driver": "zarr3", "kvstore": {"driver": "file", "path": out}, "create": True,
                           "metadata": {"shape": list(source.shape), "data_type": "float32",
                                        "chunk_grid": grid, "codecs": codecs}}).result()
            arr.write(full).result()

        writes["tensorstore write"] = (ts_write, clean)
    write_rows = interleaved(writes, args.rounds)
    limit_codec_note = same_codec(url, blocks[0])

    # Misaligned: dask blocks of 3/4 of a stored chunk. dz plans + rechunks; to_zarr's
    # mode="w" serialises every write behind one lock to avoid corrupting the data.
    skewed = source.rechunk(tuple(c * 3 // 4 for c in chunks)).persist()
    mis: dict[str, tuple[Callable[[], object], Callable[[], object] | None]] = {
        "dz.write (plan + rechunk)": (
            lambda: dz.write(skewed, out, mode="w", chunks=chunks, compressors=[CODEC]), clean)}
    try:
        from zarr.codecs import BloscCodec as ZBlosc2

        mis["da.to_zarr(mode='w'), one lock"] = (
            lambda: da.to_zarr(skewed, out, mode="w", chunks=chunks,
                               compressors=[ZBlosc2(cname="zstd", clevel=3, shuffle="shuffle")]), clean)
    except ImportError:
        pass
    mis_rows = interleaved(mis, args.rounds)

    shard_rows, notes = sharded(source, chunks, scratch, args.rounds, ts)
    notes.insert(0, limit_codec_note)
    skip = set(filter(None, args.skip.split(",")))
    tables: list[tuple[str, dict[str, float], str, int]] = [
        ("read", read_rows, "dz.read(url).sum()", nbytes), ("write", write_rows, "dz.write", nbytes),
        ("misaligned write", mis_rows, "dz.write (plan + rechunk)", nbytes),
        ("sharded read", shard_rows[0], "dz.read(url).sum()", nbytes),
        ("sharded write", shard_rows[1], "dz.write", nbytes)]
    if "distributed" not in skip:
        limits = (lambda: raw_read_sum(url, threads, chunks), lambda: raw_encode_write(blocks, out, threads))
        cluster_tables, cluster_notes = cluster.distributed_rows(
            url, out, generator, chunks, args.rounds, interleaved, limits
        )
        tables += [(title, drows, dz_name, nbytes) for title, drows, dz_name in cluster_tables]
        notes += cluster_notes
    if "s3" not in skip:
        s3_rows, s3_bytes = scale.s3_throughput(args.rounds, interleaved)
        if s3_rows:
            tables.append(("S3 read (local server, 256 MiB, 16 MiB chunks)", s3_rows, "dz.read(url).sum()", s3_bytes))
        if args.latency_ms:
            notes += s3_latency(args.latency_ms / 1000, args.rounds)
    if "strings" not in skip:
        str_reads, str_writes, str_notes, str_bytes = strings.string_rows(scratch, args.rounds, interleaved)
        tables += [("strings read (1 M, 10 % '')", str_reads, "dz.read(url) == '' .sum()", str_bytes),
                   ("strings write (1 M, 10 % '')", str_writes, "dz.write", str_bytes)]
        notes += str_notes
    if "icechunk" not in skip:
        ic_rows, ic_notes = icechunk_bench.icechunk_rows(Path(scratch), source, chunks, args.rounds, interleaved)
        if ic_rows:
            tables.append(("icechunk write (local filesystem)", ic_rows, "dz.write (plain folder)", nbytes))
        notes += ic_notes
    if "references" not in skip:
        from benchmarks import references

        ref_rows, ref_notes, ref_bytes = references.run(Path(scratch), args.rounds, interleaved)
        if ref_rows:
            tables.append(("read through kerchunk references", ref_rows, "dz.read(reference://).sum()", ref_bytes))
        notes += ref_notes
    if "peers" not in skip:  # zarrs-python, zarr-python, tensorstore on several layouts (benchmarks/peers.py)
        peer_rows, peer_notes = peers.peer_tables(scratch, source, chunks, args.rounds, interleaved)
        tables, notes = tables + peer_rows, notes + peer_notes
    if "scale" not in skip:
        notes += scale.graph_preparation()
    if "s3write" not in skip:  # a quarter of --size, as the S3 read case
        w_rows, w_bytes = stores.s3_write_rows(args.size * 256, args.rounds, interleaved)
        tables += [("S3 write (local server)", w_rows, "dz.write", w_bytes)] if w_rows else []
        notes += stores.s3_write_notes(w_rows)
    if "stores" not in skip:
        notes += stores.store_table(scratch, args.size * 256, args.rounds, interleaved)
    if "tiny" not in skip:
        notes += scale.tiny_chunks(scratch)
    if "rechunk" not in skip:
        from benchmarks import rechunk

        days = max(8, int((args.rechunk_size or args.size) * 2**30 / (192 * 384 * 4)))
        notes += rechunk.run(Path(scratch), days, args.rounds, large=args.rechunk_large, skip=skip)
    if "reblock" not in skip:  # a write that must be re-blocked (issue 31)
        from benchmarks import reblock
        notes += reblock.run(scratch, args.rounds, small=args.size < 0.1)
    if "pyramid" not in skip:  # multiscale pyramids against ngff-zarr and ome-zarr-py (benchmarks/pyramid.py)
        notes += __import__("benchmarks.pyramid").pyramid.run(Path(scratch), args.rounds, small=args.size < 0.1)
    if "fullload" not in skip:
        notes += __import__("benchmarks.full_load").full_load.run(url, scratch, args.rounds)
    if "open" not in skip:  # many-variable opens at 50 and 200 ms per request (benchmarks/open_latency.py)
        notes += __import__("benchmarks.open_latency").open_latency.run([50, 200], args.rounds)
    if "memory" not in skip:
        notes += scale.peak_memory(url, threads, int(np.prod(dz.read(url).chunksize)) * 4)  # the dask block

    for title, rows, mine_name, size in tables:
        first_name, first = next(iter(rows.items()))
        limit = first if first_name.startswith("limit") else None
        mine = rows[mine_name]
        width = max(48, len(title), *map(len, rows))
        print(f"\n{title:<{width}} {'GB/s':>7} {'x limit':>8} {'dz / it':>8}")
        for name, seconds in rows.items():
            vs_limit = f"{limit / seconds:8.2f}" if limit else f"{'-':>8}"
            print(f"{name:<{width}} {size / seconds / 1e9:7.2f} {vs_limit} {seconds / mine:8.2f}")
    if args.plot:
        plot(tables, args.plot)
    print()
    for note in notes:
        print(note)
    if not args.dir:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


def plot(tables: list[tuple[str, dict[str, float], str, int]], path: str) -> None:
    """A horizontal bar chart of GB/s, one panel per table."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("note: matplotlib not installed; no plot written")
        return
    fig, axes = plt.subplots(
        len(tables), 1, figsize=(8, 1.2 + 0.9 * sum(len(t[1]) for t in tables) / len(tables) * len(tables) / 2)
    )
    for ax, (title, rows, mine_name, size) in zip(axes, tables):
        names = list(rows)
        values = [size / rows[n] / 1e9 for n in names]
        colors = ["#1f77b4" if n == mine_name else ("#999999" if n.startswith("limit") else "#ff7f0e") for n in names]
        ax.barh(names, values, color=colors)
        ax.invert_yaxis()
        ax.set_title(title, fontsize=9, loc="left")
        ax.tick_params(labelsize=7)
        for y, v in enumerate(values):
            ax.text(v, y, f" {v:.2f}", va="center", fontsize=7)
    axes[-1].set_xlabel("GB/s (uncompressed)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"plot: {path}")


def s3_latency(latency: float, rounds: int) -> list[str]:
    """Many small chunks on a local S3 server behind a proxy adding ``latency`` per request."""
    try:
        import zarr

        from tests.servers.proxy import FaultyProxy
        from tests.servers.s3 import create_bucket, moto_server, s3_options
    except ImportError as e:
        return [f"note: S3 latency case skipped ({e}); pip install -e '.[test]'"]
    data = np.random.default_rng(0).standard_normal((512, 512)).astype("f4")  # 1 MiB, 256 chunks of 4 KiB
    with moto_server() as endpoint:
        create_bucket(endpoint, "bench")
        dz.write(da.from_array(data, chunks=32), "s3://bench/small.zarr", storage_options=s3_options(endpoint))
        with FaultyProxy(endpoint, latency=latency) as proxy:
            opts = s3_options(proxy.endpoint, skip_instance_cache=False)  # as users have it
            url = "s3://bench/small.zarr"
            proxy.counts.clear()
            t_dz = timed(lambda: dz.read(url, chunks="auto", storage_options=opts).sum().compute(), rounds)
            dz_requests = sum(proxy.counts.values()) // rounds
            proxy.counts.clear()
            store = zarr.storage.FsspecStore.from_url(url, storage_options=opts, read_only=True)
            t_fz = timed(lambda: da.from_zarr(zarr.open_array(store, mode="r")).sum().compute(), rounds)
            fz_requests = sum(proxy.counts.values()) // rounds
    return [
        f"s3 latency ({latency * 1000:.0f} ms per request, 256 chunks of 4 KiB): dz.read(chunks='auto').sum() "
        f"{t_dz:.2f} s ({dz_requests} requests), da.from_zarr().sum() {t_fz:.2f} s ({fz_requests} requests): "
        f"dz {t_fz / t_dz:.1f}x faster"
    ]


def sharded(
    source: da.Array, chunks: tuple[int, int], scratch: Path, rounds: int, ts: object
) -> tuple[tuple[dict[str, float], dict[str, float]], list[str]]:
    """Shards of 4 x 4 stored chunks, inner chunks of 1/8 of a stored chunk per side."""
    from dask_zarrio.store import open_store
    from dask_zarrio.testing import CountingStore

    shards = (chunks[0] * 2, chunks[1] * 2)
    inner = (chunks[0] // 4, chunks[1] // 4)
    url = str(scratch / "sharded.zarr")
    out = str(scratch / "sharded-out.zarr")
    codec = [CODEC]
    source = source.rechunk(shards).persist()
    nbytes = source.nbytes
    dz.write(source, url, mode="w", chunks=inner, shards=shards, compressors=codec)
    notes = []
    reads: dict[str, Any] = {}
    store = CountingStore(open_store(url))
    x = dz.read(store)
    store.reset()
    x.sum().compute()
    notes.append(f"sharded: {x.npartitions} shards of {shards} with inner chunks {inner}; dz.read(...).sum(): "
                 f"{x.npartitions} tasks, {sum(store.gets.values())} GETs, "
                 f"{sum(store.counters['get_range'].values())} ranged GETs")
    store.reset()
    x[7, 7].compute()
    notes.append(f"sharded: dz.read(url)[7, 7]: {sum(store.gets.values())} GETs, "
                 f"{sum(store.counters['get_range'].values())} ranged GETs")
    reads["dz.read(url).sum()"] = (lambda: dz.read(url).sum().compute(), None)
    try:
        y = da.from_zarr(url)
        notes.append(f"sharded: da.from_zarr(url) makes {y.npartitions} tasks (dask#12586)")
        reads["da.from_zarr(url).sum()"] = (lambda: da.from_zarr(url).sum().compute(), None)
    except ImportError:
        pass
    if ts is not None:
        def ts_read() -> float:
            arr = ts.open({"driver": "zarr3", "kvstore": {"driver": "file", "path": url}}).result()  # type: ignore[attr-defined]
            return float(arr.read().result().sum(dtype=np.float64))

        reads["tensorstore read + sum"] = (ts_read, None)

    def clean() -> None:
        shutil.rmtree(out, ignore_errors=True)

    writes: dict[str, Any] = {}
    wstore = CountingStore(open_store(out))
    dz.write(source, wstore, mode="w", chunks=inner, shards=shards, compressors=codec)
    puts = sum(v for k, v in wstore.sets.items() if k.startswith("c/"))
    notes.append(f"sharded: dz.write: {puts} PUTs for {source.npartitions} shards")
    writes["dz.write"] = (
        lambda: dz.write(source, out, mode="w", chunks=inner, shards=shards, compressors=codec), clean
    )
    try:
        import zarr
        from zarr.codecs import BloscCodec as ZBlosc

        def to_zarr() -> None:
            z = zarr.create_array(out, shape=source.shape, chunks=inner, shards=shards, dtype="f4",
                                  compressors=[ZBlosc(cname="zstd", clevel=3, shuffle="shuffle")])
            da.to_zarr(source, z)

        writes["da.to_zarr"] = (to_zarr, clean)
    except ImportError:
        pass
    if ts is not None:
        full = source.compute()

        def ts_write() -> None:
            grid = {"name": "regular", "configuration": {"chunk_shape": list(shards)}}
            inner_codecs = [{"name": "bytes", "configuration": {"endian": "little"}}, CODEC]
            sharding = {"name": "sharding_indexed",
                        "configuration": {"chunk_shape": list(inner), "codecs": inner_codecs}}
            arr = ts.open({"driver": "zarr3", "kvstore": {"driver": "file", "path": out}, "create": True,  # type: ignore[attr-defined]
                           "metadata": {"shape": list(source.shape), "data_type": "float32",
                                        "chunk_grid": grid, "codecs": [sharding]}}).result()
            arr.write(full).result()

        writes["tensorstore write"] = (ts_write, clean)
    del nbytes
    return (interleaved(reads, rounds), interleaved(writes, rounds)), notes


if __name__ == "__main__":
    raise SystemExit(main())
