"""What :func:`dask_zarrio.write_dataset` stores for each variable, as xarray's ``to_zarr``.

The ``encoding`` keys it takes (checked before anything is written), the layout
arguments they become, CF encoding by xarray's own coder, and attributes as JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .._compat import xarray_encode_variable
from ..errors import ZarrioError

__all__ = ["CF_ENCODING", "ENCODING_ATTRS", "check_encoding", "encode_variable", "json_attrs", "layout_arguments",
           "numpy_variable", "object_filters"]


def encode_variable(var: Any, name: str, zarr_format: int) -> Any:
    return xarray_encode_variable()(var, name=name, zarr_format=2 if zarr_format == 2 else 3)


ENCODING_ATTRS = ("units", "calendar", "scale_factor", "add_offset")
#: ``encoding`` keys, as xarray's ``to_zarr`` takes them: CF encodings applied by xarray's
#: own coder, the storage layout, and read-side hints that a write has no use for.
CF_ENCODING = ("dtype", "_FillValue", *ENCODING_ATTRS)
_LAYOUT_ENCODING = (
    "chunks", "shards", "compressors", "compressor", "filters", "serializer", "chunk_key_encoding", "fill_value"
)
_IGNORED_ENCODING = ("preferred_chunks", "cache_metadata", "write_empty_chunks")


def object_filters(data: Any, zarr_format: int) -> list[Any] | None:
    """v2 object variables need an object codec, as xarray gives them: vlen-utf8 for strings,
    vlen-bytes for bytes (told by the first element: one block computed at most)."""
    if zarr_format != 2 or data.dtype.kind != "O" or not data.size:
        return None
    import numcodecs

    first = np.asarray(data[(0,) * data.ndim]).item()
    return [numcodecs.VLenBytes() if isinstance(first, bytes) else numcodecs.VLenUTF8()]


def json_attrs(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """Attributes as JSON takes them: numpy arrays as lists, numpy scalars as Python ones (as to_zarr)."""
    return {k: v.tolist() if isinstance(v, np.ndarray) else v.item() if isinstance(v, np.generic) else v
            for k, v in attrs.items()}


def check_encoding(encoding: Mapping[str, Any], names: Any, zarr_format: int) -> dict[str, dict[str, Any]]:
    """``encoding`` per variable, every key one that ``to_zarr`` documents and dz honours."""
    out: dict[str, dict[str, Any]] = {}
    for name, enc in encoding.items():
        if name not in names:
            raise ZarrioError(f"encoding names variable {name!r}, which the dataset does not have; drop it")
        if not isinstance(enc, Mapping):
            raise ZarrioError(f"encoding[{name!r}]={enc!r} must be a dict of encoding keys")
        if enc.get("write_empty_chunks"):
            raise ZarrioError(
                f"encoding[{name!r}]['write_empty_chunks']=True: dask_zarrio never stores chunks that "
                "hold only the fill value (they read as the fill value anyway); drop the option"
            )
        if "fill_value" in enc and zarr_format == 2:
            raise ZarrioError(
                f"encoding[{name!r}]['fill_value'] is a Zarr v3 key (as in xarray's to_zarr); "
                "use '_FillValue' to set a v2 array's fill_value"
            )
        unknown = sorted(set(enc) - {*CF_ENCODING, *_LAYOUT_ENCODING, *_IGNORED_ENCODING})
        if unknown:
            raise ZarrioError(
                f"encoding[{name!r}] has keys {unknown!r} that write_dataset does not take; it takes "
                f"{sorted((*CF_ENCODING, *_LAYOUT_ENCODING))!r} (as xarray's to_zarr)"
            )
        out[name] = dict(enc)
    return out




def layout_arguments(enc: Mapping[str, Any], data: Any, zarr_format: int) -> dict[str, Any]:
    """The :func:`dask_zarrio.write` arguments that a new variable's ``encoding`` sets.

    ``compressor`` (v2's name) is taken for ``compressors``; a v2 object variable
    without ``filters`` gets its object codec (:func:`object_filters`).
    """
    return dict(
        chunks=enc.get("chunks"), shards=enc.get("shards"),
        compressors=enc.get("compressors", enc.get("compressor", "auto")),
        filters=enc.get("filters", object_filters(data, zarr_format)),
        serializer=enc.get("serializer", "auto"), chunk_key_encoding=enc.get("chunk_key_encoding"),
    )


def numpy_variable(var: Any, name: str) -> Any:
    """``var`` with numpy data: pandas text arrays (``StringDtype``, what ``.astype(str)`` of a
    categorical gives with pandas 3) become object arrays of ``str``; other pandas extension
    arrays (categoricals, nullable integers) are refused, naming the variable.

    xarray's ``to_zarr`` refuses pandas text arrays too (a ``TypeError`` from numpy); text
    without missing values has one faithful Zarr form, so dz stores it.
    """
    if isinstance(var.dtype, np.dtype):
        return var
    if getattr(var.dtype, "kind", None) == "O" and type(var.dtype).__name__ == "StringDtype":
        values = np.asarray(var.values, dtype=object)
        if not all(isinstance(v, str) for v in values.flat):
            raise ZarrioError(
                f"variable {name!r} holds pandas text with missing values, which a Zarr string array "
                f"cannot hold; fill them first: ds[{name!r}] = ds[{name!r}].fillna('')"
            )
        return var.copy(deep=False, data=values)
    raise ZarrioError(
        f"variable {name!r} holds pandas {var.dtype!r}, which Zarr cannot store (xarray's to_zarr "
        f"cannot either); write its values, ds[{name!r}] = ds[{name!r}].astype(object), or its codes "
        "with CF flag_values/flag_meanings"
    )
