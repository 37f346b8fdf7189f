"""What a write takes in: a numpy array as a dask array of the write's blocks."""

from __future__ import annotations

from itertools import product
from typing import Any
from uuid import uuid4

import dask.array as da
import numpy as np
from dask.array.core import normalize_chunks

from ..graph.progress import active_client, on_distributed
from ..typing import ChunksLike
from .destination import block_lengths

__all__ = ["SCATTER_BYTES", "as_dask_array"]


#: A numpy array larger than this is scattered to the cluster rather than put in the graph.
SCATTER_BYTES = 4 * 2**20


def as_dask_array(arr: np.ndarray, chunks: ChunksLike) -> da.Array:
    """A numpy array as a dask array of one block per chunk (``"auto"`` blocks without ``chunks``).

    dask cannot size ``"auto"`` blocks of object arrays (strings); they are sized as if
    each element took 8 bytes. On a distributed cluster an array over :data:`SCATTER_BYTES`
    is scattered to a worker rather than put in the graph.

    Examples
    --------
    >>> as_dask_array(np.arange(10), (4,)).chunks
    ((4, 4, 2),)
    """
    if chunks is None or (isinstance(chunks, str) and chunks == "dask"):
        chunks = normalize_chunks("auto", arr.shape, dtype=np.dtype("f8") if arr.dtype.kind in "OT" else arr.dtype)
    lengths = block_lengths(chunks, arr.shape)
    client = active_client() if on_distributed() and arr.nbytes > SCATTER_BYTES else None
    if client is not None:
        return _scattered(client, arr, normalize_chunks(lengths, arr.shape, dtype=arr.dtype))
    return da.from_array(arr, chunks=lengths, name=False)


def _scattered(client: Any, arr: np.ndarray, lengths: tuple[tuple[int, ...], ...]) -> da.Array:
    """``arr`` sent to the workers block by block (distributed warns about large graphs and ships
    them through the scheduler): each block goes to one worker once, where one scattered whole
    would be fetched whole by every worker that writes a block of it. ``hash=False``: hashing
    costs a pass over the data."""
    starts = [np.cumsum((0, *axis))[:-1] for axis in lengths]
    grid = list(product(*(range(len(axis)) for axis in lengths)))
    views = [arr[tuple(slice(starts[a][i], starts[a][i] + lengths[a][i]) for a, i in enumerate(index))]
             for index in grid]
    futures = client.scatter(views, hash=False)
    name = f"scattered-{uuid4().hex}"
    blocks = {index: da.from_delayed(f, v.shape, arr.dtype, name=f"{name}-{n}")
              for n, (index, v, f) in enumerate(zip(grid, views, futures))}

    def nest(prefix: tuple[int, ...]) -> Any:  # da.block's nested lists: the blocks keep their shapes
        axis = len(prefix)
        if axis == len(lengths):
            return blocks[prefix]
        return [nest((*prefix, i)) for i in range(len(lengths[axis]))]

    return da.block(nest(()))
