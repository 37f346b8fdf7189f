"""xarray integration: an ``engine="dask_zarrio"`` backend and :func:`write_dataset`.

Reading builds each variable from a dask array made by dask_zarrio (no zarr-python
involved) and leaves CF decoding (times, scale/offset, ``_FillValue``, coordinates)
to xarray's own decoders. Writing encodes with xarray's encoders and stores what
``xr.open_zarr`` expects: ``_ARRAY_DIMENSIONS`` (v2) or ``dimension_names`` (v3),
CF attributes, and consolidated metadata. xarray is an optional extra:
``pip install dask_zarrio[xarray]``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from .._compat import xarray_fill_value_coder
from ..api import write
from ..errors import ZarrioError
from ..graph.builder import array_from_metadata, refuse_reading_from
from ..hierarchy import Group, consolidate, create_group, open_group
from ..metadata import ArrayMetadataV2, ArrayMetadataV3
from ..metadata.create import NO_FILL
from ..metadata.rectilinear import preferred_chunks
from ..store import open_store
from ..store.backends.icechunk_store import is_icechunk
from ..store.base import member_path, redact_url
from ..typing import StoreLike
from ..writing.modes import check_mode, default_mode
from ..writing.transactions import Member, begin, commit_parts
from .encoding import (
    CF_ENCODING,
    ENCODING_ATTRS,
    check_encoding,
    encode_variable,
    json_attrs,
    layout_arguments,
    numpy_variable,
)

__all__ = ["DaskZarrioBackendEntrypoint", "open_groups_as_dict", "write_dataset"]

#: numpy's variable-width text type (numpy 2+): what xr.open_zarr gives ``string``/``vlen-utf8`` arrays as.
_TEXT: np.dtype[Any] | None = np.dtypes.StringDType() if hasattr(np.dtypes, "StringDType") else None


def _xarray() -> Any:
    try:
        import xarray
    except ImportError as e:  # pragma: no cover - exercised only without the extra
        raise ImportError("this needs xarray: pip install dask_zarrio[xarray]") from e
    return xarray


def _variables(group: Group) -> dict[str, Any]:
    """Undecoded xarray Variables of a group's arrays (CF attributes as stored)."""
    xr = _xarray()
    out = {}
    for name in group.array_keys():
        store, meta = group.array_node(name)
        attrs = dict(meta.attributes)
        if isinstance(meta, ArrayMetadataV3) and meta.dimension_names is not None:
            dims = tuple(d or f"dim_{i}" for i, d in enumerate(meta.dimension_names))
        else:
            dims = tuple(attrs.pop("_ARRAY_DIMENSIONS", [f"dim_{i}" for i in range(len(meta.shape))]))
        if isinstance(meta, ArrayMetadataV2):
            # zarr v2's fill_value is the missing-value marker, as xarray's zarr backend reads it:
            # it wins over a stored _FillValue attribute (VirtualiZarr stores one base64-encoded).
            if meta.fill_value is not None:
                attrs["_FillValue"] = meta.fill_value[()]
        elif "_FillValue" in attrs:
            attrs["_FillValue"] = xarray_fill_value_coder().decode(attrs["_FillValue"], meta.dtype)
        data = array_from_metadata(store, meta, allow_pickle=group.allow_pickle)
        if meta.variable_kind == "string" and _TEXT is not None:
            data = data.astype(_TEXT)  # as xr.open_zarr gives text (zarr-python 3.1+, numpy 2), lazily
        # Irregular axes of a rectilinear grid give their chunk lengths, as xarray's zarr backend does,
        # so that chunks={} makes one dask block per stored chunk.
        edges = meta.chunk_edges if isinstance(meta, ArrayMetadataV3) else None
        chunks = meta.chunk_shape if edges is None else preferred_chunks(edges, meta.shape)
        encoding = {
            "chunks": chunks,
            "preferred_chunks": dict(zip(dims, chunks)),
            "dtype": data.dtype,
        }
        out[name] = xr.Variable(dims, data, attrs, encoding)
    return out


