"""``dz.copy`` and ``dz.rechunk_dataset``: an array, or a whole group, through :func:`~dask_zarrio.rechunk`.

A group is copied as one dask graph: its subgroups are created with their
attributes, every member array's :func:`~dask_zarrio.rechunking.rechunk.rechunk` (undecoded
where only the container changes) is planned and all their passes computed
together, and consolidated metadata is written again at the end when the source
had it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import dask
from dask.delayed import Delayed

from ..errors import ZarrioError
from ..graph.progress import compute as compute_with_progress
from ..hierarchy import Group, consolidate, create_group
from ..metadata.group import GroupMetadata
from ..metadata.node import read_node
from ..store import Store, open_store
from ..store.base import member_path
from ..store.locations import check_locations, refuse_reserved
from ..typing import StoreLike
from ..writing.dry_run import DryRun, Requests
from ..writing.modes import check_mode, prepare_node
from .rechunk import Rechunk, rechunk
from .target import KEEP

__all__ = ["Copy", "DatasetChunks", "NewGroup", "copy", "rechunk_dataset"]


#: A coordinate up to this size stays one chunk in :func:`rechunk_dataset` (the largest chunk the
#: docs advise): xarray loads index coordinates whole, and tiny chunks only cost requests.
WHOLE_COORDINATE_BYTES = 16 * 2**20


@dataclass(frozen=True)
class DatasetChunks:
    """:func:`rechunk_dataset`'s chunks: by dimension name, with small 1-D coordinates kept whole
    unless their names are in ``coords``."""

    dims: dict[str, Any]
    coords: frozenset[str] = frozenset()


def _coordinates(nodes: dict[str, Any]) -> set[str]:
    """The names of a group's 1-D coordinates: arrays named as their one dimension (index
    coordinates), and those a sibling's CF ``coordinates`` attribute lists."""
    listed = {
        name
        for meta in nodes.values()
        if isinstance(meta.attributes.get("coordinates"), str)
        for name in meta.attributes["coordinates"].split()
    }
    return {
        name for name, meta in nodes.items()
        if len(meta.shape) == 1 and (tuple(meta.dimension_names or ()) == (name,) or name in listed)
    }


def _array_chunks(chunks: Any, path: str, names: tuple[str | None, ...] | None, whole: bool = False) -> Any:
    """The chunks for the member array ``path``: its own entry of a dict by array path, a dict
    by dimension name cut to the dimensions it has, or ``chunks`` itself; ``whole`` (a small
    coordinate that :class:`DatasetChunks` does not name) gives one chunk."""
    if isinstance(chunks, DatasetChunks):
        if whole and path.rsplit("/", 1)[-1] not in chunks.coords:
            return -1
        chunks = chunks.dims
    if not isinstance(chunks, Mapping):
        return chunks
    if path in chunks:
        return chunks[path]
    if any("/" in str(k) for k in chunks):
        return KEEP  # a dict by array path that does not name this one
    have = set(names or ())
    mine = {k: v for k, v in chunks.items() if k in have}
    return mine if mine else KEEP


@dataclass(frozen=True)
class NewGroup:
    """A group a copy creates when it runs: where, with which attributes, format and mode."""

    store: Store
    attributes: dict[str, Any]
    zarr_format: Any
    mode: str

    def create(self, store: Store | None = None) -> None:
        """Create it (at ``store``: a dry run's view of :attr:`store`)."""
        create_group(self.store if store is None else store, attributes=self.attributes, zarr_format=self.zarr_format,
                     mode=self.mode)


