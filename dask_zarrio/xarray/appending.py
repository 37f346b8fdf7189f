"""Writing into variables a group already holds: the checks ``to_zarr`` makes first.

New data for a stored variable is encoded exactly as the stored data was (its CF encoding
is read back from the stored attributes), must have the stored dimensions (transposed to
their order where only the order differs) and sizes (but along ``append_dim``), and a
fixed-width string or bytes type of exactly the stored width: a longer string would be cut
to the stored width without a word, so it is refused (xarray's "Mismatched dtypes").
``encoding=`` for a stored variable is refused: its layout is the stored one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from .._compat import xarray_fill_value_coder
from ..errors import ZarrioError
from ..graph.builder import array_from_metadata
from ..hierarchy import Group
from ..metadata import ArrayMetadataV2, ArrayMetadataV3
from .backend import _xarray

__all__ = [
    "check_append_dim", "check_dtype", "check_no_encoding", "matching_dims", "stored_dims", "stored_variables",
]


def stored_dims(root: Group, name: str) -> tuple[str, ...]:
    """The dimension names of a stored array (v3 ``dimension_names``, v2 ``_ARRAY_DIMENSIONS``)."""
    meta = root.array_node(name)[1]
    if isinstance(meta, ArrayMetadataV3) and meta.dimension_names is not None:
        return tuple(d or f"dim_{i}" for i, d in enumerate(meta.dimension_names))
    return tuple(meta.attributes.get("_ARRAY_DIMENSIONS", [f"dim_{i}" for i in range(len(meta.shape))]))


def stored_variables(root: Group, names: Iterable[str]) -> dict[str, Any]:
    """The stored arrays ``names`` as CF-decoded, lazy xarray Variables (nothing is read but metadata).

    Their ``encoding`` (units, calendar, dtype, ``_FillValue``, scale and offset) is how
    new data for them is encoded; a coordinate read for ``region="auto"`` reads its values.
    """
    xr = _xarray()
    raw = {}
    for name in names:
        store, meta = root.array_node(name)
        attrs = {k: v for k, v in meta.attributes.items() if k != "_ARRAY_DIMENSIONS"}
        if isinstance(meta, ArrayMetadataV2):
            if meta.fill_value is not None:
                attrs["_FillValue"] = meta.fill_value[()]
        elif "_FillValue" in attrs:
            attrs["_FillValue"] = xarray_fill_value_coder().decode(attrs["_FillValue"], meta.dtype)
        data = array_from_metadata(store, meta, allow_pickle=root.allow_pickle)
        raw[name] = xr.Variable(stored_dims(root, name), data, attrs)
    decoded, _, _ = xr.conventions.decode_cf_variables(raw, {})
    return dict(decoded)


def check_append_dim(append_dim: Any, root: Group, stored: Iterable[str]) -> None:
    """``append_dim`` must be a dimension of some stored array (as ``to_zarr`` checks)."""
    if append_dim is None or append_dim in set(stored):
        return
    dims: dict[str, int] = {}
    for name in root.array_keys():
        dims.update(zip(stored_dims(root, name), root.array_node(name)[1].shape))
    if append_dim not in dims:
        raise ZarrioError(
            f"append_dim={append_dim!r} does not match any existing dataset dimensions {dims}; "
            "append along one of them, or write the new dimension's variables with mode='a' and no append_dim"
        )


def check_no_encoding(encoding: Mapping[Any, Any], stored: Iterable[str]) -> None:
    """``encoding=`` for a stored variable is refused (its layout and codecs are the stored ones)."""
    for name in stored:
        if name in encoding:
            raise ZarrioError(
                f"variable {name!r} already exists, but encoding was provided; a variable written into "
                "keeps its stored layout and encoding: drop its entry from encoding="
            )


def check_dtype(name: Any, stored: Any, new: Any) -> None:
    """New data of a fixed-width string or bytes type must have the stored width exactly.

    numbers, times, booleans and objects convert without loss (or are checked when
    written); a wider ``<U4`` into ``<U2`` would be cut short without a word.
    """
    dtype = new.dtype
    if (
        np.issubdtype(dtype, np.number) or np.issubdtype(dtype, np.datetime64) or np.issubdtype(dtype, np.bool_)
        or dtype.kind in "OT" or (dtype.kind in "SU" and stored.dtype.kind == "O")
    ):
        return
    if dtype != stored.dtype:
        raise ZarrioError(
            f"Mismatched dtypes for variable {name} between Zarr store on disk and dataset to append. "
            f"Store has dtype {stored.dtype} but dataset to append has dtype {dtype}: it would be cut to the "
            f"stored width. Cast it, ds[{name!r}] = ds[{name!r}].astype({stored.dtype.str!r}) (values are "
            "cut), or store variable-width strings: encoding={name!r: {'dtype': object}} when first written"
        )


def matching_dims(name: Any, new: Any, stored: Any, region: Mapping[str, slice] | None, append_dim: Any) -> Any:
    """``new`` with the stored dimension order; refused where the dimensions or their sizes differ.

    Sizes are compared but along ``append_dim``, and within ``region`` where it names the dimension.
    """
    if new.dims != stored.dims:
        if set(new.dims) != set(stored.dims):
            raise ZarrioError(
                f"variable {name!r} already exists with different dimension names {stored.dims} != "
                f"{new.dims}, but changing variable dimensions is not supported by to_zarr() or "
                "write_dataset; write it under another name, or with mode='w'"
            )
        new = new.transpose(*stored.dims)
    want = {}
    for dim, size in stored.sizes.items():
        if region is not None and dim in region:
            start, stop, _ = region[dim].indices(size)
            size = stop - start
        if dim != append_dim:
            want[dim] = size
    have = {dim: size for dim, size in new.sizes.items() if dim != append_dim}
    if want != have:
        raise ZarrioError(
            f"variable {name!r} already exists with different dimension sizes: {want} != {have}. "
            f"to_zarr() only supports changing dimension sizes when explicitly appending, but "
            f"append_dim={append_dim!r}. To write into a part of the stored variable, pass region= "
            "(e.g. region='auto')"
        )
    return new
