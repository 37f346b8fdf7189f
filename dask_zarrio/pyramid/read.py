"""Reading a pyramid back, in any of the three conventions, and what ``dz info``/``dz verify`` say of it.

Level paths come from the metadata, never from a naming scheme.
"""

from __future__ import annotations

from typing import Any

import dask.array as da

from ..errors import ArrayNotFoundError, MetadataError, ZarrioError
from ..hierarchy import Group, open_group
from ..metadata import ArrayMetadata
from ..metadata.group import GroupMetadata
from .conventions import Pyramid, from_attributes, with_axes

__all__ = ["check_pyramid", "describe_pyramid", "open_pyramid", "pyramid_note", "read_pyramid", "tree_note"]


def open_pyramid(url: Any, *, storage_options: dict[str, Any] | None = None) -> tuple[Group, Pyramid]:
    """The group at ``url`` and the pyramid its attributes describe (refused if none).

    Examples
    --------
    >>> import numpy as np, dask_zarrio as dz
    >>> dz.write_pyramid(np.zeros((4, 4), "u1"), "memory://doc/op.zarr", levels=2, chunks=2, mode="w")
    >>> open_pyramid("memory://doc/op.zarr")[1].paths
    ['0', '1']
    """
    group = url if isinstance(url, Group) else open_group(url, storage_options=storage_options)
    pyramid = from_attributes(group.attrs)
    if pyramid is None:
        raise ArrayNotFoundError(
            f"{group.store.describe()} is a group but no pyramid: its attributes have no OME-Zarr "
            "'multiscales' (0.4), 'ome' (0.5) or zarr-conventions 'multiscales'; write one with dz.write_pyramid"
        )
    if not pyramid.axes:
        first = group[pyramid.paths[0]]
        if isinstance(first, da.Array):
            _, meta = group.array_node(pyramid.paths[0])
            pyramid = with_axes(pyramid, meta.dimension_names or [None] * first.ndim)
    return group, pyramid


def read_pyramid(url: Any, *, variable: str | None = None, storage_options: dict[str, Any] | None = None
                 ) -> list[da.Array]:
    """Every level of the pyramid at ``url`` as a lazy dask array, level 0 first.

    Reads OME-Zarr 0.4 and 0.5 images and the zarr-conventions ``multiscales`` layout. Where
    the levels are groups (a Dataset pyramid), ``variable`` names the array read from each.

    Examples
    --------
    >>> import numpy as np, dask_zarrio as dz
    >>> dz.write_pyramid(np.ones((6, 6), "f4"), "memory://doc/rp.zarr", levels=2, chunks=3, mode="w")
    >>> [x.shape for x in dz.read_pyramid("memory://doc/rp.zarr")]
    [(6, 6), (3, 3)]
    """
    group, pyramid = open_pyramid(url, storage_options=storage_options)
    out = []
    for path in pyramid.paths:
        node = group[path]
        if isinstance(node, Group):
            names = list(node.array_keys())
            if variable is None:
                raise ZarrioError(f"level {path!r} of {group.store.describe()} is a group of {sorted(names)}: "
                                  "pass variable= to say which to read (or open it with xr.open_zarr)")
            node = node[variable]
        if not isinstance(node, da.Array):
            raise MetadataError(f"level {path!r} of {group.store.describe()} is not an array")
        out.append(node)
    return out


def _level_meta(group: Group, path: str) -> ArrayMetadata | GroupMetadata | None:
    try:
        return group.node(path)[1]
    except (ArrayNotFoundError, MetadataError, KeyError):
        return None


def describe_pyramid(group: Group) -> dict[str, Any] | None:
    """What ``dz info``/``dz tree`` show of a pyramid group: convention, axes, levels; ``None`` if not one.

    Examples
    --------
    >>> import numpy as np, dask_zarrio as dz
    >>> dz.write_pyramid(np.zeros((4, 4), "u1"), "memory://doc/dp.zarr", levels=2, chunks=2, mode="w")
    >>> describe_pyramid(dz.open_group("memory://doc/dp.zarr"))["levels"][1]
    {'path': '1', 'shape': [2, 2], 'scale': [2.0, 2.0]}
    """
    try:
        pyramid = from_attributes(group.attrs)
    except MetadataError:
        return None
    if pyramid is None:
        return None
    levels, names = [], [a.name for a in pyramid.axes]
    for lv in pyramid.levels:
        meta = _level_meta(group, lv.path)
        shape = list(meta.shape) if isinstance(meta, ArrayMetadata) else None
        if not names and isinstance(meta, ArrayMetadata):  # multiscales names no axes: the arrays do
            names = [str(n) for n in meta.dimension_names or []]
        levels.append({"path": lv.path, "shape": shape, "scale": list(lv.scale)})
    return {"convention": pyramid.convention, "axes": names, "method": pyramid.method, "levels": levels}


def _number(x: float) -> str:
    return f"{x:g}"


