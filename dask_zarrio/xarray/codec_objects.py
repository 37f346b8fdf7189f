"""Codecs as xarray's and zarr-python's documentation write them, for :func:`dask_zarrio.write`.

``encoding={"v": {"compressors": ...}}`` takes what ``to_zarr`` takes: zarr-python codec
objects (``zarr.codecs.BloscCodec(cname="zstd")``, ``zarr.codecs.ZstdCodec(level=5)``,
``zarr.codecs.BytesCodec()``), numcodecs codecs (``numcodecs.Blosc()``), v3 codec dicts
and names (``"blosc"``, ``{"name": "blosc"}``), alone or in a tuple. zarr-python objects
become their ``zarr.json`` dicts (dask_zarrio does not import zarr-python); a blosc codec
without a ``typesize`` takes the data type's item size, as zarr-python gives it when it
creates the array.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ArgumentTypeError

__all__ = ["as_codec", "as_codecs"]

#: The v3 blosc codec's ``shuffle`` as numcodecs' number (a Zarr v2 array stores numcodecs configs).
_SHUFFLE_NUMBERS = {"noshuffle": 0, "shuffle": 1, "bitshuffle": 2}


def _zarr_python_dict(codec: Any) -> dict[str, Any] | None:
    """The ``zarr.json`` form of a zarr-python codec object; ``None`` for anything else.

    Told by duck type (``to_dict`` and ``evolve_from_array_spec``), so that zarr-python is
    never imported here. A blosc codec whose ``typesize`` or ``shuffle`` was left unset
    (zarr-python 3.1 lists them as "tunable", and its dict says ``typesize=1``,
    ``shuffle="bitshuffle"``) gets them from the data type instead, as zarr-python does:
    those entries are dropped here and filled by :func:`_with_typesize`.
    """
    if not (hasattr(codec, "to_dict") and hasattr(codec, "evolve_from_array_spec")):
        return None
    doc = dict(codec.to_dict())
    if doc.get("name") == "blosc":
        tunable = getattr(codec, "_tunable_attrs", None)
        unset = set(tunable) if tunable is not None else {"typesize"} if codec.typesize is None else set()
        doc["configuration"] = {k: v for k, v in (doc.get("configuration") or {}).items() if k not in unset}
    return doc


def _with_typesize(spec: Any, dtype: np.dtype[Any], zarr_format: int) -> Any:
    """A v3 blosc codec named without a ``typesize``: the data type's item size, as zarr-python.

    For Zarr v2 the dict becomes the numcodecs config (``shuffle`` as its number).
    """
    if isinstance(spec, str) and spec == "blosc":
        spec = {"name": "blosc"}
    if not (isinstance(spec, dict) and spec.get("name") == "blosc"):
        return spec
    config = dict(spec.get("configuration") or {})
    if zarr_format == 2:
        shuffle = config.pop("shuffle", None)
        config.pop("typesize", None)
        if shuffle is not None:
            config["shuffle"] = _SHUFFLE_NUMBERS.get(shuffle, shuffle)
        return {"id": "blosc", **config}
    config.setdefault("typesize", max(int(dtype.itemsize), 1))
    config.setdefault("shuffle", "bitshuffle" if dtype.itemsize == 1 else "shuffle")
    return {"name": "blosc", "configuration": config}


def as_codec(spec: Any, dtype: np.dtype[Any], zarr_format: int) -> Any:
    """One codec as :func:`dask_zarrio.write` takes it.

    Examples
    --------
    >>> as_codec("blosc", np.dtype("f8"), 3)
    {'name': 'blosc', 'configuration': {'typesize': 8, 'shuffle': 'shuffle'}}
    >>> as_codec({"name": "blosc", "configuration": {"shuffle": "bitshuffle"}}, np.dtype("f4"), 2)
    {'id': 'blosc', 'shuffle': 2}
    """
    doc = _zarr_python_dict(spec)
    if doc is not None:
        spec = doc
    if zarr_format == 2 and isinstance(spec, dict) and "name" in spec and spec.get("name") != "blosc":
        # A v2 array stores a numcodecs config: zarr-python's codec of that name has the same fields.
        return {"id": str(spec["name"]).removeprefix("numcodecs."), **(spec.get("configuration") or {})}
    return _with_typesize(spec, dtype, zarr_format)


def as_codecs(value: Any, dtype: np.dtype[Any], zarr_format: int, key: str) -> Any:
    """``compressors``/``filters`` of ``encoding`` (one codec, a sequence, ``None`` or ``"auto"``).

    Examples
    --------
    >>> as_codecs(("blosc",), np.dtype("i2"), 3, "compressors")
    [{'name': 'blosc', 'configuration': {'typesize': 2, 'shuffle': 'shuffle'}}]
    >>> as_codecs(None, np.dtype("i2"), 3, "compressors") is None
    True
    """
    if value is None or (isinstance(value, str) and value == "auto"):
        return value
    if isinstance(value, (list, tuple)):
        return [as_codec(v, dtype, zarr_format) for v in value]
    if isinstance(value, (set, frozenset)):
        raise ArgumentTypeError(f"encoding {key}={value!r} must be a codec or a list of codecs, in order, not a set")
    return as_codec(value, dtype, zarr_format)
