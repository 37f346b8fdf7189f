"""The pyramid's dask graph: one write layer per stage, each built in O(1) of the number of chunks.

Stage tasks are :func:`~dask_zarrio.graph.builder.block_layer` tasks (the project's one builder
of write layers): ``pyramid_block(region, block, ...)`` gets its block of the stage's first
level, writes it and every coarser level of the stage, and returns the next level's part
(or, in the last stage, how many objects it stored). The next stage's input is those parts,
regrouped by dask into its own blocks: nothing is read twice, nothing is written twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import product
from math import prod
from typing import Any

import dask.array as da
import numpy as np
from dask.base import tokenize
from dask.blockwise import Blockwise
from dask.delayed import Delayed
from dask.highlevelgraph import HighLevelGraph

from ..graph.builder import block_layer, read_array
from ..graph.tasks import ArrayReader, read_into, write_region
from ..layout.write_plan import WritePlan
from ..memory.buffers import empty_array
from ..metadata import ArraySpec
from ..store import Store
from .copying import copy_reduced, read_copying, same_encoding
from .levels import PyramidPlan, Stage, stage_chunks
from .reduce import downsample

__all__ = ["Writer", "aligned_source", "build_stages", "level_plan", "needed_blocks", "source_unit"]

#: Raw bytes of one level encoded and stored at once by a task (a band of whole units).
WRITE_BYTES = 16 << 20

#: What a task needs to write one level: the level's spec, where its chunks go, its plan.
Writer = tuple[ArraySpec, Store, WritePlan]


def _scales(factors: Sequence[int], levels: int) -> tuple[int, ...]:
    return tuple(f**levels for f in factors)


def level_plan(plan: PyramidPlan, stage: Stage, level: int) -> WritePlan:
    """The write plan of ``level``: the stage's blocks seen at that level, the whole level its target."""
    lv = plan.levels[level]
    chunks = stage_chunks(plan.levels[stage.first].shape, stage.block, _scales(plan.factors, level - stage.first))
    return WritePlan(chunks, lv.unit, tuple(slice(0, n) for n in lv.shape), lv.shape)


