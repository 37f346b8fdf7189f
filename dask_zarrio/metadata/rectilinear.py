"""The ``rectilinear`` chunk grid of zarr-extensions: per-axis chunk edge lengths.

Each axis is a bare integer (a regular step that repeats to cover the axis) or a
list of edge lengths, where ``[size, count]`` pairs are run-length encoded. The
parsed form keeps that distinction, so documents round-trip as they were written:
``int`` for a step, ``tuple`` for explicit (expanded) edges.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import accumulate
from typing import Any

from ..errors import MetadataError
from ..layout.grid import AxisUnit, Edges, axis_chunk_sizes

__all__ = [
    "AxisEdges", "MAX_EDGES_PER_AXIS", "check_shard_edges", "compress_rle", "edges_from_blocks", "edges_to_json",
    "edges_to_units", "extend_edges", "preferred_chunks",
    "parse_rectilinear",
]

#: One axis of a rectilinear grid as its document gives it: a step, or explicit edges.
AxisEdges = int | tuple[int, ...]

#: Most explicit edges one axis may expand to: a run-length pair such as
#: ``[1, 10**12]`` must fail as bad metadata, not exhaust the reader's memory.
MAX_EDGES_PER_AXIS = 10**7

_WHERE = "chunk_grid.configuration.chunk_shapes"


def _positive(value: object, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise MetadataError(f"{where}={value!r} must be a positive integer (a chunk edge length)")
    return value


def _expand(axis: int, spec: list[Any]) -> tuple[int, ...]:
    """Explicit edges of one axis: bare lengths and ``[size, count]`` runs."""
    where = f"{_WHERE}[{axis}]"
    runs: list[tuple[int, int]] = []
    for i, item in enumerate(spec):
        if isinstance(item, list):
            if len(item) != 2:
                raise MetadataError(f"{where}[{i}]={item!r} must be an edge length or a [size, count] pair")
            runs.append((_positive(item[0], f"{where}[{i}][0]"), _positive(item[1], f"{where}[{i}][1]")))
        else:
            runs.append((_positive(item, f"{where}[{i}]"), 1))
    total = sum(count for _, count in runs)
    if not runs or total > MAX_EDGES_PER_AXIS:
        raise MetadataError(
            f"{where} expands to {total} chunk edges; give between 1 and {MAX_EDGES_PER_AXIS} "
            "(the document is corrupt, or the grid needs fewer, larger chunks)"
        )
    return tuple(size for size, count in runs for _ in range(count))


def parse_rectilinear(config: dict[str, Any], shape: tuple[int, ...]) -> tuple[AxisEdges, ...]:
    """The per-axis edges of a ``rectilinear`` grid's ``configuration`` over ``shape``.

    Examples
    --------
    >>> parse_rectilinear({"kind": "inline", "chunk_shapes": [4, [[1, 3], 3]]}, (6, 6))
    (4, (1, 1, 1, 3))
    >>> parse_rectilinear({"kind": "inline", "chunk_shapes": [[2, 2]]}, (6,))
    Traceback (most recent call last):
    ...
    dask_zarrio.errors.MetadataError: chunk_grid.configuration.chunk_shapes[0]=[2, 2] sums to 4, ...
    """
    if config.get("kind") != "inline":
        raise MetadataError(
            f"chunk_grid.configuration.kind={config.get('kind')!r} must be 'inline', the only "
            "kind of rectilinear grid the extension defines"
        )
    if "encoded_chunk_shapes" in config:
        raise MetadataError(
            "chunk_grid.configuration.encoded_chunk_shapes is not supported by dask_zarrio; "
            "read this array with an implementation that supports it"
        )
    shapes = config.get("chunk_shapes")
    if not isinstance(shapes, list) or len(shapes) != len(shape):
        raise MetadataError(f"{_WHERE}={shapes!r} must be a list of {len(shape)} entries, one per dimension")
    out: list[AxisEdges] = []
    for axis, (spec, n) in enumerate(zip(shapes, shape)):
        if not isinstance(spec, list):
            out.append(_positive(spec, f"{_WHERE}[{axis}]"))
            continue
        edges = _expand(axis, spec)
        if sum(edges) < n:
            raise MetadataError(
                f"{_WHERE}[{axis}]={spec!r} sums to {sum(edges)}, less than the array's length {n} "
                f"along axis {axis}; the edges must cover the array"
            )
        out.append(edges)
    return tuple(out)


def check_shard_edges(edges: Sequence[AxisEdges], inner: Sequence[int]) -> None:
    """Refuse a sharded rectilinear grid whose shard edges do not hold whole inner chunks.

    Each shard is cut into inner chunks of ``inner`` (the ``sharding_indexed`` codec's
    ``chunk_shape``), so every edge length must be a multiple of it along its axis, as
    zarr-python's sharding codec checks: otherwise chunks would fail only when written.

    Examples
    --------
    >>> check_shard_edges(((4, 8), 3), (4, 3))
    >>> check_shard_edges(((4, 6),), (4,))
    Traceback (most recent call last):
    ...
    dask_zarrio.errors.MetadataError: chunk_grid.configuration.chunk_shapes[0] has edge length 6, not a multiple of ...
    """
    for axis, (axis_edges, step) in enumerate(zip(edges, inner)):
        bad = sorted(e for e in ({axis_edges} if isinstance(axis_edges, int) else set(axis_edges)) if e % step)
        if bad:
            raise MetadataError(
                f"{_WHERE}[{axis}] has edge length {bad[0]}, not a multiple of the sharding_indexed codec's "
                f"inner chunk_shape[{axis}]={step}: each shard must hold whole inner chunks. Make every shard "
                f"edge along axis {axis} a multiple of {step}, or pick inner chunks that divide them all"
            )


def compress_rle(sizes: Sequence[int]) -> list[int | list[int]]:
    """Run-length encode edge lengths: runs longer than one become ``[size, count]``.

    Examples
    --------
    >>> compress_rle([10, 10, 10, 5])
    [[10, 3], 5]
    """
    out: list[int | list[int]] = []
    for size in sizes:
        last = out[-1] if out else None
        if isinstance(last, list) and last[0] == size:
            last[1] += 1
        elif last == size:
            out[-1] = [size, 2]
        else:
            out.append(size)
    return out


def edges_to_json(edges: Sequence[AxisEdges]) -> dict[str, Any]:
    """The ``chunk_grid`` field of a rectilinear grid, as zarr-python writes it.

    Explicit edges are run-length encoded only where that is shorter.

    Examples
    --------
    >>> edges_to_json((4, (3, 5, 2), (4, 4)))["configuration"]["chunk_shapes"]
    [4, [3, 5, 2], [[4, 2]]]
    """
    shapes: list[Any] = []
    for axis in edges:
        if isinstance(axis, int):
            shapes.append(axis)
            continue
        rle = compress_rle(axis)
        shapes.append(rle if len(rle) < len(axis) else list(axis))
    return {"name": "rectilinear", "configuration": {"kind": "inline", "chunk_shapes": shapes}}


def edges_to_units(edges: Sequence[AxisEdges]) -> tuple[AxisUnit, ...]:
    """The grid's units: a step stays an ``int``, explicit edges become :class:`~dask_zarrio.layout.grid.Edges`."""
    return tuple(e if isinstance(e, int) else Edges(e) for e in edges)


