"""Codecs: Zarr v3 codec classes, their registry, and the per-format chunk pipelines."""

from __future__ import annotations

from . import _load_builtin  # noqa: F401  (registers the built-in codecs)
from .base import ArrayArrayCodec, ArrayBytesCodec, BytesBytesCodec, Codec
from .pipeline import ChunkPipeline, CodecPipeline, V2Pipeline
from .registry import codec_from_json, register_codec, registered_codecs

__all__ = [
    "ArrayArrayCodec",
    "ArrayBytesCodec",
    "BytesBytesCodec",
    "ChunkPipeline",
    "Codec",
    "CodecPipeline",
    "V2Pipeline",
    "codec_from_json",
    "register_codec",
    "registered_codecs",
]
