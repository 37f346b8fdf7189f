"""Loads into memory: a whole array, or a selection of it, decoded on threads into one numpy array.

A dask array's ``.compute()`` decodes each block into its own array and then
concatenates the blocks into the result, so its peak is twice the result. Here the
result is allocated once and every read unit (a stored chunk, or a shard's inner
chunk where shards are read by byte ranges) is decoded straight into its place by
:func:`~dask_zarrio.graph.tasks.read_into`, from a pool of threads: the peak is the
result plus, per thread, what one piece fetches (its compressed chunks) and one
decoded chunk where it cannot be decoded in place.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from functools import partial
from itertools import product
from math import prod
from typing import Any

import dask
import numpy as np

from ..layout.grid import AxisUnit, typical_size
from ..memory.buffers import PopulateAhead, result_array
from ..metadata import ArraySpec
from ..store import Store
from .selection import AxisPiece, AxisSelection, axis_pieces, kept_shape, normalize_selection, result_shape
from .tasks import read_into, read_region

__all__ = ["PIECE_BYTES", "default_threads", "load_points", "load_selection"]

#: The most bytes one piece covers (fewer for small loads, so that every thread has work).
PIECE_BYTES = 16 * 2**20


def default_threads() -> int:
    """dask's ``num_workers`` setting where set, else the machine's cores.

    Examples
    --------
    >>> import dask
    >>> with dask.config.set(num_workers=3):
    ...     default_threads()
    3
    """
    return int(dask.config.get("num_workers", None) or os.cpu_count() or 1)


def _units(spec: ArraySpec, store: Store) -> tuple[AxisUnit, ...]:
    """What one read can decode alone: stored chunks, or inner chunks of shards read by ranges."""
    return spec.grid.read_units(spec.pipeline.partial_chunk_shape if spec.reads_by_ranges(store) else None)


def _groups(sels: tuple[AxisSelection, ...], units: tuple[AxisUnit, ...], itemsize: int, target: int) -> list[int]:
    """Read units per piece along each axis: about ``target`` bytes, grouped along the first axis first.

    Axes selected by points take one unit per piece (their pieces are bounding boxes of the points).
    """
    sizes = [typical_size(u) for u in units]
    per_piece = max(1, target // max(1, prod(sizes) * itemsize))
    out = []
    for sel, size in zip(sels, sizes):
        count = -(-sel.size // size) if sel.points is None else 1
        factor = max(1, min(count, per_piece))
        out.append(factor)
        per_piece //= factor
    return out


def _piece(
    spec: ArraySpec, store: Store, pieces: tuple[AxisPiece, ...], out: np.ndarray, fetch: int | None,
    ahead: PopulateAhead,
) -> None:
    """Read one piece into ``out`` (the result with every axis kept), its memory faulted in first."""
    region = tuple(slice(p.lo, p.hi) for p in pieces)
    if all(p.src is None for p in pieces):
        # The Ellipsis keeps a 0-d result a view (``out[()]`` would be a numpy scalar).
        dst: tuple[Any, ...] = (*(slice(p.dst_start, p.dst_start + p.hi - p.lo) for p in pieces), Ellipsis)
        last = tuple(p.dst_start + p.hi - p.lo - 1 for p in pieces)  # pieces are never empty
        ahead.upto((int(np.ravel_multi_index(last, out.shape)) + 1) * out.itemsize)
        read_into(spec, store, region, out[dst], fetch)
        return
    block = read_region(spec, store, region)  # the piece's bounding box: at most one piece per thread
    src = np.ix_(*[np.arange(p.hi - p.lo) if p.src is None else p.src for p in pieces])
    dst = np.ix_(*[np.arange(p.dst_start, p.dst_start + p.hi - p.lo) if p.dst is None else p.dst for p in pieces])
    out[dst] = block[src]


def _run(jobs: Iterable[Callable[[], object]], threads: int) -> None:
    """Run ``jobs`` on ``threads`` threads; the first failure cancels the rest and is raised."""
    jobs = list(jobs)
    if threads <= 1 or len(jobs) <= 1:
        for job in jobs:
            job()
        return
    with ThreadPoolExecutor(min(threads, len(jobs)), thread_name_prefix="dask_zarrio-load") as pool:
        futures: list[Future[object]] = [pool.submit(job) for job in jobs]
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        failed = next((f for f in futures if f in done and f.exception() is not None), None)
        if failed is not None:
            for f in futures:
                f.cancel()
            raise failed.exception()  # type: ignore[misc]


def load_selection(
    spec: ArraySpec, store: Store, selection: Any = None, *, threads: int | None = None
) -> np.ndarray:
    """The orthogonal ``selection`` (``None``: all) of the array as one new numpy array.

    Only the read units the selection touches are fetched, each once; a unit the
    selection covers whole is fetched whole, one it cuts is read by byte ranges where
    the codecs and the store allow (a shard's index, then the inner chunks needed).

    Examples
    --------
    >>> from dask_zarrio.metadata.create import new_array_metadata
    >>> from dask_zarrio.store import MappingStore
    >>> spec = ArraySpec.from_metadata(new_array_metadata(shape=(4, 4), dtype=np.dtype("i2"), chunk_shape=(2, 2)))
    >>> m = {"c/1/1": spec.pipeline.encode(np.arange(4, dtype="i2").reshape(2, 2))}
    >>> load_selection(spec, MappingStore(m), (slice(1, 4), 3), threads=2)
    array([0, 1, 3], dtype=int16)
    """
    sels = normalize_selection(selection, spec.shape)
    out = result_array(kept_shape(sels), spec.dtype)
    if out.size:
        threads = threads or default_threads()
        units = _units(spec, store)
        target = min(PIECE_BYTES, max(1, out.nbytes // (32 * threads)))
        groups = _groups(sels, units, spec.dtype.itemsize, target)
        # A store that overlaps requests gets a piece's chunks in one call; others one by one,
        # so that a thread holds one compressed chunk at a time.
        fetch = None if store.supports_concurrent_requests else 1
        per_axis = [axis_pieces(s, u, g) for s, u, g in zip(sels, units, groups)]
        pieces = list(product(*per_axis))
        # Pieces go in order of the result's memory; each faults in the result up to its end first.
        ahead = PopulateAhead(out)
        _run((partial(_piece, spec, store, p, out, fetch, ahead) for p in pieces), min(threads, len(pieces)))
    return out.reshape(result_shape(sels))


def load_points(spec: ArraySpec, store: Store, points: tuple[Any, ...], *, threads: int | None = None) -> np.ndarray:
    """The elements at ``points`` (one integer array per axis, broadcast together), as numpy's
    vectorized indexing (zarr's ``vindex``) gives them: each read unit holding some is read once.

    Examples
    --------
    >>> from dask_zarrio.metadata.create import new_array_metadata
    >>> from dask_zarrio.store import MappingStore
    >>> spec = ArraySpec.from_metadata(new_array_metadata(shape=(4, 4), dtype=np.dtype("i2"), chunk_shape=(2, 2)))
    >>> m = {"c/1/1": spec.pipeline.encode(np.arange(4, dtype="i2").reshape(2, 2))}
    >>> load_points(spec, MappingStore(m), (np.array([3, 0]), np.array([3, 0])))
    array([3, 0], dtype=int16)
    """
    if len(points) != len(spec.shape):
        raise IndexError(f"{len(points)} index arrays for an array of {len(spec.shape)} axes")
    arrays = np.broadcast_arrays(*(np.asarray(p) for p in points))
    flat = []
    for axis, (a, n) in enumerate(zip(arrays, spec.shape)):
        a = a.ravel().astype(np.int64)
        if a.size and (a.min() < -n or a.max() >= n):
            raise IndexError(f"an index is out of bounds for axis {axis} with size {n}")
        flat.append(np.where(a < 0, a + n, a))
    shape = arrays[0].shape if arrays else ()
    out = result_array((prod(shape),), spec.dtype)
    if out.size:
        units = _units(spec, store)
        ids = np.stack([_unit_of(u, f) for u, f in zip(units, flat)])
        _, which = np.unique(ids, axis=1, return_inverse=True)
        order = np.argsort(which.ravel(), kind="stable")
        runs = np.split(order, np.flatnonzero(np.diff(which.ravel()[order])) + 1)
        _run((partial(_points, spec, store, [f[r] for f in flat], r, out) for r in runs), threads or default_threads())
    return out.reshape(shape)


def _unit_of(u: AxisUnit, points: np.ndarray) -> np.ndarray:
    return points // u if isinstance(u, int) else np.searchsorted(np.asarray(u.bounds), points, side="right") - 1


def _points(spec: ArraySpec, store: Store, at: list[np.ndarray], members: np.ndarray, out: np.ndarray) -> None:
    """The points of one read unit: its bounding box of them read, then gathered."""
    lo = [int(a.min()) for a in at]
    block = read_region(spec, store, tuple(slice(low, int(a.max()) + 1) for low, a in zip(lo, at)))
    out[members] = block[tuple(a - low for a, low in zip(at, lo))]
