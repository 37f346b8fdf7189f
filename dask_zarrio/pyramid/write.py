"""``dz.write_pyramid``: a multiscale pyramid in one pass, through the one write lifecycle.

Each level is a node written as ``dz.write`` writes one (:mod:`dask_zarrio.writing.target`:
prepare, begin with its journal, data tasks, commit its metadata last); the stages of
:mod:`.graph` write all of them together. The group's pyramid attributes are committed
after every level, so an interrupted pyramid never reads as one, and ``resume=True``
writes only what is missing.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import dask.array as da
import numpy as np
from dask.base import tokenize
from dask.delayed import Delayed
from dask.highlevelgraph import HighLevelGraph

from ..errors import ZarrioError
from ..graph.loading import default_threads
from ..graph.progress import compute as compute_with_progress
from ..layout.write_plan import default_inner_chunk_shape
from ..metadata.group import GroupMetadata
from ..metadata.writer import write_node
from ..store import Store
from ..store.backends.icechunk_store import is_icechunk
from ..writing.consolidated import update_consolidated
from ..writing.destination import Incoming, NewArray, as_shape
from ..writing.modes import check_mode, prepare_node
from ..writing.parents import ensure_parent_groups
from ..writing.target import NodeWrite, PlainTarget, open_target
from .conventions import Level, Pyramid, zarr_format_of
from .graph import build_stages, gather, level_plan, needed_blocks, source_unit
from .levels import (
    Axis,
    PyramidPlan,
    default_chunks,
    parse_axes,
    parse_factors,
    plan_pyramid,
    stage_chunks,
    task_block_cap,
)
from .reduce import METHODS

__all__ = ["PyramidSpec", "prepare_levels", "transforms"]

logger = logging.getLogger("dask_zarrio")


@dataclass(frozen=True)
class PyramidSpec:
    """What the caller asked for, checked: axes, factors, the plan, the metadata to write."""

    axes: tuple[Axis, ...]
    plan: PyramidPlan
    method: str
    convention: str
    pyramid: Pyramid


def _per_axis(value: Any, axes: Sequence[Axis], field: str, default: float | None) -> tuple[float, ...] | None:
    if value is None:
        return None if default is None else (default,) * len(axes)
    if isinstance(value, Mapping):
        return tuple(float(value.get(a.name, 0.0 if default is None else default)) for a in axes)
    values = tuple(float(v) for v in value)
    if len(values) != len(axes):
        raise ZarrioError(f"{field}={value!r} must give one number per axis ({len(axes)} of them)")
    return values


def transforms(plan: PyramidPlan, axes: Sequence[Axis], method: str, scale: Any, translation: Any
               ) -> tuple[Level, ...]:
    """Each level's scale (level 0's times factor ** L) and translation (half a pixel more per
    level for ``mean``: level 0's origin + scale0 × (factor ** L − 1) / 2).

    Examples
    --------
    >>> p = plan_pyramid((8, 8), 1, (2, 2), 3, (4, 4), None, 1 << 20)
    >>> [lv.translation for lv in transforms(p, parse_axes(None, 2), "mean", [0.5, 0.5], None)]
    [(0.0, 0.0), (0.25, 0.25), (0.75, 0.75)]
    """
    s0 = _per_axis(scale, axes, "scale", 1.0)
    t0 = _per_axis(translation, axes, "translation", None)
    assert s0 is not None
    out = []
    for n, lv in enumerate(plan.levels):
        f = [k**n for k in plan.factors]
        s = tuple(a * b for a, b in zip(s0, f))
        t: tuple[float, ...] | None = None
        if method == "mean":
            t = tuple((t0[i] if t0 else 0.0) + s0[i] * (f[i] - 1) / 2 for i in range(len(f)))
        elif t0 is not None:
            t = t0
        out.append(Level(lv.path, s, t))
    return tuple(out)


def _layout(shape: tuple[int, ...], factors: tuple[int, ...], itemsize: int, chunks: Any, shards: Any
            ) -> tuple[tuple[int, ...], tuple[int, ...] | None]:
    ndim = len(shape)
    shard = None if shards is None else tuple(min(s, max(n, 1)) for s, n in zip(as_shape(shards, ndim, "shards"),
                                                                                  shape))
    if chunks is not None:
        chunk = as_shape(chunks, ndim, "chunks")
    elif shard is not None:
        chunk = default_inner_chunk_shape(shard, itemsize)
    else:
        chunk = default_chunks(shape, factors, itemsize)
    return tuple(max(1, min(c, n)) for c, n in zip(chunk, shape)), shard


def pyramid_spec(shape: tuple[int, ...], dtype: np.dtype[Any], *, levels: int | None, factors: Any, method: str,
                 axes: Any, units: Any, scale: Any, translation: Any, convention: str, chunks: Any, shards: Any,
                 cap: int, source_unit: tuple[int, ...] | None = None) -> PyramidSpec:
    """Check the arguments of :func:`dask_zarrio.write_pyramid` and plan the pyramid (no I/O)."""
    if method not in METHODS:
        raise ZarrioError(f"method={method!r} is not one of {sorted(METHODS)}")
    fmt = zarr_format_of(convention)
    parsed = parse_axes(axes, len(shape), units)
    f = parse_factors(factors, parsed)
    chunk, shard = _layout(shape, f, dtype.itemsize, chunks, shards)
    if shard is not None and fmt == 2:
        raise ZarrioError(f"shards={shards!r} need Zarr v3: convention={convention!r} writes Zarr v2; "
                          "use convention='ome-zarr-0.5'")
    # Twice the threads: a stage of fewer, bigger tasks would leave threads idle at its end.
    plan = plan_pyramid(shape, dtype.itemsize, f, levels, chunk, shard, cap, source_unit, 2 * default_threads())
    levels_meta = transforms(plan, parsed, method, scale, translation)
    return PyramidSpec(parsed, plan, method, convention, Pyramid(convention, parsed, levels_meta, method))


def _level_target(store: Store, spec: PyramidSpec, n: int, dtype: np.dtype[Any], compressors: Any, cap: int,
                  resume: bool, member: str | None = None) -> tuple[PlainTarget, NodeWrite]:
    lv = spec.plan.levels[n]
    fmt = zarr_format_of(spec.convention)
    names = [a.name for a in spec.axes] if fmt == 3 else None
    encoding = {"name": "v2", "separator": "/"} if fmt == 2 else None
    new = NewArray(lv.chunks, lv.shards, compressors, None, None, fmt, "C", None, names, "auto", encoding)
    target = PlainTarget(store.child(lv.path if member is None else f"{lv.path}/{member}"))
    stage = next(s for s in spec.plan.stages if s.first <= n <= s.last)
    blocks = stage_chunks(spec.plan.levels[stage.first].shape, stage.block)
    w = target.prepare(Incoming(lv.shape, dtype, blocks), "w-", new=new, cap=cap, resume=resume)
    return target, w


def prepare_levels(data: da.Array, url: Any, spec: PyramidSpec, *, mode: str, compressors: Any, resume: bool,
                   storage_options: dict[str, Any] | None) -> tuple[Store, list[tuple[PlainTarget, NodeWrite]]]:
    """Open the group and resolve every level's node (refused before anything is written)."""
    if is_icechunk(url):
        raise ZarrioError("dz.write_pyramid writes to plain stores (folders, buckets, memory://); to keep a "
                          "pyramid in Icechunk, write it to a folder and dz.copy it into the repository")
    target = open_target(url, storage_options)
    store = target.store
    cap = task_block_cap()
    if not resume:
        if mode == "w":
            from ..graph.builder import refuse_reading_from

            refuse_reading_from(data, store, "dz.write_pyramid")
        prepare_node(store, mode)
    levels = [_level_target(store, spec, n, data.dtype, compressors, cap, resume) for n in
              range(len(spec.plan.levels))]
    return store, levels


def _todo(spec: PyramidSpec, levels: list[tuple[PlainTarget, NodeWrite]]) -> list[set[tuple[int, ...]] | None]:
    """Per stage, the blocks with a level unit not stored yet (``None``: all, not resuming)."""
    out: list[set[tuple[int, ...]] | None] = []
    for stage in spec.plan.stages:
        missing: set[tuple[int, ...]] | None = set()
        for n in range(stage.first, stage.last + 1):
            target, w = levels[n]
            left = target.blocks_left(w, level_plan(spec.plan, stage, n))
            if left is None:
                missing = None
                break
            assert missing is not None
            missing.update(left)
        out.append(missing)
    return out


def commit(done: Any, store: Store, spec: PyramidSpec, levels: list[tuple[PlainTarget, NodeWrite]]) -> int:
    """After every data task: each level's metadata, then the group's pyramid attributes."""
    finish_levels(levels)
    meta = GroupMetadata(zarr_format_of(spec.convention), spec.pyramid.to_attributes())
    write_node(store, meta)
    update_consolidated(store, meta)
    return int(done) if isinstance(done, (int, np.integer)) else 0


def begin_levels(data: da.Array, store: Store, spec: PyramidSpec, levels: list[tuple[PlainTarget, NodeWrite]]
                 ) -> Any:
    """Begin every level (journals) and build the stages: the collection that writes them all."""
    todo = _todo(spec, levels)
    for target, w in levels:
        target.begin(w)
    writers = [(w.spec, w.sink, level_plan(spec.plan, s, n)) for s in spec.plan.stages
               for n, (_, w) in enumerate(levels) if s.first <= n <= s.last]
    token = tokenize(data.name, levels[0][0].store.token(), spec.plan, spec.method)
    stages = build_stages(data, spec.plan, writers, spec.method, token, levels[0][1].dest.meta.to_dict())
    logger.debug("writing pyramid %s: stages %s", store.describe(), spec.plan.stages)
    if all(t is None for t in todo):
        return stages[-1]
    return gather(stages, needed_blocks(spec.plan, todo), token)


def finish_levels(levels: list[tuple[PlainTarget, NodeWrite]]) -> None:
    """Commit each level's metadata (its data is all stored)."""
    for target, w in levels:
        target.finish(w, None)


def run_pyramid(data: da.Array, store: Store, spec: PyramidSpec, levels: list[tuple[PlainTarget, NodeWrite]], *,
                compute: bool, progress: bool | str) -> Delayed | None:
    """Begin every level, build the stages and run them (or return a ``Delayed`` that does)."""
    fmt = zarr_format_of(spec.convention)
    ensure_parent_groups(store, fmt)
    write_node(store, GroupMetadata(fmt, {}))  # the levels' parent; the pyramid is described last
    gathered = begin_levels(data, store, spec, levels)
    if compute:
        done = compute_with_progress(gathered, progress=progress)[0]
        commit(np.sum(done), store, spec, levels)
        return None
    return _delayed_commit(gathered, store, spec, levels)


def _delayed_commit(gathered: Any, store: Store, spec: PyramidSpec, levels: list[tuple[PlainTarget, NodeWrite]]
                    ) -> Delayed:
    """A ``Delayed`` committing after ``gathered``, built without materialising its graph.

    ``dask.delayed(f)(array)`` optimises (and so materialises) the array's graph, a task per
    block; a one-block total and a hand-made task keep building the job O(1).
    """
    total = gathered.sum() if isinstance(gathered, da.Array) else gathered
    key = (total.name,) if isinstance(total, da.Array) else total.key
    name = "pyramid-commit-" + uuid.uuid4().hex  # a commit is never shared with another job
    task: Any = (partial(commit, store=store, spec=spec, levels=levels), key)
    graph = HighLevelGraph.from_collections(name, {name: task}, dependencies=[total])
    return Delayed(name, graph)


def default_pyramid_mode(mode: str | None, region: Any) -> str:
    """``"w-"`` (``"r+"`` with ``region``) unless given; checked."""
    chosen = mode if mode is not None else ("r+" if region is not None else "w-")
    return check_mode(chosen, ("w-", "w", "r+", "a"), "dz.write_pyramid")


def write_pyramid(
    arr: Any, url: Any, *, levels: int | None = None, factors: int | Mapping[str, int] = 2, method: str = "mean",
    axes: Sequence[Any] | None = None, units: Any = None, scale: Any = None, translation: Any = None,
    convention: str = "ome-zarr-0.5", chunks: Any = None, shards: Any = None, compressors: Any = "auto",
    mode: str | None = None, compute: bool = True, progress: bool | str = False, resume: bool = False,
    region: Any = None, storage_options: dict[str, Any] | None = None,
) -> Delayed | None:
    """Write a multiscale pyramid (OME-Zarr 0.5 or 0.4, or the zarr-conventions ``multiscales``) in one pass.

    Every stored chunk of the source is read once for the whole pyramid and every chunk (or
    shard) of every level is written once: each task owns a block of level 0 aligned to the
    stored objects of every level it completes, writes them all from that one block, and
    hands its part of the next level on; the top levels, which no block holds alone, are
    finished by one small task per image plane. Peak memory is about the number of threads
    times the largest task block (at most dask's ``array.chunk-size`` unless one level's shard
    alone is larger): see ``docs/pyramids.md``.

    Parameters
    ----------
    arr
        A dask or numpy array (a ``dz.read`` array is read again in the pyramid's blocks),
        an ``xarray.DataArray`` (its ``dims`` are the axes), or, with
        ``convention="multiscales"``, an ``xarray.Dataset`` (each level a group of every
        variable, coordinates coarsened).
    url
        The pyramid's group (see :func:`dask_zarrio.write`); levels are its members ``"0"``, ``"1"``, ...
    levels
        How many levels, level 0 included; ``None``: until the largest downsampled extent
        fits in one chunk.
    factors
        An int for the two last space axes (y, x), or a dict by axis name (``{"z": 2, "y": 2, "x": 2}``).
    method
        ``"mean"`` (partial edge blocks average the cells they have; integers round half
        up), ``"nearest"`` (the block's first sample), ``"mode"`` (its most common value,
        the smallest on a tie: labels), ``"min"`` or ``"max"``. Each level is made from the
        one before; the dtype is kept.
    axes, units
        Axis names (``["t", "c", "z", "y", "x"]`` or a subset; ``t`` is time, ``c`` channel,
        other names space) or OME axis dicts; units per axis (a list, or a dict by name).
    scale, translation
        Level 0's pixel size and origin, per axis. Level L's scale is level 0's times
        ``factor ** L``; ``mean`` levels are shifted by half their pixel
        (``translation0 + scale0 * (factor ** L - 1) / 2``).
    convention
        ``"ome-zarr-0.5"`` (Zarr v3, sharding allowed), ``"ome-zarr-0.4"`` (Zarr v2, ``/``
        chunk keys) or ``"multiscales"`` (Zarr v3, https://github.com/zarr-conventions/multiscales).
    chunks, shards
        Level 0's stored chunk and shard shape; every level takes them clipped to its own
        shape. ``None``: about 1 MiB chunks, not sharded.
    compressors
        As :func:`dask_zarrio.write` takes them.
    mode
        ``"w-"`` (default) creates, ``"w"`` replaces; ``"r+"``/``"a"`` with ``region``
        update an existing pyramid.
    compute, progress, resume
        As :func:`dask_zarrio.write`: a ``Delayed`` without computing; a progress bar;
        complete an interrupted pyramid, writing only the blocks not stored yet.
    region
        With ``mode="r+"``: level-0 slices where ``arr`` goes. Every level rewrites only
        the chunks (or shards) the region touches, each level from the one below it.
    storage_options
        Options for the fsspec filesystem.

    Examples
    --------
    >>> import numpy as np, dask_zarrio as dz
    >>> image = np.arange(64, dtype="u1").reshape(8, 8)
    >>> dz.write_pyramid(image, "memory://doc/pyr.zarr", levels=3, chunks=(4, 4), mode="w")
    >>> [level.shape for level in dz.read_pyramid("memory://doc/pyr.zarr")]
    [(8, 8), (4, 4), (2, 2)]
    >>> dz.read_pyramid("memory://doc/pyr.zarr")[2].compute()
    array([[14, 18],
           [46, 50]], dtype=uint8)
    """
    from .dataset import split_xarray

    arr, axes, dataset = split_xarray(arr, axes, convention)
    mode = default_pyramid_mode(mode, region)
    if dataset is not None:
        from .dataset import write_dataset_pyramid

        write_dataset_pyramid(dataset, url, levels=levels, factors=factors, method=method, chunks=chunks,
                                     shards=shards, compressors=compressors, mode=mode, progress=progress,
                                     storage_options=storage_options)
        return None
    if mode in ("r+", "a") or region is not None:
        from .region import update_region

        return update_region(arr, url, region, mode=mode, method=method, compute=compute,
                             storage_options=storage_options)
    data = arr if isinstance(arr, da.Array) else da.from_array(np.asarray(arr), chunks="auto", name=False)
    cap = task_block_cap()
    spec = pyramid_spec(data.shape, data.dtype, levels=levels, factors=factors, method=method, axes=axes,
                        units=units, scale=scale, translation=translation, convention=convention, chunks=chunks,
                        shards=shards, cap=cap, source_unit=source_unit(data))
    store, targets = prepare_levels(data, url, spec, mode=mode, compressors=compressors, resume=resume,
                                    storage_options=storage_options)
    return run_pyramid(data, store, spec, targets, compute=compute, progress=progress)
