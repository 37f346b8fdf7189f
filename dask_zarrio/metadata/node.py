"""Find and parse the metadata document of the node at a store's root."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..errors import ArrayNotFoundError, MetadataError
from ..store import Store
from ..store.base import MAX_METADATA_BYTES, Buffer
from .group import ConsolidatedNode, GroupMetadata, parse_v2_consolidated
from .journal import incomplete
from .n5 import ArrayMetadataN5, is_n5_dataset
from .spec import ArrayMetadata
from .v2 import ArrayMetadataV2
from .v3 import ArrayMetadataV3

__all__ = ["consolidated_member", "load_json", "read_array_metadata", "read_node", "resolve_v2_separator"]

logger = logging.getLogger("dask_zarrio")


def load_json(store: Store, key: str, data: Buffer) -> dict[str, Any]:
    """Parse a metadata document; invalid or truncated JSON names the key.

    A bare ``NaN`` token is accepted (peers have written it), never written.
    """
    try:
        # get_many may hand out any bytes-like buffer (a local store: numpy arrays).
        doc = json.loads(data if isinstance(data, (bytes, bytearray)) else bytes(memoryview(data).cast("B")))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise MetadataError(
            f"{store.describe(key)} is not valid JSON ({e}); the file is truncated or "
            "corrupt: restore it from the writer or rewrite the array"
        ) from e
    if not isinstance(doc, dict):
        raise MetadataError(f"{store.describe(key)} must hold a JSON object, not {type(doc).__name__}")
    return doc


class _Documents:
    """A node's metadata documents, each requested at most once.

    ``get(key, *also)`` fetches ``also`` in the same batch where the store overlaps
    requests (one round trip for ``.zarray`` and ``.zattrs``); elsewhere they wait
    until asked for, so a node that is no v2 array costs no ``.zattrs`` request.
    A document over :data:`~dask_zarrio.store.base.MAX_METADATA_BYTES` (16 MiB) is
    refused by the store, unread where it can tell the size, with a
    :class:`~dask_zarrio.errors.StoreError` naming it.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self.seen: dict[str, Buffer | None] = {}

    def get(self, key: str, *also: str) -> Buffer | None:
        wanted = [k for k in (key, *also) if k not in self.seen]
        if len(wanted) > 1 and self.store.supports_concurrent_requests:
            self.seen.update(zip(wanted, self.store.get_many(wanted, limit=MAX_METADATA_BYTES)))
        elif key not in self.seen:
            self.seen[key] = self.store.get(key, limit=MAX_METADATA_BYTES)
        return self.seen[key]

    def json(self, key: str, *also: str) -> dict[str, Any] | None:
        """The document under ``key`` parsed (``None`` when there is none), as :meth:`get` fetches it."""
        raw = self.get(key, *also)
        return None if raw is None else load_json(self.store, key, raw)


def read_node(store: Store, *, expect_group: bool = False) -> ArrayMetadata | GroupMetadata:
    """The array or group at ``store``'s root: ``zarr.json`` first, then v2 documents.

    Read in one step: a v2 node comes with its ``.zattrs`` (attributes and xarray's
    ``_ARRAY_DIMENSIONS``, hence ``dimension_names``), fetched in the same batch as
    ``.zarray`` where the store overlaps requests; a missing ``.zattrs`` is no
    attributes, a malformed one a :class:`MetadataError` naming it. A v2 array whose
    ``.zarray`` has no ``dimension_separator`` comes back with the separator its
    chunks are actually stored under (:func:`resolve_v2_separator`), so every way of
    opening it (``dz.read``, a group, the xarray engine) agrees.

    No v2 document is requested when ``zarr.json`` exists, so opening a v3 node
    costs one request (its consolidated metadata included). With ``expect_group``,
    a v2 ``.zmetadata`` is looked for next: it holds the group's own documents
    too, so a consolidated v2 group opens in two requests.

    Examples
    --------
    >>> from dask_zarrio.store import MappingStore
    >>> zarray = (b'{"zarr_format": 2, "shape": [2], "chunks": [2], "dtype": "<i1", '
    ...           b'"compressor": null, "fill_value": 0, "order": "C", "filters": null}')
    >>> meta = read_node(MappingStore({".zarray": zarray, ".zattrs": b'{"_ARRAY_DIMENSIONS": ["x"]}'}))
    >>> meta.dimension_names
    ('x',)
    """
    if any(part.endswith(".n5") for part in store.describe().split("/")):
        # Inside an N5 container: attributes.json first, no Zarr probes.
        n5 = _read_n5(store)
        if n5 is not None:
            return n5
    docs = _Documents(store)
    doc = docs.json("zarr.json")
    if doc is not None:
        with _naming(store, "zarr.json"):
            return GroupMetadata.v3(doc) if doc.get("node_type") == "group" else ArrayMetadataV3.from_dict(doc)
    cons_doc = docs.json(".zmetadata") if expect_group else None
    if cons_doc is not None and isinstance(cons_doc.get("metadata"), dict) and ".zgroup" in cons_doc["metadata"]:
        with _naming(store, ".zmetadata"):
            return GroupMetadata(2, cons_doc["metadata"].get(".zattrs") or {}, parse_v2_consolidated(cons_doc))
    doc = docs.json(".zarray", ".zattrs")
    if doc is not None:
        attrs = docs.json(".zattrs")
        with _naming(store, ".zarray"):
            meta = ArrayMetadataV2.from_dict(doc, attrs)
        return resolve_v2_separator(store, meta)
    if docs.get(".zgroup", ".zmetadata") is not None:
        attrs, cons_doc = docs.json(".zattrs"), docs.json(".zmetadata")
        with _naming(store, ".zmetadata"):
            return GroupMetadata(2, attrs or {}, None if cons_doc is None else parse_v2_consolidated(cons_doc))
    n5 = _read_n5(store)
    if n5 is not None:
        return n5
    unfinished = incomplete(store)  # only where metadata is missing: no cost to good reads
    if unfinished is not None:
        raise unfinished
    if store.is_empty():
        what = "nothing exists there; check the path and storage_options"
    else:
        what = "there are objects there but no zarr.json, .zarray or .zgroup; point the URL at an array or group"
    raise ArrayNotFoundError(f"no array at {store.describe()}: {what}")


