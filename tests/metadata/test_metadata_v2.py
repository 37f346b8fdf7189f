"""Zarr v2 array documents (metadata/v2.py) round-trip byte for byte."""

from __future__ import annotations

from dask_zarrio.metadata import (
    ArrayMetadataV2,
)


def test_v2_document_round_trip():
    doc = {"zarr_format": 2, "shape": [3], "chunks": [2], "dtype": "<i8",
           "compressor": {"id": "blosc", "cname": "lz4", "clevel": 5, "shuffle": -1, "blocksize": 0},
           "fill_value": 0, "order": "F", "filters": [{"id": "delta", "dtype": "<i8", "astype": "<i8"}],
           "dimension_separator": "/"}
    assert ArrayMetadataV2.from_dict(doc).to_dict() == doc
