"""Opening many variables over a slow link (issue 31, goal 4): ``python -m benchmarks.open_latency``.

A synthetic ERA5-like group (xarray#8902: ARCO-ERA5 has 273 variables): 273 float32
variables of shape (8760, 721, 1440) in chunks of (12, 73, 90), about 10^5 chunks each,
with the coordinates ``time`` (8760 hours, CF-encoded), ``latitude`` and ``longitude``.
Only the metadata and the coordinate chunks are stored (an open must not read data
chunks; none exist). The group sits on a local S3 server (moto) behind a proxy on
127.0.0.1 that holds every request for a fixed time, written as Zarr v3 and v2, with
consolidated metadata and without. The proxy answers a GET it has seen before from
memory (an untimed open of each group fills it): moto spends milliseconds of CPU on each
request, one after the other, which would hide the latency a client pays.

Rows, each the median of ``--rounds`` interleaved opens (seconds, and CPU seconds of the
client: what a busy machine stretches), with the requests one open sent:

- ``xr.open_dataset(url, engine="dask_zarrio", chunks={})`` and ``dz.open_group(url)`` with
  every array (``dict(group.arrays())``);
- ``xr.open_zarr(url, chunks={})`` (zarr-python), consolidated and not.

An open needs a listing (not consolidated), the documents and the coordinate chunks:
about three round trips where independent requests are in flight together. The S3
client keeps ``--pool`` connections (botocore's default is 10; dask_zarrio's for ``s3://``
URLs, the default here, ``dask_zarrio.metadata-requests-in-flight``); each open here is
given the same ``storage_options``, peers included. Connections stay open ``--keepalive``
seconds idle (default 60; aiobotocore's own is 12 s, which an interleaved ``xr.open_zarr``
round at 200 ms outlasts), so each open finds them as a session's next open does. A cold
connection would cost a TLS handshake against a real server; against the proxy only the
proxy's own accept (a thread each, slow on a busy machine): ``--keepalive 12`` shows it.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

#: ERA5 on a 0.25 degree grid, one year of hours.
FULL = {"variables": 273, "times": 8760, "lat": 721, "lon": 1440, "chunks": (12, 73, 90)}
SMALL = {"variables": 20, "times": 240, "lat": 19, "lon": 36, "chunks": (12, 10, 10)}


def make_group(url: str, options: dict[str, Any], *, zarr_format: int, consolidated: bool,
               variables: int, times: int, lat: int, lon: int, chunks: tuple[int, int, int]) -> None:
    """Write the group's metadata and coordinates with zarr-python (what peers write)."""
    import zarr

    store = zarr.storage.FsspecStore.from_url(url, storage_options=options)
    group = zarr.open_group(store, mode="w", zarr_format=zarr_format, attributes={"title": "ERA5-like"})  # type: ignore[arg-type]
    coords = {
        "time": (np.arange(times, dtype="i8"), {"units": "hours since 1900-01-01", "calendar": "gregorian"}),
        "latitude": (np.linspace(90, -90, lat, dtype="f4"), {"units": "degrees_north"}),
        "longitude": (np.linspace(0, 360, lon, endpoint=False, dtype="f4"), {"units": "degrees_east"}),
    }
    for name, (values, attrs) in coords.items():
        arr = _create(group, name, values.shape, values.shape, values.dtype, (name,), attrs, zarr_format)
        arr[:] = values
    dims = ("time", "latitude", "longitude")
    for i in range(variables):
        attrs = {"units": "K", "long_name": f"variable number {i}"}
        _create(group, f"var_{i:03d}", (times, lat, lon), chunks, np.dtype("f4"), dims, attrs, zarr_format)
    if consolidated:
        zarr.consolidate_metadata(store)


