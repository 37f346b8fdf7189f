"""What :func:`dask_zarrio.write_dataset` stores for each variable, as xarray's ``to_zarr``.

The ``encoding`` keys it takes (checked before anything is written), the layout
arguments they become, CF encoding by xarray's own coder, and attributes as JSON.
A variable's own ``encoding`` counts as ``to_zarr`` counts it: ``encoding=`` replaces it
for the variables it names, and only keys given there are checked (keys a variable
brought from another format are dropped).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .._compat import xarray_encode_variable
from ..errors import ArgumentTypeError, ZarrioError
from .codec_objects import as_codec, as_codecs

__all__ = ["ZARR_ENCODING", "encode_variable", "json_attrs", "layout_arguments", "numpy_variable",
           "object_filters", "zarr_encoding"]


def encode_variable(var: Any, name: str, zarr_format: int) -> Any:
    return xarray_encode_variable()(var, name=name, zarr_format=2 if zarr_format == 2 else 3)


#: Keys of a variable's ``encoding`` that a Zarr array takes, after CF encoding (xarray's
#: ``extract_zarr_variable_encoding``); ``compressor`` is zarr-python 2's name of ``compressors``.
ZARR_ENCODING = (
    "chunks", "shards", "compressors", "compressor", "filters", "serializer", "cache_metadata",
    "write_empty_chunks", "chunk_key_encoding",
)
#: Keys that reading puts into ``encoding`` and a write has no use for: dropped silently.
_SAFE_TO_DROP = ("source", "original_shape", "preferred_chunks")


def zarr_encoding(var: Any, name: Any, *, check: bool, zarr_format: int) -> dict[str, Any]:
    """The Zarr keys of a CF-encoded variable's ``encoding``, as ``to_zarr`` reads them.

    What ``encoding=`` gave (``check``) must hold only keys a Zarr array takes (else
    :class:`ZarrioError`, "unexpected encoding parameters" as in xarray); keys that came
    with the variable (read from another store or format) are dropped when a Zarr array
    has no use for them. ``fill_value`` is a key of Zarr v3 only (v2 takes ``_FillValue``).

    Examples
    --------
    >>> import xarray as xr
    >>> v = xr.Variable(("x",), [1, 2], encoding={"chunks": 1, "source": "a.nc", "zlib": True})
    >>> zarr_encoding(v, "v", check=False, zarr_format=3)
    {'chunks': (1,)}
    """
    valid = {*ZARR_ENCODING, "fill_value"} if zarr_format == 3 else set(ZARR_ENCODING)
    enc = {k: v for k, v in var.encoding.items() if k not in _SAFE_TO_DROP}
    if "_FillValue" in enc:  # what the CF coder left: None (no fill value, said explicitly) or a mistake
        if enc.pop("_FillValue") is not None:
            raise ZarrioError(f"Zarr does not support _FillValue in encoding of variable {name!r} here; "
                              "set it in the variable's attrs or encoding= before writing")
    invalid = [k for k in enc if k not in valid]
    if check and invalid:
        hint = " Use `_FillValue` to set the Zarr array `fill_value`" if "fill_value" in invalid else ""
        raise ZarrioError(
            f"unexpected encoding parameters for zarr backend: {invalid!r} in encoding[{name!r}].{hint} "
            f"A Zarr array takes {sorted(valid)!r}, and CF encodings ('dtype', '_FillValue', 'scale_factor', "
            "'add_offset', 'units', 'calendar')"
        )
    enc = {k: v for k, v in enc.items() if k not in invalid}
    chunks = _chunks(enc.get("chunks"), var, name)
    enc["chunks"] = chunks
    shards = enc.get("shards")
    if isinstance(shards, (int, np.integer)) and not isinstance(shards, bool):
        enc["shards"] = (int(shards),) * var.ndim
    return enc


def _chunks(chunks: Any, var: Any, name: Any) -> tuple[int, ...] | None:
    """``encoding["chunks"]`` as ``to_zarr`` reads it: an int for every axis; a tuple of another
    length is ignored (the variable was reshaped since); anything but whole numbers is refused."""
    if chunks is None or (isinstance(chunks, str) and chunks == "auto"):
        return None
    if isinstance(chunks, (int, np.integer)) and not isinstance(chunks, bool):
        return (int(chunks),) * var.ndim
    if not isinstance(chunks, (tuple, list)):
        raise ArgumentTypeError(
            f"encoding[{name!r}]['chunks']={chunks!r} must be an int or a tuple of ints, one per dimension"
        )
    if len(chunks) != var.ndim:
        return None
    if not all(isinstance(c, (int, np.integer)) and not isinstance(c, bool) for c in chunks):
        raise ArgumentTypeError(
            f"zarr chunk sizes specified in `encoding['chunks']` must be an int or a tuple of ints: "
            f"encoding[{name!r}]['chunks']={tuple(chunks)!r}"
        )
    return tuple(int(c) for c in chunks)


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


def layout_arguments(enc: Mapping[str, Any], data: Any, zarr_format: int) -> dict[str, Any]:
    """The :func:`dask_zarrio.write` arguments that a new variable's Zarr encoding sets.

    Codecs may be given as ``to_zarr`` takes them (:mod:`.codec_objects`); ``compressor``
    (v2's name) is taken for ``compressors``; a v2 object variable without ``filters``
    gets its object codec (:func:`object_filters`).

    Examples
    --------
    >>> layout_arguments({"chunks": (2,), "compressors": "blosc"}, np.zeros(4, "f4"), 3)["compressors"]
    {'name': 'blosc', 'configuration': {'typesize': 4, 'shuffle': 'shuffle'}}
    """
    dtype = data.dtype
    filters = enc["filters"] if "filters" in enc else object_filters(data, zarr_format)
    serializer = enc.get("serializer", "auto")
    return dict(
        chunks=enc.get("chunks"), shards=enc.get("shards"),
        compressors=as_codecs(enc.get("compressors", enc.get("compressor", "auto")), dtype, zarr_format,
                              "compressors"),
        filters=as_codecs(filters, dtype, zarr_format, "filters"),
        serializer=serializer if isinstance(serializer, str) else as_codec(serializer, dtype, zarr_format),
        chunk_key_encoding=enc.get("chunk_key_encoding"),
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
