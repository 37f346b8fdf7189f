"""xarray integration: the ``engine="dask_zarrio"`` backend.

Reading builds each variable from a dask array made by dask_zarrio (no zarr-python
involved) and leaves CF decoding (times, scale/offset, ``_FillValue``, coordinates)
to xarray's own decoders. Writing (:mod:`.writer`) encodes with xarray's encoders and
stores what ``xr.open_zarr`` expects: ``_ARRAY_DIMENSIONS`` (v2) or ``dimension_names``
(v3), CF attributes, and consolidated metadata. xarray is an optional extra:
``pip install dask_zarrio[xarray]``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import numpy as np

from .._compat import xarray_fill_value_coder
from ..graph.builder import array_from_metadata
from ..hierarchy import Group, open_group
from ..metadata import ArrayMetadataV2, ArrayMetadataV3
from ..metadata.rectilinear import preferred_chunks

__all__ = ["DaskZarrioBackendEntrypoint", "open_groups_as_dict"]

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
    for name, (store, meta) in group.array_nodes(preload_indexes=True).items():  # documents read together
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
