"""mode="w" never deletes what is not Zarr (issue 14), end to end through dz.write, dz.init,
dz.create_group and dz.write_dataset.

zarr-python and xarray delete the whole folder given to a "w" write, whatever is in it:
zarr-developers/zarr-python#2451 (LocalStore removes whole directories; documented by
#2606), xarray-contrib/datatree#274 ("to_zarr(./path/to/everything/I/hold/dear/) ...
ruthlessly purges all within the specified directory") and xarray-contrib/xeofs#106
(a model's save wiped a user's directory). Here the node is listed first: only Zarr
metadata, the chunks of the hierarchy's arrays and dask_zarrio's own ``.dz-*`` objects
may be deleted; anything else refuses the write and nothing is deleted."""

from __future__ import annotations

import os
from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import zarr

import dask_zarrio as dz
from dask_zarrio.errors import ContainsArrayError


def files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)).replace(os.sep, "/") for p in folder.rglob("*") if p.is_file()}


def test_a_folder_of_documents_is_refused_and_kept(tmp_path):
    documents = tmp_path / "Documents"
    (documents / "taxes").mkdir(parents=True)
    (documents / "notes.txt").write_text("mine")
    (documents / "taxes" / "2025.pdf").write_bytes(b"%PDF")
    refused = r"not Zarr data: \['notes.txt', 'taxes/2025.pdf'\].*nothing was deleted"
    with pytest.raises(ContainsArrayError, match=refused) as info:
        dz.write(da.ones(4, chunks=2), str(documents), mode="w")
    assert isinstance(info.value, FileExistsError)
    assert "choose another path" in str(info.value)
    assert files(documents) == {"notes.txt", "taxes/2025.pdf"}


def test_a_foreign_file_inside_a_zarr_array_is_refused(tmp_path):
    url = tmp_path / "a.zarr"
    dz.write(da.ones((4, 4), chunks=2), str(url))
    (url / "c" / "README").write_text("why this array exists")
    before = files(url)
    with pytest.raises(ContainsArrayError, match=r"\['c/README'\]"):
        dz.write(da.zeros((4, 4), chunks=2), str(url), mode="w")
    assert files(url) == before
    np.testing.assert_array_equal(dz.read(str(url)).compute(), np.ones((4, 4)))


