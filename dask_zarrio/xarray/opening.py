"""What the engine opens: the group (``group``, ``consolidated``, ``zarr_format``), and each array
as an undecoded xarray Variable with its encoding in the shapes ``xr.open_zarr`` gives.

The encoding carries the stored layout and codecs (``chunks``, ``preferred_chunks``,
``shards``, ``compressors``, ``filters``, ``serializer``, ``fill_value``, ``dtype``), so that
writing the dataset again (``dz.write_dataset`` or ``to_zarr``) can keep them.
"""

from __future__ import annotations

import sys
import warnings
from typing import Any

import numpy as np

from .._compat import xarray_fill_value_coder
from ..codecs import ArrayArrayCodec, ArrayBytesCodec, BytesBytesCodec, Codec
from ..codecs.sharding import ShardingCodec
from ..errors import ArrayNotFoundError, ZarrioError
from ..hierarchy import Group, open_group
from ..metadata import ArrayMetadata, ArrayMetadataV2, ArrayMetadataV3, ArraySpec
from ..metadata.rectilinear import preferred_chunks
from ..store import Store, open_store
from ..store.backends.icechunk_store import IcechunkStore
from ..store.backends.references import ReferenceStore
from .lazy import lazy_array

__all__ = ["TEXT", "array_encoding", "open_dataset_group", "variable"]

#: numpy's variable-width text type (numpy 2+): what xr.open_zarr gives ``string``/``vlen-utf8`` arrays as.
TEXT: np.dtype[Any] | None = np.dtypes.StringDType() if hasattr(np.dtypes, "StringDType") else None


_OBJECT_CODECS = {"vlen-utf8", "vlen-bytes", "vlen-array", "json2", "msgpack2", "pickle"}


def open_dataset_group(
    url: Any, *, group: str | None = None, consolidated: bool | None = None, zarr_format: int | None = None,
    storage_options: dict[str, Any] | None = None, allow_pickle: bool = False, format: str | None = None,
) -> Group:
    """The group the engine opens, as xarray's zarr engine reads these options.

    ``consolidated``: ``None`` uses consolidated metadata where the group has it, ``True``
    requires it, ``False`` ignores it (every member read from its own document).
    ``zarr_format``: 2 or 3 opens only a group of that format.

    Examples
    --------
    >>> import dask_zarrio as dz
    >>> _ = dz.create_group("memory://doc/odg.zarr", mode="w")
    >>> open_dataset_group("memory://doc/odg.zarr", consolidated=False).zarr_format
    3
    """
    store = open_store(url, storage_options, format=format)
    try:
        # The engine reads the members next: list them with the root's documents (a round trip less).
        root = open_group(store, allow_pickle=allow_pickle,
                          list_members=consolidated is not True and not (group or "").strip("/"))
    except ArrayNotFoundError:
        if not store.is_empty():
            raise
        raise ArrayNotFoundError(  # as xarray's engine words it (its tests match "does not exist")
            f"No group found in store {store.describe()}: the path does not exist; check it and storage_options"
        ) from None
    if zarr_format is not None and zarr_format != root.zarr_format:
        raise ArrayNotFoundError(
            f"no Zarr v{zarr_format} group at {root.store.describe()}: it is a v{root.zarr_format} group; "
            f"pass zarr_format={root.zarr_format!r} or None"
        )
    if consolidated is True and root.metadata.consolidated is None:
        raise ZarrioError(
            f"consolidated=True, but the group at {root.store.describe()} has no consolidated metadata; "
            "pass consolidated=None (or False), or consolidate it with dz.consolidate(url)"
        )
    if consolidated is None and root.metadata.consolidated is None and _has_consolidated_form(root, format):
        warnings.warn(NOT_CONSOLIDATED.format(where=root.store.describe()), RuntimeWarning,
                      stacklevel=_caller_level())
    if consolidated is False and root.metadata.consolidated is not None:
        root = root.without_consolidated()
    path = (group or "").strip("/")
    return root.group(path) if path else root


