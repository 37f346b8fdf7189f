"""One-line summaries of metadata documents, as ``dz.tree`` and ``dz tree`` print them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from . import ArrayMetadata, ArrayMetadataN5, ArrayMetadataV3

__all__ = ["GROUP_NOTES", "TreeView", "array_note", "attrs_note", "group_note"]

#: What a part that knows a convention adds to a group's line in a tree (the pyramid part adds
#: its levels): ``note(attributes, shape_of) -> str``, ``shape_of(path)`` a member's shape or ``None``.
#: Registered by those parts, so that this one, below them, needs none of them.
GROUP_NOTES: list[Callable[[Mapping[str, Any], Callable[[str], Any]], str]] = []


class TreeView(str):
    """Text of a hierarchy; shows as itself (no quotes) in a REPL or notebook."""

    def __repr__(self) -> str:
        return str(self)


def array_note(meta: ArrayMetadata) -> str:
    """One array in ``dz.tree`` and ``dz tree``: ``(240,) int64 chunks=(60,) shards=(120,) codecs=[bytes, zstd]``.

    A sharded array shows its inner chunks, its shards and the codecs inside a shard.
    """
    shards = ""
    if isinstance(meta, ArrayMetadataV3):
        docs = [c.to_dict() for c in meta.codecs]
        chunks = tuple(meta.chunk_shape)
        if docs and docs[0]["name"] == "sharding_indexed":  # from the dict: hierarchy does not import codecs
            config = docs[0]["configuration"]
            chunks, shards = tuple(config["chunk_shape"]), f" shards={tuple(meta.chunk_shape)}"
            docs = config["codecs"]
        codecs = ", ".join(d["name"] for d in docs)
    elif isinstance(meta, ArrayMetadataN5):
        chunks, codecs = tuple(meta.chunk_shape), f"n5 {meta.compression['type']}"
    else:
        parts = [f.codec_id for f in meta.filters or ()]
        parts += [meta.compressor.codec_id] if meta.compressor is not None else []
        chunks, codecs = tuple(meta.chunk_shape), ", ".join(parts) or "none"
    return f"{tuple(meta.shape)} {meta.dtype} chunks={chunks}{shards} codecs=[{codecs}]"


def attrs_note(attrs: dict[str, Any]) -> str:
    """A node's attribute names in ``dz.tree`` and ``dz tree``: `` attrs: title, units``."""
    return f" attrs: {', '.join(sorted(attrs))}" if attrs else ""


def group_note(attrs: Mapping[str, Any], shape_of: Callable[[str], Any] = lambda path: None) -> str:
    """A group's line in ``dz.tree`` and ``dz tree`` after ``(group)``: its attribute names, and what
    :data:`GROUP_NOTES` say of it (``attrs: ome; pyramid ome-zarr-0.5 (y, x), 2 levels: 0 (64, 64) ...``)."""
    parts = [attrs_note(dict(attrs)).strip()] + [note(attrs, shape_of) for note in GROUP_NOTES]
    return "".join(f"{'; ' if i else ' '}{p}" for i, p in enumerate(p for p in parts if p))
