"""What the browsing commands show beyond the library's documents: attribute values, CF times,
plurals, and the Zarr stores under a prefix that is none itself (``dz ls s3://bucket/prefix``)."""

from __future__ import annotations

import reprlib
from typing import Any

import numpy as np

from ..errors import ArrayNotFoundError
from ..metadata.group import GroupMetadata
from ..metadata.node import read_node
from ..metadata.spec import ArrayMetadata
from ..store import Store
from ..tools.info import size_text

__all__ = [
    "attribute_lines", "decode_cf_times", "find_stores", "plural", "shape_text", "size_or_unknown", "stores_under",
]

#: How much of one attribute's value ``dz info`` shows.
ATTRIBUTE_WIDTH = 80
_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = ATTRIBUTE_WIDTH
_REPR.maxlist, _REPR.maxdict, _REPR.maxlevel = 8, 8, 3


def plural(n: int, word: str) -> str:
    """``"1 array"``, ``"2 arrays"``, ``"0 groups"``.

    Examples
    --------
    >>> plural(1, "array"), plural(0, "group"), plural(3, "problem")
    ('1 array', '0 groups', '3 problems')
    """
    return f"{n} {word}{'' if n == 1 else 's'}"


def shape_text(shape: list[int] | tuple[int, ...] | None) -> str:
    """A shape as Python prints it: ``(240,)``, ``(20, 20)``; ``-`` for none.

    Examples
    --------
    >>> shape_text([240]), shape_text([20, 20]), shape_text(None)
    ('(240,)', '(20, 20)', '-')
    """
    return "-" if shape is None else str(tuple(shape))


def size_or_unknown(n: int | None) -> str:
    """Bytes in IEC units (``"1.9 KiB"``), ``"?"`` where the store does not list sizes."""
    return "?" if n is None else size_text(n)


def attribute_lines(attributes: dict[str, Any]) -> str:
    """One ``name: value`` line per attribute, each value cut to about :data:`ATTRIBUTE_WIDTH` characters.

    Examples
    --------
    >>> print(attribute_lines({"units": "K", "history": "x" * 200}))
    history: 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx…' (200 characters)
    units: 'K'
    """
    lines = []
    for name in sorted(attributes):
        value = attributes[name]
        text = _REPR.repr(value)
        if isinstance(value, str) and len(value) > ATTRIBUTE_WIDTH:
            text = f"{value[:ATTRIBUTE_WIDTH - 3]!r}"[:-1] + f"…' ({len(value)} characters)"
        elif len(text) > ATTRIBUTE_WIDTH:
            text = text[:ATTRIBUTE_WIDTH - 1] + "…"
        lines.append(f"{name}: {text}")
    return "\n".join(lines) or "-"


def decode_cf_times(data: np.ndarray, attributes: dict[str, Any]) -> np.ndarray | None:
    """``data`` as times when its ``units`` say "<unit> since <date>" (CF conventions), else ``None``.

    Decoded as xarray decodes them (its own decoder when xarray is installed):
    ``datetime64`` for the standard calendars, cftime dates for the others (``noleap``,
    ``360_day``, ...). Without xarray, cftime decodes them; without either, ``None``.

    Examples
    --------
    >>> decode_cf_times(np.arange(2), {"units": "days since 2000-01-01"})
    array(['2000-01-01T00:00:00.000000000', '2000-01-02T00:00:00.000000000'],
          dtype='datetime64[ns]')
    >>> decode_cf_times(np.arange(2), {"units": "m"}) is None
    True
    """
    units = attributes.get("units")
    if not isinstance(units, str) or " since " not in units or data.dtype.kind not in "iuf":
        return None
    calendar = attributes.get("calendar", "standard")
    try:
        from xarray.coding.times import decode_cf_datetime
    except ImportError:
        try:
            import cftime
        except ImportError:
            return None
        return np.asarray(cftime.num2date(data, units, calendar))
    return np.asarray(decode_cf_datetime(data, units, calendar))


def _node(store: Store) -> ArrayMetadata | GroupMetadata | None:
    try:
        return read_node(store, expect_group=True)
    except ArrayNotFoundError:
        return None


def find_stores(
    store: Store, depth: int, limit: int
) -> tuple[list[tuple[str, ArrayMetadata | GroupMetadata]], bool]:
    """The Zarr arrays and groups under ``store`` (a prefix that is none itself), at most ``depth``
    levels down, the first ``limit`` of them by path; and whether more were left out.

    A node found is not looked into (its members are ``dz ls``'s of that node).
    """
    found: list[tuple[str, ArrayMetadata | GroupMetadata]] = []
    level = [("", store)]
    for _ in range(depth):
        below = []
        for path, here in level:
            for name in sorted(here.list_dir()):
                if name.startswith("."):
                    continue
                child, child_path = here.child(name), f"{path}{name}"
                meta = _node(child)
                if meta is None:
                    below.append((f"{child_path}/", child))
                    continue
                if len(found) == limit:
                    return found, True
                found.append((child_path, meta))
        level = below
    return found, False


def stores_under(store: Store, depth: int, limit: int) -> tuple[list[tuple[str, Any]], bool]:
    """:func:`find_stores`, refused when there is none (the message of a URL that is no node)."""
    found, more = find_stores(store, depth, limit)
    if not found:
        raise ArrayNotFoundError(
            f"no Zarr array or group at {store.describe()} nor under it within --depth {depth}: "
            "point the URL at a store, or look deeper with --depth"
        )
    return found, more
