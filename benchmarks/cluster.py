"""The distributed rows of the benchmark (issue 31, goal 3): ``LocalCluster(2 workers x 1 thread)``
against the thread-pool limit, and what dask itself costs there.

Besides dz, the peers and the limit, each table measures, in the same interleaved rounds,
**dask alone**: a graph of the same shape (one task per dz block, the same reduction or
final task, on the same data placement) whose tasks do nothing. Its time is what the
cluster costs a compute of that shape before any chunk is decoded. After the rounds, one
more round of dz and of the limit is taken apart by thread (psutil): the workers' task
threads (the decoding and encoding), their event loops, and the client process (where
``LocalCluster`` runs the scheduler). On the project's 2-core machine all of them share the
two cores that the limit has to itself.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable
from typing import Any

import dask.array as da
import numpy as np

import dask_zarrio as dz

from .scale import CODEC

__all__ = ["cpu_split", "distributed_rows", "no_op_like"]

#: The row name of the no-op graph in each table; it goes into the notes, not the table.
DASK_ALONE = "dask alone: the same graph, no-op tasks"


def _tiny(block: np.ndarray) -> np.ndarray:
    return np.zeros((1,) * block.ndim, np.float32)


def no_op_like(arr: da.Array, held: bool = False) -> da.Array:
    """An array with ``arr``'s block grid whose tasks read nothing and return one zero each.

    With ``held`` (``arr`` is persisted on the cluster) the tasks take ``arr``'s blocks, so
    they run where the blocks are, as a write's tasks do; else they start from nothing.

    Examples
    --------
    >>> no_op_like(da.ones((4, 6), chunks=(2, 3))).numblocks
    (2, 2)
    >>> float(no_op_like(da.ones((4, 6), chunks=(2, 3)), held=True).sum().compute())
    0.0
    """
    base = arr if held else da.zeros(arr.numblocks, chunks=1, dtype=np.float32)
    return da.map_blocks(_tiny, base, chunks=tuple((1,) * n for n in arr.numblocks), dtype=np.float32)


def cpu_split(client: Any, fn: Callable[[], object]) -> dict[str, float]:
    """CPU seconds that ``fn`` (a compute on ``client``'s ``LocalCluster``) costs, by thread.

    ``tasks``: the workers' task threads; ``loops``: the rest of the workers (their event
    loops, comms, monitors); ``client``: this process (the client and the scheduler).
    """
    import psutil

    def task_threads() -> list[int]:
        return [t.native_id for t in threading.enumerate() if "Dask-Default-Threads" in t.name and t.native_id]

    pids = client.run(os.getpid)
    executors = {tid for tids in client.run(task_threads).values() for tid in tids}
    procs = [psutil.Process()] + [psutil.Process(pid) for pid in pids.values()]

    def sample() -> dict[str, float]:
        out = {"tasks": 0.0, "loops": 0.0, "client": 0.0}
        for i, p in enumerate(procs):
            for t in p.threads():
                where = "client" if i == 0 else ("tasks" if t.id in executors else "loops")
                out[where] += t.user_time + t.system_time
        return out

    before = sample()
    fn()
    after = sample()
    return {k: after[k] - before[k] for k in before}


def _process_cpu(fn: Callable[[], object]) -> float:
    import psutil

    me = psutil.Process()
    before = sum(me.cpu_times()[:2])
    fn()
    return sum(me.cpu_times()[:2]) - before


def _notes(title: str, rows: dict[str, float], dz_name: str, split: dict[str, float], limit_cpu: float) -> str:
    alone = rows.pop(DASK_ALONE)
    limit = rows["limit: encode+write, thread pool" if "write" in title else "limit: read+decode+sum, thread pool"]
    # The most a compute of this shape can reach on the cluster: the limit's work plus what dask
    # alone costs it (its CPU shares the cores: the ceiling is generous, not tight).
    ceiling = limit / (limit + alone)
    return (f"{title}: dz - limit = {rows[dz_name] - limit:.3f} s; dask alone (no-op tasks, same graph) "
            f"{alone:.3f} s, so at most {ceiling:.2f} x limit (dz: {limit / rows[dz_name]:.2f}); CPU of one round: "
            f"worker task threads {split['tasks']:.2f} s (the limit {limit_cpu:.2f} s), worker event loops "
            f"{split['loops']:.2f} s, client + scheduler {split['client']:.2f} s")


def distributed_rows(
    url: str, out_url: str, source: da.Array, chunks: tuple[int, int], rounds: int, interleaved: Any,
    limits: tuple[Callable[[], object], Callable[[], object]],
) -> tuple[list[tuple[str, dict[str, float], str]], list[str]]:
    """Read + sum and write on ``LocalCluster(2 workers x 1 thread)``, as started (malloc left
    alone), beside the same cluster started with ``dask_zarrio.worker-memory: auto``, then with
    :class:`dask_zarrio.memory.allocator.MallocTuning` registered (peers measured too).

    The thread-pool limits (``limits``: read, write) are measured again here, their rounds
    taken in turn with the clusters', while the idle clusters run beside them; so is dask
    alone on the cluster as started (:func:`no_op_like`), and one round of each is split by
    thread (:func:`cpu_split`) into the notes.
    ``source`` should compute its blocks (not hold them): the workers make their own
    copy, and a persisted local array would travel through the scheduler in the graph.
    Returns ``(title, rows, dz row name)`` tables and the notes.
    """
    import dask
    from distributed import Client, LocalCluster, wait

    from dask_zarrio.memory.allocator import MallocTuning

    read_limit, write_limit = limits
    tables: list[tuple[str, dict[str, float], str]] = []
    notes: list[str] = []

    def clean() -> None:  # as for the thread-pool rows: deleting the last round's output is not timed
        shutil.rmtree(out_url, ignore_errors=True)

    def on(client: Any, fn: Callable[[], object]) -> Callable[[], object]:
        def run() -> object:
            with client.as_current():
                return fn()
        return run

    def start(setting: str | None) -> tuple[Any, Any]:
        # LocalCluster's workers inherit the dask config in force when they start.
        with dask.config.set({} if setting is None else {"dask_zarrio.worker-memory": setting}):
            cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
        return cluster, Client(cluster, set_as_default=False)

    (cluster, client), (cluster_off, client_off) = start(None), start("auto")
    try:
        src, src_off = client.persist(source), client_off.persist(source)
        for c, x in ((client, src), (client_off, src_off)):
            with c.as_current():
                wait(x)
        for suffix, note in ((", distributed", ""), (", distributed + MallocTuning", ", MallocTuning")):
            if note:
                client.register_plugin(MallocTuning())
            dz_read = on(client, lambda: dz.read(url).sum().compute())
            dz_write = on(client, lambda: dz.write(src, out_url, mode="w", chunks=chunks, compressors=[CODEC]))
            reads: dict[str, Any] = {
                "limit: read+decode+sum, thread pool": (read_limit, None),
                "dz.read(url).sum()" + suffix: (dz_read, None)}
            writes: dict[str, Any] = {
                "limit: encode+write, thread pool": (write_limit, clean), "dz.write" + suffix: (dz_write, clean)}
            if not note:  # the same cluster with the opt-in allocator tuning, and dask alone
                reads["dz.read(url).sum(), distributed, worker-memory auto"] = (
                    on(client_off, lambda: dz.read(url).sum().compute()), None)
                writes["dz.write, distributed, worker-memory auto"] = (
                    on(client_off, lambda: dz.write(src_off, out_url, mode="w", chunks=chunks, compressors=[CODEC])),
                    clean)
                reads[DASK_ALONE] = (on(client, lambda: no_op_like(dz.read(url)).sum().compute()), None)
                writes[DASK_ALONE] = (on(client, lambda: no_op_like(src, held=True).compute()), None)
            _peers(client, src, url, out_url, chunks, suffix, reads, writes, on, clean)
            where = f"(2 workers x 1 thread{note})"
            for kind, cases, dz_fn, limit_fn in (("read", reads, dz_read, read_limit), ("write", writes, dz_write,
                                                                                          write_limit)):
                title, dz_name = f"distributed {kind} {where}", ("dz.read(url).sum()" if kind == "read" else "dz.write")
                rows = interleaved(cases, rounds)
                if not note:
                    clean()
                    split = cpu_split(client, dz_fn)
                    clean()
                    notes.append(_notes(title, rows, dz_name + suffix, split, _process_cpu(limit_fn)))
                tables.append((title, rows, dz_name + suffix))
    finally:
        for c in (client, client_off, cluster, cluster_off):
            c.close()
    return tables, notes


def _peers(client: Any, src: Any, url: str, out_url: str, chunks: tuple[int, int], suffix: str,
           reads: dict[str, Any], writes: dict[str, Any], on: Any, clean: Any) -> None:
    """zarr-python's rows (``da.from_zarr``/``da.to_zarr``) on the same cluster, where it is installed."""
    try:
        import zarr
        from zarr.codecs import BloscCodec
    except ImportError:
        return

    def to_zarr() -> None:
        z = zarr.create_array(out_url, shape=src.shape, chunks=chunks, dtype="f4", overwrite=True,
                              compressors=[BloscCodec(cname="zstd", clevel=3, shuffle="shuffle")])
        da.to_zarr(src, z)

    reads["da.from_zarr(url).sum()" + suffix] = (on(client, lambda: da.from_zarr(url).sum().compute()), None)
    writes["da.to_zarr" + suffix] = (on(client, to_zarr), clean)