def _dataset(group: Group, drop_variables: Iterable[str] | None, decode: dict[str, Any]) -> Any:
    """Decoded before the Dataset is made, as xarray's own backends: an index built first, then
    decoded, would lose its numpy StringDType."""
    xr = _xarray()
    variables, attrs, coord_names = xr.conventions.decode_cf_variables(
        _variables(group), dict(group.metadata.attributes), drop_variables=drop_variables, **decode)
    coords = {n: v for n, v in variables.items() if n in coord_names or v.dims == (n,)}
    data_vars = {n: v for n, v in variables.items() if n not in coords}
    return xr.Dataset(data_vars, coords=coords, attrs=attrs)


class DaskZarrioBackendEntrypoint:
    """``xr.open_dataset(url, engine="dask_zarrio")`` and ``xr.open_datatree(url, engine=...)``.

    Examples
    --------
    >>> import numpy as np, xarray as xr, dask_zarrio as dz
    >>> ds = xr.Dataset({"t": (("time",), np.arange(3.0))}, coords={"time": [10, 20, 30]})
    >>> dz.write_dataset(ds, "memory://doc/ds.zarr", mode="w")
    >>> xr.open_dataset("memory://doc/ds.zarr", engine="dask_zarrio", chunks={}).t.values
    array([0., 1., 2.])
    """

    description = "Open Zarr v2/v3 and N5 groups as datasets of dask arrays read by dask_zarrio"
    url = "https://github.com/dask-zarrio/dask_zarrio"
    open_dataset_parameters = (
        "filename_or_obj", "drop_variables", "mask_and_scale", "decode_times", "concat_characters",
        "decode_coords", "use_cftime", "decode_timedelta", "storage_options", "group", "allow_pickle", "format",
    )

    def __repr__(self) -> str:
        return "<DaskZarrioBackendEntrypoint>"

    def open_dataset(
        self,
        filename_or_obj: Any,
        *,
        drop_variables: Iterable[str] | None = None,
        mask_and_scale: bool = True,
        decode_times: Any = True,
        concat_characters: bool = True,
        decode_coords: Any = True,
        use_cftime: bool | None = None,
        decode_timedelta: Any = None,
        storage_options: dict[str, Any] | None = None,
        group: str | None = None,
        allow_pickle: bool = False,
        format: str | None = None,
    ) -> Any:
        """The group at ``filename_or_obj`` (or its sub-``group``) as an xarray Dataset
        (``format="kerchunk"``: a kerchunk JSON file or Parquet reference folder)."""
        root = open_group(_path(filename_or_obj), storage_options=storage_options, allow_pickle=allow_pickle,
                          format=format)
        grp = root if not group else root.group(group)
        decode = dict(mask_and_scale=mask_and_scale, decode_times=decode_times, concat_characters=concat_characters,
                      decode_coords=decode_coords, use_cftime=use_cftime, decode_timedelta=decode_timedelta)
        return _dataset(grp, drop_variables, {k: v for k, v in decode.items() if v is not None})

    def open_groups_as_dict(self, filename_or_obj: Any, **kwargs: Any) -> dict[str, Any]:
        """Every group of the hierarchy as a Dataset, keyed by its path ("/" is the root)."""
        return open_groups_as_dict(filename_or_obj, **kwargs)

    def open_datatree(self, filename_or_obj: Any, **kwargs: Any) -> Any:
        """The whole hierarchy as an xarray DataTree."""
        return _xarray().DataTree.from_dict(open_groups_as_dict(filename_or_obj, **kwargs))

    def guess_can_open(self, filename_or_obj: Any) -> bool:
        try:
            path = os.fspath(filename_or_obj)
        except TypeError:
            return False
        return str(path).rstrip("/").endswith((".zarr", ".n5"))


def open_groups_as_dict(filename_or_obj: Any, *, storage_options: dict[str, Any] | None = None,
                        drop_variables: Iterable[str] | None = None, **decode: Any) -> dict[str, Any]:
    """``{"/": Dataset, "/a": Dataset, "/a/b": Dataset, ...}`` for a whole hierarchy."""
    out: dict[str, Any] = {}
    decode.pop("allow_pickle", None)

    def walk(group: Group, path: str) -> None:
        out[path] = _dataset(group, drop_variables, decode)
        for name, sub in group.groups():
            walk(sub, f"{path.rstrip('/')}/{name}")

    walk(open_group(_path(filename_or_obj), storage_options=storage_options), "/")
    return out


