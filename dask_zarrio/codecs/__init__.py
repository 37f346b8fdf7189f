"""Codecs: Zarr v3 codec classes, their registry, and the per-format chunk pipelines.

This package imports nothing of dask_zarrio but :mod:`dask_zarrio.errors` and
:mod:`dask_zarrio.memory.buffers`. A built-in codec's module is imported when metadata
first names the codec (see :mod:`dask_zarrio.codecs.registry`).
"""

from __future__ import annotations

from .base import ArrayArrayCodec, ArrayBytesCodec, ByteRangeReader, BytesBytesCodec, Codec
from .pipeline import ChunkPipeline, CodecPipeline, V2Pipeline
from .registry import codec_from_json, register_codec, registered_codecs

__all__ = [
    "ArrayArrayCodec",
    "ArrayBytesCodec",
    "ByteRangeReader",
    "BytesBytesCodec",
    "ChunkPipeline",
    "Codec",
    "CodecPipeline",
    "V2Pipeline",
    "codec_from_json",
    "register_codec",
    "registered_codecs",
]
