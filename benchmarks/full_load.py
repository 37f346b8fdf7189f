"""Full loads into memory (issue 31, goal 1): one whole array as one numpy array.

Contenders: ``dz.load(url)``, ``dz.read(url).compute()``, the engine's
``xr.open_dataset(group, engine="dask_zarrio").load()``, ``xr.open_zarr(group).load()``,
``da.from_zarr(url).compute()`` and tensorstore's ``.read().result()``. Each round of each
contender runs in a fresh process (imports and metadata warmed first, then the open and the
load measured: seconds, the CPU seconds the process spent (user + system, per GB of output:
steadier than wall time on a busy machine), and resident memory sampled every 2 ms, its growth
over the output's bytes), rounds interleaved, medians with the spread of the rounds. Every
contender gets the same ``threads`` (dz's ``threads=``, dask's ``num_workers``, tensorstore's
concurrency limits). The xarray contenders read the array through a group whose member ``v``
is a link to it (no copy).

Run alone: ``python -m benchmarks.full_load [--size GiB] [--chunk-mib N] [--rounds N]
[--threads N] [--codecs blosc,zstd,none] [--contenders dz.load,tensorstore]``;
``python -m benchmarks`` runs it on its own benchmark array (``--skip fullload`` leaves it out).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

#: contender -> (what is warmed, what is measured): Python source, ``url`` the array, ``group`` the group.
CONTENDERS: dict[str, tuple[str, str]] = {
    "dz.load(url)": ("import dask_zarrio as dz; dz.load(url, (slice(0, 1),), threads=threads)",
                     "dz.load(url, threads=threads)"),
    "dz.read(url).compute()": ("import dask_zarrio as dz; dz.read(url)[:1].compute()", "dz.read(url).compute()"),
    "engine: xr.open_dataset(engine='dask_zarrio').load()": (
        "import xarray as xr; xr.open_dataset(group, engine='dask_zarrio').v[:1].load()",
        "xr.open_dataset(group, engine='dask_zarrio').load().v.values"),
    "xr.open_zarr(group).load()": (
        "import xarray as xr; xr.open_zarr(group).v[:1].load()", "xr.open_zarr(group).load().v.values"),
    "da.from_zarr(url).compute()": (
        "import dask.array as da; da.from_zarr(url)[:1].compute()", "da.from_zarr(url).compute()"),
    "tensorstore .read().result()": (
        "import tensorstore as ts; spec = {'driver': 'zarr3', 'kvstore': {'driver': 'file', 'path': url}, "
        "'context': {'data_copy_concurrency': {'limit': threads}, 'file_io_concurrency': {'limit': threads}}}; "
        "ts.open(spec).result()[:1].read().result()", "ts.open(spec).result().read().result()"),
}

_CHILD = """
import json, resource, sys
sys.path.insert(0, {root!r})
import dask
from benchmarks.memory import measure, warm_imports
url, group, threads = {url!r}, {group!r}, {threads!r}
dask.config.set(scheduler="threads", num_workers=threads)
warm_imports()
{warm}
out = []
before = resource.getrusage(resource.RUSAGE_SELF)
seconds, grown = measure(lambda: out.append({call}))
after = resource.getrusage(resource.RUSAGE_SELF)
cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
print(json.dumps({{"seconds": seconds, "grown": grown, "nbytes": int(out[0].nbytes), "cpu": cpu}}))
"""


def group_of(url: str, scratch: Path) -> str:
    """A Zarr v3 group holding the array at ``url`` (a local v3 array) as member ``v``, for xarray:
    its ``zarr.json`` with dimension names added (xarray needs them), its chunks a symbolic link."""
    import dask_zarrio as dz

    group = scratch / "full-load-group.zarr"
    if not group.exists():
        dz.create_group(str(group))
        doc = json.loads((Path(url) / "zarr.json").read_text())
        doc.setdefault("dimension_names", [f"dim_{i}" for i in range(len(doc["shape"]))])
        (group / "v").mkdir()
        (group / "v" / "zarr.json").write_text(json.dumps(doc))
        os.symlink(os.path.abspath(Path(url) / "c"), group / "v" / "c")
    return str(group)


def measure_once(name: str, url: str, group: str, threads: int = 2) -> dict[str, float] | None:
    """One round of contender ``name`` in a fresh process; ``None`` where it cannot run (not installed)."""
    warm, call = CONTENDERS[name]
    code = _CHILD.format(root=str(ROOT), url=url, group=group, threads=threads, warm=warm, call=call)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if run.returncode:
        if "ModuleNotFoundError" in run.stderr:
            return None
        raise RuntimeError(f"{name}: {run.stderr[-2000:]}")
    result: dict[str, float] = json.loads(run.stdout.strip().splitlines()[-1])
    return result


def rows(url: str, scratch: Path, rounds: int, names: list[str] | None = None,
         threads: int = 2) -> dict[str, dict[str, float]]:
    """contender -> median ``gbps`` (with ``low`` and ``high`` of the rounds), ``cpu`` (CPU seconds
    per GB), ``peak`` (resident growth ÷ output bytes) and ``vs_ts`` (the median of each round's
    GB/s over tensorstore's in the same round; absent without tensorstore)."""
    group = group_of(url, scratch)
    runs: dict[str, list[dict[str, float]]] = {n: [] for n in names or CONTENDERS}
    for _ in range(rounds):
        for name in list(runs):
            got = measure_once(name, url, group, threads)
            if got is None:
                del runs[name]  # a peer that is not installed
            else:
                runs[name].append(got)
    out = {}
    gbps = {name: [r["nbytes"] / r["seconds"] / 1e9 for r in results] for name, results in runs.items()}
    ts = gbps.get("tensorstore .read().result()")
    for name, results in runs.items():
        row = {"gbps": statistics.median(gbps[name]), "low": min(gbps[name]), "high": max(gbps[name]),
               "cpu": statistics.median(r["cpu"] / (r["nbytes"] / 1e9) for r in results),
               "peak": statistics.median(r["grown"] / r["nbytes"] for r in results)}
        if ts:
            row["vs_ts"] = statistics.median(a / b for a, b in zip(gbps[name], ts))
        out[name] = row
    return out


def run(url: str, scratch: Path, rounds: int, names: list[str] | None = None, threads: int = 2) -> list[str]:
    """The table, as lines for ``python -m benchmarks``' notes."""
    table = rows(url, scratch, rounds, names, threads)
    width = max(map(len, table), default=10)
    lines = [f"\nfull load into memory ({threads} threads, fresh process per round, median of {rounds}; "
             "CPU: user + system seconds per GB)",
             f"{'':<{width}} {'GB/s':>6} {'low-high':>11} {'CPU s/GB':>8} {'peak/out':>8} {'x ts':>5}"]
    for name, r in table.items():
        vs = f"{r['vs_ts']:5.2f}" if "vs_ts" in r else f"{'-':>5}"
        lines.append(f"{name:<{width}} {r['gbps']:6.2f} {r['low']:5.2f}-{r['high']:<5.2f} {r['cpu']:8.2f} "
                     f"{r['peak']:7.2f}x {vs}")
    return lines


#: layout name -> the compressors of the benchmark's array (its float32 field, 4 MiB chunks).
LAYOUTS: dict[str, list[dict[str, Any]] | None] = {
    "blosc": None,  # the benchmark's CODEC (blosc zstd clevel 3, shuffle), filled in by main
    "zstd": [{"name": "zstd", "configuration": {"level": 3, "checksum": False}}],
    "none": None,
}


def main(argv: list[str] | None = None) -> int:
    import dask

    import dask_zarrio as dz
    from benchmarks.__main__ import CODEC, make_source

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=float, default=0.5, help="array size in GiB (default 0.5)")
    parser.add_argument("--chunk-mib", type=int, default=4, help="chunk size in MiB (default 4)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="threads of every contender (default 2)")
    parser.add_argument("--codecs", default="blosc", help=f"layouts, comma-separated, of {', '.join(LAYOUTS)}")
    parser.add_argument("--contenders", default="", help="comma-separated starts of contender names (default all)")
    parser.add_argument("--dir", default=None, help="scratch folder (default: a temporary one)")
    args = parser.parse_args(argv)
    starts = [c for c in args.contenders.split(",") if c]
    names = [n for n in CONTENDERS if not starts or any(n.startswith(c) for c in starts)]
    with tempfile.TemporaryDirectory(prefix="dz-full-load-") as tmp:
        source, chunks = make_source(args.size, args.chunk_mib)
        for layout in args.codecs.split(","):
            scratch = Path(args.dir or tmp) / layout
            scratch.mkdir(parents=True, exist_ok=True)
            url = str(scratch / "full-load.zarr")
            compressors = [CODEC] if layout == "blosc" else LAYOUTS[layout]
            with dask.config.set(scheduler="threads"):
                dz.write(source, url, mode="w", chunks=chunks, compressors=compressors)
            print(f"\ndata: {source.shape} float32, {source.nbytes / 2**30:.2f} GiB, chunks {chunks}, {layout}")
            for line in run(url, scratch, args.rounds, names, args.threads):
                print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
