"""``write_dataset``'s modes, as ``Dataset.to_zarr`` has them, and the group each one writes into.

===== =====================================================================================
mode  what it does
===== =====================================================================================
w-    create the group; refused if anything is there
w     replace the group (only Zarr objects are deleted)
a     create the group where there is none; otherwise overwrite the values of variables
      already there (or append along ``append_dim``), add new ones, replace the group's
      attributes
a-    as "a", but with ``append_dim`` variables without that dimension are left alone
r+    write into variables already there (their values, or a ``region``); nothing else
      changes, and a variable not there yet is refused
===== =====================================================================================
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..errors import ArgumentTypeError, ZarrioError
from ..hierarchy import Group, create_group
from ..metadata.arguments import check_attributes
from ..metadata.writer import write_node
from ..store import Store
from .encoding import json_attrs

__all__ = ["DATASET_MODES", "choose_mode", "dataset_group", "encoded_name", "validate_names"]

#: The modes of ``to_zarr``, as ``write_dataset`` takes them.
DATASET_MODES = ("w-", "w", "a", "a-", "r+")
#: What ``to_zarr`` stores a variable named ``None`` as (xarray's ``NONE_VAR_NAME``; read back as ``None``).
NONE_NAME = "__values__"


def choose_mode(mode: str | None, append_dim: Any, region: Any) -> str:
    """``mode``, or when ``None`` what ``to_zarr`` infers; options that do not go with it are refused.

    Examples
    --------
    >>> choose_mode(None, "time", None), choose_mode(None, None, {"x": slice(2)}), choose_mode(None, None, None)
    ('a', 'r+', 'w-')
    >>> choose_mode("w", "time", None)
    Traceback (most recent call last):
    ...
    dask_zarrio.errors.ZarrioError: cannot set append_dim unless mode='a' or mode=None ...
    """
    if mode is None:
        mode = "a" if append_dim is not None else "r+" if region is not None else "w-"
    if mode not in DATASET_MODES:
        raise ZarrioError(
            f"The only supported options for mode are 'w', 'w-', 'a', 'a-', and 'r+', but mode={mode!r}"
        )
    if append_dim is not None and mode not in ("a", "a-"):
        raise ZarrioError(
            f"cannot set append_dim unless mode='a' or mode=None (or 'a-'); got mode={mode!r} "
            f"with append_dim={append_dim!r}"
        )
    if region is not None and mode not in ("a", "a-", "r+"):
        raise ZarrioError(
            f"cannot set region unless mode='a', mode='a-', mode='r+' or mode=None; got mode={mode!r}"
        )
    return mode


def validate_names(ds: Any) -> None:
    """Every variable name a non-empty string (or ``None``), as ``to_zarr`` checks them.

    A name of another type is an :class:`ArgumentTypeError` (a ``TypeError``), an empty
    name a :class:`ZarrioError`: the same classes ``to_zarr`` raises.
    """
    for name in ds.variables:
        if isinstance(name, str):
            if not name:
                raise ZarrioError(
                    f"Invalid name {name!r} for DataArray or Dataset key: string must be length 1 or "
                    "greater for serialization to netCDF or zarr files"
                )
        elif name is not None:
            raise ArgumentTypeError(
                f"Invalid name {name!r} for DataArray or Dataset key: must be either a string or None "
                f"for serialization to netCDF or zarr files; rename it, e.g. ds.rename({{{name!r}: "
                f"{str(name)!r}}})"
            )


def encoded_name(name: Any) -> str:
    """The array name of a variable: ``None`` (a nameless DataArray's) as ``to_zarr`` stores it."""
    return NONE_NAME if name is None else str(name)


def dataset_group(node: Store, root: Group | None, mode: str, attrs: dict[str, Any], zarr_format: int) -> None:
    """Make the group ready for ``mode``: created (or replaced), or its attributes replaced.

    ``root`` is the stored group ("a", "a-", "r+"), ``None`` where there is none or
    ("w", "w-") it is created anew. Its attributes are written for every mode but "r+",
    as ``to_zarr`` writes them: the Dataset's replace the stored ones.
    """
    if root is None:
        create_group(node, attributes=json_attrs(attrs), zarr_format=zarr_format, mode="w" if mode == "w" else "w-")
    elif mode != "r+":
        _with_attributes(root, attrs)


def _with_attributes(root: Group, attrs: dict[str, Any]) -> Group:
    """``root`` with its attributes replaced by ``attrs`` (its members and consolidated metadata kept)."""
    meta = replace(root.metadata, attributes=check_attributes(json_attrs(attrs)))
    if meta.attributes != root.metadata.attributes:
        write_node(root.store, meta)
    return Group(root.store, meta, allow_pickle=root.allow_pickle)
