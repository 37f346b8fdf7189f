"""The intermediate array of a two-pass rechunk: where it goes, how it is encoded, and
whether a resume may take it as it is.

The first pass writes it whole, then the second pass reads each of its chunks once and
deletes it (:func:`dask_zarrio.rechunking.tasks.rechunk_block` with ``consume``); what is
left is deleted at the end. It is dask_zarrio's own: a ``.dz-rechunk-*`` folder beside a
local target, or the store given as ``temp``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from ..codecs.blosc import BloscCodec
from ..errors import ZarrioError
from ..metadata import ArrayMetadata, ArrayMetadataV3
from ..metadata.journal import pending_write
from ..metadata.node import read_array_metadata
from ..store import Store, open_store
from ..typing import StoreLike
from ..writing.destination import NewArray
from ..writing.staging import staged_node
from .tasks import CONSUMED

__all__ = [
    "INTERMEDIATE", "TEMP_CODEC", "complete", "intermediate_array", "plain_variant", "reusable", "temp_compressors",
    "temp_store",
]

#: The intermediate array's attributes: what proves a non-empty ``temp`` is dask_zarrio's own
#: (an interrupted rechunk's), so that it may be replaced and deleted; anything else there is refused.
INTERMEDIATE: dict[str, Any] = {"dask_zarrio": "rechunk intermediate array"}

#: The intermediate array lives for one rechunk and is encoded once and decoded once: blosc-lz4
#: (byte-shuffled for numbers) encodes about 6x and decodes about 6x faster than blosc-zstd
#: level 3 on the benchmark's float32 maps, at half its compression ratio (1.5 against 2.75).
TEMP_CODEC: dict[str, Any] = {
    "name": "blosc",
    "configuration": {"cname": "lz4", "clevel": 5, "shuffle": "shuffle", "typesize": 4, "blocksize": 0},
}


def temp_compressors(dtype: np.dtype[Any]) -> list[Any]:
    """The intermediate array's compressors: :data:`TEMP_CODEC`, shuffled by element for
    fixed-size numbers, unshuffled for anything else.

    The target's codec would be paid twice more (encoded into the intermediate, decoded out of
    it); on the issue's rechunk case blosc-zstd there made the two passes 7.2 s against 4.1 s
    for the one-pass limit.

    Examples
    --------
    >>> temp_compressors(np.dtype("f8"))[0]["configuration"]["typesize"]
    8
    >>> temp_compressors(np.dtype("O"))[0]["configuration"]["shuffle"]
    'noshuffle'
    """
    numeric = dtype.kind in "biufcmM" and dtype.itemsize > 1
    config = dict(TEMP_CODEC["configuration"], typesize=dtype.itemsize if numeric else 1,
                  shuffle="shuffle" if numeric else "noshuffle")
    return [{"name": TEMP_CODEC["name"], "configuration": config}]


def intermediate_array(chunks: tuple[int, ...], meta: ArrayMetadata) -> NewArray:
    """How the intermediate array of ``meta``'s rechunk is described, in ``chunks``.

    Its keys are flat (``0.1.2``), so its objects need no folders made for them.

    Examples
    --------
    >>> from dask_zarrio.metadata import ArraySpec
    >>> from dask_zarrio.metadata.create import new_array_metadata
    >>> m = new_array_metadata(shape=(8, 8), dtype=np.dtype("f4"), chunk_shape=(1, 8))
    >>> ArraySpec.from_metadata(intermediate_array((8, 2), m).metadata(m.shape, m.dtype, (), 2**20)).chunk_key((1, 2))
    '1.2'
    """
    return NewArray(chunks, None, temp_compressors(meta.dtype), None, meta.fill_value, 3, "C", dict(INTERMEDIATE), None,
                    chunk_key_encoding={"name": "v2", "separator": "."})


def plain_variant(meta: ArrayMetadata) -> ArrayMetadata:
    """``meta`` with its blosc codecs at level 0: chunks stored as they are, in blosc frames
    that ``meta``'s own codecs decode (a blosc header records how its frame was made).

    Examples
    --------
    >>> from dask_zarrio.metadata.create import new_array_metadata
    >>> f4 = np.dtype("f4")
    >>> meta = new_array_metadata(shape=(4,), dtype=f4, chunk_shape=(2,), compressors=temp_compressors(f4))
    >>> [c.to_dict()["configuration"]["clevel"] for c in plain_variant(meta).codecs[1:]]
    [0]
    """
    if not isinstance(meta, ArrayMetadataV3):
        return meta
    codecs = tuple(
        BloscCodec(c.cname, 0, c.shuffle, c.typesize, c.blocksize) if isinstance(c, BloscCodec) else c
        for c in meta.codecs
    )
    return replace(meta, codecs=codecs)


def complete(store: Store) -> bool:
    """Whether ``store`` holds an array whose write finished (its metadata, no journal).

    Examples
    --------
    >>> from dask_zarrio.store import MappingStore
    >>> complete(MappingStore({}))
    False
    """
    if pending_write(store) is not None:
        return False
    try:
        read_array_metadata(store)
    except ZarrioError:
        return False
    return True


def reusable(temp: Store, target: Store, mode: str) -> bool:
    """Whether a resumed rechunk may keep the intermediate array at ``temp`` (complete, or
    resumable) for the second pass into ``target``.

    Not where a second pass deleted chunks of it (its keys :data:`~dask_zarrio.rechunking.tasks.CONSUMED`
    are there) and ``target`` holds no write under way to resume (someone deleted or
    replaced it since): the chunks already read are gone, so the first pass is done again.

    Examples
    --------
    >>> from dask_zarrio.store import MappingStore
    >>> reusable(MappingStore({".dz-consumed-0": b""}), MappingStore({}), "w-")
    False
    """
    consumed = not temp.supports_listing or any(k.startswith(CONSUMED) for k in temp.list_dir())
    if not consumed:
        return True
    return pending_write(staged_node(target, mode, True) or target) is not None


def temp_store(temp: StoreLike | None, target: Store, options: dict[str, Any] | None) -> Store:
    """Where the intermediate array goes: ``temp``, or a ``.dz-rechunk-*`` folder beside a local target.

    Refused where something is there already that is not an intermediate array (:func:`owned`): it
    would be replaced, then deleted at the end.
    """
    if temp is not None:
        store = open_store(temp, options)
    else:
        parent = target.parent()
        if not target.supports_node_replace or parent is None:
            raise ZarrioError(
                f"rechunking to {target.describe()} needs an intermediate array (see the plan from "
                "compute=False), and the target is not a local folder to put it beside: pass temp= "
                "(a store URL with room for a copy of the array), or a larger max_mem"
            )
        store = parent.child(".dz-rechunk-" + target.name)
    if not owned(store):
        where = "temp=" if temp is not None else "the intermediate array's place"
        raise ZarrioError(
            f"{where} {store.describe()} holds data that is not an intermediate array of dz.rechunk; it "
            "would be replaced and then deleted. Nothing was written: pass an empty temp= location "
            "(or move what is there)"
        )
    return store


def owned(store: Store) -> bool:
    """Whether ``store`` is empty or holds an intermediate array (begun or complete) of dz.rechunk.

    Examples
    --------
    >>> from dask_zarrio.store import MappingStore
    >>> owned(MappingStore({})), owned(MappingStore({"zarr.json": b'{"node_type": "group"}'}))
    (True, False)
    """
    if store.is_empty():
        return True
    try:
        journal = pending_write(store)
        if journal is not None:
            return bool(journal.metadata.get("attributes") == INTERMEDIATE)
        return read_array_metadata(store).attributes == INTERMEDIATE
    except (ZarrioError, AttributeError):
        return False
