"""Find and parse the metadata document of the node at a store's root."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from ..errors import ArrayNotFoundError, IncompleteWriteError, MetadataError, ZarrioError
from ..store import Store
from ..store.base import MAX_METADATA_BYTES, Buffer
from ..store.support.requests import fetch_many, map_concurrently
from .group import ConsolidatedNode, GroupMetadata, parse_v2_consolidated
from .journal import incomplete
from .n5 import ArrayMetadataN5, is_n5_dataset
from .spec import ArrayMetadata
from .v2 import ArrayMetadataV2
from .v3 import ArrayMetadataV3

__all__ = [
    "consolidated_member", "load_json", "read_array_metadata", "read_members", "read_node", "resolve_v2_separator",
    "resolve_v2_separators",
]

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
    a v2 group's ``.zmetadata``, ``.zgroup`` and ``.zattrs`` are asked for in the
    same batch as ``zarr.json`` where the store overlaps requests (else next, in
    turn), and ``.zarray`` only when neither group document exists: a group opens
    in one round trip, v2 or v3, consolidated or not.

    Examples
    --------
    >>> from dask_zarrio.store import MappingStore
    >>> zarray = (b'{"zarr_format": 2, "shape": [2], "chunks": [2], "dtype": "<i1", '
    ...           b'"compressor": null, "fill_value": 0, "order": "C", "filters": null}')
    >>> meta = read_node(MappingStore({".zarray": zarray, ".zattrs": b'{"_ARRAY_DIMENSIONS": ["x"]}'}))
    >>> meta.dimension_names
    ('x',)
    """
    return _read_node(store, _Documents(store), expect_group)


#: What a v2 group may hold: consolidated metadata, else its own documents.
_V2_GROUP = (".zmetadata", ".zgroup", ".zattrs")


def _read_node(store: Store, docs: _Documents, expect_group: bool = False) -> ArrayMetadata | GroupMetadata:
    """:func:`read_node` with the documents ``docs`` already holds (fetched with other nodes' in one batch)."""
    if _in_n5(store):
        # Inside an N5 container: attributes.json first, no Zarr probes.
        n5 = _read_n5(store)
        if n5 is not None:
            return n5
    # A group's v2 documents come in the same round trip as zarr.json (where requests overlap).
    doc = docs.json("zarr.json", *(_V2_GROUP if expect_group else ()))
    if doc is not None:
        return _v3_node(store, doc)
    if expect_group:
        cons_doc = docs.json(*_V2_GROUP)
        if cons_doc is not None and isinstance(cons_doc.get("metadata"), dict) and ".zgroup" in cons_doc["metadata"]:
            with _naming(store, ".zmetadata"):
                return GroupMetadata(2, cons_doc["metadata"].get(".zattrs") or {}, parse_v2_consolidated(cons_doc))
        if docs.get(".zgroup") is not None:
            return _v2_group(store, docs)
    doc = docs.json(".zarray", ".zattrs")
    if doc is not None:
        return resolve_v2_separator(store, _v2_array(store, docs, doc))
    if docs.get(".zgroup", ".zmetadata") is not None:
        return _v2_group(store, docs)
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


def _in_n5(store: Store) -> bool:
    return any(part.endswith(".n5") for part in store.describe().split("/"))


def _v3_node(store: Store, doc: dict[str, Any]) -> ArrayMetadataV3 | GroupMetadata:
    with _naming(store, "zarr.json"):
        return GroupMetadata.v3(doc) if doc.get("node_type") == "group" else ArrayMetadataV3.from_dict(doc)


def _v2_array(store: Store, docs: _Documents, doc: dict[str, Any]) -> ArrayMetadataV2:
    """The v2 array of ``doc`` (its ``.zarray``) and its ``.zattrs``; its separator not yet resolved."""
    attrs = docs.json(".zattrs")
    with _naming(store, ".zarray"):
        return ArrayMetadataV2.from_dict(doc, attrs)


def _v2_group(store: Store, docs: _Documents) -> GroupMetadata:
    attrs, cons_doc = docs.json(".zattrs"), docs.json(".zmetadata")
    with _naming(store, ".zmetadata"):
        return GroupMetadata(2, attrs or {}, None if cons_doc is None else parse_v2_consolidated(cons_doc))