@dataclass
class Copy:
    """A planned copy: building it reads only; ``.compute()`` does it, ``.to_delayed()`` gives
    it as one dask ``Delayed``.

    Attributes
    ----------
    source, target
        The array or group copied, and where it goes.
    groups
        The groups it creates when it runs, in order (the root first), before any array.
    members
        Each array's :class:`~dask_zarrio.rechunking.rechunk.Rechunk` job by member path
        (``""`` for a lone array): their passes run as one graph.
    consolidate
        Whether the target's consolidated metadata is written at the end (the source had some).

    Examples
    --------
    >>> import dask.array as da, dask_zarrio as dz
    >>> _ = dz.create_group("memory://doc/cj.zarr", mode="w")
    >>> dz.write(da.arange(8, chunks=4), "memory://doc/cj.zarr/x")
    >>> job = dz.copy("memory://doc/cj.zarr", "memory://doc/cj2.zarr", zarr_format=2, mode="w", compute=False)
    >>> [g.store.describe() for g in job.groups], list(job.members), job.members["x"].plan.passes[0].kind
    (['memory://doc/cj2.zarr'], ['x'], 'copy')
    >>> job.compute()
    >>> dz.read("memory://doc/cj2.zarr/x").compute().tolist()
    [0, 1, 2, 3, 4, 5, 6, 7]
    """

    source: Store
    target: Store
    groups: list[NewGroup]
    members: dict[str, Rechunk]
    consolidate: bool = False
    progress: bool = False

    def to_delayed(self) -> Delayed:
        """Every member's passes as one ``Delayed``, then the consolidated metadata.

        Building it creates the groups and writes each member's journals (as
        :meth:`Rechunk.to_delayed <dask_zarrio.rechunking.rechunk.Rechunk.to_delayed>` does);
        computing it returns the number of objects stored.
        """
        for group in self.groups:
            group.create()
        parts = [job.to_delayed() for job in self.members.values()]
        out: Delayed = dask.delayed(_after_members, pure=False)(self.target if self.consolidate else None, *parts)
        return out

    def compute(self) -> None:
        """Create the groups, run every member's passes (one dask computation), then consolidate."""
        if not self.groups:  # a lone array: its rechunk, run as dz.rechunk runs it
            for job in self.members.values():
                job.compute()
            return
        for group in self.groups:
            group.create()
        compute_with_progress(*(job.to_delayed() for job in self.members.values()), progress=self.progress)
        if self.consolidate:
            consolidate(self.target)

    def requests(self, dry: DryRun | None = None) -> tuple[Requests, dict[str, Requests]]:
        """The requests running this job makes, counted without running it: its own (groups
        created, consolidated metadata written) and each member's
        (:meth:`Rechunk.requests <dask_zarrio.rechunking.rechunk.Rechunk.requests>`), in the
        order the job runs them, on ``dry``'s views of its stores, which write nothing.
        """
        dry = DryRun() if dry is None else dry
        start = dry.requests
        for group in self.groups:
            group.create(dry.view(group.store))
        made = dry.requests
        members = {path: job.requests(dry) for path, job in self.members.items()}
        ran = dry.requests
        if self.consolidate:
            consolidate(dry.view(self.target))
        return (made - start) + (dry.requests - ran), members


def _after_members(target: Store | None, *counts: Any) -> int:
    """After every member's passes: write the target's consolidated metadata (``target``)."""
    if target is not None:
        consolidate(target)
    return sum(int(c) for c in counts)


