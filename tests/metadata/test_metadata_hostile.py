"""Hostile metadata documents (metadata/*): every malformed field is a MetadataError naming it.

Never a KeyError, TypeError, AttributeError, OverflowError or a bare ValueError from
inside numpy or numcodecs; the fuzzing counterpart is tests/test_metadata_fuzz.py.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

import dask_zarrio as dz
from dask_zarrio.errors import MetadataError

V2: dict[str, Any] = {
    "zarr_format": 2, "shape": [4, 4], "chunks": [2, 2], "dtype": "<i4",
    "compressor": {"id": "zlib", "level": 1}, "fill_value": 0, "order": "C", "filters": None,
}
V3: dict[str, Any] = {
    "zarr_format": 3, "node_type": "array", "shape": [4, 4], "data_type": "int32",
    "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [2, 2]}},
    "chunk_key_encoding": {"name": "default"}, "fill_value": 0,
    "codecs": [{"name": "bytes", "configuration": {"endian": "little"}}],
}
N5: dict[str, Any] = {"dimensions": [4, 4], "blockSize": [2, 2], "dataType": "int32", "compression": {"type": "raw"}}
KEYS = {"v2": ".zarray", "v3": "zarr.json", "n5": "attributes.json"}
BASES = {"v2": V2, "v3": V3, "n5": N5}
HUGE = 2**64


def _read(fmt: str, **changes: Any) -> None:
    doc = {**BASES[fmt], **changes}
    dz.read({KEYS[fmt]: json.dumps(doc).encode()}).compute()


@pytest.mark.parametrize("fmt,changes,field", [
    ("v2", {"fill_value": 10**400, "dtype": "<f8"}, "fill_value"),
    ("v2", {"fill_value": 2**63, "dtype": "<M8[s]"}, "fill_value"),
    ("v3", {"fill_value": [10**400, 1], "data_type": "complex64"}, "fill_value"),
    ("v3", {"fill_value": 10**30, "data_type": {"name": "numpy.datetime64", "configuration": {"unit": "s"}}},
     "fill_value"),
    ("v2", {"shape": [HUGE, 1]}, "shape"),
    ("v3", {"shape": [2**62, 2**62]}, "shape"),
    ("v2", {"chunks": [4, HUGE]}, "chunks"),
    ("v3", {"chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [10**30, 2]}}}, "chunk_shape"),
    ("n5", {"dimensions": [HUGE, 4]}, "dimensions"),
    ("n5", {"dimensions": [2**40, 2**40]}, "dimensions"),
    ("n5", {"blockSize": [2, HUGE]}, "blockSize"),
    ("n5", {"blockSize": [-2, 2]}, "blockSize"),
    ("n5", {"blockSize": [2]}, "blockSize"),
    ("n5", {"compression": {"type": "gzip", "level": "x"}}, "compression"),
    ("n5", {"compression": {"type": "blosc", "blocksize": []}}, "compression"),
    ("n5", {"compression": {"type": "zstd", "level": None}}, "compression"),
    ("n5", {"compression": {"type": "xz", "preset": {}}}, "compression"),
    ("n5", {"compression": {"type": "bzip2", "blockSize": "q"}}, "compression"),
    ("v3", {"data_type": "r²"}, "data_type"),
    ("v3", {"data_type": {"name": "fixed_length_utf32", "configuration": {"length_bytes": 4 * 10**12}}}, "data_type"),
    ("v3", {"data_type": {"name": "numpy.datetime64", "configuration": {"unit": "s", "scale_factor": 10**30}}},
     "scale_factor"),
    ("v2", {"dtype": [["a", "<i4", [10**30]]]}, "dtype"),
])
def test_malformed_field_is_named(fmt, changes, field):
    """Each document once escaped as OverflowError, TypeError or numcodecs' ValueError."""
    with pytest.raises(MetadataError, match=field):
        _read(fmt, **changes)


@pytest.mark.parametrize("fmt", ["v2", "v3", "n5"])
@pytest.mark.parametrize("doc", ["a string", [1, 2], 3, None])
def test_document_that_is_no_object(fmt, doc):
    with pytest.raises(MetadataError, match="JSON object"):
        dz.read({KEYS[fmt]: json.dumps(doc).encode()})


@pytest.mark.parametrize("entries,where", [
    ({".zgroup": {"zarr_format": 2}, "a/.zarray": "not a document"}, "'a/.zarray'"),
    ({".zgroup": {"zarr_format": 2}, "a/.zarray": V2, "a/.zattrs": [1, 2]}, "'a/.zattrs'"),
    ({".zgroup": {"zarr_format": 2}, "g/.zgroup": ["x"]}, "'g/.zgroup'"),
    ({".zgroup": {"zarr_format": 2}, ".zattrs": "attrs"}, "'.zattrs'"),
])
def test_malformed_v2_consolidated_entries(entries, where):
    """A string or list where an object belongs once surfaced as AttributeError on access."""
    store = {
        ".zgroup": b'{"zarr_format": 2}',
        ".zmetadata": json.dumps({"zarr_consolidated_format": 1, "metadata": entries}).encode(),
    }
    with pytest.raises(MetadataError, match=f".zmetadata.*{where}"):
        g = dz.open_group(store)
        g["a" if "a/" in where else "g"]


@pytest.mark.parametrize("group_doc,where", [
    ({"attributes": "x"}, "attributes"),
    ({"consolidated_metadata": {"kind": "inline", "metadata": {"a": {**V3, "attributes": [1]}}}},
     "entry 'a': attributes"),
    ({"consolidated_metadata": {"kind": "inline", "metadata": {"a": "x"}}}, "entry 'a'"),
    ({"consolidated_metadata": {"kind": "inline", "metadata": []}}, "consolidated_metadata"),
])
def test_malformed_v3_consolidated_entries(group_doc, where):
    doc = {"zarr_format": 3, "node_type": "group", **group_doc}
    with pytest.raises(MetadataError, match=where):
        dz.open_group({"zarr.json": json.dumps(doc).encode()})
