"""The one internal array description that every format parses into.

Tasks receive an :class:`ArraySpec` (small, picklable, shared once per graph) and a
region; they never ask which format the array came from.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from ..codecs import ChunkPipeline
from ..codecs.empty import fill_block, is_fill
from ..layout.grid import ChunkGrid, ChunkKeyEncoding
from .n5 import ArrayMetadataN5, N5KeyEncoding
from .rectilinear import edges_to_units
from .v2 import ArrayMetadataV2
from .v3 import ArrayMetadataV3

if TYPE_CHECKING:  # annotations only: a spec never opens a store
    from ..store import Store

__all__ = ["ArrayMetadata", "ArraySpec", "chunk_grid"]

ArrayMetadata = ArrayMetadataV2 | ArrayMetadataV3 | ArrayMetadataN5


def chunk_grid(meta: ArrayMetadata) -> ChunkGrid:
    """The chunk grid ``meta`` describes: regular, or rectilinear (per-axis edges).

    Examples
    --------
    >>> from dask_zarrio.metadata.create import new_array_metadata
    >>> chunk_grid(new_array_metadata(shape=(10,), dtype=np.dtype("i1"), chunk_shape=((3, 5, 2),))).axis_chunks()
    ((3, 5, 2),)
    """
    if isinstance(meta, ArrayMetadataV3) and meta.chunk_edges is not None:
        return ChunkGrid.from_units(meta.shape, edges_to_units(meta.chunk_edges))
    return ChunkGrid(meta.shape, meta.chunk_shape)


@dataclass(frozen=True, eq=False)
class ArraySpec:
    """Shape, dtype, grid, keys, fill value and codec chain of one array.

    Examples
    --------
    >>> from dask_zarrio.metadata.v2 import ArrayMetadataV2
    >>> m = ArrayMetadataV2((5,), (2,), np.dtype("i1"), None, None, "C", None)
    >>> spec = ArraySpec.from_metadata(m)
    >>> spec.chunk_key((2,)), spec.fill_chunk((1,))
    ('2', array([0], dtype=int8))
    """

    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    grid: ChunkGrid
    keys: ChunkKeyEncoding | N5KeyEncoding
    fill_value: np.ndarray | None
    pipeline: ChunkPipeline
    zarr_format: int | str
    #: Builds the pipeline of another chunk shape (rectilinear grids); ``None`` for regular ones.
    shaped: Callable[[tuple[int, ...]], ChunkPipeline] | None = None
    _pipelines: dict[tuple[int, ...], ChunkPipeline] = field(default_factory=dict, repr=False)
    #: Store chunks that hold only the fill value too (zarr-python's ``write_empty_chunks=True``).
    write_empty_chunks: bool = False

    @classmethod
    def from_metadata(cls, meta: ArrayMetadata, *, allow_pickle: bool = False) -> ArraySpec:
        """Build the description of ``meta``; refuses pickle codecs unless ``allow_pickle``."""
        grid = chunk_grid(meta)
        shaped = None
        if isinstance(meta, ArrayMetadataV3) and not grid.is_regular:  # chunks of several shapes
            shaped = partial(_shaped_pipeline, meta, allow_pickle)
        return cls(
            shape=meta.shape,
            dtype=meta.dtype,
            grid=grid,
            keys=meta.chunk_key_encoding,
            fill_value=meta.fill_value,
            pipeline=meta.pipeline(allow_pickle=allow_pickle),
            zarr_format=meta.zarr_format,
            shaped=shaped,
        )

    @property
    def chunk_shape(self) -> tuple[int, ...]:
        """The shape of every stored chunk (edge chunks are stored full size); a rectilinear grid's largest."""
        return self.grid.chunk_shape

    def pipeline_at(self, index: tuple[int, ...]) -> ChunkPipeline:
        """The codec pipeline of chunk ``index`` (built once per distinct chunk shape)."""
        if self.shaped is None:
            return self.pipeline
        shape = self.grid.chunk_shape_at(index)
        if shape == self.pipeline.shape:
            return self.pipeline
        found = self._pipelines.get(shape)
        if found is None:
            found = self._pipelines[shape] = self.shaped(shape)
        return found

    def chunk_shape_at(self, index: tuple[int, ...]) -> tuple[int, ...]:
        """The stored shape of chunk ``index`` (an edge chunk's too: stored full size)."""
        return self.grid.chunk_shape_at(index)

    def chunk_region(self, index: tuple[int, ...]) -> tuple[slice, ...]:
        """The part of the array chunk ``index`` holds (clipped at the array's edge)."""
        return self.grid.chunk_region(index)

    def reads_by_ranges(self, store: Store) -> bool:
        """Whether part of a stored object is read by byte ranges from ``store``: the one place
        this is decided (read graphs, read tasks, rechunk plans and ``dz.plan`` ask it).

        Only where both sides declare they can: a store that serves a range by fetching the
        whole object would fetch it again for a shard's index and for every run of inner chunks.

        Examples
        --------
        >>> from dask_zarrio.metadata.create import new_array_metadata
        >>> from dask_zarrio.store import MappingStore, open_store
        >>> meta = new_array_metadata(shape=(8,), dtype=np.dtype("i1"), chunk_shape=(2,), shard_shape=(4,))
        >>> spec = ArraySpec.from_metadata(meta)
        >>> spec.reads_by_ranges(open_store("memory://doc/ranges.zarr")), spec.read_unit(MappingStore({}))
        (True, (4,))
        """
        return self.pipeline.supports_partial_decode and store.supports_partial_reads

    def read_unit(self, store: Store) -> tuple[int, ...]:
        """What a task decodes at a time from ``store``: a shard's inner chunk where it reads them
        alone (:meth:`reads_by_ranges`), else the stored chunk."""
        return self.pipeline.partial_chunk_shape if self.reads_by_ranges(store) else self.chunk_shape

    def chunk_key(self, index: tuple[int, ...]) -> str:
        """The store key of chunk ``index``, relative to the array's folder."""
        return self.keys.key(index)

    def fill_chunk(self, shape: tuple[int, ...]) -> np.ndarray:
        """A new array of ``shape`` holding the fill value (zeros when there is none)."""
        return fill_block(shape, self.dtype, self.fill_value)

    def is_fill(self, block: np.ndarray) -> bool:
        """Whether every element of ``block`` equals the fill value, bit for bit (and so is not
        stored); never with :attr:`write_empty_chunks`."""
        return not self.write_empty_chunks and is_fill(block, self.fill_value)


def _shaped_pipeline(meta: ArrayMetadataV3, allow_pickle: bool, shape: tuple[int, ...]) -> ChunkPipeline:
    """``meta``'s pipeline for chunks of ``shape`` (module level: a spec pickles by reference to it)."""
    return meta.pipeline(allow_pickle=allow_pickle, chunk_shape=shape)
