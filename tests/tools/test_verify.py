"""dz.verify on every kind of chunk grid: healthy chunks are never reported (issue 27)."""

from __future__ import annotations

import dask.array as da
import numpy as np

import dask_zarrio as dz


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