#: xarray's warning where consolidated metadata was looked for and is missing (its words first,
#: which users filter on; then what it costs here and the three ways out, as xarray lists them).
NOT_CONSOLIDATED = (
    "Failed to open Zarr store with consolidated metadata, but successfully read with non-consolidated "
    "metadata at {where}: each member's metadata was read (a listing and a batch of reads, an extra round "
    "trip or two). To silence this warning, consolidate the store (dz.consolidate(url)), pass "
    "consolidated=False to not look for consolidated metadata, or consolidated=True to raise an error instead."
)


def _has_consolidated_form(root: Group, format: str | None) -> bool:
    """Whether consolidated metadata would help: Zarr v2/v3 in a store that keeps it (not N5; not
    Icechunk, whose stores do not take it, as xarray skips them; not kerchunk references, whose
    documents are all in the reference file already)."""
    return (format is None and root.zarr_format in (2, 3)
            and not isinstance(root.store, (IcechunkStore, ReferenceStore)))


def _caller_level() -> int:
    """The ``stacklevel`` of the first frame outside dask_zarrio and xarray, for :func:`open_dataset_group`'s
    warnings: where the user opened the dataset, as xarray's ``emit_user_level_warning`` points."""
    frame, level = sys._getframe(1), 1
    while frame.f_back is not None and frame.f_globals.get("__name__", "").partition(".")[0] in ("dask_zarrio",
                                                                                                 "xarray"):
        frame, level = frame.f_back, level + 1
    return level


def _dims(meta: Any, attrs: dict[str, Any]) -> tuple[str, ...]:
    if isinstance(meta, ArrayMetadataV3) and meta.dimension_names is not None:
        return tuple(d or f"dim_{i}" for i, d in enumerate(meta.dimension_names))
    return tuple(attrs.pop("_ARRAY_DIMENSIONS", [f"dim_{i}" for i in range(len(meta.shape))]))


def _codec_object(doc: dict[str, Any]) -> Any:
    """A v3 codec as ``xr.open_zarr`` gives it: zarr-python's object (``BloscCodec(...)``) where
    zarr-python is installed and knows the codec, else its JSON form; ``to_zarr`` and dz take both."""
    try:
        from zarr.registry import get_codec_class
    except ImportError:  # dz reads without zarr-python
        return doc
    try:
        with warnings.catch_warnings():  # zarr's "not part of the Zarr format 3 specification" for numcodecs.*
            warnings.simplefilter("ignore")
            return get_codec_class(doc["name"]).from_dict(doc)
    except Exception:  # a codec zarr-python does not know (or takes otherwise): the document, as stored
        return doc


def _v3_codecs(codecs: tuple[Codec, ...]) -> dict[str, Any]:
    """zarr-python's split of a v3 chain: array→array ``filters``, the array→bytes ``serializer``,
    bytes→bytes ``compressors`` (each as :func:`_codec_object` gives it)."""
    return {
        "compressors": tuple(_codec_object(c.to_dict()) for c in codecs if isinstance(c, BytesBytesCodec)),
        "filters": tuple(_codec_object(c.to_dict()) for c in codecs if isinstance(c, ArrayArrayCodec)),
        "serializer": next((_codec_object(c.to_dict()) for c in codecs if isinstance(c, ArrayBytesCodec)), None),
    }


def _fill(meta: Any) -> Any:
    return None if meta.fill_value is None else meta.fill_value[()]


