"""Looking inside a store without reading chunks: ``dz.info``, and the walks behind tree/ls/du.

Everything here comes from metadata documents and one recursive listing (object
names and sizes); no chunk is fetched. Which listed keys are chunks, which lie
outside the chunk grid and which are metadata is decided in one place,
:func:`classify_keys`, that ``dz.verify`` shares.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import prod
from typing import Any

from ..codecs.sharding import ShardingCodec
from ..display import InfoView
from ..errors import ZarrioError
from ..hierarchy import Group
from ..layout.grid import ChunkKeyEncoding
from ..layout.requests import size_text
from ..metadata import ArrayMetadataN5, ArrayMetadataV2, ArrayMetadataV3
from ..metadata.group import GroupMetadata
from ..metadata.node import read_node
from ..metadata.spec import ArrayMetadata, chunk_grid
from ..pyramid.read import describe_pyramid
from ..store import Store, open_store
from ..typing import StoreLike

__all__ = [
    "KeyClasses", "array_info", "chunk_index", "classify_keys", "info", "size_text", "walk",
]

#: Names that are metadata, not chunks, in any format.
METADATA_NAMES = frozenset({"zarr.json", ".zarray", ".zattrs", ".zgroup", ".zmetadata", "attributes.json"})


def chunk_index(key: str, encoding: object, ndim: int) -> tuple[int, ...] | None:
    """The grid index a chunk key names, or ``None`` when ``key`` is no chunk key of the encoding.

    Examples
    --------
    >>> chunk_index("c/1/0", ChunkKeyEncoding("c", "/"), 2), chunk_index("1.0", ChunkKeyEncoding(None, "."), 2)
    ((1, 0), (1, 0))
    >>> chunk_index("zarr.json", ChunkKeyEncoding("c", "/"), 1) is None
    True
    """
    if isinstance(encoding, ChunkKeyEncoding):
        parts = key.split(encoding.separator)
        if encoding.prefix is not None:
            if parts[0] != encoding.prefix:
                return None
            parts = parts[1:] if ndim or len(parts) > 1 else ["0"]
    else:  # N5: "/"-joined, fastest axis first
        parts = key.split("/")[::-1]
    if len(parts) != max(ndim, 1) or not all(p.isdigit() for p in parts):
        return None
    return tuple(int(p) for p in parts)[:ndim]


@dataclass
class KeyClasses:
    """The objects below one array, sorted by what they are."""

    chunks: dict[str, tuple[int, ...]] = field(default_factory=dict)  # key -> grid index
    outside: list[str] = field(default_factory=list)  # chunk keys past the grid's edge
    metadata: list[str] = field(default_factory=list)
    other: list[str] = field(default_factory=list)  # not Zarr's (a README, a stray file)


def classify_keys(meta: ArrayMetadata, keys: list[str]) -> KeyClasses:
    """Split an array's listed keys into chunks, chunks outside the grid, metadata and others.

    Examples
    --------
    >>> from dask_zarrio.metadata.v2 import ArrayMetadataV2
    >>> import numpy as np
    >>> m = ArrayMetadataV2((5,), (2,), np.dtype("i1"), None, None, "C", None)
    >>> c = classify_keys(m, [".zarray", "0", "2", "3", "notes.txt"])
    >>> c.chunks, c.outside, c.metadata, c.other
    ({'0': (0,), '2': (2,)}, ['3'], ['.zarray'], ['notes.txt'])
    """
    out = KeyClasses()
    grid = chunk_grid(meta).grid_shape  # a rectilinear grid's too: its chunks differ in length
    ndim = len(meta.shape)
    for key in keys:
        name = key.rsplit("/", 1)[-1]
        if name in METADATA_NAMES or any(p.startswith(".dz-") for p in key.split("/")):
            out.metadata.append(key)
            continue
        index = chunk_index(key, meta.chunk_key_encoding, ndim)
        if index is None:
            out.other.append(key)
        elif all(i < g for i, g in zip(index, grid)):
            out.chunks[key] = index
        else:
            out.outside.append(key)
    return out


def format_label(zarr_format: int | str) -> str:
    """``"v2"``, ``"v3"`` or ``"N5"``."""
    return "N5" if zarr_format == "n5" else f"v{zarr_format}"


def _codecs(meta: ArrayMetadata) -> list[dict[str, Any]]:
    if isinstance(meta, ArrayMetadataV3):
        return [c.to_dict() for c in meta.codecs]
    if isinstance(meta, ArrayMetadataN5):
        return [dict(meta.compression)]
    doc = meta.to_dict()
    return [*(doc["filters"] or []), *([doc["compressor"]] if doc["compressor"] else [])]


def layout(meta: ArrayMetadata) -> tuple[list[int], list[int] | None]:
    """(chunks, shards): the read/write unit inside a shard, and the shard; no shards: ``None``."""
    if isinstance(meta, ArrayMetadataV3) and meta.codecs and isinstance(meta.codecs[0], ShardingCodec):
        return list(meta.codecs[0].chunk_shape), list(meta.chunk_shape)
    return list(meta.chunk_shape), None


def _dimension_names(meta: ArrayMetadata) -> list[str | None] | None:
    if isinstance(meta, ArrayMetadataV3):
        return None if meta.dimension_names is None else list(meta.dimension_names)
    names = meta.attributes.get("_ARRAY_DIMENSIONS") if isinstance(meta, ArrayMetadataV2) else None
    return list(names) if isinstance(names, list) else None


def array_info(store: Store, meta: ArrayMetadata, sizes: dict[str, int | None] | None = None) -> dict[str, Any]:
    """The :func:`info` dictionary of one array, from its metadata and a listing (``sizes``).

    ``sizes`` (key -> bytes, keys relative to the array) is listed when not given.
    """
    sizes = store.list_sizes() if sizes is None else sizes
    classes = classify_keys(meta, list(sizes))
    chunks, shards = layout(meta)
    grid = chunk_grid(meta)
    # Each stored chunk at its own shape (a rectilinear grid's differ), edge chunks stored full size
    raw_bytes = sum(prod(grid.chunk_shape_at(i)) for i in classes.chunks.values()) * meta.dtype.itemsize
    chunk_bytes = [sizes[k] for k in classes.chunks]
    known = None if any(b is None for b in sizes.values()) else sum(b or 0 for b in sizes.values())
    stored_chunk_bytes = None if any(b is None for b in chunk_bytes) else sum(b or 0 for b in chunk_bytes)
    fill = None if isinstance(meta, ArrayMetadataN5) else meta.to_dict()["fill_value"]
    return {
        "node_type": "array",
        "url": store.describe(),
        "zarr_format": meta.zarr_format,
        "shape": list(meta.shape),
        "dtype": str(meta.dtype),
        "chunks": chunks,
        "shards": shards,
        "codecs": _codecs(meta),
        "fill_value": fill,
        "dimension_names": _dimension_names(meta),
        "attributes": {k: v for k, v in meta.attributes.items() if k != "_ARRAY_DIMENSIONS"},
        "nbytes": prod(meta.shape) * meta.dtype.itemsize,
        "stored_bytes": known,
        "stored_chunk_bytes": stored_chunk_bytes,
        "compression_ratio": (
            round(raw_bytes / stored_chunk_bytes, 3)
            if stored_chunk_bytes and meta.dtype.kind != "O" else None
        ),
        "chunks_expected": grid.nchunks,
        "chunks_present": len(classes.chunks),
        "keys_outside_grid": len(classes.outside),
    }


def walk(
    group: Group, depth: int | None = None, prefix: str = ""
) -> list[tuple[str, Store, ArrayMetadata | GroupMetadata]]:
    """(path, store, metadata) of every node below ``group``, depth first, ``depth`` levels deep.

    Examples
    --------
    >>> import dask.array as da, dask_zarrio as dz
    >>> _ = dz.create_group("memory://doc/walk.zarr", mode="w")
    >>> dz.write(da.ones(3, chunks=3), "memory://doc/walk.zarr/sub/x")
    >>> [p for p, _, _ in walk(dz.open_group("memory://doc/walk.zarr"))]
    ['sub', 'sub/x']
    """
    out: list[tuple[str, Store, ArrayMetadata | GroupMetadata]] = []
    if depth is not None and depth <= 0:
        return out
    for name in group.members():
        store, meta = group.node(name)
        out.append((f"{prefix}{name}", store, meta))
        if isinstance(meta, GroupMetadata):
            sub = Group(store, meta, allow_pickle=group.allow_pickle)
            out.extend(walk(sub, None if depth is None else depth - 1, f"{prefix}{name}/"))
    return out


def open_node(
    url: StoreLike, storage_options: dict[str, Any] | None = None
) -> tuple[Store, ArrayMetadata | GroupMetadata]:
    """The store at ``url`` and the array or group there."""
    store = open_store(url, storage_options)
    return store, read_node(store, expect_group=True)


def info(url: StoreLike, storage_options: dict[str, Any] | None = None) -> dict[str, Any]:
    """What an array or group holds, from its metadata and one listing (no chunk is read).

    For an array: format, shape, dtype, chunks and shards, codecs, fill value, dimension
    names, attributes; ``stored_bytes`` (every object, ``None`` where the store does not
    list sizes), ``compression_ratio`` (decoded over stored bytes of the chunks present),
    ``chunks_present`` of ``chunks_expected`` (shards, for sharded arrays). For a group:
    its format and attributes, whether its metadata is consolidated, and the same
    summary of each array below it under ``"arrays"`` (by path), with totals.

    Parameters
    ----------
    url
        An array or group (any URL :func:`dask_zarrio.read` takes).
    storage_options
        Options for the fsspec filesystem.

    Returns
    -------
    dict
        JSON-serialisable; the schema is in the "Command line" docs page (``dz info --json``).

    Examples
    --------
    >>> import dask.array as da, dask_zarrio as dz
    >>> dz.write(da.arange(10, chunks=5), "memory://doc/info.zarr", mode="w")
    >>> i = dz.info("memory://doc/info.zarr")
    >>> i["zarr_format"], i["shape"], i["chunks"], i["chunks_present"], i["chunks_expected"]
    (3, [10], [5], 2, 2)
    """
    store, meta = open_node(url, storage_options)
    sizes = store.list_sizes()
    if not isinstance(meta, GroupMetadata):
        return InfoView(array_info(store, meta, sizes))
    arrays: dict[str, dict[str, Any]] = {}
    groups: list[str] = []
    pyramids = _pyramids({"/": Group(store, meta)})
    for path, child, node in walk(Group(store, meta)):
        if isinstance(node, GroupMetadata):
            groups.append(path)
            pyramids.update(_pyramids({path: Group(child, node)}))
            continue
        below = {k[len(path) + 1:]: v for k, v in sizes.items() if k.startswith(f"{path}/")}
        arrays[path] = array_info(child, node, below)
    total = None if any(v is None for v in sizes.values()) else sum(v or 0 for v in sizes.values())
    return InfoView({
        "node_type": "group",
        "url": store.describe(),
        "zarr_format": meta.zarr_format,
        "attributes": meta.attributes,
        "consolidated": meta.consolidated is not None,
        "groups": groups,
        "arrays": arrays,
        "pyramids": pyramids,
        "nbytes": sum(a["nbytes"] for a in arrays.values()),
        "stored_bytes": total,
    })


def _pyramids(groups: dict[str, Group]) -> dict[str, dict[str, Any]]:
    """The pyramids among ``groups`` (by path): convention, axes, method, each level's path, shape, scale."""
    found = {path: describe_pyramid(group) for path, group in groups.items()}
    return {path: d for path, d in found.items() if d is not None}


def require_array(meta: ArrayMetadata | GroupMetadata, store: Store, what: str) -> ArrayMetadata:
    """``meta`` when it is an array; a group is refused naming ``what`` needs one."""
    if isinstance(meta, GroupMetadata):
        raise ZarrioError(f"{store.describe()} is a group; {what} needs an array: add the array's path to the URL")
    return meta