def _create(group: Any, name: str, shape: tuple[int, ...], chunks: tuple[int, ...], dtype: np.dtype[Any],
            dims: tuple[str, ...], attrs: dict[str, Any], zarr_format: int) -> Any:
    if zarr_format == 2:
        return group.create_array(name, shape=shape, chunks=chunks, dtype=dtype, fill_value=None,
                                  attributes={**attrs, "_ARRAY_DIMENSIONS": list(dims)})
    return group.create_array(name, shape=shape, chunks=chunks, dtype=dtype, dimension_names=dims, attributes=attrs)


def openers(url: str, options: dict[str, Any], consolidated: bool) -> dict[str, Callable[[], object]]:
    """The contenders: what a user types to open the group, each returning what it opened."""
    import xarray as xr

    import dask_zarrio as dz

    def group_open() -> object:
        group = dz.open_group(url, storage_options=options)
        return dict(group.arrays())

    return {
        "xr.open_dataset(engine='dask_zarrio')": lambda: xr.open_dataset(
            url, engine="dask_zarrio", chunks={}, consolidated=consolidated, storage_options=options),
        "dz.open_group + arrays()": group_open,
        "xr.open_zarr": lambda: xr.open_zarr(url, chunks={}, consolidated=consolidated, storage_options=options),
    }


def measure(proxy: ProxyProcess, cases: dict[str, Callable[[], object]], rounds: int,
            ) -> dict[str, tuple[float, float, int, int]]:
    """Per case: (median seconds, median CPU seconds of the client, requests per open, GETs of
    data chunks per open), rounds interleaved. The CPU (every thread of this process: parsing,
    signing, the event loop) is what a busy machine stretches; the rest is waiting."""
    times: dict[str, list[float]] = {name: [] for name in cases}
    cpu: dict[str, list[float]] = {name: [] for name in cases}
    requests: dict[str, tuple[int, int]] = {}
    for _ in range(rounds):
        for name, fn in cases.items():
            proxy.clear()
            t, c = time.perf_counter(), time.process_time()
            fn()
            times[name].append(time.perf_counter() - t)
            cpu[name].append(time.process_time() - c)
            counts, paths = proxy.counts()
            data = sum(n for p, n in paths.items() if _is_data_chunk(p))
            requests[name] = (sum(v for k, v in counts.items() if not k.startswith("injected")), data)
    return {name: (statistics.median(ts), statistics.median(cpu[name]), *requests[name]) for name, ts in times.items()}


class ProxyProcess:
    """The latency proxy (``tests.servers.proxy.FaultyProxy``, caching GETs) in a process of its
    own, so that its work does not take the client's interpreter lock; told what to do by pipe."""

    def __init__(self, upstream: str) -> None:
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_proxy_child, args=(upstream, child), daemon=True)

    def __enter__(self) -> ProxyProcess:
        self._process.start()
        self.endpoint: str = self._conn.recv()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._conn.send(("stop", None))
        self._process.join(10)

    def _ask(self, command: str, arg: Any = None) -> Any:
        self._conn.send((command, arg))
        return self._conn.recv()

    def set_latency(self, seconds: float) -> None:
        self._ask("latency", seconds)

    def clear(self) -> None:
        self._ask("clear")

    def counts(self) -> tuple[dict[str, int], dict[str, int]]:
        """Requests by method, and by ``"METHOD path"``, since the last :meth:`clear`."""
        return self._ask("counts")  # type: ignore[no-any-return]


def _proxy_child(upstream: str, conn: Any) -> None:
    from tests.servers.proxy import FaultyProxy

    with FaultyProxy(upstream, cache=True) as proxy:
        conn.send(proxy.endpoint)
        while True:
            command, arg = conn.recv()
            if command == "stop":
                return
            if command == "latency":
                proxy.latency = arg
            elif command == "clear":
                proxy.counts.clear()
                proxy.paths.clear()
            conn.send((dict(proxy.counts), dict(proxy.paths)) if command == "counts" else None)