@contextmanager
def _naming(store: Store, key: str) -> Iterator[None]:
    """A :class:`MetadataError` raised while parsing ``key``'s document names where it lives."""
    try:
        yield
    except MetadataError as e:
        raise type(e)(f"{store.describe(key)}: {e}") from e


def consolidated_member(
    store: Store, node: ConsolidatedNode, zarr_format: int | str
) -> ArrayMetadata | GroupMetadata:
    """The metadata of a member described by its group's consolidated metadata.

    ``store`` is the member's own location: a v2 array without a
    ``dimension_separator`` is checked there as in :func:`read_node`, so an array
    reads the same whether it is opened directly or through its group.
    """
    if node.kind == "group":
        return GroupMetadata(zarr_format, node.attributes)
    try:
        if zarr_format == 3:
            return ArrayMetadataV3.from_dict(node.document)
        meta = ArrayMetadataV2.from_dict(node.document, node.attributes)
    except MetadataError as e:
        raise type(e)(f"consolidated metadata of {store.describe()}: {e}") from e
    return resolve_v2_separator(store, meta)


def read_array_metadata(store: Store) -> ArrayMetadata:
    """The array metadata at ``store``'s root: ``zarr.json`` first, then ``.zarray``.

    Examples
    --------
    >>> from dask_zarrio.store import MappingStore
    >>> read_array_metadata(MappingStore({".zgroup": b'{"zarr_format": 2}'}))
    Traceback (most recent call last):
    ...
    dask_zarrio.errors.ArrayNotFoundError: no array at <dict>/: it is a Zarr v2 group...
    """
    node = read_node(store)
    if isinstance(node, GroupMetadata):
        raise ArrayNotFoundError(
            f"no array at {store.describe()}: it is a Zarr v{node.zarr_format} group; read one of "
            "its arrays with dz.read(url + '/<name>'), or open it with dz.open_group(url)"
        )
    return node


def resolve_v2_separator(store: Store, meta: ArrayMetadata) -> ArrayMetadata:
    """Detect "/"-nested keys in a v2 array whose ``.zarray`` has no ``dimension_separator``.

    zarr-python and tensorstore then silently read only fill values
    (zarr-python#717). One or two existence checks of the first chunk tell which
    layout the store holds; a warning says how to make the metadata explicit.

    Examples
    --------
    >>> from dask_zarrio.store import MappingStore
    >>> from dask_zarrio.metadata.v2 import ArrayMetadataV2
    >>> doc = {"zarr_format": 2, "shape": [2, 2], "chunks": [1, 1], "dtype": "<i1",
    ...        "compressor": None, "fill_value": 0, "order": "C", "filters": None}
    >>> meta = ArrayMetadataV2.from_dict(doc)
    >>> resolve_v2_separator(MappingStore({"0/0": b"\x01"}), meta).dimension_separator
    '/'
    """
    if not isinstance(meta, ArrayMetadataV2) or meta.explicit_separator or len(meta.shape) < 2:
        return meta
    if 0 in meta.shape:
        return meta
    first = (0,) * len(meta.shape)
    if store.exists(".".join(map(str, first))) or not store.exists("/".join(map(str, first))):
        return meta
    logger.warning(
        "%s: .zarray has no dimension_separator but its chunks are stored under '/'-nested "
        'keys; reading them as such. Add "dimension_separator": "/" to .zarray so that other '
        "readers (zarr-python, tensorstore) do not read only fill values",
        store.describe(".zarray"),
    )
    return dataclasses.replace(meta, dimension_separator="/", explicit_separator=True)


def _read_n5(store: Store) -> ArrayMetadataN5 | GroupMetadata | None:
    """An N5 dataset or group from ``attributes.json``, ``None`` when there is none."""
    raw = store.get("attributes.json", limit=MAX_METADATA_BYTES)
    if raw is None:
        return None
    doc = load_json(store, "attributes.json", raw)
    if not is_n5_dataset(doc):
        return GroupMetadata("n5", doc)
    try:
        return ArrayMetadataN5.from_dict(doc)
    except MetadataError as e:
        raise type(e)(f"{store.describe('attributes.json')}: {e}") from e
