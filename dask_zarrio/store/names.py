"""Member names: the one check every name and node path passes before it reaches a store."""

from __future__ import annotations

import re

from ..errors import ZarrioError

__all__ = ["FORBIDDEN_CHARACTERS", "MAX_SEGMENT_BYTES", "member_path", "node_path"]

#: Characters never part of a member name: a backslash (a path separator on Windows),
#: control characters (C0, DEL, C1: a newline ends a URL's path, NUL a C string), line
#: and paragraph separators, bidirectional overrides and isolates (they show a name
#: spelled otherwise than it is), and lone surrogates (no UTF-8 spelling at all).
FORBIDDEN_CHARACTERS = re.compile(
    r"[\x00-\x1f\x7f-\x9f\\\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]"
)
#: The longest segment, in UTF-8 bytes, that file systems take as a name (POSIX NAME_MAX).
MAX_SEGMENT_BYTES = 255


def member_path(path: object) -> str:
    """``path`` as a member below a node, refused if it could resolve anywhere else.

    The one check for names from users (``group["a/b"]``), from stores (consolidated
    metadata, listings), from data (``write_dataset`` variable names) and from the node
    paths of stores' constructors and URLs (:func:`node_path`). A trailing ``/`` is
    dropped; ``..``, ``.``, empty segments, absolute paths, segments longer than 255
    UTF-8 bytes, backslashes, control characters (newline, NUL, C1), line separators,
    bidirectional overrides and lone surrogates are refused, naming the member.

    Examples
    --------
    >>> member_path("grp/temp/")
    'grp/temp'
    >>> member_path("../x")
    Traceback (most recent call last):
    ...
    dask_zarrio.errors.ZarrioError: member name '../x' has the segment '..', which would leave ...
    """
    if not isinstance(path, str):
        raise ZarrioError(f"member name {path!r} must be a string such as 'group/array'")
    name = path[:-1] if path.endswith("/") and len(path) > 1 else path
    if FORBIDDEN_CHARACTERS.search(name):
        raise ZarrioError(
            f"member name {path!r} holds a backslash, a control character (newline, NUL, ...), a line "
            "separator, a bidirectional override or a lone surrogate; member names are '/'-separated "
            "and printable: rename the member"
        )
    if name.startswith("/"):
        raise ZarrioError(
            f"member name {path!r} is absolute; give it relative to the group, e.g. {name.lstrip('/')!r}"
        )
    for segment in name.split("/"):
        if segment in ("", ".", ".."):
            what = "an empty segment" if not segment else f"the segment {segment!r}"
            raise ZarrioError(
                f"member name {path!r} has {what}, which would leave the member's group or "
                "name it twice; use plain names separated by single '/'"
            )
        if len(segment.encode()) > MAX_SEGMENT_BYTES:
            raise ZarrioError(
                f"member name {path!r} has a segment of {len(segment.encode())} UTF-8 bytes; file "
                f"systems take at most {MAX_SEGMENT_BYTES}: use a shorter name"
            )
    return name


def node_path(root: str) -> str:
    """A store's node path from its constructor or URL: ``""`` (the top) or a :func:`member_path`.

    One leading ``/`` is dropped (``"/a/"`` is ``"a"``, as :func:`member_path` drops one
    trailing); the rest must be a member name, so a node path cannot hold what ``child``
    would refuse.

    Examples
    --------
    >>> node_path("/"), node_path("/grp/a.zarr/")
    ('', 'grp/a.zarr')
    >>> node_path("g//a")
    Traceback (most recent call last):
    ...
    dask_zarrio.errors.ZarrioError: member name 'g//a' has an empty segment, ...
    """
    if not isinstance(root, str):
        raise ZarrioError(f"node path {root!r} must be a string such as 'group/array'")
    inner = root[1:] if root.startswith("/") else root
    return member_path(inner) if inner not in ("", "/") else ""