def _is_data_chunk(path: str) -> bool:
    """A request for a chunk of a data variable (``var_*``), not a document or a listing."""
    key = path.partition("?")[0]
    return "/var_" in key and not key.rsplit("/", 1)[-1].startswith((".z", "zarr.json")) and not key.endswith("/")


@contextmanager
def served(sizes: dict[str, Any], pool: int, formats: tuple[str, ...] = ("v3", "v2"), keepalive: float = 60,
           ) -> Iterator[tuple[ProxyProcess, dict[str, str], dict[str, Any]]]:
    """A moto server with the groups (v3 and/or v2, consolidated or not), and a latency proxy before it."""
    from tests.servers.s3 import create_bucket, moto_server, s3_options

    with moto_server() as endpoint:
        create_bucket(endpoint, "era5")
        urls = {}
        for fmt in (int(f.lstrip("v")) for f in formats):
            for cons in (True, False):
                label = f"v{fmt} {'consolidated' if cons else 'not consolidated'}"
                urls[label] = f"s3://era5/v{fmt}-{'cons' if cons else 'plain'}.zarr"
                make_group(urls[label], s3_options(endpoint), zarr_format=fmt, consolidated=cons, **sizes)
        with ProxyProcess(endpoint) as proxy:
            # One client for the run, as a user's session has it (a new one costs ~0.3 s of setup per open).
            config = {"max_pool_connections": pool, "connector_args": {"keepalive_timeout": keepalive}}
            yield proxy, urls, s3_options(proxy.endpoint, skip_instance_cache=False, config_kwargs=config)


def run(latencies_ms: list[float], rounds: int, small: bool = False, pool: int | None = None,
        formats: tuple[str, ...] = ("v3", "v2"), keepalive: float = 60) -> list[str]:
    """The table's lines: one per (latency, group, contender)."""
    from dask_zarrio.store.support.s3_requests import pool_connections

    sizes = SMALL if small else FULL
    pool = pool_connections() if pool is None else pool
    lines = [f"many-variable open: {sizes['variables']} variables of {(sizes['times'], sizes['lat'], sizes['lon'])} "
             f"in chunks of {sizes['chunks']}, S3 (moto) behind a latency proxy, {pool} connections "
             f"(idle for {keepalive:g} s at most), median of {rounds}",
             f"{'latency':>7}  {'group':<20} {'contender':<38} {'seconds':>8} {'CPU s':>6} {'requests':>8} "
             f"{'data GETs':>9}"]
    with served(sizes, pool, formats, keepalive) as (proxy, urls, options):
        for label, url in urls.items():  # untimed: fills the proxy's cache, opens connections, imports
            for fn in openers(url, options, "not" not in label).values():
                fn()
        for latency in latencies_ms:
            proxy.set_latency(latency / 1000)
            for label, url in urls.items():
                rows = measure(proxy, openers(url, options, "not" not in label), rounds)
                for name, (seconds, cpu, requests, data) in rows.items():
                    lines.append(f"{latency:5.0f}ms  {label:<20} {name:<38} {seconds:8.2f} {cpu:6.2f} {requests:8d} "
                                 f"{data:9d}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency-ms", default="50,200", help="per-request latencies, comma-separated (ms)")
    parser.add_argument("--rounds", type=int, default=3, help="timed opens per contender (median)")
    parser.add_argument("--pool", type=int, default=None,
                        help="S3 connections of the client (botocore: 10; default: dask_zarrio's for s3:// URLs)")
    parser.add_argument("--keepalive", type=float, default=60,
                        help="seconds an idle connection stays open (aiobotocore: 12)")
    parser.add_argument("--formats", default="v3,v2", help="zarr formats to open, comma-separated")
    parser.add_argument("--small", action="store_true", help="20 small variables (a smoke run)")
    args = parser.parse_args(argv)
    latencies = [float(v) for v in args.latency_ms.split(",") if v]
    for line in run(latencies, args.rounds, args.small, args.pool, tuple(args.formats.split(",")), args.keepalive):
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
