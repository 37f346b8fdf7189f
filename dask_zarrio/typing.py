"""The types of what users pass in: stores, chunks, regions and codecs.

Public signatures use these aliases instead of ``Any``, so that an editor or mypy
tells a user what a parameter takes.

Examples
--------
>>> from dask_zarrio.typing import ChunksLike
>>> chunks: ChunksLike = {0: 100, 1: -1}
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping, Sequence
from typing import Any, Literal, TypeAlias

import fsspec
import numpy as np
from numcodecs.abc import Codec as NumcodecsCodec

from .codecs.base import Codec
from .store import Store

__all__ = [
    "ChunkKeyEncodingLike", "ChunksLike", "CodecLike", "CodecsLike", "DTypeLike", "RegionLike", "ShapeLike",
    "StoreLike",
]

#: A path or URL (any fsspec protocol, chained too), an ``fsspec.FSMap``, a
#: ``MutableMapping`` of keys to bytes, or a dask_zarrio store.
StoreLike: TypeAlias = str | os.PathLike[str] | fsspec.FSMap | MutableMapping[str, Any] | Store
#: One length per axis (or one for all), dask's explicit ``((..), (..))`` form, a
#: ``{axis: length}`` dict, ``"auto"`` or ``-1``, as ``dask.array`` accepts; an axis may
#: also list its chunk lengths alone (``((3, 5, 2), 4)``: a rectilinear grid).
ChunksLike: TypeAlias = int | str | Sequence[int | Sequence[int]] | dict[int, Any] | None
#: A shape: one length per axis.
ShapeLike: TypeAlias = int | Sequence[int]
#: Where in an existing array the data goes: one step-1 slice per leading axis.
RegionLike: TypeAlias = slice | tuple[slice, ...] | None
#: One codec: a numcodecs object, a v2 ``{"id": ...}`` or v3 ``{"name": ..., "configuration": ...}``
#: dict, a v3 codec name, or a dask_zarrio codec object.
CodecLike: TypeAlias = NumcodecsCodec | dict[str, Any] | str | Codec
#: Codecs as ``dz.write`` takes them: one, a list, ``"auto"`` (zstd) or ``None`` (none).
CodecsLike: TypeAlias = CodecLike | Sequence[CodecLike] | Literal["auto"] | None
#: A chunk key encoding as zarr-python's ``create_array`` takes it: ``"default"``/``"v2"``,
#: ``{"name": "v2", "separator": "/"}`` or the ``zarr.json`` form with a ``configuration``.
ChunkKeyEncodingLike: TypeAlias = Literal["default", "v2"] | dict[str, Any]
#: Anything ``numpy.dtype`` accepts.
DTypeLike: TypeAlias = np.dtype[Any] | type | str
