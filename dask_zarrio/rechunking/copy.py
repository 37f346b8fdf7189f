"""``dz.copy`` and ``dz.rechunk_dataset``: an array, or a whole group, through :func:`~dask_zarrio.rechunk`.

A group is copied as one dask graph: its subgroups are created with their
attributes, every member array's :func:`~dask_zarrio.rechunking.rechunk.rechunk` (undecoded
where only the container changes) is planned and all their passes computed
together, and consolidated metadata is written again at the end when the source
had it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dask.delayed import Delayed

from ..errors import ZarrioError
from ..graph.progress import compute as compute_with_progress
from ..hierarchy import Group, consolidate, create_group
from ..metadata.group import GroupMetadata
from ..metadata.node import read_node
from ..store import Store, open_store
from ..store.base import member_path
from ..typing import StoreLike
from .rechunk import rechunk
from .target import KEEP

__all__ = ["copy", "rechunk_dataset"]


def _array_chunks(chunks: Any, path: str, names: tuple[str | None, ...] | None) -> Any:
    """The chunks for the member array ``path``: its own entry of a dict by array path, a dict
    by dimension name cut to the dimensions it has, or ``chunks`` itself."""
    if not isinstance(chunks, Mapping):
        return chunks
    if path in chunks:
        return chunks[path]
    if any("/" in str(k) for k in chunks):
        return KEEP  # a dict by array path that does not name this one
    have = set(names or ())
    mine = {k: v for k, v in chunks.items() if k in have}
    return mine if mine else KEEP


def _copy_group(
    group: Group, store: Store, prefix: str, options: dict[str, Any], fmt: Any, temp: Store | None
) -> list[Delayed]:
    """Create ``group``'s subgroups in ``store``; return every member array's rechunk, uncomputed.

    With ``resume``, groups already there are kept and each array's rechunk resumes it:
    a finished member costs a metadata comparison, an unfinished one writes only what is missing.
    """
    jobs: list[Delayed] = []
    for name in group.group_keys():
        sub = group.group(name)
        create_group(store.child(name), attributes=sub.attrs, zarr_format=fmt, mode="a" if options["resume"] else "w-")
        jobs += _copy_group(sub, store.child(name), f"{prefix}{name}/", options, fmt, temp)
    for name in group.array_keys():
        path = member_path(prefix + name)
        src, meta = group.array_node(name)
        chunks = _array_chunks(options["chunks"], path, meta.dimension_names)
        job = rechunk(
            src, store.child(name), chunks, shards=options["shards"],
            max_mem=options["max_mem"], compressors=options["compressors"], filters=options["filters"],
            zarr_format=fmt, chunk_key_encoding=options["chunk_key_encoding"], mode="w-", resume=options["resume"],
            temp=None if temp is None else temp.child(path), compute=False,
        )
        assert job is not None  # compute=False returns the job
        jobs.append(job.to_delayed())
    return jobs


def copy(
    source: StoreLike,
    target: StoreLike,
    *,
    chunks: Any = KEEP,
    shards: Any = KEEP,
    compressors: Any = KEEP,
    filters: Any = KEEP,
    zarr_format: int | str | None = None,
    chunk_key_encoding: Any = KEEP,
    max_mem: int | str = "256MiB",
    temp: StoreLike | None = None,
    mode: str = "w-",
    resume: bool = False,
    storage_options: dict[str, Any] | None = None,
    target_options: dict[str, Any] | None = None,
    progress: bool = False,
) -> None:
    """Copy an array, or a group with everything in it, changing what you ask for.

    An array goes through :func:`dask_zarrio.rechunk` (``chunks="keep"`` by default:
    with the same grid and codecs the stored bytes are copied undecoded, also from
    v2 to v3, where the chunks keep their keys unless ``chunk_key_encoding`` says
    otherwise: see :func:`dask_zarrio.rechunk`). A group keeps its attributes and those of its subgroups, and its
    consolidated metadata when it had some. For a group, ``chunks`` may be a dict by
    member array path (``{"a/b": (10, 10)}``), or by dimension name, applied to
    every array with those dimensions.

    Examples
    --------
    >>> import dask.array as da, dask_zarrio as dz
    >>> g = dz.create_group("memory://doc/cp.zarr", attributes={"title": "t"}, zarr_format=2, mode="w")
    >>> dz.write(da.arange(8, chunks=4), "memory://doc/cp.zarr/x", zarr_format=2)
    >>> dz.copy("memory://doc/cp.zarr", "memory://doc/cp3.zarr", zarr_format=3, mode="w")
    >>> g3 = dz.open_group("memory://doc/cp3.zarr")
    >>> g3.zarr_format, g3.attrs, g3["x"].compute().tolist()
    (3, {'title': 't'}, [0, 1, 2, 3, 4, 5, 6, 7])
    """
    src_store = open_store(source, storage_options)
    node = read_node(src_store)
    if not isinstance(node, GroupMetadata):
        rechunk(
            src_store, target, chunks, shards=shards, compressors=compressors, filters=filters,
            zarr_format=zarr_format, chunk_key_encoding=chunk_key_encoding, max_mem=max_mem, temp=temp, mode=mode,
            resume=resume, target_options=target_options, progress=progress,
        )
        return
    fmt = node.zarr_format if zarr_format is None else zarr_format
    if fmt not in (2, 3):
        raise ZarrioError(f"zarr_format={fmt!r}: groups are copied to Zarr v2 or v3; pass zarr_format=2 or 3")
    store = open_store(target, target_options)
    create_group(store, attributes=node.attributes, zarr_format=fmt, mode="a" if resume else mode)
    options = {"chunks": chunks, "shards": shards, "compressors": compressors, "filters": filters,
               "max_mem": max_mem, "resume": resume, "chunk_key_encoding": chunk_key_encoding}
    temp_store = None if temp is None else open_store(temp, target_options)
    jobs = _copy_group(Group(src_store, node), store, "", options, fmt, temp_store)
    compute_with_progress(*jobs, progress=progress)  # one graph: every member's passes together
    if node.consolidated is not None:
        consolidate(store)


def rechunk_dataset(
    url: StoreLike, target: StoreLike, chunks: Mapping[str, Any], **kwargs: Any
) -> None:
    """Rechunk every variable of a dataset stored as a Zarr group, by dimension name.

    ``chunks={"time": -1, "lat": 24}`` applies to every array with those dimensions
    (others keep theirs); everything else is copied as :func:`copy` copies it, so
    ``xarray.open_zarr(target)`` gives the same dataset. ``kwargs`` go to :func:`copy`.

    Examples
    --------
    >>> import dask.array as da, dask_zarrio as dz
    >>> _ = dz.create_group("memory://doc/ds.zarr", mode="w")
    >>> dz.write(da.ones((6, 4), chunks=(1, 4)), "memory://doc/ds.zarr/t", dimension_names=["time", "x"])
    >>> dz.write(da.arange(6, chunks=1), "memory://doc/ds.zarr/time", dimension_names=["time"])
    >>> dz.rechunk_dataset("memory://doc/ds.zarr", "memory://doc/ds2.zarr", {"time": -1, "x": 2}, mode="w")
    >>> g = dz.open_group("memory://doc/ds2.zarr")
    >>> g["t"].chunksize, g["time"].chunksize
    ((6, 2), (6,))
    """
    if not isinstance(chunks, Mapping) or not all(isinstance(k, str) for k in chunks):
        raise ZarrioError(f"chunks={chunks!r} must be a dict by dimension name, e.g. {{'time': -1}}")
    copy(url, target, chunks=dict(chunks), **kwargs)
