"""One v3 codec chain, written and read back by dask_zarrio and by zarr-python 3.

Each codec's test module parametrizes :func:`round_trip` over its configurations
and over :data:`ROUTES`: dz writes and dz reads, zarr-python writes and dz reads,
dz writes and zarr-python reads. Codecs are given in their ``zarr.json`` form, so
both libraries build them from the same JSON.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

import dask.array as da
import numpy as np
import zarr

import dask_zarrio as dz
from dask_zarrio.codecs import ArrayArrayCodec, ArrayBytesCodec, codec_from_json
from dask_zarrio.metadata.create import new_array_metadata

__all__ = ["ROUTES", "round_trip", "write_with_dz", "write_with_zarr"]

#: (writer, reader) pairs: every codec is checked in each direction.
ROUTES = [("dz", "dz"), ("zarr", "dz"), ("dz", "zarr")]


def write_with_dz(url: str, data: np.ndarray, chunks: tuple[int, ...], codecs: list[Any], fill_value: Any = 0) -> None:
    """dz writes ``data`` into a new v3 array whose ``codecs`` field is exactly ``codecs``."""
    meta = new_array_metadata(shape=data.shape, dtype=data.dtype, chunk_shape=chunks, fill_value=fill_value)
    meta = dataclasses.replace(meta, codecs=tuple(codec_from_json(c) for c in codecs))
    os.makedirs(url)
    with open(os.path.join(url, "zarr.json"), "w") as f:
        json.dump(meta.to_dict(), f)
    dz.write(da.from_array(data, chunks=chunks), url, mode="r+")


def write_with_zarr(
    url: str, data: np.ndarray, chunks: tuple[int, ...], codecs: list[Any], fill_value: Any = 0
) -> None:
    """zarr-python 3 writes ``data`` with the same codecs (it takes no bare-name short-hand)."""
    as_dicts = [{"name": c} if isinstance(c, str) else c for c in codecs]
    kinds = [codec_from_json(c) for c in codecs]
    serializer = next(i for i, c in enumerate(kinds) if isinstance(c, ArrayBytesCodec))
    assert all(isinstance(c, ArrayArrayCodec) for c in kinds[:serializer])
    z = zarr.create_array(
        url, shape=data.shape, chunks=chunks, dtype=data.dtype, fill_value=fill_value,
        filters=as_dicts[:serializer], serializer=as_dicts[serializer],
        compressors=as_dicts[serializer + 1:],
    )
    z[...] = data


def round_trip(tmp_path: Any, route: tuple[str, str], codecs: list[Any], data: np.ndarray,
               chunks: tuple[int, ...]) -> np.ndarray:
    """Write ``data`` with ``route[0]``, read it back with ``route[1]``."""
    url = str(tmp_path / "a.zarr")
    writer, reader = route
    (write_with_dz if writer == "dz" else write_with_zarr)(url, data, chunks, codecs)
    if reader == "dz":
        return np.asarray(dz.read(url).compute())
    return np.asarray(zarr.open_array(url, mode="r")[...])
