"""The stored chunk shape of a new array written without ``chunks=``.

Regular dask blocks (every block the same length along an axis, the last one shorter or
equal) become the stored chunks, as before: they align, so the write needs no rechunk.
Irregular ones, such as blocks of (123, 877) along an axis, would make a chunk of the first
block's length (123) for the whole array; along such an axis the length is chosen as dask's
``"auto"`` chunks choose it, up to :data:`AUTO_CHUNK_BYTES` per chunk, and the write planner
then rechunks the blocks so that each stored chunk has one writer.
"""

from __future__ import annotations

from math import prod

import numpy as np
from dask.array.core import normalize_chunks

from .write_plan import Chunks, default_chunk_shape

__all__ = ["AUTO_CHUNK_BYTES", "irregular_axes", "new_chunk_shape"]

#: The most bytes of a stored chunk chosen along irregular axes: the top of the ~1-16 MiB the guide advises.
AUTO_CHUNK_BYTES = 16 << 20


def irregular_axes(dask_chunks: Chunks) -> list[int]:
    """Axes whose blocks are not one length (the last block may be shorter).

    Examples
    --------
    >>> irregular_axes(((123, 877), (10, 10, 5))), irregular_axes(((5, 5, 7),))
    ([0], [0])
    """
    return [
        axis for axis, blocks in enumerate(dask_chunks)
        if len(blocks) > 1 and (len(set(blocks[:-1])) > 1 or blocks[-1] > blocks[0])
    ]


def new_chunk_shape(
    shape: tuple[int, ...], dask_chunks: Chunks, dtype: np.dtype, max_bytes: int
) -> tuple[int, ...]:
    """Stored chunks for a new array: the dask blocks where they are regular, dask ``"auto"``
    lengths (at most :data:`AUTO_CHUNK_BYTES` a chunk, and ``max_bytes``) along irregular axes.

    Examples
    --------
    >>> new_chunk_shape((1000, 30), ((123, 877), (30,)), np.dtype("f8"), 2**27)
    (1000, 30)
    >>> new_chunk_shape((100_000, 1000), ((123, 99_877), (1000,)), np.dtype("f8"), 2**27)
    (2097, 1000)
    >>> new_chunk_shape((1000, 30), ((100,) * 10, (30,)), np.dtype("f8"), 2**27)  # regular: as before
    (100, 30)
    """
    irregular = irregular_axes(dask_chunks)
    if not irregular:
        return default_chunk_shape(dask_chunks, dtype.itemsize, max_bytes)
    wanted = tuple("auto" if axis in irregular else max(blocks[0], 1) for axis, blocks in enumerate(dask_chunks))
    limit = min(AUTO_CHUNK_BYTES, max_bytes)
    if prod(w for w in wanted if isinstance(w, int)) * dtype.itemsize > limit:  # the regular axes alone are too big
        wanted = tuple(1 if w == "auto" else w for w in wanted)
    itemsize_dtype = np.dtype("f8") if dtype.kind in "OT" else dtype  # dask cannot size strings
    chosen = normalize_chunks(wanted, shape, limit=limit, dtype=itemsize_dtype)
    blocks = tuple((c[0],) for c in chosen)
    return default_chunk_shape(blocks, dtype.itemsize, max_bytes)
