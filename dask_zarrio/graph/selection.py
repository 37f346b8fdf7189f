"""Orthogonal selections (numpy's basic indexing, and zarr's ``oindex``) in the grid's terms.

A selection has one entry per axis: an integer (the axis is dropped), a slice (any
step), or a 1-d array of integers or booleans. Each axis is cut into *pieces*: runs
of whole read units (stored chunks, or a shard's inner chunks), each with where its
positions come from and go to. The product of the axes' pieces is what one load
task reads (:mod:`.loading`).
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ZarrioError
from ..layout.grid import AxisUnit, bounds_between

__all__ = ["AxisPiece", "AxisSelection", "axis_pieces", "kept_shape", "normalize_selection", "result_shape"]


@dataclass(frozen=True)
class AxisSelection:
    """One axis of a selection: a step-1 range ``[start, stop)``, or sorted-or-not ``points``.

    ``drop``: an integer selected it, so the axis leaves the result's shape.
    """

    start: int
    stop: int
    points: np.ndarray | None = None
    drop: bool = False

    @property
    def size(self) -> int:
        return self.stop - self.start if self.points is None else len(self.points)


@dataclass(frozen=True)
class AxisPiece:
    """What one piece of an axis reads: the region ``[lo, hi)``, and ``src`` positions in it
    going to ``dst`` positions of the result (``None`` both: all of it, in order, to
    ``dst_start`` onwards)."""

    lo: int
    hi: int
    dst_start: int = 0
    src: np.ndarray | None = None
    dst: np.ndarray | None = None


def _entry(item: Any, n: int, axis: int) -> AxisSelection:
    if isinstance(item, (int, np.integer)) and not isinstance(item, (bool, np.bool_)):
        i = int(item)
        if not -n <= i < n:
            raise IndexError(f"index {i} is out of bounds for axis {axis} with size {n}")
        i %= n
        return AxisSelection(i, i + 1, drop=True)
    if isinstance(item, slice):
        r = range(*item.indices(n))
        if r.step == 1:
            return AxisSelection(r.start, max(r.start, r.stop))
        return AxisSelection(0, 0, np.arange(r.start, r.stop, r.step, dtype=np.int64))
    arr = np.asarray(item)
    if arr.dtype == bool:
        if arr.shape != (n,):
            raise IndexError(f"a boolean index of shape {arr.shape} does not match axis {axis} of size {n}")
        arr = np.flatnonzero(arr)
    if arr.ndim != 1 or arr.dtype.kind not in "iu":
        raise IndexError(
            f"selection[{axis}]={item!r}: an orthogonal selection takes per axis an integer, a slice, or a "
            "1-d array of integers or booleans"
        )
    arr = arr.astype(np.int64)
    if arr.size and (arr.min() < -n or arr.max() >= n):
        raise IndexError(f"an index in selection[{axis}] is out of bounds for axis {axis} with size {n}")
    return AxisSelection(0, 0, np.where(arr < 0, arr + n, arr))


def normalize_selection(selection: Any, shape: tuple[int, ...]) -> tuple[AxisSelection, ...]:
    """``selection`` (``None``: everything) as one :class:`AxisSelection` per axis.

    ``Ellipsis`` stands for the axes not named; missing trailing axes are whole.

    Examples
    --------
    >>> [(a.start, a.stop, a.drop) for a in normalize_selection((1, slice(2, None)), (4, 5, 6))]
    [(1, 2, True), (2, 5, False), (0, 6, False)]
    >>> normalize_selection((slice(None, None, -2),), (5,))[0].points
    array([4, 2, 0])
    """
    if selection is None:
        selection = ()
    if not isinstance(selection, tuple):
        selection = (selection,)
    if sum(i is Ellipsis for i in selection) > 1:
        raise IndexError("a selection may hold only one Ellipsis (...)")
    if any(i is Ellipsis for i in selection):
        at = next(k for k, i in enumerate(selection) if i is Ellipsis)
        selection = selection[:at] + (slice(None),) * (len(shape) - len(selection) + 1) + selection[at + 1:]
    if len(selection) > len(shape):
        raise IndexError(f"selection {selection!r} has {len(selection)} entries for an array of {len(shape)} axes")
    if any(i is None or i is np.newaxis for i in selection if not isinstance(i, np.ndarray)):
        raise ZarrioError("selection: None (np.newaxis) adds an axis, which a read cannot; add it to the result")
    selection = selection + (slice(None),) * (len(shape) - len(selection))
    return tuple(_entry(item, n, axis) for axis, (item, n) in enumerate(zip(selection, shape)))


def _unit_index(u: AxisUnit, points: np.ndarray) -> np.ndarray:
    if isinstance(u, int):
        return points // u
    return np.searchsorted(np.asarray(u.bounds), points, side="right") - 1


def axis_pieces(sel: AxisSelection, u: AxisUnit, group: int) -> list[AxisPiece]:
    """The pieces of one axis: ``group`` read units of ``u`` at most each, only those selected.

    Examples
    --------
    >>> [(p.lo, p.hi, p.dst_start) for p in axis_pieces(AxisSelection(3, 13), 4, 2)]
    [(3, 8, 0), (8, 13, 5)]
    >>> p = axis_pieces(AxisSelection(0, 0, np.array([9, 1, 2])), 4, 1)
    >>> [(q.lo, q.hi, q.src.tolist(), q.dst.tolist()) for q in p]
    [(1, 3, [0, 1], [1, 2]), (9, 10, [0], [0])]
    """
    group = max(1, group)
    if sel.points is None:
        if sel.stop <= sel.start:
            return []
        edges = [sel.start, *bounds_between(u, sel.start, sel.stop)[group - 1 :: group], sel.stop]
        edges = sorted(set(edges))
        return [AxisPiece(lo, hi, lo - sel.start) for lo, hi in zip(edges, edges[1:])]
    points = sel.points
    if not points.size:
        return []
    groups = _unit_index(u, points) // group
    order = np.argsort(groups, kind="stable")
    cuts = np.flatnonzero(np.diff(groups[order])) + 1
    pieces = []
    for run in np.split(order, cuts):
        picked = points[run]
        lo = int(picked.min())
        pieces.append(AxisPiece(lo, int(picked.max()) + 1, 0, picked - lo, run))
    return pieces


def result_shape(sels: tuple[AxisSelection, ...]) -> tuple[int, ...]:
    """The shape a selection's result has (integer-selected axes dropped)."""
    return tuple(s.size for s in sels if not s.drop)


def kept_shape(sels: tuple[AxisSelection, ...]) -> tuple[int, ...]:
    """The result's shape with the dropped axes kept at length 1 (what the tasks fill)."""
    return tuple(operator.index(s.size) for s in sels)