def _path(filename_or_obj: Any) -> Any:
    return os.fspath(filename_or_obj) if isinstance(filename_or_obj, os.PathLike) else filename_or_obj


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
    align = "raise" if align_chunks is False and safe_chunks else "auto"
    tx = None
    if is_icechunk(url):
        if zarr_format != 3:
            raise ZarrioError(f"icechunk stores Zarr v3 only, not zarr_format={zarr_format!r}; pass zarr_format=3")
        tx = begin(url, branch=branch, message=commit, rebase=rebase, storage_options=storage_options)
        url, storage_options, consolidated = tx.store, None, False
    elif branch is not None or commit is not None or rebase:
        raise ZarrioError("branch=, commit= and rebase= apply to Icechunk targets only; drop them")
    parts: list[Any] = []  # Icechunk: each write's merged fork, committed together
    try:
        # Non-index coordinates are listed in a "coordinates" attribute (CF), here or per variable.
        variables, attrs = xr.conventions.encode_dataset_coordinates(ds)
        encodings = check_encoding(encoding or {}, variables, zarr_format)
        # Every name is checked before anything is written or cleared: a variable named
        # ".." must not send a mode="w" write to the dataset's parent folder.
        root_store = open_store(url, storage_options)
        for name, var in list(variables.items()):
            member_path(name)
            variables[name] = var = numpy_variable(var, name)
            if mode == "w":  # the group is cleared first: no variable may read from it
                refuse_reading_from(var.data, root_store)
        regions: dict[str, slice] | None = None
        if mode in ("w-", "w"):
            create_group(
                url, attributes=json_attrs(attrs), zarr_format=zarr_format, mode=mode, storage_options=storage_options
            )
            existing: set[str] = set()
        else:
            root = open_group(url, storage_options=storage_options)
            zarr_format = int(root.zarr_format)
            existing = set(root.array_keys())
            regions = None if region is None else _auto_region(region, ds, root)
        for name, var in variables.items():
            if name in existing:
                # New data must be encoded as the stored data was (time units, scale, dtype).
                _, stored = root.array_node(name)
                var = var.copy(deep=False)
                var.encoding.update({k: stored.attributes[k] for k in ENCODING_ATTRS if k in stored.attributes})
                var.encoding["dtype"] = stored.dtype
            enc = encodings.get(name, {})
            if any(k in enc for k in CF_ENCODING):  # applied by xarray's CF coder, as to_zarr does
                var = var.copy(deep=False)
                var.encoding.update({k: enc[k] for k in CF_ENCODING if k in enc})
            var = encode_variable(var, name, zarr_format)
            var_attrs = dict(var.attrs)
            if zarr_format == 2:
                fill = var_attrs.pop("_FillValue", None)
                fill = NO_FILL if fill is None else fill  # v2: null, so that 0 stays a value
            else:
                fill = enc.get("fill_value", np.nan if var.dtype.kind == "f" else None)
                if var_attrs.get("_FillValue") is not None:
                    var_attrs["_FillValue"] = xarray_fill_value_coder().encode(var_attrs["_FillValue"], var.dtype)
            data = var.data
            target: Any = Member(tx, name) if tx is not None else root_store.child(name)
            common: dict[str, Any] = dict(storage_options=storage_options, align=align)
            if name in existing and mode == "a" and append_dim is None:
                continue  # already there; "a" without append_dim only adds new variables
            if name in existing and mode == "a":
                if append_dim not in var.dims:
                    continue
                parts.append(write(data, target, mode="a", append_dim=var.dims.index(append_dim), **common))
            elif mode == "r+":
                if name not in existing:
                    raise ZarrioError(
                        f"variable {name!r} does not exist at {redact_url(repr(url))}; "
                        "mode='r+' only writes into existing ones"
                    )
                if not regions or not set(regions) & set(var.dims):
                    continue
                sel = tuple(regions.get(d, slice(None)) for d in var.dims)
                parts.append(write(data, target, mode="r+", region=sel, **common))
            else:
                parts.append(write(
                    data, target, mode="w-" if mode != "w" else "w", zarr_format=zarr_format,
                    fill_value=fill, attributes=json_attrs(var_attrs), dimension_names=list(var.dims),
                    **layout_arguments(enc, data, zarr_format), **common,
                ))
    except BaseException:
        if tx is not None:
            tx.abandon()  # nothing of this Dataset reaches the caller's session
        raise
    if tx is not None:
        commit_parts(parts, tx)
    if consolidated:
        consolidate(url, storage_options=storage_options)

