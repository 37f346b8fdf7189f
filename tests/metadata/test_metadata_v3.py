"""Zarr v3 array documents (metadata/v3.py) round-trip byte for byte."""

from __future__ import annotations

from dask_zarrio.metadata import (
    ArrayMetadataV3,
)

V3_DOC = {
    "zarr_format": 3, "node_type": "array", "shape": [10, 5], "data_type": "float32",
    "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [4, 5]}},
    "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
    "fill_value": "NaN",
    "codecs": [{"name": "bytes", "configuration": {"endian": "little"}},
               {"name": "zstd", "configuration": {"level": 3, "checksum": True}}],
    "attributes": {"a": [1, 2]}, "dimension_names": ["t", None],
}


def test_v3_document_round_trip():
    assert ArrayMetadataV3.from_dict(V3_DOC).to_dict() == V3_DOC


def test_v3_shorthand_codec_names():
    """Zarr v3.1 short-hand names ("crc32c" as a plain string, Zarr v3.1 "Extension naming")."""
    doc = dict(V3_DOC, codecs=[{"name": "bytes", "configuration": {"endian": "little"}}, "crc32c"])
    meta = ArrayMetadataV3.from_dict(doc)
    assert [c.name for c in meta.codecs] == ["bytes", "crc32c"]
