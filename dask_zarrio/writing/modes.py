"""Mode checks of every call that creates or replaces a node: what a mode means, whether
a location may be created (``"w-"``) or replaced (``"w"``: only Zarr objects are deleted).
"""

from __future__ import annotations

import json
import re

from ..errors import ContainsArrayError, ZarrioError
from ..metadata.journal import JOURNAL_KEY
from ..store import Store

__all__ = ["MODES", "METADATA_NAMES", "check_mode", "check_replaceable", "default_mode", "foreign_keys", "prepare_node"]


#: What each mode means, for every call that takes one (zarr-python's and xarray's names).
MODES = {
    "w-": "create; fail if anything exists there",
    "w": "replace whatever is there",
    "r+": "write into an existing node",
    "a": "write into an existing node, creating it if missing",
}


def check_mode(mode: object, allowed: tuple[str, ...], call: str) -> str:
    """``mode`` if ``call`` accepts it, else a :class:`ZarrioError` listing what it accepts.

    Examples
    --------
    >>> check_mode("w", ("w-", "w"), "dz.init")
    'w'
    >>> check_mode("r+", ("w-", "w"), "dz.init")
    Traceback (most recent call last):
    ...
    dask_zarrio.errors.ZarrioError: dz.init: mode='r+' must be one of 'w-' (create; fail if ...
    """
    if mode not in allowed:
        options = ", ".join(f"{m!r} ({MODES[m]})" for m in allowed)
        raise ZarrioError(f"{call}: mode={mode!r} must be one of {options}")
    return str(mode)


def default_mode(mode: str | None, *, append_dim: object = None, region: object = None) -> str:
    """``mode``, or when ``None`` what xarray's ``to_zarr`` infers: "a" with ``append_dim``,
    "r+" with ``region``, else "w-".

    Examples
    --------
    >>> default_mode(None, append_dim="time"), default_mode(None, region={"x": slice(0, 2)}), default_mode(None)
    ('a', 'r+', 'w-')
    >>> default_mode("w", append_dim="time")
    'w'
    """
    if mode is not None:
        return mode
    return "a" if append_dim is not None else "r+" if region is not None else "w-"


def prepare_node(store: Store, mode: str) -> None:
    """Make way for a new node: "w-" refuses anything already there, "w" clears it.

    "w" deletes only what Zarr put there: where the store can list, every object below
    the node must be a Zarr metadata document, a chunk of an array of the hierarchy, or
    one of dask_zarrio's own ``.dz-*`` objects (:func:`foreign_keys`); anything else (a
    user's documents) is refused with a :class:`ContainsArrayError` and nothing is
    deleted. Stores that cannot list (HTTP) are cleared as before, unchecked.

    Examples
    --------
    >>> from dask_zarrio.store import MappingStore
    >>> prepare_node(MappingStore({"zarr.json": b"{}"}), "w-")
    Traceback (most recent call last):
    ...
    dask_zarrio.errors.ContainsArrayError: <dict>/ already exists; pass mode='w' to replace it...
    >>> prepare_node(MappingStore({"notes.txt": b"mine"}), "w")
    Traceback (most recent call last):
    ...
    dask_zarrio.errors.ContainsArrayError: mode='w' would delete everything at <dict>/, but it holds ...
    """
    if mode == "w-":
        if not store.is_empty():
            raise ContainsArrayError(
                f"{store.describe()} already exists; pass mode='w' to replace it, mode='r+' "
                "(or 'a') to write into it, or choose another path"
            )
    elif mode == "w":
        check_replaceable(store)
        store.clear()


def check_replaceable(store: Store) -> None:
    """Refuse (:class:`ContainsArrayError`) to replace a node holding objects that are not Zarr.

    What ``prepare_node(store, "w")`` checks before it clears; a write that stages
    the new node beside the old one checks this first and replaces it at the end.
    Stores that cannot list are not checked.

    Examples
    --------
    >>> from dask_zarrio.store import MappingStore
    >>> check_replaceable(MappingStore({"zarr.json": b'{"node_type": "group"}'}))
    """
    if store.supports_listing:
        _refuse_foreign(store)


#: Zarr's own documents: v3, v2 (array, group, attributes, consolidated) and N5.
METADATA_NAMES = frozenset({"zarr.json", ".zarray", ".zgroup", ".zattrs", ".zmetadata", "attributes.json"})
#: How many foreign keys a refusal names.
_SHOWN = 5