def test_many_foreign_files_are_counted_not_all_listed(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(12):
        (folder / f"img{i:02d}.jpg").write_bytes(b"jpg")
    with pytest.raises(ContainsArrayError, match="'img04.jpg'] and 7 more"):
        dz.write(np.ones(2), str(folder), mode="w")
    assert len(files(folder)) == 12


def test_a_single_file_is_refused(tmp_path):
    target = tmp_path / "report.docx"
    target.write_bytes(b"PK")
    with pytest.raises(ContainsArrayError, match="single file or object"):
        dz.write(np.ones(2), str(target), mode="w")
    assert target.read_bytes() == b"PK"


@pytest.mark.parametrize("call", [
    lambda url: dz.init(url, shape=(4,), dtype="f4", chunks=(2,), mode="w"),
    lambda url: dz.create_group(url, mode="w"),
    lambda url: dz.create_group(url, zarr_format=2, mode="w"),
])
def test_init_and_create_group_refuse_too(tmp_path, call):
    (tmp_path / "g").mkdir()
    (tmp_path / "g" / "thesis.tex").write_text("\\begin{document}")
    with pytest.raises(ContainsArrayError, match="thesis.tex"):
        call(str(tmp_path / "g"))
    assert files(tmp_path / "g") == {"thesis.tex"}


def test_write_dataset_refuses_before_writing_anything(tmp_path):
    xr = pytest.importorskip("xarray")
    folder = tmp_path / "ds"
    folder.mkdir()
    (folder / "keep.csv").write_text("a,b")
    ds = xr.Dataset({"t": (("x",), np.arange(4.0))})
    with pytest.raises(ContainsArrayError, match="keep.csv"):
        dz.write_dataset(ds, str(folder), mode="w")
    assert files(folder) == {"keep.csv"}


@pytest.mark.parametrize("fmt,shards", [(3, None), (3, (4, 4)), (2, None), ("n5", None)])
def test_replacing_a_zarr_array_with_mode_w_still_works(tmp_path, fmt, shards):
    url = str(tmp_path / ("a.n5" if fmt == "n5" else "a.zarr"))
    dz.write(da.ones((8, 8), chunks=2), url, zarr_format=fmt, shards=shards)
    dz.write(da.zeros((3,), chunks=3), url, zarr_format=fmt, mode="w")
    np.testing.assert_array_equal(dz.read(url).compute(), np.zeros(3))


@pytest.mark.parametrize("zarr_format,encoding", [
    (3, {"name": "default", "separator": "."}),
    (3, {"name": "v2", "separator": "/"}),
    (3, {"name": "v2", "separator": "."}),
    (2, {"name": "v2", "separator": "/"}),
    (2, {"name": "v2", "separator": "."}),
])
def test_replacing_arrays_with_every_chunk_key_encoding(tmp_path, zarr_format, encoding):
    """Arrays written by zarr-python with each chunk key spelling are recognised as Zarr."""
    url = str(tmp_path / "z.zarr")
    z = zarr.create_array(url, shape=(4, 6), chunks=(2, 3), dtype="i4", zarr_format=zarr_format,
                          chunk_key_encoding=encoding)
    z[...] = np.arange(24).reshape(4, 6)
    dz.write(np.ones(2), url, mode="w")
    np.testing.assert_array_equal(dz.read(url).compute(), np.ones(2))


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_replacing_a_hierarchy_of_nested_groups_and_arrays(tmp_path, zarr_format):
    url = tmp_path / "h.zarr"
    root = dz.create_group(str(url), zarr_format=zarr_format, attributes={"title": "old"})
    dz.write(da.ones((4, 4), chunks=2), str(url / "a"), zarr_format=zarr_format)
    dz.write(da.ones(6, chunks=3), str(url / "g" / "sub" / "b"), zarr_format=zarr_format)
    if zarr_format == 2:
        dz.consolidate(str(url))
    (url / "g" / ".dz-journal-123").write_text("{}")  # dask_zarrio's own: may go with the node
    assert root.attrs == {"title": "old"}
    dz.create_group(str(url), zarr_format=zarr_format, mode="w")
    assert files(url) in ({"zarr.json"}, {".zgroup", ".zattrs"})  # .zattrs {} as zarr-python writes it


def test_dz_objects_and_leftover_temporary_files_go_with_the_node(tmp_path):
    url = tmp_path / "a.zarr"
    dz.write(da.ones((4, 4), chunks=2), str(url))
    (url / ".dz-lock-zarr.json").write_text("")
    (url / "c" / "0" / ".tmp-abc123").write_bytes(b"half a chunk")
    dz.write(np.arange(1, 3), str(url), mode="w")
    assert files(url) == {"zarr.json", "c/0"}


def test_object_stores_are_checked_the_same_way(s3_endpoint, bucket):
    """S3 (a recursive LIST) and memory://: a foreign object refuses, Zarr objects are replaced."""
    import fsspec

    from tests.servers.s3 import s3_options

    options = s3_options(s3_endpoint)
    s3 = fsspec.filesystem("s3", **options)
    for url, fs, path, opts in [
        (f"s3://{bucket}/a.zarr", s3, f"{bucket}/a.zarr", options),
        ("memory://mode-w-check/a.zarr", fsspec.filesystem("memory"), "/mode-w-check/a.zarr", None),
    ]:
        dz.write(da.ones((4, 4), chunks=2), url, storage_options=opts)
        fs.pipe_file(f"{path}/c/0/notes.md", b"mine")
        with pytest.raises(ContainsArrayError, match=r"\['c/0/notes.md'\]"):
            dz.write(np.ones(2), url, mode="w", storage_options=opts)
        assert fs.cat_file(f"{path}/c/0/notes.md") == b"mine"
        fs.rm_file(f"{path}/c/0/notes.md")
        dz.write(np.arange(1, 3), url, mode="w", storage_options=opts)
        np.testing.assert_array_equal(dz.read(url, storage_options=opts).compute(), [1, 2])