def _plan_group(group: Group, store: Store, prefix: str, options: dict[str, Any], fmt: Any, temp: Store | None,
                job: Copy) -> None:
    """Add ``group``'s subgroups to ``job.groups`` and its arrays' rechunks to ``job.members``.

    With ``resume``, groups already there are kept and each array's rechunk resumes it:
    a finished member costs a metadata comparison, an unfinished one writes only what is missing.
    """
    for name in group.group_keys():
        sub = group.group(name)
        job.groups.append(NewGroup(store.child(name), dict(sub.attrs), fmt, "a" if options["resume"] else "w-"))
        _plan_group(sub, store.child(name), f"{prefix}{name}/", options, fmt, temp, job)
    nodes = {name: group.array_node(name) for name in group.array_keys()}
    coords = _coordinates({name: meta for name, (_, meta) in nodes.items()})
    for name, (src, meta) in nodes.items():
        path = member_path(prefix + name)
        small = meta.shape[0] * meta.dtype.itemsize <= WHOLE_COORDINATE_BYTES if name in coords else False
        chunks = _array_chunks(options["chunks"], path, meta.dimension_names, whole=small)
        member = rechunk(
            src, store.child(name), chunks, shards=options["shards"],
            max_mem=options["max_mem"], compressors=options["compressors"], filters=options["filters"],
            zarr_format=fmt, chunk_key_encoding=options["chunk_key_encoding"], mode=options["mode"],
            resume=options["resume"],
            temp=None if temp is None else temp.child(path), compute=False,
        )
        assert member is not None  # compute=False returns the job
        job.members[path] = member


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
    compute: bool = True,
) -> Copy | None:
    """Copy an array, or a group with everything in it, changing what you ask for.

    An array goes through :func:`dask_zarrio.rechunk` (``chunks="keep"`` by default:
    with the same grid and codecs the stored bytes are copied undecoded, also from
    v2 to v3, where the chunks keep their keys unless ``chunk_key_encoding`` says
    otherwise: see :func:`dask_zarrio.rechunk`). A group keeps its attributes and those of its subgroups, and its
    consolidated metadata when it had some. For a group, ``chunks`` may be a dict by
    member array path (``{"a/b": (10, 10)}``), or by dimension name, applied to
    every array with those dimensions. ``compute=False`` returns the :class:`Copy` job,
    having written nothing: its groups are created when it runs.

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
        member = rechunk(
            src_store, target, chunks, shards=shards, compressors=compressors, filters=filters,
            zarr_format=zarr_format, chunk_key_encoding=chunk_key_encoding, max_mem=max_mem, temp=temp, mode=mode,
            resume=resume, target_options=target_options, progress=progress, compute=False,
        )
        assert member is not None  # compute=False returns the job
        job = Copy(src_store, member.target, [], {"": member}, progress=progress)
    else:
        job = _group_job(src_store, node, target, chunks=chunks, shards=shards, compressors=compressors,
                         filters=filters, zarr_format=zarr_format, chunk_key_encoding=chunk_key_encoding,
                         max_mem=max_mem, temp=temp, mode=mode, resume=resume, target_options=target_options,
                         progress=progress)
    if not compute:
        return job
    job.compute()
    return None


def _group_job(src_store: Store, node: GroupMetadata, target: StoreLike, *, zarr_format: Any, temp: StoreLike | None,
               mode: str, resume: bool, target_options: dict[str, Any] | None, progress: bool, **options: Any) -> Copy:
    """The :class:`Copy` of the group ``node`` at ``src_store``: reads only."""
    fmt = node.zarr_format if zarr_format is None else zarr_format
    if fmt not in (2, 3):
        raise ZarrioError(f"zarr_format={fmt!r}: groups are copied to Zarr v2 or v3; pass zarr_format=2 or 3")
    mode = check_mode(mode, ("w-", "w", "a"), "dz.copy")
    store = open_store(target, target_options)
    refuse_reserved(store)
    temp_store = None if temp is None else open_store(temp, target_options)
    check_locations("dz.copy", source=src_store, target=store, temp=temp_store)
    if mode == "w-" and not resume:
        prepare_node(store, mode)  # refuse now, as creating the root would, before anything is written
    # The root is replaced first when the job runs: its arrays are then written into an empty group,
    # but at planning time they may still be there, and "w-" would refuse them.
    options["mode"] = "w" if mode == "w" and not resume and not store.is_empty() else "w-"
    options["resume"] = resume
    job = Copy(src_store, store, [NewGroup(store, dict(node.attributes), fmt, "a" if resume else mode)], {},
               node.consolidated is not None, progress)
    _plan_group(Group(src_store, node), store, "", options, fmt, temp_store, job)
    return job


def rechunk_dataset(
    url: StoreLike, target: StoreLike, chunks: Mapping[str, Any], *, coords: Iterable[str] = (), **kwargs: Any
) -> Copy | None:
    """Rechunk every variable of a dataset stored as a Zarr group, by dimension name.

    ``chunks={"time": -1, "lat": 24}`` applies to every array with those dimensions
    (others keep theirs); everything else is copied as :func:`copy` copies it, so
    ``xarray.open_zarr(target)`` gives the same dataset. 1-D coordinates (an array named as
    its dimension, or listed in a variable's ``coordinates`` attribute) up to 16 MiB are
    stored as one chunk, as ``to_zarr`` stores index coordinates, unless named in ``coords``:
    then ``chunks`` applies to them too. ``kwargs`` go to :func:`copy`.

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
    >>> dz.rechunk_dataset("memory://doc/ds.zarr", "memory://doc/ds3.zarr", {"time": 2}, mode="w")
    >>> g = dz.open_group("memory://doc/ds3.zarr")
    >>> g["t"].chunksize, g["time"].chunksize  # the coordinate stays whole
    ((2, 4), (6,))
    """
    if not isinstance(chunks, Mapping) or not all(isinstance(k, str) for k in chunks):
        raise ZarrioError(f"chunks={chunks!r} must be a dict by dimension name, e.g. {{'time': -1}}")
    if isinstance(coords, str) or not all(isinstance(c, str) for c in coords):
        raise ZarrioError(f"coords={coords!r} must be a list of coordinate names, e.g. ['time']")
    return copy(url, target, chunks=DatasetChunks(dict(chunks), frozenset(coords)), **kwargs)
