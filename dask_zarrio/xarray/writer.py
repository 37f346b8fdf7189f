"""Writing an xarray Dataset as a Zarr group: :func:`write_dataset`.

Each variable is CF-encoded by xarray's own coders (:mod:`.encoding` says what is
stored per variable) and written by :func:`dask_zarrio.write`, into a new group or
into a stored one (appended along a dimension, or into a region found as ``to_zarr``
finds it); into Icechunk the whole Dataset is one commit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .._compat import xarray_fill_value_coder
from ..api import write
from ..errors import ZarrioError
from ..graph.builder import refuse_reading_from
from ..hierarchy import Group, consolidate, create_group, open_group
from ..metadata import ArrayMetadata
from ..metadata.create import NO_FILL
from ..store import Store, open_store
from ..store.backends.icechunk_store import is_icechunk
from ..store.base import member_path, redact_url
from ..typing import StoreLike
from ..writing.modes import check_mode, default_mode
from ..writing.transactions import Member, Transaction, begin, commit_parts
from .backend import _dataset, _xarray
from .encoding import (
    CF_ENCODING,
    ENCODING_ATTRS,
    check_encoding,
    encode_variable,
    json_attrs,
    layout_arguments,
    numpy_variable,
)

__all__ = ["write_dataset"]


def write_dataset(
    ds: Any,
    url: StoreLike,
    *,
    mode: str | None = None,
    region: Mapping[str, slice | str] | str | None = None,
    append_dim: str | None = None,
    zarr_format: int = 3,
    consolidated: bool = True,
    encoding: Mapping[str, Mapping[str, Any]] | None = None,
    storage_options: dict[str, Any] | None = None,
    safe_chunks: bool = True,
    align_chunks: bool | None = None,
    write_empty_chunks: bool | None = None,
    branch: str | None = None,
    commit: str | None = None,
    rebase: bool = False,
) -> None:
    """Write an xarray Dataset as a Zarr group that ``xr.open_zarr`` reads back identically.

    Every variable goes through :func:`dask_zarrio.write` (the planner keeps the
    writes lock-free); CF encoding is xarray's own.

    Parameters
    ----------
    ds
        The Dataset; dask-backed variables are written in parallel.
    url
        Where the group goes (any URL :func:`dask_zarrio.write` takes).
    mode
        "w-" create, "w" replace, "a" append (with ``append_dim``) or add variables,
        "r+" write ``region`` into existing variables. ``None`` (default) infers it as
        ``xarray.Dataset.to_zarr`` does: "a" with ``append_dim``, "r+" with ``region``,
        else "w-".
    region
        With "r+": ``{dim: slice}``; variables without any of those dimensions are skipped.
        ``"auto"`` (for the whole dict or one dimension) finds the slice where the data's
        index values sit in the stored index, as ``to_zarr(region="auto")`` does.
    append_dim
        With "a": the dimension to grow; variables without it are left as they are.
    zarr_format
        3 (default) or 2.
    consolidated
        Write consolidated metadata afterwards.
    encoding
        Per variable, as xarray's ``to_zarr``: the layout (``chunks``, ``shards``,
        ``compressors`` or ``compressor``, ``filters``, ``serializer``, ``chunk_key_encoding``,
        v3 ``fill_value``: as :func:`dask_zarrio.write` takes them) and CF encodings
        (``dtype``, ``_FillValue``, ``scale_factor``, ``add_offset``, ``units``,
        ``calendar``); read-side hints (``preferred_chunks``) are ignored. Unknown keys
        and ``write_empty_chunks=True`` (fill-only chunks are never stored) are refused,
        each with the reason.
    safe_chunks, align_chunks
        xarray's names for what dz's planner does: dask chunks that would split stored
        chunks are rechunked so that no two tasks write one chunk (``align_chunks=True``,
        and the default here). ``align_chunks=False`` with ``safe_chunks=True`` refuses
        such writes instead (:class:`MisalignedWriteError`), as ``to_zarr`` does.
        ``safe_chunks=False`` cannot make a write unsafe: it is rechunked all the same.
    write_empty_chunks
        ``True`` is refused: dz never stores chunks that hold only the fill value.
    branch, commit, rebase
        With an Icechunk ``url`` (a Repository, a writable Session, ``(repo, "group")``,
        ``icechunk://``), as in :func:`dask_zarrio.write`: every variable is written in one
        graph and the whole Dataset is **one commit** (a Session's changes are merged into
        it, committed only with ``commit=``); a failed write commits nothing. Icechunk
        needs no consolidated metadata: ``consolidated`` has no effect there.

    Examples
    --------
    >>> import numpy as np, xarray as xr, dask_zarrio as dz
    >>> ds = xr.Dataset({"v": (("x",), np.arange(4.0))})
    >>> dz.write_dataset(ds, "memory://doc/wd.zarr", mode="w", zarr_format=2)
    >>> xr.open_dataset("memory://doc/wd.zarr", engine="dask_zarrio").v.values.tolist()
    [0.0, 1.0, 2.0, 3.0]
    """
    xr = _xarray()
    mode = _dataset_mode(mode, region, append_dim, write_empty_chunks)
    align = "raise" if align_chunks is False and safe_chunks else "auto"
    tx = _begin_transaction(url, zarr_format, branch, commit, rebase, storage_options)
    if tx is not None:
        url, storage_options, consolidated = tx.store, None, False
    parts: list[Any] = []  # Icechunk: each write's merged fork, committed together
    try:
        # Non-index coordinates are listed in a "coordinates" attribute (CF), here or per variable.
        variables, attrs = xr.conventions.encode_dataset_coordinates(ds)
        encodings = check_encoding(encoding or {}, variables, zarr_format)
        root_store = open_store(url, storage_options)
        _prepare_variables(variables, root_store, mode)
        root, zarr_format, regions = _dataset_group(url, ds, attrs, mode, region, zarr_format, storage_options)
        existing = set() if root is None else set(root.array_keys())
        how: dict[str, Any] = {"storage_options": storage_options, "align": align}
        for name, var in variables.items():
            enc = encodings.get(name, {})
            stored = root.array_node(name)[1] if root is not None and name in existing else None
            var, fill, var_attrs = _encoded_variable(var, name, enc, stored, zarr_format)
            target: Any = Member(tx, name) if tx is not None else root_store.child(name)
            if stored is None and mode == "r+":
                raise ZarrioError(
                    f"variable {name!r} does not exist at {redact_url(repr(url))}; "
                    "mode='r+' only writes into existing ones"
                )
            if stored is not None and mode == "a":
                parts += _appended(var, target, append_dim, how)
            elif mode == "r+":
                parts += _written_into(var, target, regions, how)
            else:
                parts.append(write(
                    var.data, target, mode="w-" if mode != "w" else "w", zarr_format=zarr_format,
                    fill_value=fill, attributes=json_attrs(var_attrs), dimension_names=list(var.dims),
                    **layout_arguments(enc, var.data, zarr_format), **how,
                ))
    except BaseException:
        if tx is not None:
            tx.abandon()  # nothing of this Dataset reaches the caller's session
        raise
    if tx is not None:
        commit_parts(parts, tx)
    if consolidated:
        consolidate(url, storage_options=storage_options)


def _dataset_mode(mode: str | None, region: Any, append_dim: str | None, write_empty_chunks: bool | None) -> str:
    """The write's mode, inferred as ``to_zarr`` infers it; options that do not go with it are refused."""
    mode = check_mode(
        default_mode(mode, append_dim=append_dim, region=region), ("w-", "w", "a", "r+"), "dz.write_dataset"
    )
    if region is not None and mode != "r+":
        raise ZarrioError("region= needs mode='r+'")
    if append_dim is not None and mode != "a":
        raise ZarrioError("append_dim= needs mode='a'")
    if write_empty_chunks:
        raise ZarrioError(
            "write_empty_chunks=True: dask_zarrio never stores chunks that hold only the fill value "
            "(they read as the fill value anyway); drop the option"
        )
    return mode


def _begin_transaction(
    url: StoreLike, zarr_format: int, branch: str | None, commit: str | None, rebase: bool,
    storage_options: dict[str, Any] | None,
) -> Transaction | None:
    """The Icechunk transaction the whole Dataset is written in; ``None`` (and no Icechunk options) elsewhere."""
    if is_icechunk(url):
        if zarr_format != 3:
            raise ZarrioError(f"icechunk stores Zarr v3 only, not zarr_format={zarr_format!r}; pass zarr_format=3")
        return begin(url, branch=branch, message=commit, rebase=rebase, storage_options=storage_options)
    if branch is not None or commit is not None or rebase:
        raise ZarrioError("branch=, commit= and rebase= apply to Icechunk targets only; drop them")
    return None


def _prepare_variables(variables: dict[str, Any], root_store: Store, mode: str) -> None:
    """Every variable's name checked and its data made numpy or dask, before anything is written or cleared.

    A variable named ".." must not send a mode="w" write to the dataset's parent folder,
    and under mode="w" no variable may read from the group, which is cleared first.
    """
    for name, var in list(variables.items()):
        member_path(name)
        variables[name] = var = numpy_variable(var, name)
        if mode == "w":
            refuse_reading_from(var.data, root_store, "dz.write_dataset")


def _dataset_group(
    url: StoreLike, ds: Any, attrs: dict[str, Any], mode: str, region: Any, zarr_format: int,
    storage_options: dict[str, Any] | None,
) -> tuple[Group | None, int, dict[str, slice] | None]:
    """The group a new Dataset creates (``None``), or the stored one with its format and ``region`` found."""
    if mode in ("w-", "w"):
        create_group(
            url, attributes=json_attrs(attrs), zarr_format=zarr_format, mode=mode, storage_options=storage_options
        )
        return None, zarr_format, None
    root = open_group(url, storage_options=storage_options)
    return root, int(root.zarr_format), None if region is None else _auto_region(region, ds, root)


def _encoded_variable(
    var: Any, name: str, enc: Mapping[str, Any], stored: ArrayMetadata | None, zarr_format: int
) -> tuple[Any, Any, dict[str, Any]]:
    """A variable CF-encoded as ``to_zarr`` encodes it, with its array's fill value and attributes.

    New data for a ``stored`` array is encoded as the stored data was (time units, scale,
    dtype); the CF keys of ``enc`` go through xarray's coder. Zarr v2 keeps ``_FillValue``
    as the array's fill value (``null`` where there is none, so that 0 stays a value).
    """
    if stored is not None:
        var = var.copy(deep=False)
        var.encoding.update({k: stored.attributes[k] for k in ENCODING_ATTRS if k in stored.attributes})
        var.encoding["dtype"] = stored.dtype
    if any(k in enc for k in CF_ENCODING):  # applied by xarray's CF coder, as to_zarr does
        var = var.copy(deep=False)
        var.encoding.update({k: enc[k] for k in CF_ENCODING if k in enc})
    var = encode_variable(var, name, zarr_format)
    var_attrs = dict(var.attrs)
    if zarr_format == 2:
        fill = var_attrs.pop("_FillValue", None)
        return var, NO_FILL if fill is None else fill, var_attrs
    if var_attrs.get("_FillValue") is not None:
        var_attrs["_FillValue"] = xarray_fill_value_coder().encode(var_attrs["_FillValue"], var.dtype)
    return var, enc.get("fill_value", np.nan if var.dtype.kind == "f" else None), var_attrs


def _appended(var: Any, target: Any, append_dim: str | None, how: dict[str, Any]) -> list[Any]:
    """The write (a list of one) that grows a stored variable along ``append_dim``.

    None where it does not have that dimension, or without ``append_dim`` (mode "a" then
    only adds new variables).
    """
    if append_dim is None or append_dim not in var.dims:
        return []
    return [write(var.data, target, mode="a", append_dim=var.dims.index(append_dim), **how)]


def _written_into(var: Any, target: Any, regions: dict[str, slice] | None, how: dict[str, Any]) -> list[Any]:
    """The write (a list of one) of a variable into its ``regions``; none if it has none of their dimensions."""
    if not regions or not set(regions) & set(var.dims):
        return []
    sel = tuple(regions.get(d, slice(None)) for d in var.dims)
    return [write(var.data, target, mode="r+", region=sel, **how)]


def _auto_region(region: Any, ds: Any, root: Group) -> dict[str, slice]:
    """``region`` with every ``"auto"`` (or ``region="auto"``) found as xarray's ``to_zarr`` finds it.

    A dimension's slice is where the dataset's index values sit in the stored index
    (they must all be there, contiguous and in order); a dimension without an index
    is whole.
    """
    wanted = dict.fromkeys(ds.dims, "auto") if isinstance(region, str) and region == "auto" else region
    if not isinstance(wanted, Mapping):
        raise ZarrioError(f"region={region!r} must be a dict of dimension: slice (or 'auto'), or 'auto'")
    stored = None
    out: dict[str, slice] = {}
    for dim, value in wanted.items():
        if dim not in ds.dims:
            raise ZarrioError(f"region names {dim!r}, which is not one of the dataset's dimensions {list(ds.dims)!r}")
        if isinstance(value, slice):
            if value.step not in (None, 1):
                raise ZarrioError(f"region[{dim!r}]={value!r} must have step 1")
            out[dim] = value
            continue
        if not (isinstance(value, str) and value == "auto"):
            raise ZarrioError(f"region[{dim!r}]={value!r} must be a slice or 'auto'")
        if dim not in ds.indexes:
            out[dim] = slice(0, ds.sizes[dim])
            continue
        stored = _dataset(root, None, {}) if stored is None else stored
        if dim not in stored.indexes:
            raise ZarrioError(
                f"region[{dim!r}]='auto': the stored dataset has no {dim!r} index to find the data's place in"
            )
        positions = stored.indexes[dim].get_indexer(ds.indexes[dim])
        if (positions == -1).any() or (np.diff(positions) != 1).any():
            raise ZarrioError(
                f"region[{dim!r}]='auto': the data's {dim!r} values are not a contiguous run of the "
                "stored ones (some are missing or out of order); give the region as a slice"
            )
        out[dim] = slice(int(positions[0]), int(positions[-1]) + 1)
    return out
