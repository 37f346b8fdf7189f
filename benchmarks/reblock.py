"""A write that must be re-blocked (issue 31): ``python -m benchmarks.reblock [--small] [--rounds N]``.

An unsharded store made sharded, the everyday case: a 2 x 15360² uint8 array stored in
(1, 512, 512) chunks (zstd) written to (1, 512, 512) chunks in (1, 4096, 4096) shards, on
2 threads. ``dz.read``'s default blocks, (2, 15360, 512), cut the shards:

- ``dz.write(dz.read(src))``: read again in the write's blocks (one shard each);
- ``dz.write(dz.read(src, chunks=shard))``: blocks that fit the shards already (the reference);
- ``dz.write(dz.read(src).map_blocks(f))``: a dask array dask_zarrio cannot read again,
  rechunked to blocks of at most a shard or a source block;
- ``dz.write(dz.read(src))`` without shards: the blocks fit the chunks.

Each run is a fresh process (``python -m benchmarks.reblock --child CASE SRC OUT``) that times
the write alone and samples its resident memory every 2 ms; seconds are medians of
interleaved rounds, peaks the largest growth. Also a section of ``python -m benchmarks``
(``--skip reblock`` leaves it out). ``--small`` (2 x 2048² in 128² chunks, 1024² shards) is
the smoke test's size.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
from collections.abc import Callable
from math import prod
from pathlib import Path

import dask
import dask.array as da
import numpy as np

import dask_zarrio as dz
from benchmarks.memory import measure, run_child, scratch_folder, warm_imports
from dask_zarrio.layout.write_plan import default_read_chunks

THREADS = 2
#: (side, stored chunk side, shard side)
FULL, SMALL = (15360, 512, 4096), (2048, 128, 1024)
CASES = {
    "reblocked": "dz.write(dz.read(src), shards=...)  (read again)",
    "aligned": "dz.write(dz.read(src, chunks=shard), shards=...)",
    "rechunked": "dz.write(dz.read(src).map_blocks(f), shards=...)",
    "unsharded": "dz.write(dz.read(src))  (no shards)",
}


def make_source(url: str, side: int, chunk: int) -> None:
    """2 x side² uint8: a smooth image plus noise (compresses as photographs do), stored in chunk² tiles."""
    def tile(block_id: tuple[int, int, int]) -> np.ndarray:
        z, i, j = block_id
        y, x = np.mgrid[i * chunk:(i + 1) * chunk, j * chunk:(j + 1) * chunk]
        rng = np.random.default_rng(hash(block_id) & 0xFFFF)
        image = 127 + 100 * np.sin(y / 300 + z) * np.cos(x / 200) + rng.normal(0, 4, (chunk, chunk))
        return image.clip(0, 255).astype("u1")[None]

    tiles = (chunk,) * (side // chunk)
    blocks = da.map_blocks(lambda block_id=None: tile(block_id), dtype="u1", chunks=((1, 1), tiles, tiles))
    with dask.config.set(scheduler="threads"):
        dz.write(blocks, url, chunks=(1, chunk, chunk), mode="w")


def contender(case: str, src: str, out: str, shard: int) -> Callable[[], object]:
    """The write of ``case`` (see :data:`CASES`) into ``shard``² shards, ready to time."""
    meta = json.loads(Path(src, "zarr.json").read_text())
    chunk = meta["chunk_grid"]["configuration"]["chunk_shape"][1]
    chunks, shards = (1, chunk, chunk), (1, shard, shard)
    if case == "reblocked":
        return lambda: dz.write(dz.read(src), out, chunks=chunks, shards=shards, mode="w")
    if case == "aligned":
        return lambda: dz.write(dz.read(src, chunks=shards), out, chunks=chunks, shards=shards, mode="w")
    if case == "rechunked":
        return lambda: dz.write(da.map_blocks(np.copy, dz.read(src)), out, chunks=chunks, shards=shards, mode="w")
    return lambda: dz.write(dz.read(src), out, chunks=chunks, mode="w")


def run(scratch: Path, rounds: int, small: bool = False) -> list[str]:
    """The section's lines: seconds and peak growth per case, and the bound the docs state."""
    side, chunk, shard = SMALL if small else FULL
    src, out = str(scratch / "reblock-src.zarr"), str(scratch / "reblock-out.zarr")
    make_source(src, side, chunk)
    seconds: dict[str, list[float]] = {case: [] for case in CASES}
    peaks = dict.fromkeys(CASES, 0.0)
    for _ in range(rounds):
        for case in CASES:
            got = run_child("benchmarks.reblock", (case, src, out, shard), timeout=1800)
            seconds[case].append(got["seconds"])
            peaks[case] = max(peaks[case], got["peak"])
            shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(src, ignore_errors=True)
    nbytes = 2 * side * side
    block = prod(default_read_chunks((2, side, side), (1, chunk, chunk), 1))  # dz.read's default block
    bound = 2 * THREADS * max(shard * shard, block) + 16 * 2**20
    lines = [f"\nre-blocked write: 2 x {side}² uint8 ({nbytes / 1e6:.0f} MB), {chunk}² chunks into {shard}² shards,"
             f" {THREADS} threads, a fresh process per run         seconds  peak MiB"]
    for case, name in CASES.items():
        lines.append(f"{name:<64} {statistics.median(seconds[case]):7.2f} {peaks[case] / 2**20:9.0f}")
    lines.append("bound stated in docs/performance.md: 2 x threads x max(shard, block) + 16 MiB = "
                 f"{bound / 2**20:.0f} MiB, plus the pooled read buffers (at most dask_zarrio.buffer-pool)")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", action="store_true", help="2 x 2048² in 128² chunks (the smoke test's size)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", default=None, help="scratch folder (default: a temporary one)")
    parser.add_argument("--child", nargs=4, metavar=("CASE", "SRC", "OUT", "SHARD"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        warm_imports()
        case, src, out, shard = args.child
        fn = contender(case, src, out, int(shard))
        with dask.config.set(scheduler="threads", num_workers=THREADS):
            took, peak = measure(fn)
        print(json.dumps({"seconds": took, "peak": peak}))
        return 0
    with scratch_folder(args.dir, "dz-reblock-") as scratch:
        print("\n".join(run(scratch, args.rounds, small=args.small)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
