"""How many bytes a reference may ask for: the most its array's chunk can be, encoded.

A reference's length is data: ``[url, 0, 2**40]`` would have a task allocate a
terabyte, and a whole-file reference to something huge (or endless) would read all
of it. The array metadata sits inline in the reference set, so before reading, a
reference store bounds each key by its array's chunk: the elements of a chunk times
their size, expanded by every codec as generously as any codec of
:mod:`dask_zarrio.codecs` can expand data (``2 n + 64 KiB`` for the array→bytes step,
``n + n/8 + 64 KiB`` per codec after it, the shard index and every inner chunk for
``sharding_indexed``), so a bound is never tighter than the codec pipeline's own
``max_encoded_size``. Where the metadata gives no bound (object or variable-length
elements, unknown data types, keys that are not chunks), the config key
``dask_zarrio.references.max-range`` does.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import numpy as np
from dask.utils import parse_bytes

from ... import config

__all__ = ["DOCUMENTS", "array_bound", "chunk_bound", "fallback_bound"]

#: Names of metadata documents (never bounded by a chunk).
DOCUMENTS = (".zarray", ".zgroup", ".zattrs", ".zmetadata", "zarr.json")
_SLACK = 65536


def fallback_bound() -> int:
    """``dask_zarrio.references.max-range`` in bytes: the bound where the metadata gives none."""
    return int(parse_bytes(config.get("references.max-range")))


def _expand(nbytes: int, codecs: int) -> int:
    for _ in range(codecs):
        nbytes += nbytes // 8 + _SLACK
    return nbytes


def _itemsize(dtype: Any, zarr_format: int) -> int | None:
    """Bytes per element of a v2 ``dtype`` or v3 ``data_type``; ``None`` for objects or unknown types."""
    if isinstance(dtype, dict):  # v3 extension types with a byte length
        length = (dtype.get("configuration") or {}).get("length_bytes")
        return length if isinstance(length, int) and length >= 0 else None
    if zarr_format == 3 and isinstance(dtype, str) and dtype[:1] == "r" and dtype[1:].isdigit():
        return int(dtype[1:]) // 8
    try:
        parsed = np.dtype([tuple(f) for f in dtype] if isinstance(dtype, list) else dtype)
    except (TypeError, ValueError):
        return None
    return None if parsed.hasobject else parsed.itemsize


def _codec_bound(shape: list[int], itemsize: int, codecs: list[Any]) -> int:
    """The most bytes a chunk of ``shape`` encoded by ``codecs`` (v3 names or v2 filters) can have."""
    count = math.prod(shape)
    for i, codec in enumerate(codecs):
        name = codec.get("name") if isinstance(codec, dict) else codec
        if name == "sharding_indexed":
            conf = codec.get("configuration") or {}
            inner_shape = list(conf.get("chunk_shape") or shape)
            inner = _codec_bound(inner_shape, itemsize, list(conf.get("codecs") or []))
            n = math.prod(math.ceil(s / max(c, 1)) for s, c in zip(shape, inner_shape))
            index = _expand(16 * n + 4, len(conf.get("index_codecs") or []))
            return _expand(n * inner + index, len(codecs) - i - 1)
    return _expand(2 * count * max(itemsize, 8) + _SLACK, len(codecs))


def array_bound(meta: dict[str, Any]) -> int | None:
    """The most bytes a stored chunk of the array ``meta`` (``.zarray`` or ``zarr.json``) can have.

    Examples
    --------
    >>> array_bound({"zarr_format": 2, "shape": [100], "chunks": [10], "dtype": "<f8",
    ...              "compressor": {"id": "zlib"}, "filters": None})
    139444
    >>> array_bound({"zarr_format": 2, "shape": [9], "chunks": [3], "dtype": "|O"}) is None
    True
    """
    zarr_format = meta.get("zarr_format")
    if zarr_format == 3:
        grid = (meta.get("chunk_grid") or {}).get("configuration") or {}
        shape = grid.get("chunk_shape")
        if shape is None and isinstance(grid.get("chunk_shapes"), list):  # rectilinear: the largest chunk
            shape = [max(e if isinstance(e, list) else [e]) for e in grid["chunk_shapes"]]
        itemsize, codecs = _itemsize(meta.get("data_type"), 3), list(meta.get("codecs") or [])
    else:
        shape = meta.get("chunks")
        itemsize = _itemsize(meta.get("dtype"), 2)
        codecs = [*(meta.get("filters") or []), *([meta["compressor"]] if meta.get("compressor") else [])]
    if itemsize is None or not isinstance(shape, list) or not all(isinstance(s, int) and s >= 0 for s in shape):
        return None
    return _codec_bound(shape, itemsize, codecs)


def chunk_bound(key: str, document: Callable[[str], bytes | None]) -> int | None:
    """The bound of ``key`` from the nearest array metadata above it (``None``: none found).

    ``document(key)`` returns the inline bytes of a metadata document, or ``None``.

    Examples
    --------
    >>> docs = {"g/a/.zarray": b'{"zarr_format": 2, "chunks": [4], "dtype": "<i2", "compressor": null}'}
    >>> chunk_bound("g/a/0", docs.get), chunk_bound("g/a/.zattrs", docs.get)
    (65600, None)
    """
    parts = key.split("/")
    if parts[-1] in DOCUMENTS:
        return None
    for end in range(len(parts) - 1, -1, -1):
        prefix = "/".join(parts[:end])
        for name in (".zarray", "zarr.json"):
            raw = document(f"{prefix}/{name}" if prefix else name)
            if raw is None:
                continue
            try:
                meta = json.loads(raw)
            except (ValueError, UnicodeDecodeError):
                return None
            if isinstance(meta, dict) and (name == ".zarray" or meta.get("node_type") == "array"):
                return array_bound(meta)
            if isinstance(meta, dict) and meta.get("node_type") == "group":
                return None
    return None