def read_members(
    store: Store, names: Sequence[str], zarr_format: int | str
) -> dict[str, tuple[Store, ArrayMetadata | GroupMetadata | ZarrioError]]:
    """The nodes named ``names`` below the group at ``store`` (each as :func:`read_node` reads it,
    with its store), their documents fetched together: a few round trips for any number of members.

    The group's format says which documents to ask for: a v3 group's members their
    ``zarr.json``, a v2 group's their ``.zarray`` and ``.zattrs``, all in one batch
    (:func:`~dask_zarrio.store.support.requests.fetch_many`); the v2 members without a
    ``.zarray`` then their ``.zgroup`` and ``.zmetadata``, in a second one. No member is
    probed for the other format's documents first. A member neither batch tells (another
    format, N5, a folder that is no node, an unfinished write) is read as :func:`read_node`
    reads it, without asking again for what is known missing, those reads overlapping.
    v2 arrays without a ``dimension_separator`` are checked together
    (:func:`resolve_v2_separators`).

    A name that is no node maps to its :class:`ArrayNotFoundError` (or
    :class:`IncompleteWriteError`); a document that does not parse raises.

    Examples
    --------
    >>> from dask_zarrio.store import MappingStore
    >>> zarray = (b'{"zarr_format": 2, "shape": [2], "chunks": [2], "dtype": "<i1", '
    ...           b'"compressor": null, "fill_value": 0, "order": "C", "filters": null}')
    >>> found = read_members(MappingStore({"x/.zarray": zarray, "g/.zgroup": b'{"zarr_format": 2}',
    ...                                    "junk/a": b""}), ["x", "g", "junk"], 2)
    >>> [type(found[n][1]).__name__ for n in ("x", "g", "junk")]
    ['ArrayMetadataV2', 'GroupMetadata', 'ArrayNotFoundError']
    """
    docs = {name: _Documents(store.child(name)) for name in names}
    batches: dict[int, list[tuple[str, ...]]] = {
        3: [("zarr.json",)], 2: [(".zarray", ".zattrs"), (".zgroup", ".zmetadata")]}
    out: dict[str, ArrayMetadata | GroupMetadata | ZarrioError] = {}
    for batch in batches.get(zarr_format, []) if isinstance(zarr_format, int) and not _in_n5(store) else []:
        wanted = [name for name in names if name not in out]
        keys = [f"{name}/{key}" for name in wanted for key in batch]
        for key, blob in zip(keys, fetch_many(store, keys, MAX_METADATA_BYTES)):
            name, _, doc = key.rpartition("/")
            docs[name].seen[doc] = blob
        for name in wanted:
            node = _known_node(docs[name], batch[0])
            if node is not None:
                out[name] = node
    rest = [name for name in names if name not in out]
    v2 = {name: meta for name, meta in out.items() if isinstance(meta, ArrayMetadataV2)}
    out.update(zip(v2, resolve_v2_separators([(docs[name].store, meta) for name, meta in v2.items()])))
    out.update(zip(rest, map_concurrently(store, lambda name: _node_or_absence(docs[name]), rest)))
    return {name: (docs[name].store, out[name]) for name in names}


def _known_node(docs: _Documents, key: str) -> ArrayMetadata | GroupMetadata | None:
    """The node ``docs`` shows by its document ``key`` (fetched), ``None`` when that is missing."""
    raw = docs.seen.get(key)
    if raw is None:
        return None
    doc = load_json(docs.store, key, raw)
    if key == "zarr.json":
        return _v3_node(docs.store, doc)
    return _v2_array(docs.store, docs, doc) if key == ".zarray" else _v2_group(docs.store, docs)


def _node_or_absence(docs: _Documents) -> ArrayMetadata | GroupMetadata | ZarrioError:
    try:
        return _read_node(docs.store, docs)
    except (ArrayNotFoundError, IncompleteWriteError) as e:
        return e


@contextmanager
def _naming(store: Store, key: str) -> Iterator[None]:
    """A :class:`MetadataError` raised while parsing ``key``'s document names where it lives."""
    try:
        yield
    except MetadataError as e:
        raise type(e)(f"{store.describe(key)}: {e}") from e


def consolidated_member(
    store: Store, node: ConsolidatedNode, zarr_format: int | str, *, resolve: bool = True
) -> ArrayMetadata | GroupMetadata:
    """The metadata of a member described by its group's consolidated metadata.

    ``store`` is the member's own location: a v2 array without a
    ``dimension_separator`` is checked there as in :func:`read_node`, so an array
    reads the same whether it is opened directly or through its group
    (``resolve=False``: not yet; the caller checks many at once, :func:`resolve_v2_separators`).
    """
    if node.kind == "group":
        return GroupMetadata(zarr_format, node.attributes)
    try:
        if zarr_format == 3:
            return ArrayMetadataV3.from_dict(node.document)
        meta = ArrayMetadataV2.from_dict(node.document, node.attributes)
    except MetadataError as e:
        raise type(e)(f"consolidated metadata of {store.describe()}: {e}") from e
    return resolve_v2_separator(store, meta) if resolve else meta


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
    return resolve_v2_separators([(store, meta)])[0]


def resolve_v2_separators(arrays: Sequence[tuple[Store, ArrayMetadata]]) -> list[ArrayMetadata]:
    """:func:`resolve_v2_separator` of many arrays (each at its store), their checks overlapping:
    the first chunks under "." keys all at once, then under "/" keys those not found.

    Examples
    --------
    >>> from dask_zarrio.store import MappingStore
    >>> from dask_zarrio.metadata.v3 import ArrayMetadataV3
    >>> meta = ArrayMetadataV3.from_dict({"zarr_format": 3, "node_type": "array", "shape": [2],
    ...     "data_type": "int8", "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [2]}},
    ...     "chunk_key_encoding": {"name": "default"}, "fill_value": 0, "codecs": [{"name": "bytes"}]})
    >>> resolve_v2_separators([(MappingStore({}), meta)])[0] is meta
    True
    """
    out = [meta for _, meta in arrays]
    unsure = [i for i, (_, meta) in enumerate(arrays) if _separator_unsure(meta)]
    if not unsure:
        return out

    def first_chunk(sep: str) -> Callable[[int], bool]:
        return lambda i: arrays[i][0].exists(sep.join("0" * len(arrays[i][1].shape)))

    store = arrays[unsure[0]][0]
    dotted = map_concurrently(store, first_chunk("."), unsure)
    undotted = [i for i, found in zip(unsure, dotted) if not found]
    for i, nested in zip(undotted, map_concurrently(store, first_chunk("/"), undotted)):
        store, meta = arrays[i]
        if nested and isinstance(meta, ArrayMetadataV2):
            out[i] = _nested(store, meta)
    return out


def _separator_unsure(meta: ArrayMetadata) -> bool:
    return (isinstance(meta, ArrayMetadataV2) and not meta.explicit_separator and len(meta.shape) >= 2
            and 0 not in meta.shape)


def _nested(store: Store, meta: ArrayMetadataV2) -> ArrayMetadataV2:
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
