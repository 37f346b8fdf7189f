"""``write_dataset(region=...)``: the region checked and found as ``to_zarr`` finds it.

A region write changes no metadata: the Dataset's indexes (which ``region="auto"``
finds the region by) are not written, as ``to_zarr`` leaves them out, so that a region
write never rewrites a coordinate, and every other variable must share a dimension with
the region.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import ArgumentTypeError, MissingVariableError, ZarrioError
from ..hierarchy import Group
from .appending import stored_variables

__all__ = ["resolve_region"]


def resolve_region(region: Any, ds: Any, root: Group | None, mode: str, append_dim: Any) -> tuple[Any, Any]:
    """``(ds, region)``: the Dataset without its indexes and ``{dim: slice}``; ``ds`` as it is without a region.

    ``"auto"`` (for the whole region or one dimension) is where the Dataset's index values
    sit in the stored index; a dimension without an index is whole.

    Examples
    --------
    >>> import xarray as xr
    >>> ds = xr.Dataset({"v": ("x", [1, 2])}, coords={"x": [10, 20]})
    >>> out, region = resolve_region({"x": slice(2, 4)}, ds, None, "r+", None)
    >>> list(out.variables), region
    (['v'], {'x': slice(2, 4, None)})
    """
    if region is None:
        return ds, None
    if isinstance(region, str) and region == "auto":
        region = dict.fromkeys(ds.dims, "auto")
    if not isinstance(region, Mapping):
        raise ArgumentTypeError(
            f"``region`` must be a dict, got {type(region)} (region={region!r}): give "
            "{dimension: slice(start, stop)} or 'auto'"
        )
    region = dict(region)
    if any(isinstance(v, str) and v == "auto" for v in region.values()):
        if mode not in ("r+", "a", "a-"):
            raise ZarrioError(f"``mode`` must be 'r+' or 'a' when using ``region='auto'``, got {mode!r}")
        region = _auto(region, ds, root)
    for dim, value in region.items():
        if dim not in ds.dims:
            raise ZarrioError(
                f"all keys in ``region`` are not in Dataset dimensions, got {list(region)} and {list(ds.dims)}"
            )
        if not isinstance(value, slice):
            raise ArgumentTypeError(
                f"all values in ``region`` must be slice objects, got region={region}; "
                f"write region[{dim!r}] as slice(start, stop)"
            )
        if value.step not in (1, None):
            raise ZarrioError(f"step on all slices in ``region`` must be 1 or None, got region={region}")
    unrelated = [k for k, v in ds.variables.items() if not set(region) & set(v.dims)]
    if region and unrelated:
        raise ZarrioError(
            f"when setting `region` explicitly in to_zarr() or write_dataset, all variables in the dataset to "
            f"write must have at least one dimension in common with the region's dimensions {list(region)}, "
            f"but that is not the case for some variables here. To drop these variables from this dataset "
            f"before exporting to zarr, write: .drop_vars({unrelated!r})"
        )
    if append_dim is not None and append_dim in region:
        raise ZarrioError(
            f"cannot list the same dimension in both ``append_dim`` and ``region`` with to_zarr() or "
            f"write_dataset, got {append_dim!r} in both"
        )
    return ds.drop_vars(list(ds.indexes)), region


def _auto(region: dict[Any, Any], ds: Any, root: Group | None) -> dict[Any, Any]:
    """Every ``"auto"`` of ``region`` as the slice where the data's index values are stored."""
    out = dict(region)
    for dim, value in region.items():
        if not (isinstance(value, str) and value == "auto") or dim not in ds.dims:
            continue  # refused by resolve_region, naming the dimensions
        if dim not in ds.variables:
            out[dim] = slice(0, ds.sizes[dim])
            continue
        if root is None or dim not in set(root.array_keys()):
            raise MissingVariableError(
                f"region[{dim!r}]='auto': the store has no {dim!r} coordinate to find the data's place in; "
                "give the region as a slice"
            )
        stored = np.asarray(stored_variables(root, [dim])[dim].values)
        positions = _index(stored).get_indexer(ds[dim].values)
        if (positions == -1).any():
            raise MissingVariableError(
                f"Not all values of coordinate {dim!r} in the new array were found in the original store. "
                "Writing to a zarr region slice requires that no dimensions or metadata are changed by the "
                "write; append new values with append_dim= instead"
            )
        if (np.diff(positions) != 1).any():
            raise ZarrioError(
                f"The auto-detected region of coordinate {dim!r} for writing new data to the original store "
                "had non-contiguous indices. Writing to a zarr region slice requires that the new data "
                "constitute a contiguous subset of the original store"
            )
        out[dim] = slice(int(positions[0]), int(positions[-1]) + 1)
    return out


def _index(values: np.ndarray) -> Any:
    import pandas as pd

    return pd.Index(values)
