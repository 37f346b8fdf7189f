"""dz.info called directly: the fields of the dictionary it returns, for arrays (v2, v3,
sharded, N5) and groups, from metadata and one listing; what ``dz info`` prints is in
tests/cli/test_cli.py."""

from __future__ import annotations

import json
from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import zarr

import dask_zarrio as dz

DATA = np.arange(400, dtype="f8").reshape(20, 20)


def _stored(folder: Path, chunks_only: bool = False) -> int:
    """Bytes of every file below ``folder`` (or of the chunk files only)."""
    metadata = {"zarr.json", ".zarray", ".zattrs", ".zgroup", ".zmetadata", "attributes.json"}
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not (chunks_only and p.name in metadata))


@pytest.mark.parametrize("fmt", [2, 3])
def test_array_fields_of_what_zarr_python_wrote(tmp_path, fmt):
    url = tmp_path / "a.zarr"
    z = zarr.create_array(str(url), shape=(20, 20), chunks=(5, 5), dtype="i4", fill_value=7, zarr_format=fmt,
                          dimension_names=["y", "x"] if fmt == 3 else None, attributes={"units": "K"})
    z[:10] = 1  # 8 of 16 chunks stored
    i = dz.info(str(url))
    assert (i["node_type"], i["zarr_format"], i["url"]) == ("array", fmt, url.as_uri())
    assert (i["shape"], i["dtype"], i["chunks"], i["shards"], i["fill_value"]) == ([20, 20], "int32", [5, 5], None, 7)
    assert (i["dimension_names"], i["attributes"]) == ((["y", "x"] if fmt == 3 else None), {"units": "K"})
    assert (i["chunks_present"], i["chunks_expected"], i["keys_outside_grid"]) == (8, 16, 0)
    assert i["nbytes"] == 20 * 20 * 4
    assert i["stored_bytes"] == _stored(url)
    assert i["stored_chunk_bytes"] == _stored(url, chunks_only=True)
    assert i["compression_ratio"] == round(8 * 25 * 4 / i["stored_chunk_bytes"], 3)
    assert i["codecs"] and json.dumps(i)  # JSON-serialisable, codecs listed


def test_v2_dimension_names_come_from_array_dimensions_and_leave_the_attributes(tmp_path):
    url = str(tmp_path / "a.zarr")
    dz.write(da.from_array(DATA, chunks=10), url, zarr_format=2, dimension_names=["y", "x"], attributes={"title": "t"})
    i = dz.info(url)
    assert i["dimension_names"] == ["y", "x"]
    assert i["attributes"] == {"title": "t"}  # _ARRAY_DIMENSIONS is not repeated among them


def test_sharded_array_counts_shards_and_gives_both_shapes(tmp_path):
    url = tmp_path / "s.zarr"
    dz.write(da.arange(80, chunks=40), str(url), chunks=10, shards=40)
    i = dz.info(str(url))
    assert (i["chunks"], i["shards"]) == ([10], [40])  # the read unit and the stored object
    assert (i["chunks_present"], i["chunks_expected"]) == (2, 2)  # shards
    assert i["codecs"][0]["name"] == "sharding_indexed"
    assert i["compression_ratio"] == round(2 * 40 * 8 / i["stored_chunk_bytes"], 3)


def test_n5_array(tmp_path):
    url = str(tmp_path / "a.n5")
    dz.write(da.arange(100, chunks=10), url, chunks=20, zarr_format="n5")
    i = dz.info(url)
    assert (i["zarr_format"], i["chunks"], i["chunks_present"], i["chunks_expected"]) == ("n5", [20], 5, 5)
    assert i["fill_value"] is None and i["codecs"][0]["type"] == "gzip"


def test_keys_outside_the_grid_and_foreign_files_are_not_chunks(tmp_path):
    url = tmp_path / "a.zarr"
    dz.write(da.from_array(DATA, chunks=10), str(url), chunks=(10, 10))
    (url / "c" / "9").mkdir()
    (url / "c" / "9" / "9").write_bytes(b"x")  # past the 2 x 2 grid
    (url / "README").write_text("notes")
    i = dz.info(str(url))
    assert (i["chunks_present"], i["chunks_expected"], i["keys_outside_grid"]) == (4, 4, 1)
    assert i["stored_bytes"] == _stored(url)  # every object, not only the chunks


def test_an_array_without_stored_chunks(tmp_path):
    url = str(tmp_path / "empty.zarr")
    dz.write(da.zeros(10, chunks=5), url)  # only fill values: no chunk is stored
    i = dz.info(url)
    assert (i["chunks_present"], i["chunks_expected"]) == (0, 2)
    assert (i["stored_chunk_bytes"], i["compression_ratio"]) == (0, None)


def test_group_fields_and_its_arrays_by_path(tmp_path):
    url = tmp_path / "g.zarr"
    dz.create_group(str(url), attributes={"title": "demo"})
    dz.write(da.from_array(DATA, chunks=10), f"{url}/temp", chunks=(5, 5))
    dz.write(da.arange(100, chunks=10), f"{url}/sub/idx", chunks=5, shards=20)
    i = dz.info(str(url))
    assert (i["node_type"], i["zarr_format"], i["attributes"]) == ("group", 3, {"title": "demo"})
    assert i["consolidated"] is False
    assert i["groups"] == ["sub"] and sorted(i["arrays"]) == ["sub/idx", "temp"]
    assert i["arrays"]["temp"] == dz.info(f"{url}/temp")  # the same summary as the array's own
    assert (i["arrays"]["sub/idx"]["chunks"], i["arrays"]["sub/idx"]["shards"]) == ([5], [20])
    assert i["nbytes"] == DATA.nbytes + 100 * 8
    assert i["stored_bytes"] == _stored(url)
    dz.consolidate(str(url))
    assert dz.info(str(url))["consolidated"] is True


def test_a_missing_node_is_array_not_found(tmp_path):
    with pytest.raises(dz.ArrayNotFoundError, match="no array at .*missing.zarr"):
        dz.info(str(tmp_path / "missing.zarr"))


def test_an_fsspec_memory_store():
    import uuid

    import fsspec

    url = f"memory://tools-info-{uuid.uuid4().hex}/a.zarr"
    dz.write(da.arange(10, chunks=5), url)
    i = dz.info(url)
    assert (i["url"], i["shape"], i["chunks_present"], i["chunks_expected"]) == (url, [10], 2, 2)
    fs = fsspec.filesystem("memory")
    assert i["stored_bytes"] == sum(fs.size(p) for p in fs.find(url.removeprefix("memory:/")))


# Rectilinear chunk grids: chunks counted and decoded at their own shapes.

def test_info_counts_a_rectilinear_grid_s_chunks(tmp_path):
    url = str(tmp_path / "a.zarr")
    dz.write(da.from_array(np.arange(80).reshape(10, 8), chunks=((3, 5, 2), 4)), url, chunks="dask", compressors=None)
    info = dz.info(url)
    assert (info["chunks_expected"], info["chunks_present"], info["keys_outside_grid"]) == (6, 6, 0)
    assert info["compression_ratio"] == 1.0  # raw bytes of each chunk at its own shape


def test_advise_samples_chunks_of_several_shapes(tmp_path):
    url = str(tmp_path / "a.zarr")
    dz.write(da.from_array(np.arange(80.0).reshape(10, 8), chunks=((3, 5, 2), 4)), url, chunks="dask")
    advice = dz.advise(url, sample=3)
    assert len(advice.sampled_chunks) == 3 and advice.rows
