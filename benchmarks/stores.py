"""The store sections of ``python -m benchmarks`` (skip them with ``--skip stores,s3write``).

- ``stores``: write and read + sum GB/s of the same array in every store dask_zarrio
  has, so users can choose: local folder, SQLite, ZIP, LMDB, Redis (``redis-server``
  started on a free port), S3 (a local moto server) and Azure Blob (Azurite). A store
  whose server or package is missing is left out with a note saying why.
- ``s3write``: ``dz.write`` to the local S3 server against the PUT limit (encode the
  blocks in a thread pool and PUT them concurrently with the same s3fs client, no zarr
  and no dask) and against ``da.to_zarr``, as a table with ratios.

Servers are the test suite's (``tests/servers``), started and stopped by process id.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np

import dask_zarrio as dz

__all__ = ["ALL_STORES", "s3_write_notes", "s3_write_rows", "store_table"]

CODEC = {
    "name": "blosc",
    "configuration": {"cname": "zstd", "clevel": 3, "shuffle": "shuffle", "typesize": 4, "blocksize": 0},
}
ALL_STORES = ("local folder", "SQLite", "ZIP", "LMDB", "Redis", "S3 (moto)", "Azure (Azurite)")

#: (url, storage_options) of a store, or None with the reason it is left out.
Target = tuple[str, dict[str, Any]]
Interleaved = Callable[[dict[str, tuple[Callable[[], object], Callable[[], object] | None]], int], dict[str, float]]


def make_data(mib: float) -> tuple[np.ndarray, tuple[int, int]]:
    """A compressible float32 field of about ``mib`` MiB, in 4 x 4 chunks."""
    side = max(64, int((mib * 2**20 / 4) ** 0.5) // 64 * 64)
    rng = np.random.default_rng(0)
    y = np.linspace(0, 3, side, dtype=np.float32)[:, None]
    data = np.round(280 + 10 * np.sin(y) * np.cos(y.T) + rng.normal(0, 0.5, (side, side)).astype(np.float32), 2)
    return data.astype(np.float32), (side // 4, side // 4)


@contextlib.contextmanager
def _server_target(name: str) -> Iterator[Target]:
    """Start the server a store needs; ``RuntimeError``/``ImportError`` when it cannot."""
    bucket = f"bench-{uuid.uuid4().hex[:8]}"
    if name == "Redis":
        from tests.servers.redis import redis_server

        with redis_server() as port:
            yield f"redis://127.0.0.1:{port}/0/bench.zarr", {}
    elif name == "S3 (moto)":
        from tests.servers.s3 import create_bucket, moto_server, s3_options

        with moto_server() as endpoint:
            create_bucket(endpoint, bucket)
            yield f"s3://{bucket}/bench.zarr", s3_options(endpoint, skip_instance_cache=False)
    else:
        import fsspec

        from tests.servers.azurite import azure_options, azurite

        with azurite() as endpoint:
            opts = azure_options(endpoint, skip_instance_cache=False)
            fsspec.filesystem("az", **opts).mkdir(bucket)
            yield f"az://{bucket}/bench.zarr", opts


def _file_target(name: str, scratch: Path) -> Target:
    folder = scratch / f"stores-{uuid.uuid4().hex[:8]}"
    folder.mkdir(parents=True)
    return {
        "local folder": (str(folder / "bench.zarr"), {}),
        "SQLite": (f"sqlite://{folder}/bench.db", {}),
        "ZIP": (f"zip://{folder}/bench.zip", {}),
        "LMDB": (f"lmdb://{folder}/bench.lmdb", {}),
    }[name]


def store_table(scratch: Path, mib: float, rounds: int, interleaved: Interleaved,
                stores: Iterable[str] = ALL_STORES) -> list[str]:
    """Lines of a table: write and read + sum GB/s of one ``mib`` MiB array per store.

    Each store's write replaces the array (``mode="w"``); its read + sum follows. The
    threads scheduler runs both (a ZIP archive is written by one process only).
    """
    data, chunks = make_data(mib)
    x = da.from_array(data, chunks=chunks)
    rows: list[str] = []
    notes: list[str] = []
    for name in stores:
        with contextlib.ExitStack() as stack:
            try:
                url, opts = (_file_target(name, scratch) if name in ALL_STORES[:4]
                             else stack.enter_context(_server_target(name)))
            except (ImportError, RuntimeError, OSError) as e:
                notes.append(f"stores: {name} left out ({type(e).__name__}: {e})")
                continue

            def write(url: str = url, opts: dict[str, Any] = opts) -> None:
                dz.write(x, url, mode="w", chunks=chunks, compressors=[CODEC], storage_options=opts)

            def read(url: str = url, opts: dict[str, Any] = opts) -> float:
                return float(dz.read(url, storage_options=opts).sum().compute())

            times = interleaved({"write": (write, None), "read": (read, None)}, rounds)
            rows.append(
                f"{name:<18} {data.nbytes / times['write'] / 1e9:11.3f} {data.nbytes / times['read'] / 1e9:11.3f}"
            )
    head = [f"\nstores ({data.nbytes / 2**20:.0f} MiB float32, chunks {chunks}, blosc-zstd; GB/s uncompressed, "
            f"median of {rounds})", f"{'store':<18} {'write GB/s':>11} {'read GB/s':>11}"]
    return head + rows + notes


def s3_write_rows(
    mib: float, rounds: int, interleaved: Interleaved, in_flight: int = 16
) -> tuple[dict[str, float], int]:
    """Seconds of the S3 write contenders on a local moto server (empty when it cannot start)."""
    try:
        import fsspec
        import zarr
        from zarr.codecs import BloscCodec as ZBlosc

        from dask_zarrio.codecs.blosc import BloscCodec
        from tests.servers.s3 import create_bucket, moto_server, s3_options
    except ImportError:
        return {}, 0
    data, chunks = make_data(mib)
    x = da.from_array(data, chunks=chunks)
    blocks = [np.ascontiguousarray(b) for b in
              (data[i:i + chunks[0], j:j + chunks[1]] for i in range(0, data.shape[0], chunks[0])
               for j in range(0, data.shape[1], chunks[1]))]
    codec = BloscCodec(**CODEC["configuration"])  # type: ignore[arg-type]
    with moto_server() as endpoint:
        create_bucket(endpoint, "s3write")
        opts = s3_options(endpoint, skip_instance_cache=False)  # one client per process, as users have it
        fs = fsspec.filesystem("s3", **opts)

        def limit() -> None:  # encode + PUT in a thread pool, the same client, no zarr or dask
            def one(item: tuple[int, np.ndarray]) -> None:
                # an encoded chunk may be any bytes-like buffer; botocore takes bytes
                fs.pipe_file(f"s3write/limit/c/{item[0]}", bytes(memoryview(codec.encode(item[1])).cast("B")))

            with ThreadPoolExecutor(in_flight) as pool:
                list(pool.map(one, enumerate(blocks)))

        def to_zarr() -> None:
            z = zarr.create_array(zarr.storage.FsspecStore.from_url("s3://s3write/peer.zarr", storage_options=opts),
                                  shape=data.shape, chunks=chunks, dtype="f4", overwrite=True,
                                  compressors=[ZBlosc(cname="zstd", clevel=3, shuffle="shuffle")])
            da.to_zarr(x, z)

        rows = interleaved({
            "limit: encode + PUT, thread pool": (limit, None),
            "dz.write": (lambda: dz.write(x, "s3://s3write/dz.zarr", mode="w", chunks=chunks, compressors=[CODEC],
                                          storage_options=opts), None),
            "da.to_zarr": (to_zarr, None)}, rounds)
    return rows, data.nbytes


def s3_write_notes(rows: dict[str, float]) -> list[str]:
    """The issue's goals as ratios: dz.write >= 0.9 x the PUT limit and >= 2 x da.to_zarr."""
    if not rows:
        return ["s3write: skipped (moto, zarr or the tests package missing; pip install -e '.[test]')"]
    limit, mine, peer = rows["limit: encode + PUT, thread pool"], rows["dz.write"], rows["da.to_zarr"]
    return [f"s3write: dz.write = {limit / mine:.2f} x the PUT limit (goal >= 0.9), "
            f"{peer / mine:.2f} x da.to_zarr (goal >= 2); {os.cpu_count()} CPUs"]
