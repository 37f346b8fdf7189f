"""Writing metadata documents: the one writer behind write, init, groups and consolidation.

Every document dask_zarrio stores goes through :func:`write_node`; the mode checks of
the calls that create or replace a node live in :mod:`dask_zarrio.writing.modes`.
"""

from __future__ import annotations

import json
from typing import Any

from ..store import Store
from .group import ConsolidatedNode, GroupMetadata
from .n5 import ArrayMetadataN5
from .spec import ArrayMetadata
from .v3 import ArrayMetadataV3

__all__ = ["consolidated_entry", "document_bytes", "metadata_key", "write_node"]

def _dump(doc: Any) -> bytes:
    # allow_nan=False: a bare NaN token is not JSON; fill values carry NaN as strings.
    return json.dumps(doc, indent=2, allow_nan=False).encode()


def write_node(store: Store, meta: ArrayMetadata | GroupMetadata) -> None:
    """Store the documents of an array or group at ``store``'s root, in its format.

    v3: ``zarr.json``; v2: ``.zarray``/``.zgroup`` with ``.zattrs`` (and a group's
    ``.zmetadata`` when it has consolidated metadata); N5: ``attributes.json``.

    Examples
    --------
    >>> from dask_zarrio.store import MappingStore
    >>> m = {}
    >>> write_node(MappingStore(m), GroupMetadata(2, {"title": "t"}))
    >>> sorted(m)
    ['.zattrs', '.zgroup']
    """
    if isinstance(meta, GroupMetadata):
        _write_group(store, meta)
    else:
        store.set(metadata_key(meta), document_bytes(meta))
        if not isinstance(meta, (ArrayMetadataN5, ArrayMetadataV3)):
            # Also when empty: zarr-python 3 writes ``{}``, and stores should not depend on the writer.
            store.set(".zattrs", _dump(meta.attributes))


def metadata_key(meta: ArrayMetadata) -> str:
    """The key of the document that holds an array's shape: what an append updates.

    Examples
    --------
    >>> import numpy as np
    >>> from dask_zarrio.metadata.create import new_array_metadata
    >>> metadata_key(new_array_metadata(shape=(2,), dtype=np.dtype("i1"), chunk_shape=(2,), zarr_format=2))
    '.zarray'
    """
    if isinstance(meta, ArrayMetadataN5):
        return "attributes.json"
    return "zarr.json" if isinstance(meta, ArrayMetadataV3) else ".zarray"


def document_bytes(meta: ArrayMetadata) -> bytes:
    """The bytes :func:`write_node` stores under :func:`metadata_key` for ``meta``.

    Examples
    --------
    >>> import numpy as np
    >>> from dask_zarrio.metadata.create import new_array_metadata
    >>> document_bytes(new_array_metadata(shape=(2,), dtype=np.dtype("i1"), chunk_shape=(2,)))[:20]
    b'{\\n  "zarr_format": 3'
    """
    return _dump(meta.to_dict())


def _write_group(store: Store, meta: GroupMetadata) -> None:
    if meta.zarr_format == "n5":
        raw = store.get("attributes.json")
        doc = json.loads(raw) if raw is not None else {}
        store.set("attributes.json", _dump({**doc, **meta.attributes}))
        return
    if meta.zarr_format == 3:
        store.set("zarr.json", _dump(meta.to_v3()))
        return
    store.set(".zgroup", _dump({"zarr_format": 2}))
    store.set(".zattrs", _dump(meta.attributes))  # ``{}`` too, as zarr-python 3 writes it
    if meta.consolidated is not None:
        store.set(".zmetadata", _dump(meta.to_v2_consolidated()))


def consolidated_entry(meta: ArrayMetadata | GroupMetadata) -> ConsolidatedNode:
    """The node's entry in its enclosing groups' consolidated metadata.

    Examples
    --------
    >>> consolidated_entry(GroupMetadata(2, {"a": 1}))
    ConsolidatedNode(kind='group', document={'zarr_format': 2}, attributes={'a': 1})
    """
    if isinstance(meta, GroupMetadata):
        if meta.zarr_format == 3:
            doc = {"zarr_format": 3, "node_type": "group", "attributes": meta.attributes}
            return ConsolidatedNode("group", doc, meta.attributes)
        return ConsolidatedNode("group", {"zarr_format": 2}, meta.attributes)
    return ConsolidatedNode("array", meta.to_dict(), dict(meta.attributes))