def _bands(at: tuple[slice, ...], unit: tuple[int, ...], itemsize: int) -> list[tuple[slice, ...]]:
    """``at`` cut into bands of whole units along its first axis of several units, each about
    ``WRITE_BYTES`` (at least one unit thick): what is encoded and stored at once."""
    lengths = [r.stop - r.start for r in at]
    axis = next((a for a, (n, u) in enumerate(zip(lengths, unit)) if n > u), None)
    if axis is None:
        return [at]
    row = prod(lengths) // lengths[axis] * itemsize
    step = max(unit[axis], WRITE_BYTES // max(1, row) // unit[axis] * unit[axis])
    start, stop = at[axis].start, at[axis].stop
    return [at[:axis] + (slice(b, min(stop, b + step)),) + at[axis + 1 :] for b in range(start, stop, step)]


def _read(reader: ArrayReader, region: tuple[slice, ...]) -> np.ndarray:
    """The task's block, its stored objects fetched one at a time (not all held encoded at once)."""
    out = empty_array(tuple(r.stop - r.start for r in region), reader.spec.dtype)
    read_into(reader.spec, reader.store, region, out, fetch=1)
    return out


def _write_level(writer: Writer, block: np.ndarray, at: tuple[slice, ...]) -> int:
    """Store ``block`` (whole units of the level, at ``at``) a band at a time; the objects stored."""
    spec, sink, plan = writer
    unit = tuple(u if isinstance(u, int) else 1 for u in plan.unit)
    stored = 0
    for band in _bands(at, unit, block.itemsize):
        part = block[tuple(slice(b.start - a.start, b.stop - a.start) for a, b in zip(at, band))]
        stored += int(np.sum(write_region(spec, sink, part, band, plan)))
    return stored


def _tiles(at: tuple[slice, ...], piece: Sequence[int]) -> list[tuple[slice, ...]]:
    """``at`` cut into ``piece``-sized regions from its start (the last ones cut by its end)."""
    axes = [[slice(b, min(r.stop, b + p)) for b in range(r.start, r.stop, p)] for r, p in zip(at, piece)]
    return [tuple(t) for t in product(*axes)]


class _StageTask:
    """What one stage task builds: each level of the stage at a region, written, from pieces.

    A class, not closures calling each other: those form a reference cycle that kept every
    finished task's block alive until the garbage collector's next pass (blocks of many image
    planes piled up: +90 MiB at 30 planes).
    """

    def __init__(self, region: tuple[slice, ...], block: np.ndarray | None, writers: Sequence[Writer],
                 factors: tuple[int, ...], method: str, reader: ArrayReader | None, copy: bool,
                 pieces: Sequence[Sequence[int]]) -> None:
        self.region, self.block, self.writers = region, block, writers
        self.factors, self.method, self.reader, self.copy, self.pieces = factors, method, reader, copy, pieces
        self.stored = 0

    def level(self, i: int, at: tuple[slice, ...]) -> np.ndarray:
        """Level ``i`` of the stage at ``at`` (in its cells), written."""
        if i == 0:
            if self.copy:
                assert self.reader is not None
                out, n = read_copying(self.reader, at, self.writers[0][1])
                self.stored += n
                return out
            if self.block is None:
                assert self.reader is not None
                out = _read(self.reader, at)
            else:
                out = self.block[tuple(slice(a.start - r.start, a.stop - r.start) for a, r in zip(at, self.region))]
            self.stored += _write_level(self.writers[0], out, at)
            return out
        out = empty_array(tuple(r.stop - r.start for r in at), self.writers[i][0].dtype)
        below = self.writers[i - 1][0].shape
        finer = tuple(slice(r.start * f, min(n, r.stop * f)) for r, f, n in zip(at, self.factors, below))
        piece = self.pieces[i - 1] if i - 1 < len(self.pieces) else [r.stop - r.start for r in finer]
        for tile in _tiles(finer, piece):
            part = self.reduced(i - 1, tile)
            out[tuple(slice((t.start - g.start) // f, (t.start - g.start) // f + n)
                      for t, g, f, n in zip(tile, finer, self.factors, part.shape))] = part
            del part
        self.stored += _write_level(self.writers[i], out, at)
        return out

    def reduced(self, i: int, at: tuple[slice, ...]) -> np.ndarray:
        """Level ``i`` at ``at``, written, and reduced to the next level; copied level-0 objects are
        reduced as they are decoded, one inner chunk at a time."""
        if i == 0 and self.copy:
            assert self.reader is not None
            part, n = copy_reduced(self.reader, at, self.writers[0][1], self.factors, self.method)
            self.stored += n
            return part
        return downsample(self.level(i, at), self.factors, self.method)


def pyramid_block(region: tuple[slice, ...], block: np.ndarray | None, writers: Sequence[Writer],
                  factors: tuple[int, ...], method: str, hand_on: bool, reader: ArrayReader | None = None,
                  copy: bool = False, pieces: Sequence[Sequence[int]] = ()) -> np.ndarray:
    """One task: write its ``region`` of every level of the stage (``region`` and ``block``: its
    block of the stage's first level; ``block`` is ``None`` where the task reads it from
    ``reader``, copying the stored objects as level 0's with ``copy``); return the next level's
    part, or how many objects it stored.

    The block of the stage's last level is built from ``pieces[i]``-sized pieces of each level
    below it, each one read (or built the same way), written, reduced and let go before the next:
    a task holds one piece per level, never its whole block of a finer level. Each level is
    encoded and stored a band at a time, so the encoded bytes held stay small beside the pieces.
    """
    task = _StageTask(region, None if block is None else np.asarray(block), writers, factors, method, reader, copy,
                      pieces)
    top = len(writers) - 1
    shape = writers[top][0].shape
    at = tuple(slice(r.start // f**top, min(n, -(-r.stop // f**top))) for r, f, n in zip(region, factors, shape))
    if hand_on:
        return task.reduced(top, at)
    task.level(top, at)
    return np.full((1,) * len(at), task.stored, dtype=np.int64)


def _reader_of(arr: da.Array) -> ArrayReader | None:
    """The one stored array ``arr`` merely reads (``dz.read``, perhaps rechunked), else ``None``."""
    readers: list[ArrayReader] = []
    for name, layer in arr.dask.layers.items():
        indices = layer.indices if isinstance(layer, Blockwise) else []
        found = [obj for obj, _ in indices if isinstance(obj, ArrayReader)]
        if not found and not str(name).startswith("rechunk"):
            return None
        readers.extend(found)
    return readers[0] if len(readers) == 1 else None


def source_unit(arr: Any) -> tuple[int, ...] | None:
    """The stored chunk (or shard) of the array ``arr`` reads, where it merely reads one: level-0
    blocks are aligned to it so that every stored object is read whole, by one task, once."""
    reader = _reader_of(arr) if isinstance(arr, da.Array) else None
    if reader is None or reader.shape != arr.shape or not reader.spec.grid.is_regular:
        return None
    return tuple(reader.spec.chunk_shape)


def aligned_source(arr: da.Array, chunks: tuple[tuple[int, ...], ...]) -> da.Array:
    """``arr`` in ``chunks``; an array read from a store is read again in those blocks (aligned to its
    stored chunks, each decoded once) instead of being read in its own blocks and regrouped."""
    if arr.chunks == chunks:
        return arr
    reader = _reader_of(arr)
    if reader is not None and reader.shape == arr.shape:
        name = "read-zarr-" + tokenize(reader.store.token(), str(reader.spec.shape), arr.name, chunks)
        return read_array(reader.spec, reader.store, chunks, name)
    return arr.rechunk(chunks)


def build_stages(data: da.Array, plan: PyramidPlan, writers: Sequence[Writer], method: str, token: str,
                 level0: dict[str, Any] | None = None) -> list[da.Array]:
    """One layer per stage; the last stage's array holds each block's count of stored objects.

    ``level0``: level 0's metadata document; where it stores what the source does, the first
    stage copies the source's objects (:func:`same_encoding`)."""
    outs: list[da.Array] = []
    source = data
    for n, stage in enumerate(plan.stages):
        shape = plan.levels[stage.first].shape
        blocks = stage_chunks(shape, stage.block)
        reader = _reader_of(source) if n == 0 else None
        unit = source_unit(source) if n == 0 else None
        if reader is not None and unit is not None and all(b % u == 0 or b == m for b, u, m in
                                                           zip(stage.block, unit, shape)):
            feed: da.Array | None = None  # each task reads its own block: no read task holds one
        else:
            reader = None
            feed = aligned_source(source, blocks) if n == 0 else source.rechunk(blocks)
        hand_on = stage.last + 1 < len(plan.levels)
        name = f"write-pyramid-{n}-{token}"
        copy = n == 0 and same_encoding(reader, level0)
        args = (list(writers[stage.first : stage.last + 1]), plan.factors, method, hand_on, reader, copy,
                stage.pieces)
        counts = block_layer(pyramid_block, name, blocks, args, data=feed)
        if hand_on:
            parts = stage_chunks(shape, stage.block, _scales(plan.factors, stage.last + 1 - stage.first))
            source = da.Array(counts.dask, name, parts, meta=np.empty((0,) * len(shape), dtype=data.dtype))
            outs.append(source)
        else:
            outs.append(counts)
    return outs


def _parents(plan: PyramidPlan, n: int, index: tuple[int, ...]) -> set[tuple[int, ...]]:
    """The blocks of stage ``n - 1`` whose parts make block ``index`` of stage ``n``."""
    stage, before = plan.stages[n], plan.stages[n - 1]
    shape = plan.levels[stage.first].shape
    part = stage_chunks(plan.levels[before.first].shape, before.block,
                        _scales(plan.factors, stage.first - before.first))
    ranges = []
    for a, (i, b, n_a) in enumerate(zip(index, stage.block, shape)):
        lo, hi = i * b, min(n_a, (i + 1) * b)
        p = part[a][0] or 1
        ranges.append(range(lo // p, -(-hi // p)))
    return set(product(*ranges))


def needed_blocks(plan: PyramidPlan, todo: Sequence[set[tuple[int, ...]] | None]) -> list[list[tuple[int, ...]]]:
    """Per stage, the blocks a resumed write runs: those with a level unit missing, and those
    whose parts a later stage's running block needs (``todo[n]``: stage ``n``'s own; ``None``: all)."""
    out: list[set[tuple[int, ...]]] = []
    later: set[tuple[int, ...]] = set()
    for n in reversed(range(len(plan.stages))):
        stage = plan.stages[n]
        own = todo[n]
        if own is None:
            grid = stage_chunks(plan.levels[stage.first].shape, stage.block)
            own = set(product(*(range(len(c)) for c in grid)))
        mine = own | later
        out.append(mine)
        later = set().union(*(_parents(plan, n, i) for i in mine)) if n else set()
    return [sorted(s) for s in reversed(out)]


def gather(stages: Sequence[da.Array], blocks: Sequence[Sequence[tuple[int, ...]]], token: str) -> Delayed:
    """A delayed that runs the chosen blocks of every stage (the others are culled) and counts them.

    A block of an earlier stage is its part of the next level: a small task per block takes it
    and gives back 1, so that each part is let go once the next stage has it (the count task
    itself would otherwise hold every part of the pyramid until the end).
    """
    name, ones = "pyramid-done-" + token, "pyramid-one-" + token
    layer: dict[Any, Any] = {}
    keys: list[Any] = []
    for n, (s, chosen) in enumerate(zip(stages, blocks)):
        last = n == len(stages) - 1
        for i in chosen:
            if last:
                keys.append((s.name, *i))
            else:
                layer[(ones, n, *i)] = (_one, (s.name, *i))
                keys.append((ones, n, *i))
    layer[name] = (_count, keys)
    graph = HighLevelGraph.from_collections(name, layer, dependencies=list(stages))  # type: ignore[arg-type]
    return Delayed(name, graph)


def _one(part: Any) -> int:
    return 1


def _count(parts: list[Any]) -> int:
    return len(parts)


def block_count(stage_array: da.Array) -> int:
    return prod(stage_array.numblocks)
