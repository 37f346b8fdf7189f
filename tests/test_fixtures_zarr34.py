"""Golden stores written by the newest zarr-python (``tests/fixtures/zarr34``), both directions.

zarr-python 3.4 needs Python >= 3.12, newer than this suite's oldest supported setup, so
its output is committed (``tests/fixtures/zarr34/regenerate.py`` rewrites it) and checked
here on every machine:

- dz reads every golden store identically (dtype, shape, bits);
- dz writes, for the same data and settings, the same documents and chunk bytes as the
  newest zarr-python did: a store zarr-python wrote is one it reads, so it reads dz's too.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from conftest import assert_same

import dask_zarrio as dz

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "zarr34"
sys.path.insert(0, str(FIXTURES))

from case import STORES, ZARR_VERSION, Case, all_cases  # noqa: E402

CASES = all_cases()
WRITTEN_BY_DZ = [c for c in CASES if c.dz_write is not None]
DOCUMENTS = ("zarr.json", ".zarray", ".zgroup", ".zattrs", ".zmetadata")


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _document(raw: bytes) -> object:
    """A metadata document with what is spelled two equivalent ways made one way."""
    doc = json.loads(raw)
    if isinstance(doc, dict) and doc.get("storage_transformers") == []:
        del doc["storage_transformers"]  # optional in the spec, [] by default
    return doc


def test_the_stores_are_those_of_the_cases() -> None:
    versions = json.loads((STORES / "VERSIONS.json").read_text())
    assert versions["zarr"] == ZARR_VERSION
    on_disk = {p.name for p in STORES.iterdir() if p.is_dir()}
    assert on_disk == {c.name for c in CASES}, "run tests/fixtures/zarr34/regenerate.py"


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_dz_reads_what_zarr_34_wrote(case: Case) -> None:
    url = str(case.store / case.read_path) if case.read_path else str(case.store)
    assert_same(dz.read(url).compute(), case.data())


@pytest.mark.parametrize("case", WRITTEN_BY_DZ, ids=lambda c: c.name)
def test_dz_writes_what_zarr_34_wrote(case: Case, tmp_path: Path) -> None:
    assert case.dz_write is not None
    out = tmp_path / "a.zarr"
    dz.write(case.data(), str(out), **case.dz_write)
    ours, theirs = _files(out), _files(case.store)
    assert sorted(ours) == sorted(theirs)
    for key, raw in theirs.items():
        if key.rsplit("/", 1)[-1] in DOCUMENTS:
            assert _document(ours[key]) == _document(raw), key
        elif case.same_chunk_bytes:
            assert ours[key] == raw, key
    assert_same(dz.read(str(out)).compute(), case.data())

