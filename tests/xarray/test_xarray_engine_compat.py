"""The engine as xarray's own zarr engine behaves where xarray's suite (test_xarray_suite.py) found it did
not: 0-d variables, pickling, a nameless DataArray, a missing store, the non-consolidated warning,
v3 codecs as zarr-python objects. Each through the other ways in too (``chunks={}``, datatrees,
stores other than a local folder)."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest

import dask_zarrio as dz

xr = pytest.importorskip("xarray")
zarr = pytest.importorskip("zarr")

CHUNKS = {"lazy": None, "dask": {}}


def _open(url, chunks, **kwargs):
    return xr.open_dataset(url, engine="dask_zarrio", chunks=CHUNKS[chunks], **kwargs)


@pytest.mark.parametrize("chunks", sorted(CHUNKS))
@pytest.mark.parametrize("fmt", [2, 3])
def test_zero_dimensional_variables_load(tmp_path, fmt, chunks):
    ds = xr.Dataset({"f": ([], 1.0e9, {"units": "u"}), "b": ([], b"foobar"), "s": ([], "foobar"),
                     "i": ([], np.int16(-3))})
    url = str(tmp_path / "z.zarr")
    dz.write_dataset(ds, url, zarr_format=fmt)
    got = _open(url, chunks)
    assert got.f.values == 1.0e9 and got.b.values == b"foobar" and got.s.values == "foobar" and got.i.values == -3
    assert got.f.values.shape == () and isinstance(got.f.values, np.ndarray)
    assert dz.load(url + "/f").shape == ()


@pytest.mark.parametrize("chunks", sorted(CHUNKS))
@pytest.mark.parametrize("compressor", ["default", "zstd", "blosc"])
@pytest.mark.parametrize("fmt", [2, 3])
def test_an_opened_dataset_pickles(tmp_path, fmt, compressor, chunks):
    """Plain pickle, as multiprocessing uses it (zstd and blosc encoders are per-thread closures)."""
    ds = xr.Dataset({"v": ("x", np.arange(10.0))})
    url = str(tmp_path / "p.zarr")
    enc = {} if compressor == "default" else {"v": {"compressors": compressor}}
    dz.write_dataset(ds, url, zarr_format=fmt, encoding=enc)
    opened = _open(url, chunks)
    again = pickle.loads(pickle.dumps(opened))
    xr.testing.assert_identical(again.load(), ds)


@pytest.mark.parametrize("writer", ["to_zarr", "write_dataset"])
@pytest.mark.parametrize("fmt", [2, 3])
def test_a_nameless_variable_reads_back_nameless(tmp_path, fmt, writer):
    ds = xr.Dataset({None: (("x", "y"), [[0, 1], [2, 3]])})
    url = str(tmp_path / "n.zarr")
    if writer == "to_zarr":
        ds.to_zarr(url, zarr_format=fmt)
    else:
        dz.write_dataset(ds, url, zarr_format=fmt)
    assert list(xr.open_dataset(url, engine="dask_zarrio").data_vars) == [None]
    assert list(xr.open_datatree(url, engine="dask_zarrio").dataset.data_vars) == [None]


@pytest.mark.parametrize("url", ["{tmp}/missing.zarr", "memory://compat/missing.zarr"])
def test_a_missing_store_is_reported_as_xarray_words_it(tmp_path, url):
    url = url.format(tmp=tmp_path)
    for opener in (xr.open_dataset, xr.open_datatree):
        with pytest.raises(FileNotFoundError, match="does not exist"):
            opener(url, engine="dask_zarrio")


def test_a_folder_of_other_things_is_not_called_missing(tmp_path):
    (tmp_path / "other.zarr").mkdir()
    (tmp_path / "other.zarr" / "README").write_text("not zarr")
    with pytest.raises(FileNotFoundError, match="no zarr.json, .zarray or .zgroup"):
        xr.open_dataset(str(tmp_path / "other.zarr"), engine="dask_zarrio")


@pytest.mark.parametrize("fmt", [2, 3])
def test_a_group_without_consolidated_metadata_warns_as_xarray(tmp_path, fmt):
    url = str(tmp_path / "c.zarr")
    xr.Dataset({"v": ("x", np.arange(3.0))}).to_zarr(url, zarr_format=fmt, consolidated=False)
    for opener in (xr.open_dataset, xr.open_datatree):
        with pytest.warns(RuntimeWarning, match="Failed to open Zarr store with consolidated"):
            opener(url, engine="dask_zarrio")
    with pytest.warns(RuntimeWarning, match="Failed to open Zarr store with consolidated"):
        dz.open_dataset(url)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        xr.open_dataset(url, engine="dask_zarrio", consolidated=False)  # asked not to look: no warning
        dz.consolidate(url)
        xr.open_dataset(url, engine="dask_zarrio")


def test_v3_codecs_read_back_as_xarrays_engine_gives_them(tmp_path):
    url = str(tmp_path / "e.zarr")
    encoding = {"v": {"serializer": zarr.codecs.BytesCodec(endian="little"),
                      "compressors": (zarr.codecs.BloscCodec(cname="zstd", clevel=3, shuffle="shuffle", typesize=8,
                                                             blocksize=0),),
                      "filters": (zarr.codecs.TransposeCodec(order=(0,)),)}}
    xr.Dataset({"v": ("x", np.arange(4.0))}).to_zarr(url, zarr_format=3, encoding=encoding)
    ours = xr.open_dataset(url, engine="dask_zarrio").v.encoding
    theirs = xr.open_dataset(url, engine="zarr").v.encoding
    for key in ("compressors", "filters", "serializer"):
        assert ours[key] == theirs[key], key
    copy = str(tmp_path / "copy.zarr")
    dz.write_dataset(xr.open_dataset(url, engine="dask_zarrio"), copy)  # the objects go back in
    assert xr.open_dataset(copy, engine="zarr").v.encoding["compressors"] == theirs["compressors"]
