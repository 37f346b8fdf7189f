"""Group metadata (v2 ``.zgroup``/``.zattrs``/``.zmetadata``, v3 group ``zarr.json``).

Consolidated metadata is kept as one mapping, whatever the format: the path of
each node below the group to ``(kind, document, attributes)``, so that a group
with consolidated metadata opens its members without another request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import MetadataError, ZarrioError
from ..store.base import member_path

__all__ = ["ConsolidatedNode", "GroupMetadata", "parse_v2_consolidated", "parse_v3_consolidated"]


@dataclass(frozen=True)
class ConsolidatedNode:
    """One node of consolidated metadata."""

    kind: str  # "array" or "group"
    document: dict[str, Any]  # zarr.json, or .zarray / .zgroup
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class GroupMetadata:
    """A group's format, attributes and (when present) consolidated member metadata.

    Examples
    --------
    >>> GroupMetadata.v3({"zarr_format": 3, "node_type": "group", "attributes": {"a": 1}}).attributes
    {'a': 1}
    """

    zarr_format: int | str
    attributes: dict[str, Any]
    consolidated: dict[str, ConsolidatedNode] | None = None

    @classmethod
    def v3(cls, doc: dict[str, Any]) -> GroupMetadata:
        """From a v3 group ``zarr.json``."""
        attributes = _object(doc.get("attributes", {}), "attributes")
        cons = doc.get("consolidated_metadata")
        return cls(3, attributes, parse_v3_consolidated(cons) if cons else None)

    def to_v3(self) -> dict[str, Any]:
        """The v3 group ``zarr.json`` (with inline consolidated metadata when present)."""
        doc: dict[str, Any] = {"zarr_format": 3, "node_type": "group", "attributes": self.attributes}
        if self.consolidated is not None:
            doc["consolidated_metadata"] = {
                "kind": "inline",
                "must_understand": False,
                "metadata": {p: n.document for p, n in sorted(self.consolidated.items())},
            }
        return doc

    def to_v2_consolidated(self) -> dict[str, Any]:
        """The ``.zmetadata`` document of this group."""
        metadata: dict[str, Any] = {".zgroup": {"zarr_format": 2}}
        if self.attributes:
            metadata[".zattrs"] = self.attributes
        for path, node in sorted((self.consolidated or {}).items()):
            metadata[f"{path}/.zarray" if node.kind == "array" else f"{path}/.zgroup"] = node.document
            metadata[f"{path}/.zattrs"] = node.attributes
        return {"zarr_consolidated_format": 1, "metadata": metadata}


def _member(path: object, document: str) -> str:
    """A member path from consolidated metadata: relative, and never leaving the group.

    A leading ``/`` is tolerated (it still names a member of this group); ``..`` and the
    other names :func:`~dask_zarrio.store.base.member_path` refuses are a MetadataError.
    """
    try:
        return member_path(path.lstrip("/") if isinstance(path, str) else path)
    except ZarrioError as e:
        raise MetadataError(f"{document} lists the member {path!r}, which dask_zarrio refuses: {e}") from e


def parse_v3_consolidated(value: object) -> dict[str, ConsolidatedNode]:
    """Inline consolidated metadata of a v3 group.

    Examples
    --------
    >>> parse_v3_consolidated({"kind": "inline", "metadata": {"g": {"zarr_format": 3, "node_type": "group"}}})
    {'g': ConsolidatedNode(kind='group', document={'zarr_format': 3, 'node_type': 'group'}, attributes={})}
    """
    if not isinstance(value, dict) or value.get("kind") != "inline" or not isinstance(value.get("metadata"), dict):
        raise MetadataError(
            f"consolidated_metadata={value!r} must be {{'kind': 'inline', 'metadata': {{...}}}}"
        )
    out = {}
    for path, doc in value["metadata"].items():
        if not isinstance(doc, dict) or doc.get("node_type") not in ("array", "group"):
            raise MetadataError(f"consolidated_metadata entry {path!r} is not a node document: {doc!r}")
        attributes = _object(doc.get("attributes", {}), f"consolidated_metadata entry {path!r}: attributes")
        out[_member(path, "consolidated_metadata")] = ConsolidatedNode(doc["node_type"], doc, attributes)
    return out


def _object(value: object, what: str) -> dict[str, Any]:
    """``value`` when it is a JSON object: a string or list where one belongs is refused here,
    not later as an AttributeError deep inside whoever reads it."""
    if not isinstance(value, dict):
        raise MetadataError(f"{what}={value!r} must be a JSON object {{...}}; fix or re-consolidate the metadata")
    return value


def parse_v2_consolidated(doc: dict[str, Any]) -> dict[str, ConsolidatedNode]:
    """The ``metadata`` of a v2 ``.zmetadata`` document, by node path.

    Examples
    --------
    >>> parse_v2_consolidated({"metadata": {"a/.zarray": {"shape": [1]}, "a/.zattrs": {"u": 1}}})["a"].attributes
    {'u': 1}
    """
    entries = doc.get("metadata")
    if not isinstance(entries, dict):
        raise MetadataError(f".zmetadata must hold a 'metadata' object; got {type(entries).__name__}")
    nodes: dict[str, ConsolidatedNode] = {}
    attrs: dict[str, dict[str, Any]] = {}
    for key, value in entries.items():
        path, _, name = key.rpartition("/")
        if name in (".zarray", ".zgroup", ".zattrs"):
            value = _object(value, f".zmetadata entry {key!r}")
        if not path:
            continue  # the group's own .zgroup / .zattrs
        path = _member(path, ".zmetadata")
        if name == ".zarray":
            nodes[path] = ConsolidatedNode("array", value)
        elif name == ".zgroup":
            nodes[path] = ConsolidatedNode("group", value)
        elif name == ".zattrs":
            attrs[path] = value
    return {p: ConsolidatedNode(n.kind, n.document, attrs.get(p, {})) for p, n in nodes.items()}
