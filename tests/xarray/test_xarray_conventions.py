"""xarray's ``to_zarr`` conventions in :func:`dask_zarrio.write_dataset` and the engine, option by option.

Every ``to_zarr`` option the issue lists is either honoured as xarray documents it (and then
checked against what ``to_zarr`` itself writes), or refused naming the option and why.
``tests/test_xarray.py`` covers the mode default, ``region="auto"``, ``safe_chunks``/
``align_chunks`` and the CF encoding keys; this module covers the rest, CF times in cftime
calendars, and categorical/enum data, both ways: ``write_dataset`` -> ``xr.open_zarr`` and
``to_zarr`` -> ``open_dataset(engine="dask_zarrio")``.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest

import dask_zarrio as dz

xr = pytest.importorskip("xarray")
cftime = pytest.importorskip("cftime")

CFTIME = xr.coders.CFDatetimeCoder(use_cftime=True)
CALENDARS = ["noleap", "360_day", "all_leap", "julian", "proleptic_gregorian", "standard"]


def _both_ways(ds, tmp_path, zarr_format, **open_kwargs):
    """ds -> write_dataset -> xr.open_zarr, and ds -> to_zarr -> open_dataset(engine=dask_zarrio)."""
    ours, theirs = str(tmp_path / "ours.zarr"), str(tmp_path / "theirs.zarr")
    dz.write_dataset(ds, ours, zarr_format=zarr_format)
    xr.testing.assert_identical(xr.open_zarr(ours, **open_kwargs).compute(), ds.compute())
    ds.to_zarr(theirs, zarr_format=zarr_format)
    xr.testing.assert_identical(xr.open_dataset(theirs, engine="dask_zarrio", **open_kwargs).compute(), ds.compute())
    return ours, theirs


@pytest.mark.parametrize("zarr_format", [2, 3])
@pytest.mark.parametrize("calendar", CALENDARS)
def test_cftime_calendars_round_trip_both_ways(tmp_path, calendar, zarr_format):
    time = xr.date_range("2000-02-27", periods=5, freq="D", calendar=calendar, use_cftime=True)
    ds = xr.Dataset({"v": (("time",), np.arange(5.0))}, coords={"time": time}).chunk({"time": 2})
    ours, _ = _both_ways(ds, tmp_path, zarr_format, decode_times=CFTIME)
    raw = xr.open_zarr(ours, decode_times=False).time
    assert raw.attrs["calendar"] == calendar and raw.attrs["units"].startswith("days since 2000-02-27")


def test_cftime_append_keeps_the_stored_units_and_calendar(tmp_path):
    url = str(tmp_path / "a.zarr")
    time = xr.date_range("2000-01-01", periods=6, freq="D", calendar="360_day", use_cftime=True)
    ds = xr.Dataset({"v": (("time",), np.arange(6.0))}, coords={"time": time})
    dz.write_dataset(ds.isel(time=slice(0, 3)), url)
    dz.write_dataset(ds.isel(time=slice(3, 6)), url, append_dim="time")
    xr.testing.assert_identical(xr.open_zarr(url, decode_times=CFTIME).compute(), ds)
    assert xr.open_zarr(url, decode_times=False).time.values.tolist() == [0, 1, 2, 3, 4, 5]


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_cf_flags_the_categorical_encoding_round_trip(tmp_path, zarr_format):
    """CF encodes categories as integer codes with flag_values/flag_meanings: kept as written."""
    ds = xr.Dataset({"cloud": (("x",), np.array([0, 1, 2, 1], "u1"),
                               {"flag_values": np.array([0, 1, 2], "u1"), "flag_meanings": "clear partly cloudy"})})
    _both_ways(ds, tmp_path, zarr_format)


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_numpy_enum_dtype_is_stored_as_to_zarr_stores_it(tmp_path, zarr_format):
    """xarray's zarr backend keeps an enum's integers and drops the enum (netCDF4 keeps it): so does dz."""
    cloud = np.dtype("u1", metadata={"enum": {"clear": 0, "cloudy": 1}, "enum_name": "cloud_type"})
    ds = xr.Dataset({"c": (("x",), np.array([0, 1, 1, 0], dtype=cloud))})
    ours, theirs = str(tmp_path / "ours.zarr"), str(tmp_path / "theirs.zarr")
    dz.write_dataset(ds, ours, zarr_format=zarr_format)
    ds.to_zarr(theirs, zarr_format=zarr_format)
    xr.testing.assert_identical(xr.open_zarr(ours).compute(), xr.open_zarr(theirs).compute())
    xr.testing.assert_identical(xr.open_dataset(theirs, engine="dask_zarrio").compute(), xr.open_zarr(theirs).compute())


def test_pandas_categoricals_are_refused_naming_the_variable(tmp_path):
    ds = xr.Dataset.from_dataframe(pd.DataFrame({"k": pd.Categorical(["a", "b", "a"]), "v": [1.0, 2.0, 3.0]}))
    url = str(tmp_path / "c.zarr")
    with pytest.raises(dz.ZarrioError, match=r"variable 'k' holds pandas CategoricalDtype.*astype\(object\)"):
        dz.write_dataset(ds, url)
    assert not os.path.exists(url)
    with pytest.raises(TypeError):  # xarray's own to_zarr cannot store it either
        ds.to_zarr(str(tmp_path / "theirs.zarr"))
    ds["k"] = ds.k.astype(object)  # the fix the message gives
    _both_ways(ds, tmp_path / "fixed", 3)


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_pandas_text_arrays_are_stored_as_strings(tmp_path, zarr_format):
    """``.astype(str)`` of a categorical is a pandas StringDtype array with pandas 3: stored as
    the strings it holds (xarray's to_zarr raises a TypeError from numpy on it)."""
    ds = xr.Dataset.from_dataframe(pd.DataFrame({"k": pd.Categorical(["a", "bb", "a"]), "v": [1.0, 2.0, 3.0]}))
    ds["k"] = ds.k.astype(str)
    url = str(tmp_path / "s.zarr")
    dz.write_dataset(ds, url, zarr_format=zarr_format)
    assert xr.open_zarr(url).k.values.tolist() == ["a", "bb", "a"]
    assert xr.open_dataset(url, engine="dask_zarrio").k.values.tolist() == ["a", "bb", "a"]


def test_pandas_text_with_missing_values_is_refused_naming_the_fix(tmp_path):
    ds = xr.Dataset({"k": (("x",), pd.array(["a", None, "c"], dtype="string"))})
    if isinstance(ds.k.dtype, np.dtype):
        pytest.skip("this xarray turns pandas text into numpy objects itself")
    url = str(tmp_path / "na.zarr")
    with pytest.raises(dz.ZarrioError, match=r"variable 'k' holds pandas text with missing values.*fillna"):
        dz.write_dataset(ds, url)
    assert not os.path.exists(url)


def test_encoding_fill_value_sets_the_v3_fill_value_as_to_zarr_does(tmp_path):
    ds = xr.Dataset({"v": (("x",), np.array([1, 2, 3, 4], "i4"))})
    ours, theirs = str(tmp_path / "ours.zarr"), str(tmp_path / "theirs.zarr")
    dz.write_dataset(ds, ours, encoding={"v": {"fill_value": -1, "chunks": (2,)}})
    ds.to_zarr(theirs, zarr_format=3, encoding={"v": {"fill_value": -1, "chunks": (2,)}})
    doc = {u: json.loads(open(os.path.join(u, "v", "zarr.json")).read()) for u in (ours, theirs)}
    assert doc[ours]["fill_value"] == doc[theirs]["fill_value"] == -1
    assert doc[ours]["attributes"] == doc[theirs]["attributes"]
    xr.testing.assert_identical(xr.open_zarr(ours).compute(), xr.open_zarr(theirs).compute())


@pytest.mark.parametrize(("zarr_format", "encoding", "match"), [
    (2, {"fill_value": -1}, r"unexpected encoding parameters for zarr backend: \['fill_value'\].*Use `_FillValue`"),
    (3, {"compression": "zlib"}, r"unexpected encoding parameters for zarr backend: \['compression'\]"),
])
def test_encodings_dz_does_not_honour_are_refused_with_the_reason(tmp_path, zarr_format, encoding, match):
    url = str(tmp_path / "e.zarr")
    with pytest.raises(dz.ZarrioError, match=match):
        dz.write_dataset(
            xr.Dataset({"v": (("x",), np.arange(4))}), url, zarr_format=zarr_format, encoding={"v": encoding}
        )
    assert not os.path.exists(url)


def test_serializer_and_chunk_key_encoding_as_to_zarr(tmp_path):
    """``serializer`` and ``chunk_key_encoding`` land in zarr.json as to_zarr puts them; both read back."""
    ds = xr.Dataset({"v": (("x",), np.arange(8, dtype="i4"))})
    enc = {"v": {"chunks": (4,), "serializer": {"name": "bytes", "configuration": {"endian": "big"}},
                 "chunk_key_encoding": {"name": "v2", "separator": "."}, "compressors": []}}
    ours, theirs = str(tmp_path / "ours.zarr"), str(tmp_path / "theirs.zarr")
    dz.write_dataset(ds, ours, encoding=enc)
    ds.to_zarr(theirs, zarr_format=3, encoding=enc)
    doc = {u: json.loads(open(os.path.join(u, "v", "zarr.json")).read()) for u in (ours, theirs)}
    for field in ("codecs", "chunk_key_encoding"):
        assert doc[ours][field] == doc[theirs][field], field
    listed = sorted(os.listdir(os.path.join(ours, "v")))
    assert listed == sorted(os.listdir(os.path.join(theirs, "v"))) == ["0", "1", "zarr.json"]
    xr.testing.assert_identical(xr.open_zarr(ours).compute(), ds)
    xr.testing.assert_identical(xr.open_dataset(theirs, engine="dask_zarrio").compute(), ds)


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_layout_encodings_as_to_zarr(tmp_path, zarr_format):
    """chunks, compressors, filters (and shards in v3) land in the array's metadata as to_zarr puts them."""
    import numcodecs

    ds = xr.Dataset({"v": (("x",), np.arange(16, dtype="i4"))})
    gzip = [{"id": "zlib", "level": 3}] if zarr_format == 2 else [{"name": "gzip", "configuration": {"level": 3}}]
    enc = {"chunks": (4,), "compressors": gzip}
    if zarr_format == 2:
        enc["filters"] = [numcodecs.Delta(dtype="<i4")]
    else:
        enc["shards"] = (8,)
    url = str(tmp_path / "l.zarr")
    dz.write_dataset(ds, url, zarr_format=zarr_format, encoding={"v": enc})
    var = xr.open_zarr(url).v
    assert var.encoding["chunks"] == (4,) and var.values.tolist() == list(range(16))
    if zarr_format == 2:
        doc = json.loads(open(os.path.join(url, "v", ".zarray")).read())
        assert doc["compressor"] == {"id": "zlib", "level": 3} and doc["filters"][0]["id"] == "delta"
    else:
        assert var.encoding["shards"] == (8,)
        codecs = json.loads(open(os.path.join(url, "v", "zarr.json")).read())["codecs"]
        assert codecs[0]["name"] == "sharding_indexed" and codecs[0]["configuration"]["codecs"][-1]["name"] == "gzip"


@pytest.mark.parametrize("zarr_format", [2, 3])
@pytest.mark.parametrize("consolidated", [True, False])
def test_consolidated_and_zarr_format(tmp_path, zarr_format, consolidated):
    url = str(tmp_path / "c.zarr")
    ds = xr.Dataset({"v": (("x",), np.arange(4.0))}, attrs={"title": "t"})
    dz.write_dataset(ds, url, zarr_format=zarr_format, consolidated=consolidated)
    if zarr_format == 2:
        assert os.path.exists(os.path.join(url, ".zmetadata")) is consolidated
    else:
        root = json.loads(open(os.path.join(url, "zarr.json")).read())
        assert ("consolidated_metadata" in root) is consolidated
    xr.testing.assert_identical(xr.open_zarr(url, consolidated=consolidated, zarr_format=zarr_format).compute(), ds)


def test_storage_options_reach_the_filesystem(tmp_path):
    """write_dataset and the engine pass storage_options to fsspec, as to_zarr/open_zarr do."""
    url = f"file://{tmp_path}/deep/er/s.zarr"
    ds = xr.Dataset({"v": (("x",), np.arange(4.0))})
    dz.write_dataset(ds, url, storage_options={"auto_mkdir": True})
    back = xr.open_dataset(url, engine="dask_zarrio", storage_options={"auto_mkdir": False})
    xr.testing.assert_identical(back.compute(), ds)
    xr.testing.assert_identical(xr.open_zarr(url, storage_options={"auto_mkdir": False}).compute(), ds)


def test_write_empty_chunks_as_to_zarr(tmp_path):
    """False (dz's default): fill-only chunks are not stored; True (argument or encoding): they are."""
    ds = xr.Dataset({"v": (("x",), np.zeros(8))}).chunk(4)
    url = str(tmp_path / "w.zarr")
    dz.write_dataset(
        ds, url, write_empty_chunks=False, encoding={"v": {"write_empty_chunks": False, "fill_value": 0.0}}
    )
    assert sorted(os.listdir(os.path.join(url, "v"))) == ["zarr.json"]  # fill-only chunks not stored
    xr.testing.assert_identical(xr.open_zarr(url).compute(), ds.compute())
    for i, kwargs in enumerate(({"write_empty_chunks": True}, {"encoding": {"v": {"write_empty_chunks": True}}})):
        dz.write_dataset(ds, str(tmp_path / f"{i}.zarr"), **kwargs)
        assert sorted(os.listdir(tmp_path / f"{i}.zarr" / "v" / "c")) == ["0", "1"]
    with pytest.raises(dz.ZarrioError, match='Differing "write_empty_chunks"'):
        dz.write_dataset(ds, str(tmp_path / "both.zarr"), write_empty_chunks=False,
                         encoding={"v": {"write_empty_chunks": True}})


@pytest.mark.parametrize("chunks", [None, {}], ids=["unchunked", "chunked"])
@pytest.mark.parametrize("zarr_format", [2, 3])
@pytest.mark.parametrize("writer", ["dz", "xarray"])
def test_string_variables_read_as_open_zarr_reads_them(tmp_path, writer, zarr_format, chunks):
    """Text (v3 ``string``, v2 ``vlen-utf8``) reads as numpy StringDType from the engine, lazily, as
    xr.open_zarr gives it (zarr-python 3.1+, numpy 2): data variables and index coordinates alike;
    bytes (``vlen-bytes``) decode to fixed-width ``S`` in both."""
    ds = xr.Dataset(
        {"s": (("x",), np.array(["a", "", "日本"], object)), "b": (("x",), np.array([b"a", b"", b"\x00z"], object))},
        coords={"x": np.array(["p", "q", ""], object)},
    )
    url = str(tmp_path / "s.zarr")
    if writer == "dz":
        dz.write_dataset(ds, url, zarr_format=zarr_format)
    else:
        ds.to_zarr(url, zarr_format=zarr_format)
    ours, theirs = xr.open_dataset(url, engine="dask_zarrio", chunks=chunks), xr.open_zarr(url, chunks=chunks)
    assert ours.s.dtype == ours.x.dtype == theirs.s.dtype == np.dtypes.StringDType()
    assert ours.s.encoding["dtype"] == theirs.s.encoding["dtype"] == np.dtypes.StringDType()
    if chunks is not None:
        assert ours.s.chunks == theirs.s.chunks and ours.s.data._meta.dtype == np.dtypes.StringDType()
    xr.testing.assert_identical(ours.compute(), theirs.compute())
    assert ours.s.values.tolist() == ["a", "", "日本"]


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_strings_the_engine_read_write_back_as_to_zarr_writes_them(tmp_path, zarr_format):
    ds = xr.Dataset({"s": (("x",), np.array(["a", "", "日本"], object))})
    dz.write_dataset(ds, str(tmp_path / "a.zarr"), zarr_format=zarr_format)
    read = xr.open_dataset(str(tmp_path / "a.zarr"), engine="dask_zarrio", chunks={})
    dz.write_dataset(read, str(tmp_path / "ours.zarr"), zarr_format=zarr_format)
    read.to_zarr(str(tmp_path / "theirs.zarr"), zarr_format=zarr_format)
    xr.testing.assert_identical(xr.open_zarr(str(tmp_path / "ours.zarr")).compute(),
                                xr.open_zarr(str(tmp_path / "theirs.zarr")).compute())
