"""``dz.write_dataset``'s other ``to_zarr`` options: compute=False, codecs, exceptions, warnings."""

from __future__ import annotations

import json
import logging
import os
import warnings

import dask.array as da
import numpy as np
import pytest
from dask.delayed import Delayed

import dask_zarrio as dz

xr = pytest.importorskip("xarray")
zarr = pytest.importorskip("zarr")

FORMATS = [2, 3]


@pytest.mark.parametrize("zarr_format", FORMATS)
def test_compute_false_stores_metadata_now_and_data_when_computed(tmp_path, zarr_format):
    """The "template, then region jobs" pattern: to_zarr(compute=False) stores the metadata first."""
    ds = xr.Dataset({"v": (("t", "x"), np.arange(12.0).reshape(4, 3))}, coords={"t": [1, 2, 3, 4]}).chunk({"t": 2})
    url = str(tmp_path / "d.zarr")
    delayed = dz.write_dataset(ds, url, compute=False, zarr_format=zarr_format)
    assert isinstance(delayed, Delayed)
    template = xr.open_zarr(url)  # readable now (consolidated too): fill values
    assert template.v.shape == (4, 3) and np.isnan(template.v.values).all()
    for i in (0, 2):  # independent region jobs into the template
        dz.write_dataset(ds.isel(t=slice(i, i + 2)), url, region={"t": slice(i, i + 2)})
    xr.testing.assert_identical(xr.open_zarr(url).compute(), ds.compute())
    delayed.compute()  # the template's own data write, later: the same values
    xr.testing.assert_identical(xr.open_zarr(url).compute(), ds.compute())


@pytest.mark.parametrize("zarr_format", FORMATS)
def test_encoding_from_the_variable_and_the_argument_as_to_zarr(tmp_path, zarr_format):
    """``variable.encoding`` is used; ``encoding=`` replaces it for the variables it names (to_zarr's precedence)."""
    ds = xr.Dataset({"a": (("x",), np.arange(8.0)), "b": (("x",), np.arange(8.0))})
    ds.a.encoding = {"chunks": (2,), "preferred_chunks": {"x": 2}, "zlib": True}  # a netCDF key: dropped
    ds.b.encoding = {"chunks": (2,), "dtype": "f4"}
    url, theirs = str(tmp_path / "d.zarr"), str(tmp_path / "t.zarr")
    enc = {"b": {"chunks": (4,)}}
    dz.write_dataset(ds, url, zarr_format=zarr_format, encoding=enc)
    ds.to_zarr(theirs, zarr_format=zarr_format, encoding=enc)
    for name, chunks, dtype in (("a", [2], "float64"), ("b", [4], "float64")):
        ours, their = zarr.open_array(url, path=name), zarr.open_array(theirs, path=name)
        assert list(ours.chunks) == list(their.chunks) == chunks
        assert str(ours.dtype) == str(their.dtype) == dtype


@pytest.mark.parametrize("zarr_format", FORMATS)
@pytest.mark.parametrize("codec", [
    "blosc", {"name": "blosc"}, "zarr-blosc", "zarr-zstd", "numcodecs-blosc",
])
def test_codecs_as_xarray_and_zarr_write_them(tmp_path, zarr_format, codec):
    """zarr-python codec objects, numcodecs objects and blosc by name (typesize from the dtype) are taken."""
    import numcodecs

    given = {"zarr-blosc": zarr.codecs.BloscCodec(cname="lz4"), "zarr-zstd": zarr.codecs.ZstdCodec(level=5),
             "numcodecs-blosc": numcodecs.Blosc(cname="lz4")}.get(codec if isinstance(codec, str) else "", codec)
    # For Zarr v2, zarr-python's objects become the numcodecs config of the same name.
    ds = xr.Dataset({"v": (("x",), np.arange(100.0))})
    url = str(tmp_path / "d.zarr")
    dz.write_dataset(ds, url, zarr_format=zarr_format, encoding={"v": {"compressors": (given,)}})
    np.testing.assert_array_equal(zarr.open_array(url, path="v")[:], np.arange(100.0))
    doc = json.load(open(os.path.join(url, "v", "zarr.json" if zarr_format == 3 else ".zarray")))
    want = "zstd" if codec == "zarr-zstd" else "blosc"
    if zarr_format == 2:
        assert doc["compressor"]["id"] == want
    else:
        stored = doc["codecs"][-1]
        assert stored["name"] == want
        if want == "blosc":  # the item size of float64, byte shuffle: zarr-python's choice where unset
            assert stored["configuration"]["typesize"] == 8 and stored["configuration"]["shuffle"] == "shuffle"