def array_encoding(meta: Any, dims: tuple[str, ...]) -> dict[str, Any]:
    """``encoding`` of a variable as xr.open_zarr gives it (``_FillValue`` aside: CF decoding sets it).

    A sharded array's ``chunks`` are its inner chunks and ``shards`` the stored objects, and
    its ``filters``/``serializer``/``compressors`` those of the inner chunks, as zarr-python's;
    its ``preferred_chunks`` are the shards (``chunks={}`` makes a dask block per shard).

    Examples
    --------
    >>> from dask_zarrio.metadata.create import new_array_metadata
    >>> meta = new_array_metadata(shape=(8,), dtype=np.dtype("f4"), chunk_shape=(2,), shard_shape=(4,))
    >>> enc = array_encoding(meta, ("x",))
    >>> enc["chunks"], enc["shards"], enc["preferred_chunks"], enc["compressors"]
    ((2,), (4,), {'x': 4}, (ZstdCodec(level=0, checksum=False),))
    """
    edges = meta.chunk_edges if isinstance(meta, ArrayMetadataV3) else None
    chunks: tuple[Any, ...] = meta.chunk_shape if edges is None else preferred_chunks(edges, meta.shape)
    enc: dict[str, Any] = {"shards": None}
    if isinstance(meta, ArrayMetadataV2):
        enc["compressors"] = () if meta.compressor is None else (meta.compressor,)
        # Object codecs (vlen-utf8 ...) follow from the dtype; given back as filters, to_zarr fails on them.
        enc["filters"] = tuple(f for f in meta.filters or () if f.codec_id not in _OBJECT_CODECS)
    elif isinstance(meta, ArrayMetadataV3):
        codecs = meta.codecs
        sharding = next((c for c in codecs if isinstance(c, ShardingCodec)), None)
        if sharding is not None and len(codecs) == 1:
            enc["shards"], codecs = chunks, sharding.codecs
            # preferred_chunks stay the shards (one dask block, one request, per shard); xarray's
            # engine prefers the inner chunks, a task per inner chunk.
            return {"chunks": sharding.chunk_shape, "preferred_chunks": dict(zip(dims, chunks)), **enc,
                    **_v3_codecs(codecs), "fill_value": _fill(meta)}
        enc.update(_v3_codecs(codecs))
        enc["fill_value"] = _fill(meta)
    return {"chunks": tuple(chunks), "preferred_chunks": dict(zip(dims, chunks)), **enc}


def variable(group: Group, name: str, *, lazy: bool = True, mask_with_fill_value: bool | None = None,
             node: tuple[Store, ArrayMetadata] | None = None) -> Any:
    """The undecoded xarray Variable of array ``name`` (CF attributes as stored).

    ``lazy``: its data a lazily indexed :class:`~.lazy.LazyArray` (else a dask array, as
    ``dz.read`` gives). ``mask_with_fill_value`` is xarray's ``use_zarr_fill_value_as_mask``:
    the array's ``fill_value`` becomes ``_FillValue`` (masked as missing by CF decoding);
    ``None`` does so for Zarr v2 only, as xarray. ``node``: its location and metadata where
    already read (:meth:`Group.array_nodes` reads every member's together).
    """
    import xarray as xr

    from ..graph.builder import array_from_metadata

    store, meta = group.array_node(name) if node is None else node
    attrs = dict(meta.attributes)
    dims = _dims(meta, attrs)
    encoding = array_encoding(meta, dims)
    if mask_with_fill_value is None:
        mask_with_fill_value = isinstance(meta, ArrayMetadataV2)
    if mask_with_fill_value:
        # zarr's fill_value is the missing-value marker, as xarray's zarr backend reads it: it wins
        # over a stored _FillValue attribute (VirtualiZarr stores one base64-encoded).
        encoding.pop("fill_value", None)
        attrs.pop("_FillValue", None)
        if meta.fill_value is not None:
            attrs["_FillValue"] = meta.fill_value[()]
    elif "_FillValue" in attrs:
        attrs["_FillValue"] = xarray_fill_value_coder().decode(attrs["_FillValue"], meta.dtype)
    text = meta.variable_kind == "string" and TEXT is not None
    dtype = TEXT if text else meta.dtype
    if lazy:
        data = lazy_array(ArraySpec.from_metadata(meta, allow_pickle=group.allow_pickle), store, dtype)
        data = xr.core.indexing.LazilyIndexedArray(data)
    else:
        data = array_from_metadata(store, meta, allow_pickle=group.allow_pickle)
        if text:
            data = data.astype(TEXT)  # as xr.open_zarr gives text (zarr-python 3.1+, numpy 2), lazily
    encoding["dtype"] = dtype
    return xr.Variable(dims, data, attrs, encoding)
