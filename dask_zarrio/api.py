"""The public calls: :func:`read` and :func:`write`."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

import dask
import dask.array as da
import numpy as np
from dask.base import tokenize

from .errors import ContainsArrayError, MisalignedWriteError, ZarrioError
from .graph import read_array, write_array
from .metadata import ArrayMetadataV2, ArrayMetadataV3, ArraySpec
from .metadata.create import new_array_metadata
from .metadata.node import read_array_metadata, resolve_v2_separator
from .store import Store, open_store

__all__ = ["read", "write"]

logger = logging.getLogger("dask_zarrio")

_ROOT_SUFFIXES = (".zarr", ".zr3", ".zarr3")


def read(
    url: Any,
    *,
    chunks: Any = None,
    storage_options: dict[str, Any] | None = None,
    allow_pickle: bool = False,
) -> da.Array:
    """Open a Zarr v2 or v3 array as a lazy dask array.

    Parameters
    ----------
    url
        Local path, ``file://``, ``memory://``, ``s3://…`` or any (chained) fsspec URL,
        an ``fsspec.FSMap``, or a ``MutableMapping``; it may point at an array inside a
        hierarchy (``root.zarr/group/array``).
    chunks
        Dask chunks: ``None`` (the stored chunks), a tuple, a dict, ``"auto"`` (whole
        stored chunks grouped to about dask's ``array.chunk-size``) or ``-1``.
        Chunks that split stored chunks are read whole and split, so each stored
        chunk is decoded once.
    storage_options
        Options for the fsspec filesystem (credentials, endpoint, ...).
    allow_pickle
        Decode arrays whose codecs unpickle data. This runs code from the store:
        only for stores you trust.

    Returns
    -------
    dask.array.Array
        Each task fetches and decodes its block's chunks; missing chunks are the
        fill value. Building it costs O(1) in the number of chunks.

    Examples
    --------
    >>> import numpy as np, dask.array as da, dask_zarrio as dz
    >>> dz.write(da.arange(10, chunks=5), "memory://doc/read.zarr", mode="w")
    >>> dz.read("memory://doc/read.zarr").sum().compute()
    np.int64(45)
    """
    store = open_store(url, storage_options)
    meta = resolve_v2_separator(store, read_array_metadata(store))
    spec = ArraySpec.from_metadata(meta, allow_pickle=allow_pickle)
    meta_json = json.dumps(meta.to_dict(), sort_keys=True, default=str)
    name = "read-zarr-" + tokenize(store.token(), meta_json, chunks)
    return read_array(spec, store, chunks, name, tokenize(name, "aligned"))


def _as_chunk_shape(chunks: Any, arr: da.Array) -> tuple[int, ...]:
    if chunks is None:
        # The first dask block along each axis; empty axes get 1.
        return tuple(max(c[0], 1) if c else 1 for c in arr.chunks)
    if isinstance(chunks, int):
        return (chunks,) * arr.ndim
    chunk_shape = tuple(int(c) for c in chunks)
    if len(chunk_shape) != arr.ndim:
        raise MisalignedWriteError(
            f"chunks={chunks!r} has {len(chunk_shape)} entries but the array has {arr.ndim} "
            "dimensions; give one chunk length per dimension"
        )
    return chunk_shape


def check_aligned(dask_chunks: tuple[tuple[int, ...], ...], unit: tuple[int, ...]) -> None:
    """Raise unless every dask block boundary lies on a storage-unit boundary.

    Otherwise two tasks would write the same stored object and one would lose
    (dask/dask#12583). The message names the axis and the boundary.

    Examples
    --------
    >>> check_aligned(((4, 4, 2),), (4,))
    >>> check_aligned(((3, 3),), (4,))
    Traceback (most recent call last):
    ...
    dask_zarrio.errors.MisalignedWriteError: axis 0: the dask block boundary at 3 falls inside ...
    """
    for axis, (sizes, c) in enumerate(zip(dask_chunks, unit)):
        pos = 0
        for size in sizes[:-1]:
            pos += size
            if pos % c:
                raise MisalignedWriteError(
                    f"axis {axis}: the dask block boundary at {pos} falls inside the stored "
                    f"chunk [{pos // c * c}, {pos // c * c + c}) (chunks[{axis}]={c}), so two "
                    f"tasks would write it. Rechunk first, e.g. arr.rechunk({{{axis}: {c}}}), "
                    f"or choose chunks whose length divides the dask blocks along axis {axis}"
                )


def _node_kind(store: Store) -> str | None:
    for key, kind in (("zarr.json", None), (".zarray", "array"), (".zgroup", "group")):
        raw = store.get(key)
        if raw is not None:
            if kind is None:
                return "group" if b'"group"' in raw else "array"
            return kind
    return None


def _ensure_parent_groups(store: Store, zarr_format: int) -> None:
    """Create group metadata above the array, up to the hierarchy's root.

    The root is the nearest ancestor that is already a group, or whose name ends
    in ``.zarr``; without either, the array is a root of its own and nothing is
    created (a plain folder above an array is not made a group by surprise).
    """
    chain: list[Store] = []
    node = store.parent()
    while node is not None:
        chain.append(node)
        if node.name.endswith(_ROOT_SUFFIXES):
            break
        node = node.parent()
    else:
        return
    for parent in chain:
        kind = _node_kind(parent)
        if kind == "array":
            raise ContainsArrayError(
                f"cannot create an array inside the array at {parent.describe()}; choose a "
                "path outside it"
            )
        if kind == "group":
            return
        if zarr_format == 3:
            parent.set("zarr.json", json.dumps({"zarr_format": 3, "node_type": "group", "attributes": {}}, indent=2).encode())
        else:
            parent.set(".zgroup", json.dumps({"zarr_format": 2}, indent=2).encode())


def _write_metadata(store: Store, meta: ArrayMetadataV2 | ArrayMetadataV3) -> None:
    if isinstance(meta, ArrayMetadataV3):
        store.set("zarr.json", json.dumps(meta.to_dict(), indent=2, allow_nan=False).encode())
        return
    store.set(".zarray", json.dumps(meta.to_dict(), indent=2, allow_nan=False).encode())
    if meta.attributes:
        store.set(".zattrs", json.dumps(meta.attributes, indent=2, allow_nan=False).encode())


def write(
    arr: Any,
    url: Any,
    *,
    chunks: Any = None,
    shards: Any = None,
    compressors: Any = "auto",
    filters: Any = None,
    fill_value: Any = None,
    zarr_format: int = 3,
    order: str = "C",
    mode: str = "w-",
    attributes: dict[str, Any] | None = None,
    dimension_names: Sequence[str | None] | None = None,
    storage_options: dict[str, Any] | None = None,
    compute: bool = True,
) -> Any:
    """Write a dask (or numpy) array as a new Zarr array, one task per block.

    Argument names follow zarr-python 3's ``create_array``. Metadata is written
    first, once; then each task encodes its block and stores its chunks. Every
    stored chunk belongs to exactly one block, so tasks never share an object and
    need no locks; a layout where blocks would split chunks is refused.

    Parameters
    ----------
    arr
        A ``dask.array.Array`` (a numpy array is wrapped with one block per chunk).
    url
        Where to write (see :func:`read`). Parent groups are created up to the
        hierarchy root: the nearest ancestor that is a group or ends in ``.zarr``.
    chunks
        Stored chunk shape; ``None`` takes the first dask block along each axis.
    shards
        Shard shape (sharding is not supported yet; must be ``None``).
    compressors, filters
        numcodecs codec objects, v3 codec dicts (``{"name": "zstd", "configuration":
        {"level": 3}}``) or lists of them. ``"auto"`` is zstd, zarr-python 3's default.
    fill_value
        Value of unwritten chunks; ``None`` takes the dtype's zero.
    zarr_format
        3 (default) or 2.
    order
        "C" or "F" element order inside chunks (v2 ``order``; v3 ``transpose`` codec).
    mode
        ``"w-"``: create, fail if anything exists at ``url`` (nothing is changed);
        ``"w"``: replace whatever is there.
    attributes, dimension_names
        User attributes and per-dimension names (v2: ``_ARRAY_DIMENSIONS``).
    storage_options
        Options for the fsspec filesystem.
    compute
        When ``False``, return a ``dask.delayed.Delayed`` that performs the data
        write (the metadata is already written).

    Examples
    --------
    >>> import dask.array as da, dask_zarrio as dz
    >>> x = da.ones((100, 100), chunks=50)
    >>> dz.write(x * 2, "memory://doc/w.zarr", mode="w")
    >>> float(dz.read("memory://doc/w.zarr").mean().compute())
    2.0
    """
    if mode not in ("w", "w-"):
        raise ZarrioError(
            f"mode={mode!r} is not supported by dz.write yet; use 'w-' (create) or 'w' (overwrite)"
        )
    if shards is not None:
        raise ZarrioError(
            f"shards={shards!r}: sharded writes are not supported yet; pass shards=None"
        )
    if not isinstance(arr, da.Array):
        arr = np.asarray(arr)
        arr = da.from_array(arr, chunks=chunks if chunks is not None else "auto", name=False)
    chunk_shape = _as_chunk_shape(chunks, arr)
    meta = new_array_metadata(
        shape=arr.shape,
        dtype=arr.dtype,
        chunk_shape=chunk_shape,
        compressors=compressors,
        filters=filters,
        fill_value=fill_value,
        zarr_format=zarr_format,
        order=order,
        attributes=attributes,
        dimension_names=dimension_names,
    )
    check_aligned(arr.chunks, chunk_shape)
    spec = ArraySpec.from_metadata(meta)
    store = open_store(url, storage_options)
    if mode == "w-":
        if not store.is_empty():
            raise ContainsArrayError(
                f"{store.describe()} already exists; pass mode='w' to replace it, or write "
                "to another path"
            )
    else:
        store.clear()
    _ensure_parent_groups(store, zarr_format)
    _write_metadata(store, meta)
    name = "write-zarr-" + tokenize(arr.name, store.token(), json.dumps(meta.to_dict(), default=str))
    counts = write_array(arr, spec, store, name, delete_empty=False)
    logger.debug("writing %s: %d blocks", store.describe(), int(np.prod(arr.numblocks)))
    if compute:
        counts.compute()
        return None
    return dask.delayed(_total)(counts)


def _total(counts: np.ndarray) -> int:
    """The number of chunks a write stored."""
    return int(np.sum(counts))
