"""Full loads into memory (issue 31, goal 1): one whole array as one numpy array.

Contenders: ``dz.load(url)``, ``dz.read(url).compute()``, the engine's
``xr.open_dataset(group, engine="dask_zarrio").load()``, ``xr.open_zarr(group).load()``,
``da.from_zarr(url).compute()`` and tensorstore's ``.read().result()``. Each round of each
contender runs in a fresh process (imports and metadata warmed first, then the open and the
load measured: seconds, and resident memory sampled every 2 ms, its growth over the output's
bytes), rounds interleaved, medians. The xarray contenders read the array through a group
whose member ``v`` is a link to it (no copy).

Run alone: ``python -m benchmarks.full_load [--size GiB] [--chunk-mib N] [--rounds N]``;
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

ROOT = Path(__file__).resolve().parent.parent

#: contender -> (what is warmed, what is measured): Python source, ``url`` the array, ``group`` the group.
CONTENDERS: dict[str, tuple[str, str]] = {
    "dz.load(url)": ("import dask_zarrio as dz; dz.load(url, (slice(0, 1),))", "dz.load(url)"),
    "dz.read(url).compute()": ("import dask_zarrio as dz; dz.read(url)[:1].compute()", "dz.read(url).compute()"),
    "engine: xr.open_dataset(engine='dask_zarrio').load()": (
        "import xarray as xr; xr.open_dataset(group, engine='dask_zarrio').v[:1].load()",
        "xr.open_dataset(group, engine='dask_zarrio').load().v.values"),
    "xr.open_zarr(group).load()": (
        "import xarray as xr; xr.open_zarr(group).v[:1].load()", "xr.open_zarr(group).load().v.values"),
    "da.from_zarr(url).compute()": (
        "import dask.array as da; da.from_zarr(url)[:1].compute()", "da.from_zarr(url).compute()"),
    "tensorstore .read().result()": (
        "import tensorstore as ts; spec = {'driver': 'zarr3', 'kvstore': {'driver': 'file', 'path': url}}; "
        "ts.open(spec).result()[:1].read().result()", "ts.open(spec).result().read().result()"),
}

_CHILD = """
import json, sys
sys.path.insert(0, {root!r})
from benchmarks.memory import measure, warm_imports
url, group = {url!r}, {group!r}
warm_imports()
{warm}
out = []
seconds, grown = measure(lambda: out.append({call}))
print(json.dumps({{"seconds": seconds, "grown": grown, "nbytes": int(out[0].nbytes)}}))
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


def measure_once(name: str, url: str, group: str) -> dict[str, float] | None:
    """One round of contender ``name`` in a fresh process; ``None`` where it cannot run (not installed)."""
    warm, call = CONTENDERS[name]
    code = _CHILD.format(root=str(ROOT), url=url, group=group, warm=warm, call=call)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if run.returncode:
        if "ModuleNotFoundError" in run.stderr:
            return None
        raise RuntimeError(f"{name}: {run.stderr[-2000:]}")
    result: dict[str, float] = json.loads(run.stdout.strip().splitlines()[-1])
    return result


def rows(url: str, scratch: Path, rounds: int, names: list[str] | None = None) -> dict[str, dict[str, float]]:
    """contender -> median ``seconds``, ``gbps`` and ``peak`` (resident growth ÷ output bytes)."""
    group = group_of(url, scratch)
    runs: dict[str, list[dict[str, float]]] = {n: [] for n in names or CONTENDERS}
    for _ in range(rounds):
        for name in list(runs):
            got = measure_once(name, url, group)
            if got is None:
                del runs[name]  # a peer that is not installed
            else:
                runs[name].append(got)
    out = {}
    for name, results in runs.items():
        seconds = statistics.median(r["seconds"] for r in results)
        out[name] = {"seconds": seconds, "gbps": results[0]["nbytes"] / seconds / 1e9,
                     "peak": statistics.median(r["grown"] / r["nbytes"] for r in results)}
    return out


def run(url: str, scratch: Path, rounds: int, names: list[str] | None = None) -> list[str]:
    """The table, as lines for ``python -m benchmarks``' notes."""
    table = rows(url, scratch, rounds, names)
    width = max(map(len, table), default=10)
    lines = [f"\nfull load into memory (fresh process per round, median of {rounds})",
             f"{'':<{width}} {'GB/s':>7} {'peak/out':>9}"]
    lines += [f"{name:<{width}} {r['gbps']:7.2f} {r['peak']:8.2f}x" for name, r in table.items()]
    return lines


def main(argv: list[str] | None = None) -> int:
    import dask_zarrio as dz
    from benchmarks.__main__ import CODEC, make_source

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=float, default=0.5, help="array size in GiB (default 0.5)")
    parser.add_argument("--chunk-mib", type=int, default=4, help="chunk size in MiB (default 4)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", default=None, help="scratch folder (default: a temporary one)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="dz-full-load-") as tmp:
        scratch = Path(args.dir or tmp)
        source, chunks = make_source(args.size, args.chunk_mib)
        url = str(scratch / "full-load.zarr")
        dz.write(source, url, mode="w", chunks=chunks, compressors=[CODEC])
        print(f"data: {source.shape} float32, {source.nbytes / 2**30:.2f} GiB, chunks {chunks}, blosc-zstd")
        for line in run(url, scratch, args.rounds):
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
