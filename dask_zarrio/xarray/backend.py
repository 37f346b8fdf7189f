"""xarray integration: the ``engine="dask_zarrio"`` backend.

Reading gives each variable as a lazily indexed array read by dask_zarrio (no zarr-python
involved; :mod:`.lazy`, :mod:`.opening`) and leaves CF decoding (times, scale/offset, ``_FillValue``, coordinates)
to xarray's own decoders. Writing (:mod:`.writer`) encodes with xarray's encoders and
stores what ``xr.open_zarr`` expects: ``_ARRAY_DIMENSIONS`` (v2) or ``dimension_names``
(v3), CF attributes, and consolidated metadata. xarray is an optional extra:
``pip install dask_zarrio[xarray]``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from ..errors import MissingDependencyError
from ..hierarchy import Group
from ..typing import StoreLike
from .modes import NONE_NAME
from .opening import open_dataset_group, variable

__all__ = ["DaskZarrioBackendEntrypoint", "open_dataset", "open_groups_as_dict"]


def _xarray() -> Any:
    try:
        import xarray
    except ImportError as e:  # pragma: no cover - exercised only without the extra
        raise ImportError("this needs xarray: pip install dask_zarrio[xarray]") from e
    return xarray


def _dataset(group: Group, drop_variables: Iterable[str] | None, decode: dict[str, Any],
             mask_with_fill_value: bool | None = None) -> Any:
    """Decoded before the Dataset is made, as xarray's own backends: an index built first, then
    decoded, would lose its numpy StringDType."""
    xr = _xarray()
    nodes = group.array_nodes(preload_indexes=True)  # every document in one batch, index chunks in another
    # A nameless DataArray's array (stored as "__values__", as to_zarr) is named None again, as xarray reads it.
    variables = {None if name == NONE_NAME else name: variable(group, name, mask_with_fill_value=mask_with_fill_value,
                                                               node=node)
                 for name, node in nodes.items()}
    variables, attrs, coord_names = xr.conventions.decode_cf_variables(
        variables, dict(group.metadata.attributes), drop_variables=drop_variables, **decode)
    coords = {n: v for n, v in variables.items() if n in coord_names or v.dims == (n,)}
    data_vars = {n: v for n, v in variables.items() if n not in coords}
    return xr.Dataset(data_vars, coords=coords, attrs=attrs)


class DaskZarrioBackendEntrypoint:
    """``xr.open_dataset(url, engine="dask_zarrio")`` and ``xr.open_datatree(url, engine=...)``.

    Without ``chunks=``, variables hold lazily indexed arrays, as xarray's own backends give:
    indexing reads nothing, ``.values``/``.load()`` read only the chunks the selection touches
    and give numpy, a full load decoding each chunk straight into the one result array
    (:func:`dask_zarrio.load`). With ``chunks=`` (``{}``, ``"auto"``, a dict) they are dask arrays.

    Examples
    --------
    >>> import numpy as np, xarray as xr, dask_zarrio as dz
    >>> ds = xr.Dataset({"t": (("time",), np.arange(3.0))}, coords={"time": [10, 20, 30]})
    >>> dz.write_dataset(ds, "memory://doc/ds.zarr", mode="w")
    >>> xr.open_dataset("memory://doc/ds.zarr", engine="dask_zarrio").t[1:].values
    array([1., 2.])
    >>> xr.open_dataset("memory://doc/ds.zarr", engine="dask_zarrio", chunks={}).t.chunks
    ((3,),)
    """

    description = "Open Zarr v2/v3 and N5 groups with dask_zarrio (lazily indexed, or dask arrays with chunks=)"
    url = "https://github.com/dask-zarrio/dask_zarrio"
    open_dataset_parameters = (
        "filename_or_obj", "drop_variables", "mask_and_scale", "decode_times", "concat_characters",
        "decode_coords", "use_cftime", "decode_timedelta", "storage_options", "group", "consolidated",
        "zarr_format", "use_zarr_fill_value_as_mask", "allow_pickle", "format",
    )

    def __repr__(self) -> str:
        return "<DaskZarrioBackendEntrypoint>"

    def open_dataset(
        self,
        filename_or_obj: Any,
        *,
        drop_variables: str | Iterable[str] | None = None,
        mask_and_scale: bool = True,
        decode_times: Any = True,
        concat_characters: bool = True,
        decode_coords: Any = True,
        use_cftime: bool | None = None,
        decode_timedelta: Any = None,
        storage_options: dict[str, Any] | None = None,
        group: str | None = None,
        consolidated: bool | None = None,
        zarr_format: int | None = None,
        use_zarr_fill_value_as_mask: bool | None = None,
        allow_pickle: bool = False,
        format: str | None = None,
    ) -> Any:
        """The group at ``filename_or_obj`` (or its sub-``group``) as an xarray Dataset.

        The options of xarray's zarr engine: ``group``, ``consolidated`` (``None``: use it where
        present; ``True``: require it; ``False``: ignore it), ``zarr_format`` (2 or 3: only a
        group of that format), ``use_zarr_fill_value_as_mask`` (``None``: for Zarr v2 only),
        ``storage_options`` and the CF ``decode_*`` switches. ``allow_pickle`` as for
        :func:`dask_zarrio.read`; ``format="kerchunk"``: a kerchunk JSON file or Parquet
        reference folder.
        """
        grp = open_dataset_group(_path(filename_or_obj), group=group, consolidated=consolidated,
                                 zarr_format=zarr_format, storage_options=storage_options,
                                 allow_pickle=allow_pickle, format=format)
        decode = dict(mask_and_scale=mask_and_scale, decode_times=decode_times, concat_characters=concat_characters,
                      decode_coords=decode_coords, use_cftime=use_cftime, decode_timedelta=decode_timedelta)
        return _dataset(grp, drop_variables, {k: v for k, v in decode.items() if v is not None},
                        use_zarr_fill_value_as_mask)

    def open_groups_as_dict(self, filename_or_obj: Any, **kwargs: Any) -> dict[str, Any]:
        """Every group of the hierarchy as a Dataset, keyed by its path ("/" is the root)."""
        return open_groups_as_dict(filename_or_obj, **kwargs)

    def open_datatree(self, filename_or_obj: Any, **kwargs: Any) -> Any:
        """The whole hierarchy (below ``group``, when given) as an xarray DataTree."""
        return _xarray().DataTree.from_dict(open_groups_as_dict(filename_or_obj, **kwargs))

    def guess_can_open(self, filename_or_obj: Any) -> bool:
        try:
            path = os.fspath(filename_or_obj)
        except TypeError:
            return False
        return str(path).rstrip("/").endswith((".zarr", ".n5"))


def open_groups_as_dict(
    filename_or_obj: Any, *, storage_options: dict[str, Any] | None = None, group: str | None = None,
    consolidated: bool | None = None, zarr_format: int | None = None, use_zarr_fill_value_as_mask: bool | None = None,
    allow_pickle: bool = False, format: str | None = None, drop_variables: str | Iterable[str] | None = None,
    **decode: Any,
) -> dict[str, Any]:
    """``{"/": Dataset, "/a": Dataset, "/a/b": Dataset, ...}`` for a whole hierarchy (``"/"``: ``group``)."""
    out: dict[str, Any] = {}
    decode = {k: v for k, v in decode.items() if v is not None}

    def walk(grp: Group, path: str) -> None:
        out[path] = _dataset(grp, drop_variables, decode, use_zarr_fill_value_as_mask)
        for name, sub in grp.groups():
            walk(sub, f"{path.rstrip('/')}/{name}")

    walk(open_dataset_group(_path(filename_or_obj), group=group, consolidated=consolidated, zarr_format=zarr_format,
                            storage_options=storage_options, allow_pickle=allow_pickle, format=format), "/")
    return out


def _path(filename_or_obj: Any) -> Any:
    return os.fspath(filename_or_obj) if isinstance(filename_or_obj, os.PathLike) else filename_or_obj


def open_dataset(url: StoreLike, **kwargs: Any) -> Any:
    """The group at ``url`` as a lazy ``xarray.Dataset``: ``xr.open_dataset(url, engine="dask_zarrio")``.

    Needs xarray (``pip install 'dask_zarrio[xarray]'``).

    Parameters
    ----------
    url
        A group (any URL or store :func:`dask_zarrio.open_group` takes).
    **kwargs
        Passed to ``xarray.open_dataset``: ``chunks`` (default ``{}``, the stored chunks),
        ``decode_times``, ``drop_variables``, ``group``, ``storage_options``, ``allow_pickle`` ...

    Returns
    -------
    xarray.Dataset

    Examples
    --------
    >>> import numpy as np, xarray as xr, dask_zarrio as dz
    >>> ds = xr.Dataset({"t": ("time", np.arange(3.0))}, coords={"time": [10, 20, 30]})
    >>> dz.write_dataset(ds, "memory://doc/od.zarr", mode="w")
    >>> dz.open_dataset("memory://doc/od.zarr").t.sum().values
    array(3.)
    """
    try:
        import xarray
    except ImportError as e:
        raise MissingDependencyError("dz.open_dataset needs xarray: pip install 'dask_zarrio[xarray]'") from e
    kwargs.setdefault("chunks", {})
    where: Any = url  # a Store or mapping too: the engine opens what dz.open_group opens
    return xarray.open_dataset(where, engine="dask_zarrio", **kwargs)
