"""dz.verify called directly: the VerifyReport for a healthy array, a corrupt chunk, a
missing one, a broken shard index, keys outside the grid, broken or stale metadata in a
group, and checksum manifests; what ``dz verify`` prints and exits with is in
tests/cli/test_cli.py."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import zarr

import dask_zarrio as dz
from dask_zarrio.metadata.node import read_node
from dask_zarrio.store import open_store
from dask_zarrio.tools.verify import Problem, VerifyReport, canonical_block

DATA = np.arange(400, dtype="f8").reshape(20, 20)


@pytest.fixture
def array(tmp_path) -> Path:
    """A v3 array of 4 x 4 stored chunks."""
    url = tmp_path / "a.zarr"
    dz.write(da.from_array(DATA, chunks=10), str(url), chunks=(5, 5))
    return url


@pytest.fixture
def group(tmp_path) -> Path:
    """A group with an array (16 chunks) and a sharded one in a subgroup (5 shards)."""
    url = tmp_path / "g.zarr"
    dz.create_group(str(url))
    dz.write(da.from_array(DATA, chunks=10), f"{url}/temp", chunks=(5, 5))
    dz.write(da.arange(100, chunks=10), f"{url}/sub/idx", chunks=5, shards=20)
    return url


def test_a_healthy_array(array):
    report = dz.verify(str(array))
    assert isinstance(report, VerifyReport) and report.ok
    assert (report.url, report.problems, report.checksum) == (array.as_uri(), [], None)
    assert report.arrays == {"/": {"chunks_checked": 16, "chunks_expected": 16}}
    assert report.to_dict() == {
        "url": array.as_uri(), "ok": True, "arrays": report.arrays, "checksum": None, "problems": [],
    }


@pytest.mark.parametrize("scheduler", ["sync", "threads"])
def test_a_corrupt_chunk_is_one_problem_naming_its_key(array, scheduler):
    (array / "c" / "1" / "2").write_bytes(b"garbage")
    report = dz.verify(str(array), scheduler=scheduler)
    assert not report.ok
    (problem,) = report.problems
    assert (problem.kind, problem.path, problem.key) == ("corrupt_chunk", "/", "c/1/2")
    assert "c/1/2" in problem.message and problem.message.startswith(array.as_uri())
    assert report.arrays["/"]["chunks_checked"] == 16  # checked, and reported: not raised
    assert report.to_dict()["problems"] == [
        {"kind": "corrupt_chunk", "path": "/", "key": "c/1/2", "message": problem.message}
    ]


def test_a_missing_chunk_is_no_problem_but_is_not_counted(array):
    """A chunk that is not stored reads as the fill value: valid Zarr, so not a problem."""
    (array / "c" / "3" / "3").unlink()
    report = dz.verify(str(array))
    assert report.ok and report.problems == []
    assert report.arrays["/"] == {"chunks_checked": 15, "chunks_expected": 16}


def test_keys_outside_the_grid(array):
    (array / "c" / "9").mkdir()
    (array / "c" / "9" / "9").write_bytes(b"x")
    report = dz.verify(str(array))
    assert [(p.kind, p.path, p.key) for p in report.problems] == [("outside_grid", "/", "c/9/9")]
    assert "outside the chunk grid of shape [20, 20]" in report.problems[0].message
    assert report.arrays["/"]["chunks_checked"] == 16


def test_a_shard_index_pointing_past_the_shard(group):
    shard = group / "sub" / "idx" / "c" / "0"
    raw = bytearray(shard.read_bytes())
    layout = read_node(open_store(str(group / "sub" / "idx"))).codecs[0].layout((20,), np.dtype("i8"))
    index = np.array(layout.decode_index(raw[-layout.index_nbytes:]))
    index[0, 0] = len(raw) + 100  # an offset past the shard's end, with a valid crc32c
    raw[-layout.index_nbytes:] = bytes(layout.index.encode(index))
    shard.write_bytes(bytes(raw))
    report = dz.verify(str(group))
    assert [(p.kind, p.path, p.key) for p in report.problems] == [("shard_index", "sub/idx", "c/0")]
    assert report.arrays == {"temp": {"chunks_checked": 16, "chunks_expected": 16},
                             "sub/idx": {"chunks_checked": 5, "chunks_expected": 5}}


def test_every_problem_of_a_group_with_the_arrays_path(group):
    (group / "temp" / "c" / "0" / "1").write_bytes(b"garbage")
    (group / "temp" / "c" / "9").mkdir()
    (group / "temp" / "c" / "9" / "9").write_bytes(b"x")
    report = dz.verify(str(group))
    assert {(p.kind, p.path, p.key) for p in report.problems} == {
        ("corrupt_chunk", "temp", "c/0/1"), ("outside_grid", "temp", "c/9/9"),
    }
    assert all(isinstance(p, Problem) for p in report.problems)


def test_member_metadata_that_does_not_parse(group):
    """Reported as a problem, the other members still checked (it used to stop verify with a MetadataError)."""
    (group / "sub" / "idx" / "zarr.json").write_text("{not json")
    report = dz.verify(str(group))
    (problem,) = report.problems
    assert (problem.kind, problem.path, problem.key) == ("metadata", "sub/idx", None)
    assert set(report.arrays) == {"temp"}  # the others are still checked


def test_stale_consolidated_metadata(group):
    dz.consolidate(str(group))
    assert dz.verify(str(group)).ok
    zarr.open_array(str(group / "temp"), mode="r+").attrs["units"] = "K"  # zarr-python: no reconsolidation
    shutil.rmtree(group / "sub")
    report = dz.verify(str(group))
    assert {(p.kind, p.path) for p in report.problems} == {
        ("stale_consolidated", "temp"), ("stale_consolidated", "sub"), ("stale_consolidated", "sub/idx"),
    }
    assert all("dz consolidate" in p.message for p in report.problems)
    dz.consolidate(str(group))
    assert dz.verify(str(group)).ok


def test_checksum_written_matched_then_mismatched(tmp_path):
    a, b, manifest = tmp_path / "a.zarr", tmp_path / "b.zarr", tmp_path / "sums.json"
    dz.write(da.from_array(DATA, chunks=5), str(a), chunks=(5, 5))
    z = zarr.create_array(str(b), shape=DATA.shape, chunks=(7, 3), dtype=">f8", zarr_format=2)
    z[:] = DATA  # the same values: other chunks, byte order and format
    assert dz.verify(str(a), checksum=manifest).checksum == "written"
    doc = json.loads(manifest.read_text())
    assert doc["format"] == "dz-checksum/1" and list(doc["arrays"]) == ["/"]
    entry = doc["arrays"]["/"]
    assert (entry["shape"], entry["dtype"], entry["block_shape"]) == ([20, 20], "<f8", list(canonical_block((20, 20))))
    matched = dz.verify(str(b), checksum=manifest)
    assert (matched.ok, matched.checksum) == (True, "matched")
    z[3, 4] = -1
    mismatched = dz.verify(str(b), checksum=str(manifest))
    assert (mismatched.ok, mismatched.checksum) == (False, "mismatched")
    (problem,) = mismatched.problems
    assert (problem.kind, problem.path, problem.key) == ("checksum", "/", None)
    assert "first difference in elements ['0:20', '0:20']" in problem.message


def test_no_checksums_of_an_array_that_does_not_decode(array, tmp_path):
    (array / "c" / "0" / "0").write_bytes(b"garbage")
    manifest = tmp_path / "sums.json"
    report = dz.verify(str(array), checksum=manifest)
    assert [p.kind for p in report.problems] == ["corrupt_chunk", "checksum"]
    assert "checksums not computed" in report.problems[1].message
    assert report.checksum is None and not manifest.exists()


def test_a_file_that_is_no_manifest_is_refused(array, tmp_path):
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"format": "something else"}))
    with pytest.raises(dz.ZarrioError, match="is no dz-checksum/1 manifest"):
        dz.verify(str(array), checksum=other)
    other.write_text("{not json")
    with pytest.raises(dz.ZarrioError, match="cannot be read as a manifest"):
        dz.verify(str(array), checksum=other)


def test_a_missing_node_is_array_not_found(tmp_path):
    with pytest.raises(dz.ArrayNotFoundError):
        dz.verify(str(tmp_path / "missing.zarr"))


# Rectilinear chunk grids: chunks counted and decoded at their own shapes.

def test_a_rectilinear_array_verifies_clean(tmp_path):
    url = str(tmp_path / "a.zarr")
    dz.write(da.from_array(np.arange(80).reshape(10, 8), chunks=((3, 5, 2), 4)), url, chunks="dask")
    report = dz.verify(url)
    assert report.problems == []
    assert report.arrays["/"] == {"chunks_checked": 6, "chunks_expected": 6}


def test_a_corrupt_chunk_of_a_rectilinear_array_is_named(tmp_path):
    url = tmp_path / "a.zarr"
    dz.write(da.from_array(np.arange(80).reshape(10, 8), chunks=((3, 5, 2), 4)), str(url), chunks="dask")
    (url / "c" / "2" / "1").write_bytes(b"junk")
    report = dz.verify(str(url))
    assert [(p.kind, p.key) for p in report.problems] == [("corrupt_chunk", "c/2/1")]
