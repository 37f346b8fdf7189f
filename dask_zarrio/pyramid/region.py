"""Region updates of a pyramid: each level rewrites only the stored objects the region touches.

Level 0 takes the new data as ``dz.write(mode="r+", region=...)`` does (objects the region
cuts are read, merged and rewritten). Each coarser level is then made again over the part
the region reaches, widened to whole cells of the level below, and read back from the level
just written: level ``L`` changes only where its cells' sources changed.
"""

from __future__ import annotations

from typing import Any

import dask
import dask.array as da
import numpy as np
from dask.delayed import Delayed

from ..api import write
from ..errors import ZarrioError
from ..layout.write_plan import normalize_region
from .read import open_pyramid, read_pyramid
from .reduce import METHODS, downsample

__all__ = ["update_region"]


def _factors(shapes: list[tuple[int, ...]], scales: list[tuple[float, ...]], n: int) -> tuple[int, ...]:
    """Level ``n``'s factors over level ``n - 1``: from the scales, else from the shapes."""
    out = []
    for a, (hi, lo) in enumerate(zip(shapes[n - 1], shapes[n])):
        ratio = scales[n][a] / scales[n - 1][a] if scales[n - 1][a] else 0
        f = round(ratio) if ratio >= 1 else -(-hi // max(lo, 1))
        out.append(max(1, f))
    return tuple(out)


def _coarser(region: tuple[slice, ...], factors: tuple[int, ...], shape: tuple[int, ...]) -> tuple[slice, ...]:
    """The next level's region that a changed ``region`` of this level reaches."""
    return tuple(slice(r.start // f, min(n, -(-r.stop // f))) for r, f, n in zip(region, factors, shape))


def _update(arr: Any, url: Any, region: Any, method: str | None, storage_options: dict[str, Any] | None) -> None:
    group, pyramid = open_pyramid(url, storage_options=storage_options)
    levels = read_pyramid(group)
    shapes = [tuple(x.shape) for x in levels]
    region = normalize_region(region, shapes[0])
    how = pyramid.method if pyramid.method in METHODS else method  # the pyramid's own, where it says
    if how not in METHODS:
        raise ZarrioError(f"the pyramid at {group.store.describe()} was made by method {how!r}; pass method= "
                          "(one of mean, nearest, mode, min, max) to update it")
    write(arr, group.store.child(pyramid.paths[0]), mode="r+", region=region)
    scales = [lv.scale for lv in pyramid.levels]
    for n in range(1, len(levels)):
        factors = _factors(shapes, scales, n)
        target = _coarser(region, factors, shapes[n])
        source = tuple(slice(t.start * f, min(m, t.stop * f)) for t, f, m in zip(target, factors, shapes[n - 1]))
        below = read_pyramid(group)[n - 1][source]
        aligned = below.rechunk(tuple(_multiples(c, f) for c, f in zip(below.chunks, factors)))
        out_chunks = tuple(tuple(-(-c // f) for c in cs) for cs, f in zip(aligned.chunks, factors))
        coarse = aligned.map_blocks(downsample, factors, how, chunks=out_chunks, dtype=aligned.dtype)
        write(coarse, group.store.child(pyramid.paths[n]), mode="r+", region=target)
        region = target


def _multiples(chunks: tuple[int, ...], f: int) -> tuple[int, ...]:
    """Blocks whose lengths (all but the last) are multiples of ``f``: cells stay whole."""
    total = sum(chunks)
    size = max(f, (max(chunks) // f) * f)
    return tuple([size] * (total // size) + ([total % size] if total % size else [])) or (0,)


def update_region(arr: Any, url: Any, region: Any, *, mode: str, method: str | None, compute: bool,
                  storage_options: dict[str, Any] | None) -> Delayed | None:
    """Write ``arr`` into ``region`` of level 0 of the pyramid at ``url`` and update every level."""
    if region is None:
        raise ZarrioError(f"mode={mode!r} updates part of an existing pyramid: pass region= (level 0 slices), "
                          "or mode='w' to write it anew")
    data = arr if isinstance(arr, da.Array) else np.asarray(arr)
    if compute:
        _update(data, url, region, method, storage_options)
        return None
    out: Delayed = dask.delayed(_update, pure=False)(data, url, region, method, storage_options)
    return out
