"""dask_zarrio beside its peers on several layouts (``python -m benchmarks.peers``; ``--skip peers``).

Issue 31 goal 2. Contenders, each "as a user would" on the threaded dask scheduler:

- ``dz.read(url).sum()`` / ``dz.write``;
- zarr-python 3 + dask: ``da.from_zarr(url).sum()`` / ``da.to_zarr``;
- zarrs-python + dask: the same calls under ``zarr.config.set({"codec_pipeline.path":
  "zarrs.ZarrsCodecPipeline"})`` (Rust codec pipeline; skipped with a note when not installed);
- tensorstore: ``read().result()`` and a float64 sum / ``write(array)``.

Layouts: the main benchmark's (big chunks, blosc-zstd + shuffle), and 256 KiB chunks
(256 x 256 float32), unsharded and in shards of 16 MiB (2048 x 2048). Every read reads
the same dz-written data; each writer writes with its own library's blosc defaults
(``blocksize`` 0: dz takes 1 MiB zstd blocks, c-blosc 32-256 KiB).
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dask
import dask.array as da
import numpy as np

import dask_zarrio as dz

__all__ = ["LAYOUTS", "peer_tables"]

CODEC = {
    "name": "blosc",
    "configuration": {"cname": "zstd", "clevel": 3, "shuffle": "shuffle", "typesize": 4, "blocksize": 0},
}
#: name -> (chunks, shards or None); None chunks: the main benchmark's.
LAYOUTS: dict[str, tuple[tuple[int, int] | None, tuple[int, int] | None]] = {
    "benchmark layout": (None, None),
    "256 KiB chunks": ((256, 256), None),
    "256 KiB chunks in 16 MiB shards": ((256, 256), (2048, 2048)),
}
Case = tuple[Callable[[], object], "Callable[[], object] | None"]
Table = tuple[str, dict[str, Case], str, int]


@contextlib.contextmanager
def _zarrs() -> Iterator[None]:
    import zarr

    with zarr.config.set({"codec_pipeline.path": "zarrs.ZarrsCodecPipeline"}):
        yield


def _peers() -> tuple[Any, bool, Any]:
    """(zarr module or None, whether zarrs-python is importable, tensorstore or None)."""
    zarr: Any = None
    ts: Any = None
    try:
        import zarr
    except ImportError:
        pass
    try:
        import zarrs  # noqa: F401
        has_zarrs = zarr is not None
    except ImportError:
        has_zarrs = False
    try:
        import tensorstore as ts
    except ImportError:
        pass
    return zarr, has_zarrs, ts


def _tensorstore_spec(path: str, shape: tuple[int, ...], chunks: tuple[int, int],
                      shards: tuple[int, int] | None) -> dict[str, Any]:
    inner = [{"name": "bytes", "configuration": {"endian": "little"}}, CODEC]
    if shards is None:
        grid, codecs = chunks, inner
    else:
        grid, codecs = shards, [{"name": "sharding_indexed",
                                 "configuration": {"chunk_shape": list(chunks), "codecs": inner}}]
    return {"driver": "zarr3", "kvstore": {"driver": "file", "path": path}, "create": True,
            "metadata": {"shape": list(shape), "data_type": "float32", "codecs": codecs,
                         "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": list(grid)}}}}


def _layout_cases(source: da.Array, src: str, out: str, chunks: tuple[int, int], shards: tuple[int, int] | None,
                  full: np.ndarray) -> tuple[dict[str, Case], dict[str, Case], list[str]]:
    zarr, has_zarrs, ts = _peers()
    notes = [] if has_zarrs else ["peers: zarrs-python not installed; its rows skipped (pip install zarrs)"]

    def clean() -> None:
        shutil.rmtree(out, ignore_errors=True)

    reads: dict[str, Case] = {"dz.read(url).sum()": (lambda: dz.read(src).sum().compute(), None)}
    writes: dict[str, Case] = {"dz.write": (
        lambda: dz.write(source, out, mode="w", chunks=chunks, shards=shards, compressors=[CODEC]), clean)}
    if zarr is not None:
        from zarr.codecs import BloscCodec

        def to_zarr() -> None:
            z = zarr.create_array(out, shape=source.shape, chunks=chunks, shards=shards, dtype="f4",
                                  compressors=[BloscCodec(cname="zstd", clevel=3, shuffle="shuffle")])
            da.to_zarr(source.rechunk(shards or chunks), z)

        def zarrs_read() -> object:
            with _zarrs():
                return da.from_zarr(src).sum().compute()

        def zarrs_write() -> None:
            with _zarrs():
                to_zarr()

        reads["zarr-python: da.from_zarr(url).sum()"] = (lambda: da.from_zarr(src).sum().compute(), None)
        writes["zarr-python: da.to_zarr"] = (to_zarr, clean)
        if has_zarrs:
            reads["zarrs-python: da.from_zarr(url).sum()"] = (zarrs_read, None)
            writes["zarrs-python: da.to_zarr"] = (zarrs_write, clean)
    if ts is not None:
        def ts_read() -> float:
            arr = ts.open({"driver": "zarr3", "kvstore": {"driver": "file", "path": src}}).result()
            return float(arr.read().result().sum(dtype=np.float64))

        def ts_write() -> None:
            ts.open(_tensorstore_spec(out, source.shape, chunks, shards)).result().write(full).result()

        reads["tensorstore read + sum"] = (ts_read, None)
        writes["tensorstore write"] = (ts_write, clean)
    return reads, writes, notes


def peer_tables(scratch: Path, source: da.Array, chunks: tuple[int, int], rounds: int, interleaved: Any,
                layouts: dict[str, tuple[tuple[int, int] | None, tuple[int, int] | None]] | None = None,
                ) -> tuple[list[tuple[str, dict[str, float], str, int]], list[str]]:
    """Read + sum and write tables, one pair per layout, the peers' rounds interleaved with dz's.

    ``source`` is the benchmark's array (persisted); its ``chunks`` are the big layout's.
    Returns ``(title, seconds per contender, dz's row, bytes)`` tables and notes.
    """
    full = source.compute()
    tables: list[tuple[str, dict[str, float], str, int]] = []
    notes: list[str] = []
    for name, (small, shards) in (layouts or LAYOUTS).items():
        layout_chunks = small or chunks
        src, out = str(scratch / f"peers-{len(tables)}.zarr"), str(scratch / "peers-out.zarr")
        dz.write(source, src, mode="w", chunks=layout_chunks, shards=shards, compressors=[CODEC])
        reads, writes, layout_notes = _layout_cases(source, src, out, layout_chunks, shards, full)
        notes += [n for n in layout_notes if n not in notes]
        where = f"{name}: chunks {layout_chunks}" + (f", shards {shards}" if shards else "")
        nbytes = int(source.nbytes)
        tables.append((f"peers read, {where}", interleaved(reads, rounds), "dz.read(url).sum()", nbytes))
        tables.append((f"peers write, {where}", interleaved(writes, rounds), "dz.write", nbytes))
        shutil.rmtree(src, ignore_errors=True)
        shutil.rmtree(out, ignore_errors=True)
    return tables, notes


def main(argv: list[str] | None = None) -> int:
    from benchmarks.__main__ import interleaved, make_source

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=float, default=1.0, help="array size in GiB (default 1)")
    parser.add_argument("--chunk-mib", type=int, default=16, help="the benchmark layout's chunk size in MiB")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds per contender (median)")
    args = parser.parse_args(argv)
    dask.config.set(scheduler="threads")
    generator, chunks = make_source(args.size, args.chunk_mib)
    source = generator.persist()
    scratch = Path(tempfile.mkdtemp(prefix="dz-peers-"))
    try:
        tables, notes = peer_tables(scratch, source, chunks, args.rounds, interleaved)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    for title, rows, mine, size in tables:
        print(f"\n{title}")
        for name, seconds in rows.items():
            print(f"  {name:<44} {size / seconds / 1e9:6.2f} GB/s   dz / it {seconds / rows[mine]:5.2f}")
    for note in notes:
        print(note)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
