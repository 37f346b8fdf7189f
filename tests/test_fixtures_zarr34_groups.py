"""Golden hierarchies and string inputs of zarr-python 3.4 (``cases_hierarchy.py``, ``cases_strings_v2.py``).

What ``tests/test_fixtures_zarr34.py`` checks for one array, here for whole groups: dz opens
zarr-python 3.4's consolidated groups (v3 inline ``consolidated_metadata``, v2 ``.zmetadata``)
with every array, attribute and dimension name as written, and writes the same hierarchy
with the same documents and chunk bytes. Also: dz writes numpy ``StringDType`` input (not
only object arrays) as zarr-python does.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import assert_same

import dask_zarrio as dz
from dask_zarrio.metadata.node import read_node
from dask_zarrio.store import open_store

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "zarr34"
sys.path.insert(0, str(FIXTURES))

from case import STORES, all_cases  # noqa: E402
from cases_hierarchy import hierarchy  # noqa: E402

DOCUMENTS = ("zarr.json", ".zarray", ".zgroup", ".zattrs", ".zmetadata")
GROUPS = {3: STORES / "v3-group-consolidated", 2: STORES / "v2-group-consolidated"}
#: zarr-python 3.4 quirk: a child group's entry in consolidated metadata carries an empty
#: ``consolidated_metadata`` of its own (also in v2 ``.zmetadata``, where no such key exists).
EMPTY_CONSOLIDATED = {"kind": "inline", "must_understand": False, "metadata": {}}


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _normal(doc: Any) -> Any:
    """A document with what is spelled two equivalent ways made one way, at any depth."""
    if isinstance(doc, dict):
        out = {k: _normal(v) for k, v in doc.items()}
        if out.get("storage_transformers") == []:
            del out["storage_transformers"]  # optional in the spec, [] by default
        if out.get("consolidated_metadata") == EMPTY_CONSOLIDATED:
            del out["consolidated_metadata"]
        return out
    if isinstance(doc, list):
        return [_normal(v) for v in doc]
    return doc


def _same_store(ours: Path, theirs: Path) -> None:
    a, b = _files(ours), _files(theirs)
    assert sorted(a) == sorted(b)
    for key, raw in b.items():
        if key.rsplit("/", 1)[-1] in DOCUMENTS:
            assert _normal(json.loads(a[key])) == _normal(json.loads(raw)), key
        else:
            assert a[key] == raw, key


@pytest.mark.parametrize("zarr_format", [3, 2])
def test_dz_opens_zarr_34s_consolidated_group(zarr_format):
    root = dz.open_group(str(GROUPS[zarr_format]))
    assert root.metadata.consolidated is not None  # read from the consolidated form, one request
    assert sorted(root) == ["sub", "temp"] and list(root.group("sub")) == ["names"]
    for path, node in hierarchy(zarr_format).items():
        if node[0] == "group":
            assert (root.group(path) if path else root).attrs == node[1]
            continue
        store, meta = root.array_node(path)
        assert_same(root[path].compute(), node[1]())
        attrs = node[2].get("attributes", {})
        assert meta.attributes == attrs
        names = node[2].get("dimension_names", attrs.get("_ARRAY_DIMENSIONS"))
        assert meta.dimension_names == (None if names is None else tuple(names))


def _write_with_dz(url: Path, zarr_format: int) -> None:
    for path, node in hierarchy(zarr_format).items():
        if node[0] == "group":
            dz.create_group(str(url / path), zarr_format=zarr_format, attributes=node[1], mode="w" if not path else "a")
        else:
            dz.write(node[1](), str(url / path), zarr_format=zarr_format, **node[2])
    dz.consolidate(str(url))


@pytest.mark.parametrize("zarr_format", [3, 2])
def test_dz_writes_the_group_zarr_34_wrote(tmp_path, zarr_format):
    _write_with_dz(tmp_path / "g.zarr", zarr_format)
    _same_store(tmp_path / "g.zarr", GROUPS[zarr_format])


@pytest.mark.parametrize("name", ["v3-dimension-names-attributes", "v2-attributes", "v3-keys-v2-slash"])
def test_dz_reads_attributes_and_dimension_names_as_written(name):
    store = open_store(str(STORES / name))
    meta = read_node(store)
    doc = json.loads(_files(STORES / name).get("zarr.json") or _files(STORES / name)[".zattrs"])
    attrs = doc.get("attributes", {}) if "zarr_format" in doc else doc
    assert meta.attributes == attrs
    assert meta.dimension_names == (None if doc.get("dimension_names") is None else tuple(doc["dimension_names"]))


@pytest.mark.parametrize("case", [c for c in all_cases() if c.as_written is not None and c.dz_write is not None
                                  and isinstance(c.written().dtype, np.dtypes.StringDType)],
                         ids=lambda c: c.name)
def test_dz_writes_string_dtype_input_as_zarr_34_did(tmp_path, case):
    assert case.dz_write is not None
    written = case.written()
    assert isinstance(written.dtype, np.dtypes.StringDType)
    dz.write(written, str(tmp_path / "a.zarr"), **case.dz_write)
    _same_store(tmp_path / "a.zarr", case.store)
    assert_same(dz.read(str(tmp_path / "a.zarr")).compute(), case.data())