def _refuse_foreign(store: Store) -> None:
    if store.exists(""):
        raise ContainsArrayError(
            f"mode='w' would delete {store.describe()}, which is a single file or object, not a "
            "Zarr array or group; nothing was deleted. Move it or choose another path"
        )
    foreign = foreign_keys(store, store.list_keys())
    if foreign:
        more = f" and {len(foreign) - _SHOWN} more" if len(foreign) > _SHOWN else ""
        raise ContainsArrayError(
            f"mode='w' would delete everything at {store.describe()}, but it holds objects that are "
            f"not Zarr data: {foreign[:_SHOWN]!r}{more}; nothing was deleted. mode='w' only "
            "replaces Zarr arrays and groups: move these objects elsewhere or choose another path"
        )


def foreign_keys(store: Store, keys: list[str]) -> list[str]:
    """The ``keys`` below ``store`` that are no part of a Zarr hierarchy rooted there.

    Part of it: metadata documents (:data:`METADATA_NAMES`) at any level; chunk keys of
    the arrays found (spelled as each array's metadata says: v3 ``c/1/2`` or ``c.1.2``,
    v2 ``1.2`` or ``1/2``, N5 ``1/2``), and temporary ``.tmp-*`` files of interrupted
    writes inside them; dask_zarrio's own ``.dz-*`` objects (journals, lock files).

    Examples
    --------
    >>> from dask_zarrio.store import MappingStore
    >>> m = {"a/.zarray": b'{"shape": [4, 4], "dimension_separator": "."}', "a/0.1": b"", "a/x": b""}
    >>> foreign_keys(MappingStore(m), sorted(m))
    ['a/x']
    """
    arrays: dict[str, re.Pattern[str]] = {}
    for key in keys:
        folder, _, name = key.rpartition("/")
        if name in ("zarr.json", ".zarray", "attributes.json"):
            pattern = _chunk_pattern(name, store.get(key))
        elif name == JOURNAL_KEY:  # an unfinished write: its chunks are the journal's array's
            pattern = _journal_pattern(store, key)
        else:
            continue
        if pattern is not None:
            arrays.setdefault(folder, pattern)
    return [key for key in keys if not _is_zarr(key, arrays)]


def _is_zarr(key: str, arrays: dict[str, re.Pattern[str]]) -> bool:
    parts = key.split("/")
    if parts[-1] in METADATA_NAMES or any(p.startswith(".dz-") for p in parts):
        return True
    # The array holding this key, if any, is one of its ancestors (arrays hold no nodes).
    for depth in range(len(parts)):
        pattern = arrays.get("/".join(parts[:depth]))
        if pattern is not None:
            rest = "/".join(parts[depth:])
            return bool(pattern.fullmatch(rest)) or parts[-1].startswith(".tmp-")
    return False


def _journal_pattern(store: Store, key: str) -> re.Pattern[str] | None:
    """The chunk keys of the array an unfinished write's journal describes."""
    try:
        doc = json.loads(store.get(key) or b"null")["metadata"]
        name = {3: "zarr.json", 2: ".zarray"}.get(doc.get("zarr_format"), "attributes.json")
        return _chunk_pattern(name, json.dumps(doc).encode())
    except (ValueError, TypeError, KeyError, AttributeError):
        return None


def _chunk_pattern(name: str, raw: bytes | None) -> re.Pattern[str] | None:
    """The chunk keys of the array whose metadata document ``name`` holds ``raw``; ``None``
    for a group or a document that does not parse (its folder's other objects are then foreign)."""
    try:
        doc = json.loads(raw) if raw is not None else None
        if not isinstance(doc, dict):
            return None
        if name == "zarr.json":
            if doc.get("node_type") != "array":
                return None
            ndim = len(doc["shape"])
            encoding = doc.get("chunk_key_encoding") or {}
            separator = (encoding.get("configuration") or {}).get("separator")
            if encoding.get("name", "default") == "default":
                return re.compile("c" + f"{re.escape(separator or '/')}\\d+" * ndim)
            return _joined(ndim, re.escape(separator or "."))
        if name == ".zarray":
            # No declared separator: zarr-python wrote both spellings over the years.
            separator = doc.get("dimension_separator")
            return _joined(len(doc["shape"]), re.escape(separator) if separator else "[./]")
        if "dimensions" in doc and "dataType" in doc:
            return _joined(len(doc["dimensions"]), "/")
    except (ValueError, TypeError, KeyError, AttributeError):
        pass
    return None


def _joined(ndim: int, separator: str) -> re.Pattern[str]:
    # A 0-d array has the single chunk "0".
    return re.compile("\\d+" + f"(?:{separator}\\d+)" * (ndim - 1) if ndim else "0")
