"""The pyramid's dask graph: one write layer per stage, each built in O(1) of the number of chunks.

Stage tasks are :func:`~dask_zarrio.graph.builder.block_layer` tasks (the project's one builder
of write layers): ``pyramid_block(region, block, ...)`` gets its block of the stage's first
level, writes it and every coarser level of the stage, and returns the next level's part
(or, in the last stage, how many objects it stored). The next stage's input is those parts,
regrouped by dask into its own blocks: nothing is read twice, nothing is written twice.
"""

from __future__ import annotations

import json
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
from ..graph.tasks import ArrayReader, decode_chunk_at, decode_chunk_into_at, read_into, stored_limit, write_region
from ..layout.grid import overlap
from ..layout.write_plan import WritePlan
from ..memory.buffers import empty_array
from ..metadata import ArraySpec
from ..store import Store
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


def _read_copying(reader: ArrayReader, region: tuple[slice, ...], sink: Store) -> tuple[np.ndarray, int]:
    """The task's block, each stored object fetched, decoded into it and stored unchanged as level
    0's (whose encoding is the source's): level 0 is never encoded, and only one object is held
    encoded at a time. Returns the block and how many objects it stored."""
    spec = reader.spec
    out = empty_array(tuple(r.stop - r.start for r in region), spec.dtype)
    stored = 0
    for index in spec.grid.chunks_in(region):
        key = spec.chunk_key(index)
        blob = reader.store.get_many([key], limit=stored_limit(spec, [index]))[0]
        src, dst = overlap(spec.chunk_region(index), region)
        if blob is None:
            out[dst] = spec.fill_chunk(())
            continue
        if not decode_chunk_into_at(spec, reader.store, index, blob, out[dst]):
            out[dst] = decode_chunk_at(spec, reader.store, index, blob)[src]
        sink.set(key, blob)
        stored += 1
        del blob  # let the encoded object go before the next one is fetched
    return out, stored


def same_encoding(reader: ArrayReader | None, level0: dict[str, Any] | None) -> bool:
    """Whether level 0 stores exactly what the source stores (a Zarr v3 array of the same shape,
    type, fill value, grid and codecs, as :func:`dask_zarrio.write` names them): its objects are
    then copied as fetched instead of decoded and encoded again."""
    if reader is None or level0 is None or level0.get("zarr_format") != 3:
        return False
    try:
        raw = reader.store.get("zarr.json")
        source = json.loads(raw) if raw is not None else {}
    except (OSError, ValueError):
        return False
    fields = ("zarr_format", "shape", "data_type", "chunk_grid", "codecs", "fill_value")
    return all(source.get(f) == level0.get(f) for f in fields)


def pyramid_block(region: tuple[slice, ...], block: np.ndarray | None, writers: Sequence[Writer],
                  factors: tuple[int, ...], method: str, hand_on: bool, reader: ArrayReader | None = None,
                  copy: bool = False) -> np.ndarray:
    """One task: write ``block`` (of the stage's first level, at ``region``; read here from ``reader``
    when it is ``None``, its stored objects copied as level 0's with ``copy``) and each coarser
    level of the stage from the one before; return the next level's part, or the objects stored.
    Each level is encoded and stored a band at a time, so the encoded bytes held stay small beside
    the block."""
    stored = 0
    if copy:
        assert reader is not None
        block, stored = _read_copying(reader, region, writers[0][1])
    else:
        block = _read(reader, region) if reader is not None else np.asarray(block)
    for i, (spec, sink, plan) in enumerate(writers):
        if i:
            block = downsample(block, factors, method)
        elif copy:
            continue
        at = tuple(slice(r.start // f**i, r.start // f**i + n) for r, f, n in zip(region, factors, block.shape))
        unit = tuple(u if isinstance(u, int) else 1 for u in plan.unit)
        for band in _bands(at, unit, block.itemsize):
            part = block[tuple(slice(b.start - a.start, b.stop - a.start) for a, b in zip(at, band))]
            stored += int(np.sum(write_region(spec, sink, part, band, plan)))
    if hand_on:
        return downsample(block, factors, method)
    return np.full((1,) * block.ndim, stored, dtype=np.int64)


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
        args = (list(writers[stage.first : stage.last + 1]), plan.factors, method, hand_on, reader, copy)
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