@pytest.mark.parametrize(("ds", "kwargs", "builtin"), [
    pytest.param(xr.Dataset({0: (("x",), np.arange(4.0))}), {}, TypeError, id="name-not-a-string"),
    pytest.param(xr.Dataset({"v": (("x",), np.arange(4.0))}), {"region": slice(None)}, TypeError, id="region-slice"),
    pytest.param(xr.Dataset({"v": (("x",), np.arange(4.0))}), {"region": {"x": [0, 1]}}, TypeError,
                 id="region-list"),
    pytest.param(xr.Dataset({"v": (("x",), np.arange(4.0))}), {"encoding": {"nope": {"chunks": (2,)}}}, KeyError,
                 id="encoding-missing-variable"),
])
def test_write_dataset_raises_the_exception_classes_to_zarr_raises(tmp_path, ds, kwargs, builtin):
    """The built-in class to_zarr raises (dz's error classes subclass it), before anything is written."""
    ours, theirs = str(tmp_path / "d.zarr"), str(tmp_path / "t.zarr")
    if "region" in kwargs:  # a region needs a store to write into
        for url in (ours, theirs):
            ds.to_zarr(url, zarr_format=3)
    with pytest.raises(builtin) as raised:
        dz.write_dataset(ds, ours, **kwargs)
    assert isinstance(raised.value, dz.ZarrioError)
    with pytest.raises(builtin):
        ds.to_zarr(theirs, **kwargs)
    if "region" not in kwargs:
        assert not os.path.exists(ours)


@pytest.mark.parametrize("zarr_format", FORMATS)
def test_a_variable_named_none_is_stored_as_to_zarr_stores_it(tmp_path, zarr_format):
    ds = xr.Dataset({None: xr.DataArray(np.arange(3.0), dims="x")})  # a nameless DataArray's dataset
    ours, theirs = str(tmp_path / "d.zarr"), str(tmp_path / "t.zarr")
    dz.write_dataset(ds, ours, zarr_format=zarr_format)
    ds.to_zarr(theirs, zarr_format=zarr_format)
    assert sorted(os.listdir(ours)) == sorted(os.listdir(theirs))
    xr.testing.assert_identical(xr.open_zarr(ours).compute(), xr.open_zarr(theirs).compute())


def test_unknown_dask_chunk_sizes_are_refused_naming_compute_chunk_sizes(tmp_path):
    x = da.random.random(20, chunks=5)
    ds = xr.Dataset({"v": (("x",), x[x > 0.5])})
    with pytest.raises(dz.ZarrioError, match=r"compute_chunk_sizes\(\)"):
        dz.write_dataset(ds, str(tmp_path / "d.zarr"))


def test_region_writes_leave_indexes_alone_and_raise_no_false_alarm(tmp_path, caplog):
    """to_zarr(region=) drops indexes: a region aligned to the data's chunks cuts nothing, so nothing is said."""
    ds = xr.Dataset({"v": (("x",), np.arange(20.0))}, coords={"x": np.arange(20)})
    url = str(tmp_path / "d.zarr")
    dz.write_dataset(ds, url, encoding={"v": {"chunks": (5,)}, "x": {"chunks": (20,)}})
    part = ds.isel(x=slice(5, 10)) * 0
    with warnings.catch_warnings(), caplog.at_level(logging.WARNING, logger="dask_zarrio"):
        warnings.simplefilter("error")
        dz.write_dataset(part, url, region="auto")
    assert "falls inside" not in caplog.text
    back = xr.open_zarr(url).compute()
    assert back.v.values[5:10].tolist() == [0.0] * 5 and back.x.values.tolist() == list(range(20))


def test_a_region_that_cuts_chunks_warns_through_warnings(tmp_path):
    ds = xr.Dataset({"v": (("x",), np.arange(20.0))})
    url = str(tmp_path / "d.zarr")
    dz.write_dataset(ds, url, encoding={"v": {"chunks": (10,)}})
    with pytest.warns(dz.ZarrioWarning, match="falls inside stored chunk"):
        dz.write_dataset(ds.isel(x=slice(0, 5)), url, region={"x": slice(0, 5)})


def test_progress_shows_a_bar(tmp_path, capsys):
    ds = xr.Dataset({"v": (("x",), np.arange(20.0))}).chunk(5)
    dz.write_dataset(ds, str(tmp_path / "d.zarr"), progress=True)
    assert "100%" in capsys.readouterr().out


@pytest.mark.parametrize("zarr_format", FORMATS)
def test_a_dataset_opened_from_zarr_keeps_its_layout_and_codecs(tmp_path, zarr_format):
    """Issue 29: ``.encoding`` was ignored, so blosc-lz4 became zstd and the chunks dz's own."""
    import numcodecs

    blosc = zarr.codecs.BloscCodec(cname="lz4", clevel=3) if zarr_format == 3 else numcodecs.Blosc("lz4", 3)
    enc = {"v": {"chunks": (5, 10), "compressors": (blosc,), **({"shards": (10, 30)} if zarr_format == 3 else {})}}
    src, dst = str(tmp_path / "s.zarr"), str(tmp_path / "d.zarr")
    xr.Dataset({"v": (("x", "y"), np.arange(600.0).reshape(20, 30))}).to_zarr(src, zarr_format=zarr_format,
                                                                              encoding=enc)
    dz.write_dataset(xr.open_zarr(src), dst, zarr_format=zarr_format)
    a, b = zarr.open_array(src, path="v"), zarr.open_array(dst, path="v")
    assert (a.chunks, a.shards, a.compressors) == (b.chunks, b.shards, b.compressors)
    np.testing.assert_array_equal(a[:], b[:])