def preferred_chunks(edges: Sequence[AxisEdges], shape: Sequence[int]) -> tuple[int | tuple[int, ...], ...]:
    """Each axis's chunks as xarray's zarr backend gives ``encoding["preferred_chunks"]``.

    A length where the axis is regular (a step, or edges all equal but a shorter
    last one), else the chunk lengths clipped to the array, in dask's form.

    Examples
    --------
    >>> preferred_chunks((4, (3, 5, 4), (2, 2, 1)), (10, 10, 5))
    (4, (3, 5, 2), 2)
    """
    out: list[int | tuple[int, ...]] = []
    for axis_edges, n in zip(edges, shape):
        sizes = axis_chunk_sizes(axis_edges if isinstance(axis_edges, int) else Edges(axis_edges), n)
        regular = isinstance(axis_edges, int) or (len(set(sizes[:-1])) <= 1 and sizes[-1] <= sizes[0] and n > 0)
        out.append(sizes[0] if regular and isinstance(axis_edges, tuple) else axis_edges if regular else sizes)
    return tuple(out)


def edges_from_blocks(blocks: Sequence[Sequence[int]]) -> tuple[AxisEdges, ...]:
    """Storage chunk lengths that follow dask ``blocks`` exactly, one chunk per block.

    An axis whose blocks are all equal but the last (which is not longer) is a
    regular step (an ``int``); other axes keep their block lengths.

    Examples
    --------
    >>> edges_from_blocks(((4, 4, 2), (3, 5), (0,)))
    (4, (3, 5), 1)
    """
    out: list[int | tuple[int, ...]] = []
    for sizes in blocks:
        first = max(sizes[0], 1) if sizes else 1
        regular = all(s == first for s in sizes[:-1]) and (not sizes or sizes[-1] <= first)
        out.append(first if regular else tuple(int(s) for s in sizes))
    return tuple(out)


def extend_edges(edges: tuple[int, ...], old: int, new: int, blocks: Sequence[int]) -> tuple[int, ...]:
    """``edges`` grown from an axis of length ``old`` to ``new`` by appended ``blocks``.

    Appended data gets chunks at its own block boundaries past the existing edges
    (what the last edge already covers stays in that chunk).

    Examples
    --------
    >>> extend_edges((3, 5), 8, 12, (2, 2))
    (3, 5, 2, 2)
    >>> extend_edges((3, 6), 8, 12, (2, 2))  # the last edge already reaches 9
    (3, 6, 1, 2)
    """
    covered = sum(edges)
    if new <= covered:
        return edges
    cuts = [old + b for b in accumulate(blocks)]
    points = sorted({covered, new} | {c for c in cuts if covered < c < new})
    return edges + tuple(b - a for a, b in zip(points, points[1:]))