def tree_note(attrs: Any, shape_of: Any = lambda path: None) -> str:
    """What a tree says of a pyramid group after its attribute names: its convention, and each level's path,
    shape (``shape_of(path)``; ``group`` where it is none) and scale; ``""`` for another group.

    Examples
    --------
    >>> from dask_zarrio.pyramid.conventions import Level, Pyramid
    >>> from dask_zarrio.pyramid.levels import parse_axes
    >>> p = Pyramid("ome-zarr-0.5", parse_axes(None, 2), (Level("0", (1.0, 1.0)), Level("1", (2.0, 2.0))))
    >>> tree_note(p.to_attributes(), {"0": (4, 4), "1": (2, 2)}.get)
    'pyramid ome-zarr-0.5 (y, x), 2 levels: 0 (4, 4) scale (1, 1); 1 (2, 2) scale (2, 2)'
    """
    try:
        pyramid = from_attributes(attrs)
    except MetadataError:
        return ""
    if pyramid is None:
        return ""
    parts = []
    for lv in pyramid.levels:
        shape = shape_of(lv.path)
        scale = "(" + ", ".join(map(_number, lv.scale)) + ")"
        parts.append(f"{lv.path} {tuple(shape) if shape is not None else 'group'} scale {scale}")
    axes = f" ({', '.join(a.name for a in pyramid.axes)})" if pyramid.axes else ""
    return f"pyramid {pyramid.convention}{axes}, {len(parts)} levels: " + "; ".join(parts)


def pyramid_note(group: Group) -> str | None:
    """One line for a pyramid group: ``pyramid ome-zarr-0.5 (y, x), 3 levels: 0 (64, 64) scale (1, 1); ...``
    (``None`` if it is none)."""
    info = describe_pyramid(group)
    if info is None:
        return None
    shapes = {lv["path"]: lv["shape"] for lv in info["levels"]}
    note = tree_note(group.attrs, shapes.get)
    axes = f" ({', '.join(map(str, info['axes']))})"
    return note if not info["axes"] or axes in note else note.replace(",", axes + ",", 1)


def check_pyramid(group: Group) -> list[str]:
    """What is wrong with a pyramid's metadata (``dz verify``): axes, level paths, scales, dimension names.

    Examples
    --------
    >>> import numpy as np, dask_zarrio as dz
    >>> dz.write_pyramid(np.zeros((4, 4), "u1"), "memory://doc/cp.zarr", levels=2, chunks=2, mode="w")
    >>> check_pyramid(dz.open_group("memory://doc/cp.zarr"))
    []
    """
    try:
        pyramid = from_attributes(group.attrs)
    except MetadataError as e:
        return [str(e)]
    if pyramid is None:
        return []
    problems: list[str] = []
    names = [a.name for a in pyramid.axes]
    if pyramid.convention.startswith("ome-zarr"):
        problems += _ome_axes_problems(pyramid)
    previous: Any = None
    for lv in pyramid.levels:
        meta = _level_meta(group, lv.path)
        if meta is None:
            problems.append(f"level {lv.path!r}: no array or group at that path")
            continue
        if isinstance(meta, ArrayMetadata):
            if names and len(meta.shape) != len(names):
                problems.append(f"level {lv.path!r}: {len(meta.shape)} dimensions, but {len(names)} axes")
            dims = meta.dimension_names
            if pyramid.convention == "ome-zarr-0.5" and (dims is None or list(dims) != names):
                shown = None if dims is None else list(dims)
                problems.append(f"level {lv.path!r}: dimension_names {shown!r} differ from the axes {names!r}")
        if names and len(lv.scale) != len(names):
            problems.append(f"level {lv.path!r}: scale {list(lv.scale)} has not one value per axis {names!r}")
        if previous is not None and any(s < p for s, p in zip(lv.scale, previous.scale)):
            problems.append(f"level {lv.path!r}: scale {list(lv.scale)} is finer than the level before it "
                            f"({list(previous.scale)}); levels go from finest to coarsest")
        previous = lv
    return problems


def _ome_axes_problems(pyramid: Pyramid) -> list[str]:
    """OME-Zarr's axis rules: 2 to 5 axes, 2 or 3 of them space, time before channel before space."""
    kinds = [a.type for a in pyramid.axes]
    problems = []
    if not 2 <= len(kinds) <= 5:
        problems.append(f"axes: {len(kinds)} of them; OME-Zarr images have 2 to 5")
    if kinds.count("space") not in (2, 3):
        problems.append(f"axes: {kinds.count('space')} space axes; OME-Zarr needs 2 or 3")
    rank = {"time": 0, "channel": 1, "space": 3}
    order = [rank.get(k or "", 2) for k in kinds]
    if order != sorted(order):
        problems.append(f"axes {[a.name for a in pyramid.axes]}: OME-Zarr orders time, then channel, then space")
    return problems
