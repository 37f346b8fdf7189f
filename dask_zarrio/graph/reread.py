"""A ``dz.read`` array read again in other blocks: a write that must be re-blocked reads
its source in the write's blocks instead of holding and re-cutting the blocks it was given.

Only graphs dask_zarrio can vouch for are re-derived: the read layer itself
(:func:`~dask_zarrio.graph.builder.read_array`'s, unsliced), and chains of elementwise
layers over it (``x + 1``, ``np.sqrt(x)``, ``x.astype("f4")``: numpy ufuncs, the
``operator`` functions and ``astype``, whose result at an element depends on that element
alone, whatever the blocks). A function given to ``map_blocks``, slicing, a second array,
a rechunk: anything else is left to dask's rechunk, which keeps the values whatever the
function does.
"""

from __future__ import annotations

import operator
from typing import Any

import dask.array as da
import numpy as np
from dask.array import chunk as dask_chunk
from dask.base import is_dask_collection, tokenize
from dask.blockwise import Blockwise, blockwise_token

from .builder import read_layer
from .tasks import ArrayReader

__all__ = ["read_in_blocks"]

Chunks = tuple[tuple[int, ...], ...]

#: Functions whose value at an element depends on that element (and constants) only.
_ELEMENTWISE: frozenset[Any] = frozenset(
    [getattr(operator, name) for name in (
        "add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "neg", "pos", "abs", "invert", "inv",
        "and_", "or_", "xor", "lshift", "rshift", "lt", "le", "eq", "ne", "gt", "ge",
    )] + [abs, dask_chunk.astype]
)


def read_in_blocks(arr: da.Array, chunks: Chunks) -> da.Array | None:
    """``arr`` computed from a read in ``chunks`` (no rechunk), or ``None`` where that is not known to be safe.

    Each task then reads its block's stored chunks itself (those its edges cut are decoded
    by both neighbours), so a task holds one block, not the source blocks overlapping it.

    Examples
    --------
    >>> from dask_zarrio.metadata.create import new_array_metadata
    >>> from dask_zarrio.graph.builder import array_from_metadata
    >>> from dask_zarrio.store import MappingStore
    >>> meta = new_array_metadata(shape=(8,), dtype=np.dtype("i1"), chunk_shape=(2,), fill_value=3)
    >>> x = array_from_metadata(MappingStore({}), meta, chunks=2)
    >>> y = read_in_blocks(x * 2, ((4, 4),))
    >>> y.chunks, len(y.dask.layers), y.compute().tolist()
    (((4, 4),), 2, [6, 6, 6, 6, 6, 6, 6, 6])
    >>> read_in_blocks(x.map_blocks(np.cumsum), ((4, 4),)) is None
    True
    """
    chain = _elementwise_chain(arr)
    if chain is None or len(chunks) != arr.ndim or tuple(map(sum, chunks)) != arr.shape:
        return None
    reader, layers = chain
    out = read_layer(reader.spec, reader.store, chunks, "read-zarr-" + tokenize(arr.name, chunks, "reblocked"))
    for layer in layers:
        out = _rebuilt(layer, out)
    return out if out.dtype == arr.dtype and out.shape == arr.shape else None


def _elementwise_chain(arr: da.Array) -> tuple[ArrayReader, list[Blockwise]] | None:
    """The reader at the bottom of ``arr``'s graph and the elementwise layers above it, bottom first."""
    graph, name = arr.dask, arr.name
    layers: list[Blockwise] = []
    for _ in range(len(graph.layers)):
        layer = graph.layers.get(name)
        if not isinstance(layer, Blockwise) or layer.new_axes or layer.concatenate:
            return None
        reader = _reader(layer)
        if reader is not None:
            whole = reader.shape == arr.shape and not graph.dependencies.get(name)
            return (reader, layers[::-1]) if whole and len(graph.layers) == len(layers) + 1 else None
        below = _single_input(layer)
        if below is None:
            return None
        layers.append(layer)
        name = below
    return None


def _reader(layer: Blockwise) -> ArrayReader | None:
    """The reader of one of :func:`read_layer`'s layers (named ``read-zarr-``), else ``None``."""
    if not layer.output.startswith("read-zarr-") or len(layer.indices) != 2:
        return None
    (obj, ind), (dep, _) = layer.indices
    return obj if isinstance(obj, ArrayReader) and ind is None and dep in layer.io_deps else None


def _elementwise(func: Any) -> bool:
    try:
        return (isinstance(func, np.ufunc) and func.signature is None) or func in _ELEMENTWISE  # not gufuncs (matmul)
    except TypeError:  # unhashable: not one of ours
        return False


def _single_input(layer: Blockwise) -> str | None:
    """The one array an elementwise layer reads, index for index, else ``None``."""
    task = layer.task  # a dask Task: its function, then placeholders for the layer's indices in order
    if layer.io_deps or not _elementwise(getattr(task, "func", None)):
        return None
    if [getattr(a, "key", None) for a in task.args] != [blockwise_token(i) for i in range(len(layer.indices))]:
        return None  # arguments other than the layer's own, in order
    if any(hasattr(v, "key") or is_dask_collection(v) for v in task.kwargs.values()):
        return None  # a keyword computed by the graph
    arrays = [(name, ind) for name, ind in layer.indices if ind is not None]
    if len(arrays) != 1 or tuple(arrays[0][1]) != tuple(layer.output_indices):
        return None
    if any(isinstance(v, (da.Array, np.ndarray)) and np.ndim(v) for v, ind in layer.indices if ind is None):
        return None  # an array constant is broadcast against each block: not elementwise
    return str(arrays[0][0])


def _rebuilt(layer: Blockwise, below: da.Array) -> da.Array:
    """``layer`` applied to ``below`` (its one input, in other blocks)."""
    ind = tuple(layer.output_indices)
    args: list[Any] = []
    for value, index in layer.indices:
        args += [below, ind] if index is not None else [value, None]
    task = layer.task
    name = f"{layer.output.rsplit('-', 1)[0]}-" + tokenize(layer.output, below.name)
    return da.blockwise(task.func, ind, *args, name=name, **task.kwargs)
