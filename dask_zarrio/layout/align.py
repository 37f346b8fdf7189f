"""A planned pass's blocks aligned to a rectilinear target grid: whole chunks, none longer than planned."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from math import prod

from .grid import AxisUnit, axis_chunk_sizes
from .rechunk_plan import Pass, Shape

__all__ = ["align_pass"]


def _grouped(sizes: Sequence[int], most: int) -> tuple[int, ...]:
    """Consecutive ``sizes`` summed into groups of at most ``most`` (a longer size stays alone)."""
    out: list[int] = []
    for size in sizes:
        if out and out[-1] + size <= most:
            out[-1] += size
        else:
            out.append(size)
    return tuple(out)


def align_pass(p: Pass, units: Sequence[AxisUnit], shape: Shape) -> Pass:
    """``p`` with blocks of whole chunks of ``units`` (a rectilinear target's grid), none longer
    than ``p.block`` along an axis, so that no two tasks write one chunk and none holds more.

    ``p`` was planned with each axis's largest chunk as its unit: every chunk fits a block.

    Examples
    --------
    >>> from dask_zarrio.layout.grid import Edges
    >>> from dask_zarrio.layout.rechunk_plan import plan_pass
    >>> p = plan_pass((10,), (4,), (5,), 1, 10**6)
    >>> align_pass(replace(p, block=(5,)), (Edges((3, 5, 2)),), (10,)).block
    ((3, 5, 2),)
    """
    most = [b for b in p.block if isinstance(b, int)]
    assert len(most) == len(shape)  # planned on the largest chunks, aligned once
    blocks = tuple(_grouped(axis_chunk_sizes(u, n), b) for u, n, b in zip(units, shape, most))
    return replace(p, block=blocks, tasks=prod(len(b) for b in blocks) if 0 not in shape else 0)
