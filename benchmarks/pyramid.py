"""Multiscale pyramids (issue 30): ``python -m benchmarks.pyramid [--small] [--channels N] [--rounds N]``.

One Zarr source, a C x 15360² uint8 image (a smooth picture plus noise, as photographs compress;
default C = 2, 0.47 GB; ``--channels 30`` is the 7 GB case) stored in (1, 512, 512) chunks in
(1, 4096, 4096) shards. Every contender writes the same layout from it: 5 levels, OME-Zarr 0.5,
(1, 512, 512) chunks in (1, 4096, 4096) shards, a mean (or its nearest equivalent):

- ``dz.write_pyramid(dz.read(src), ...)``;
- ``dz.write(dz.read(src), ...)``: level 0 alone, the reference the issue's goals divide by;
- ngff-zarr: ``to_multiscales(..., method=Methods.ITKWASM_BIN_SHRINK)`` + ``to_ngff_zarr(...,
  version="0.5", chunks_per_shard=...)``;
- ome-zarr-py: ``write_image(..., method=Methods.LOCAL_MEAN, storage_options={"chunks": ...,
  "shards": ...})``.

The peers read the source as their users do (``da.from_zarr``). Each run is a fresh process
(``python -m benchmarks.pyramid --child CASE SRC OUT``) on 2 threads that times the whole call
and samples its resident memory every 2 ms, and reports the CPU seconds (user + system) the call
took, which a loaded machine distorts less than wall time; rounds are interleaved; seconds are
medians, peaks the largest growth. ``pyramid-encode`` is dz's pyramid with level 0 decoded and
encoded again, as from a source stored otherwise (this source is stored as level 0 is, so
``pyramid`` copies its objects). A peer that is not installed is skipped with a note. Also a section of
``python -m benchmarks`` (``--skip pyramid`` leaves it out). ``--small`` (2 x 2048², 128² chunks
in 1024² shards, 3 levels) is the smoke test's size.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
from collections.abc import Callable
from pathlib import Path

import dask
import dask.array as da
import numpy as np

import dask_zarrio as dz
from benchmarks.memory import measure, run_child, scratch_folder, warm_imports

THREADS = 2
#: (side, chunk side, shard side, levels)
FULL, SMALL = (15360, 512, 4096, 5), (2048, 128, 1024, 3)
CASES = {
    "pyramid": "dz.write_pyramid(dz.read(src))",
    "pyramid-encode": "dz.write_pyramid, level 0 encoded (no copy)",
    "plain": "dz.write(dz.read(src))  (level 0 alone)",
    "ngff-zarr": "ngff-zarr ITKWASM_BIN_SHRINK + to_ngff_zarr",
    "ome-zarr": "ome-zarr-py write_image (local_mean)",
}
#: What each peer needs importing.
NEEDS = {"ngff-zarr": "ngff_zarr", "ome-zarr": "ome_zarr"}


def make_source(url: str, channels: int, side: int, chunk: int, shard: int) -> None:
    """``channels`` x side² uint8, a smooth picture plus noise, in chunk² chunks in shard² shards."""
    def tile(block_id: tuple[int, int, int]) -> np.ndarray:
        z, i, j = block_id
        y, x = np.mgrid[i * shard:(i + 1) * shard, j * shard:(j + 1) * shard]
        rng = np.random.default_rng(z * 10_000 + i * 100 + j)
        image = 127 + 100 * np.sin(y / 300 + z) * np.cos(x / 200) + rng.normal(0, 4, y.shape)
        return image.clip(0, 255).astype("u1")[None]

    tiles = (shard,) * (side // shard) + ((side % shard,) if side % shard else ())
    def block(block_id: tuple[int, int, int]) -> np.ndarray:
        z, i, j = block_id
        return tile(block_id)[:, :tiles[i], :tiles[j]]

    image = da.map_blocks(lambda block_id=None: block(block_id), dtype="u1", chunks=((1,) * channels, tiles, tiles))
    with dask.config.set(scheduler="threads", num_workers=THREADS):
        dz.write(image, url, chunks=(1, chunk, chunk), shards=(1, shard, shard), mode="w")


def contender(case: str, src: str, out: str, levels: int) -> Callable[[], object]:
    """The write of ``case`` (see :data:`CASES`), ready to time."""
    meta = json.loads(Path(src, "zarr.json").read_text())
    shard = meta["chunk_grid"]["configuration"]["chunk_shape"]
    chunk = meta["codecs"][0]["configuration"]["chunk_shape"]
    if case == "pyramid-encode":  # as from a source stored otherwise: level 0 decoded and encoded again
        from dask_zarrio.pyramid import graph

        graph.same_encoding = lambda *args: False  # type: ignore[assignment]
    if case.startswith("pyramid"):
        return lambda: dz.write_pyramid(dz.read(src), out, levels=levels, axes=["c", "y", "x"], chunks=chunk,
                                        shards=shard, convention="ome-zarr-0.5", mode="w")
    if case == "plain":
        return lambda: dz.write(dz.read(src), out, chunks=chunk, shards=shard, mode="w")
    factors = [2**n for n in range(1, levels)]
    if case == "ngff-zarr":
        import ngff_zarr as nz

        def ngff() -> None:
            image = nz.to_ngff_image(da.from_zarr(src), dims=["c", "y", "x"])
            multiscales = nz.to_multiscales(image, scale_factors=factors, method=nz.Methods.ITKWASM_BIN_SHRINK,
                                            chunks={"c": 1, "y": chunk[1], "x": chunk[2]})
            per_shard = {"c": 1, "y": shard[1] // chunk[1], "x": shard[2] // chunk[2]}
            nz.to_ngff_zarr(out, multiscales, version="0.5", chunks_per_shard=per_shard)
        return ngff
    from ome_zarr.scale import Methods
    from ome_zarr.writer import write_image

    return lambda: write_image(da.from_zarr(src), out, scale_factors=factors, method=Methods.LOCAL_MEAN, axes="cyx",
                               storage_options={"chunks": tuple(chunk), "shards": tuple(shard)})


def _available(case: str) -> bool:
    if case not in NEEDS:
        return True
    try:
        __import__(NEEDS[case])
    except ImportError:
        return False
    return True


def run(scratch: Path, rounds: int, small: bool = False, channels: int = 2,
        cases: list[str] | None = None, side: int | None = None) -> list[str]:
    """The section's lines: seconds, peak growth and their ratios to dz's plain write, per contender."""
    full_side, chunk, shard, levels = SMALL if small else FULL
    side = side or full_side
    src, out = str(scratch / "pyramid-src.zarr"), str(scratch / "pyramid-out.zarr")
    make_source(src, channels, side, chunk, shard)
    chosen = [c for c in (cases or list(CASES)) if _available(c)]
    notes = [f"note: {CASES[c]} skipped ({NEEDS[c]} not installed)" for c in (cases or list(CASES))
             if c not in chosen]
    seconds: dict[str, list[float]] = {case: [] for case in chosen}
    cpu: dict[str, list[float]] = {case: [] for case in chosen}
    peaks = dict.fromkeys(chosen, 0.0)
    for _ in range(rounds):
        for case in chosen:
            got = run_child("benchmarks.pyramid", (case, src, out, levels))
            seconds[case].append(got["seconds"])
            cpu[case].append(got["cpu"])
            peaks[case] = max(peaks[case], got["peak"])
            shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(src, ignore_errors=True)
    nbytes = channels * side * side
    lines = [f"\npyramid: {channels} x {side}² uint8 ({nbytes / 1e9:.2f} GB), {levels} levels, OME-Zarr 0.5, "
             f"{chunk}² chunks in {shard}² shards, {THREADS} threads, a fresh process per run",
             f"{'':<48} {'seconds':>8} {'CPU s':>7} {'peak MiB':>9} {'x plain s':>10} {'x plain CPU':>12} "
             f"{'x plain MiB':>12}"]
    plain_s = statistics.median(seconds["plain"]) if "plain" in seconds else None
    plain_c = statistics.median(cpu["plain"]) if "plain" in cpu else None
    plain_m = peaks.get("plain")
    for case in chosen:
        s, c, m = statistics.median(seconds[case]), statistics.median(cpu[case]), peaks[case]
        ratio_s = f"{s / plain_s:10.2f}" if plain_s else f"{'-':>10}"
        ratio_c = f"{c / plain_c:12.2f}" if plain_c else f"{'-':>12}"
        ratio_m = f"{m / plain_m:12.2f}" if plain_m else f"{'-':>12}"
        lines.append(f"{CASES[case]:<48} {s:8.2f} {c:7.2f} {m / 2**20:9.0f} {ratio_s} {ratio_c} {ratio_m}")
    return lines + notes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", action="store_true", help="2 x 2048², 128² chunks in 1024² shards, 3 levels")
    parser.add_argument("--channels", type=int, default=2, help="image planes (default 2; 30 is the 7 GB case)")
    parser.add_argument("--side", type=int, default=None, help="image side (default 15360; 2048 with --small)")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma-separated among {','.join(CASES)}")
    parser.add_argument("--dir", default=None, help="scratch folder (default: a temporary one)")
    parser.add_argument("--child", nargs=4, metavar=("CASE", "SRC", "OUT", "LEVELS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        case, src, out, levels = args.child
        warm_imports()
        fn = contender(case, src, out, int(levels))
        before = resource.getrusage(resource.RUSAGE_SELF)
        with dask.config.set(scheduler="threads", num_workers=THREADS):
            took, peak = measure(fn)
        after = resource.getrusage(resource.RUSAGE_SELF)
        used = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
        print(json.dumps({"seconds": took, "cpu": used, "peak": peak}))
        return 0
    with scratch_folder(args.dir, "dz-pyramid-") as scratch:
        print("\n".join(run(scratch, args.rounds, small=args.small, channels=args.channels,
                            cases=args.cases.split(","), side=args.side)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
