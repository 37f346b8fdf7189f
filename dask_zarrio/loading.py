"""``dz.load``: a Zarr array, or an orthogonal selection of it, into memory as one numpy array.

What ``dz.read(url).compute()`` cannot do: dask computes every block into an array of
its own and then concatenates them into the result, so the result and its blocks are
all alive at once (twice the result at the peak). ``load`` allocates the result once
and decodes every chunk straight into its place, on a pool of threads
(:mod:`dask_zarrio.graph.loading`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .api import open_array
from .graph.loading import load_points, load_selection
from .metadata import ArraySpec
from .typing import StoreLike

__all__ = ["load"]


def load(
    url: StoreLike,
    selection: Any = None,
    *,
    points: bool = False,
    threads: int | None = None,
    storage_options: dict[str, Any] | None = None,
    allow_pickle: bool = False,
    branch: str | None = None,
    tag: str | None = None,
    snapshot: str | None = None,
    format: str | None = None,
) -> np.ndarray:
    """Read a Zarr v2, v3 or N5 array (or part of it) into one numpy array, on threads.

    The result is allocated once and each stored chunk the selection touches is fetched
    once and decoded straight into its place: the memory it takes is the result plus,
    per thread, a compressed chunk and one decoded chunk (within 1.1 × the result for
    loads of many chunks), where ``dz.read(url).compute()`` and ``np.asarray(dz.read(url))``
    peak at twice the result (dask concatenates its blocks). Use it to materialise an
    array in memory; use :func:`read` to compute on it chunk by chunk, or on a cluster.

    Parameters
    ----------
    url
        As for :func:`read`: a path, URL, mapping, store or Icechunk repository.
    selection
        ``None`` (the whole array), or an orthogonal selection as zarr's ``oindex`` takes
        it: per axis an integer (the axis is dropped), a slice (any step), or a 1-d array
        of integers or booleans; ``...`` stands for the axes not named. Only the chunks it
        touches are read; of a shard it cuts, only its index and the inner chunks needed
        (where the store reads byte ranges).
    points
        With ``True``, ``selection`` is one integer array per axis, broadcast together, and
        the result holds the elements at those points (zarr's ``vindex``, numpy's
        vectorized indexing).
    threads
        Threads that fetch and decode; default dask's ``num_workers`` setting, else the
        number of cores.
    storage_options, allow_pickle, branch, tag, snapshot, format
        As for :func:`read`.

    Returns
    -------
    numpy.ndarray
        A new, writable array of the selection's shape and the array's dtype (object
        elements for variable-length strings, as :func:`read`). Missing chunks read as
        the fill value.

    Examples
    --------
    >>> import dask.array as da, dask_zarrio as dz
    >>> dz.write(da.arange(12, chunks=4).reshape(3, 4), "memory://doc/load.zarr", chunks=(2, 2), mode="w")
    >>> dz.load("memory://doc/load.zarr")
    array([[ 0,  1,  2,  3],
           [ 4,  5,  6,  7],
           [ 8,  9, 10, 11]])
    >>> dz.load("memory://doc/load.zarr", (slice(1, None), [0, 3]))
    array([[ 4,  7],
           [ 8, 11]])
    >>> dz.load("memory://doc/load.zarr", ([0, 2], [1, 3]), points=True)
    array([ 1, 11])
    """
    store, meta = open_array(url, storage_options, branch=branch, tag=tag, snapshot=snapshot, format=format)
    spec = ArraySpec.from_metadata(meta, allow_pickle=allow_pickle)
    if points:
        if not isinstance(selection, tuple):
            selection = (selection,)
        return load_points(spec, store, selection, threads=threads)
    return load_selection(spec, store, selection, threads=threads)
