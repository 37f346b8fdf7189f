"""xarray: the engine reads what xarray/zarr write; write_dataset writes what xr.open_zarr reads."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

import dask_zarrio as dz

xr = pytest.importorskip("xarray")


def _dataset():
    time = pd.date_range("2020-01-01", periods=20, freq="D")
    temp = (15 + np.random.default_rng(0).normal(size=(20, 4, 5))).astype("f4")
    temp[3, 1, 1] = np.nan
    ds = xr.Dataset(
        {"temp": (("time", "lat", "lon"), temp, {"units": "degC", "long_name": "air temperature"}),
         "mask": (("lat", "lon"), np.ones((4, 5), bool)),
         "count": (("time",), np.arange(20, dtype="i4"))},
        coords={"time": time, "lat": np.linspace(-60, 60, 4), "lon": np.arange(5.0),
                "station": ("lon", ["a", "bb", "c", "d", "e"])},
        attrs={"title": "synthetic", "source": "test"},
    )
    return ds.chunk({"time": 5})


@pytest.fixture(params=[2, 3])
def fmt(request):
    return request.param


def test_engine_is_registered():
    assert "dask_zarrio" in xr.backends.list_engines()


def test_write_dataset_read_by_open_zarr(tmp_path, fmt):
    ds = _dataset()
    url = str(tmp_path / "d.zarr")
    dz.write_dataset(ds, url, mode="w", zarr_format=fmt)
    xr.testing.assert_identical(xr.open_zarr(url).compute(), ds.compute())
    xr.testing.assert_identical(xr.open_zarr(url, consolidated=True).compute(), ds.compute())


def test_engine_reads_xarray_written_zarr(tmp_path, fmt):
    ds = _dataset()
    url = str(tmp_path / "x.zarr")
    ds.to_zarr(url, mode="w", zarr_format=fmt)
    mine = xr.open_dataset(url, engine="dask_zarrio", chunks={})
    assert isinstance(mine.temp.data, type(ds.temp.data))  # dask-backed
    xr.testing.assert_identical(mine.compute(), ds.compute())


def test_scale_offset_and_fill_value_encoding(tmp_path, fmt):
    ds = _dataset().compute()
    enc = {"temp": {"dtype": "int16", "scale_factor": 0.01, "add_offset": 10.0, "_FillValue": -9999}}
    for name, e in enc.items():
        ds[name].encoding.update(e)
    url = str(tmp_path / "e.zarr")
    dz.write_dataset(ds, url, mode="w", zarr_format=fmt)
    back = xr.open_zarr(url).compute()
    np.testing.assert_allclose(back.temp.values, ds.temp.values, atol=0.006)
    assert np.isnan(back.temp.values[3, 1, 1])
    mine = xr.open_dataset(url, engine="dask_zarrio").compute()
    np.testing.assert_allclose(mine.temp.values, back.temp.values)


def test_append_along_time(tmp_path, fmt):
    ds = _dataset()
    url = str(tmp_path / "a.zarr")
    dz.write_dataset(ds, url, mode="w", zarr_format=fmt)
    more = ds.isel(time=slice(0, 3)).assign_coords(time=pd.date_range("2020-01-21", periods=3, freq="D"))
    dz.write_dataset(more, url, mode="a", append_dim="time")
    expected = xr.concat([ds, more], "time", data_vars="minimal", coords="minimal")
    xr.testing.assert_identical(xr.open_zarr(url).compute(), expected.compute())


def test_region_write(tmp_path, fmt):
    ds = _dataset()
    url = str(tmp_path / "r.zarr")
    dz.write_dataset(ds, url, mode="w", zarr_format=fmt)
    part = ds.isel(time=slice(5, 10)).copy(deep=True)
    part["temp"] = part.temp * 0 + 99
    part["count"] = part["count"] * 0 - 1
    dz.write_dataset(part.drop_vars(["mask", "lat", "lon", "station"]), url, mode="r+", region={"time": slice(5, 10)})
    back = xr.open_zarr(url).compute()
    assert (back.temp.values[5:10] == 99).all() and (back["count"].values[5:10] == -1).all()
    xr.testing.assert_identical(back.isel(time=slice(0, 5)), ds.isel(time=slice(0, 5)).compute())


def test_open_datatree(tmp_path):
    url = str(tmp_path / "t.zarr")
    dz.write_dataset(_dataset(), url, mode="w")
    sub = xr.Dataset({"v": (("x",), np.arange(3.0))}, attrs={"level": "child"})
    dz.write_dataset(sub, f"{url}/sub", mode="w")
    tree = xr.open_datatree(url, engine="dask_zarrio")
    assert set(tree.children) == {"sub"}
    xr.testing.assert_identical(tree["sub"].to_dataset(inherit=False).compute(), sub)
    xr.testing.assert_identical(tree.to_dataset().compute(), _dataset().compute())


def test_write_dataset_errors(tmp_path):
    url = str(tmp_path / "w.zarr")
    dz.write_dataset(_dataset(), url, mode="w")
    with pytest.raises(dz.ContainsArrayError):
        dz.write_dataset(_dataset(), url)
    with pytest.raises(dz.ZarrioError, match="cannot set region unless mode='a', mode='a-', mode='r\\+'"):
        dz.write_dataset(_dataset(), url, mode="w", region={"time": slice(0, 5)})


def test_engine_and_write_dataset_need_no_zarr_python(tmp_path):
    """zarr-python is a test oracle only: block its import and do the whole round trip."""
    import subprocess
    import sys

    code = f"""
import sys
sys.modules["zarr"] = None  # any "import zarr" now fails
import numpy as np, xarray as xr, dask_zarrio as dz
ds = xr.Dataset({{"v": (("t",), np.arange(5.0))}}, coords={{"t": np.arange(5)}})
dz.write_dataset(ds, {str(tmp_path / "nz.zarr")!r}, mode="w")
back = xr.open_dataset({str(tmp_path / "nz.zarr")!r}, engine="dask_zarrio", chunks={{}})
xr.testing.assert_identical(back.compute(), ds)
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_engine_reads_v2_nested_keys_without_separator(tmp_path):
    """zarr 2.x's NestedDirectoryStore left "/"-nested keys and no dimension_separator.

    The engine opens arrays through groups, which used to read only fill values here
    while dz.read read the data (zarr-python#717 is the same trap in zarr-python).
    """
    import json
    import os

    import zarr

    root = str(tmp_path / "r.zarr")
    data = np.arange(1, 13, dtype="i4").reshape(3, 4)  # no 0: xarray masks the v2 fill value
    g = zarr.open_group(root, mode="w", zarr_format=2)
    z = g.create_array("v", shape=(3, 4), chunks=(2, 2), dtype="i4",
                       chunk_key_encoding={"name": "v2", "separator": "/"},
                       attributes={"_ARRAY_DIMENSIONS": ["y", "x"]})
    z[...] = data
    path = os.path.join(root, "v", ".zarray")
    meta = json.load(open(path))
    del meta["dimension_separator"]
    json.dump(meta, open(path, "w"))
    ds = xr.open_dataset(root, engine="dask_zarrio", chunks={}, consolidated=False)
    np.testing.assert_array_equal(ds.v.values, data)



@pytest.mark.parametrize("name", ["..", "../sibling", "a/../.."])
def test_write_dataset_refuses_escaping_names_before_touching_anything(tmp_path, name):
    """A variable named '..' with mode="w" used to delete the dataset's parent folder."""
    keep = tmp_path / "precious.txt"
    keep.write_text("user data")
    url = str(tmp_path / "ds.zarr")
    dz.write_dataset(xr.Dataset({"v": (("x",), np.arange(3.0))}), url, mode="w")
    bad = xr.Dataset({name: (("x",), np.arange(3.0))})
    with pytest.raises(dz.ZarrioError, match="member name"):
        dz.write_dataset(bad, url, mode="w")
    assert keep.read_text() == "user data"
    assert xr.open_dataset(url, engine="dask_zarrio").v.values.tolist() == [0.0, 1.0, 2.0]


def test_write_dataset_refuses_to_replace_the_dataset_it_reads(tmp_path):
    """``to_zarr(mode="w")`` of data opened from the same store writes NaN (xarray#11159)."""
    url = str(tmp_path / "d.zarr")
    dz.write_dataset(xr.Dataset({"v": (("x",), np.arange(6.0))}).chunk(3), url, mode="w")
    ds = xr.open_dataset(url, engine="dask_zarrio", chunks={})
    with pytest.raises(dz.ZarrioError, match="dz.write_dataset: the target .*d.zarr contains the source .*d.zarr/v"):
        dz.write_dataset(ds * 2, url, mode="w")
    np.testing.assert_array_equal(xr.open_zarr(url).v.values, np.arange(6.0))


def test_write_dataset_infers_the_mode_as_to_zarr_does(tmp_path):
    """``to_zarr(append_dim=...)`` means mode "a", ``region=`` means "r+" (xarray's default)."""
    url = str(tmp_path / "d.zarr")
    ds = xr.Dataset({"v": (("t",), np.arange(4.0))})
    dz.write_dataset(ds, url)
    dz.write_dataset(xr.Dataset({"v": (("t",), np.arange(4.0, 6.0))}), url, append_dim="t")
    dz.write_dataset(xr.Dataset({"v": (("t",), np.zeros(2))}), url, region={"t": slice(0, 2)})
    assert xr.open_zarr(url).v.values.tolist() == [0.0, 0.0, 2.0, 3.0, 4.0, 5.0]
    with pytest.raises(dz.ZarrioError, match="cannot set append_dim unless mode='a'"):
        dz.write_dataset(ds, url, mode="w", append_dim="t")
    with pytest.raises(dz.ContainsArrayError):
        dz.write_dataset(ds, url)  # nothing to infer: "w-", which refuses what is there


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_write_dataset_takes_to_zarrs_encoding_keys(tmp_path, zarr_format):
    url = str(tmp_path / "e.zarr")
    values = np.array([0.5, np.nan, 1.2, -3.1])
    ds = xr.Dataset({"v": (("x",), values)})
    encoding = {
        "v": {"dtype": "int16", "scale_factor": 0.1, "_FillValue": -1, "chunks": (2,), "preferred_chunks": {"x": 2}},
    }
    dz.write_dataset(ds, url, zarr_format=zarr_format, encoding=encoding)
    theirs = str(tmp_path / "theirs.zarr")
    ds.to_zarr(
        theirs, zarr_format=zarr_format,
        encoding={"v": {k: v for k, v in encoding["v"].items() if k != "preferred_chunks"}}
    )
    ours_raw = xr.open_zarr(url, mask_and_scale=False).v
    assert ours_raw.dtype == np.int16 and ours_raw.encoding["chunks"] == (2,)
    np.testing.assert_array_equal(ours_raw.values, xr.open_zarr(theirs, mask_and_scale=False).v.values)
    np.testing.assert_allclose(xr.open_zarr(url).v.values, values, equal_nan=True)


@pytest.mark.parametrize("encoding,match", [
    ({"v": {"compresion": "zstd"}}, r"unexpected encoding parameters for zarr backend: \['compresion'\]"),
    ({"w": {"chunks": (2,)}}, "variable 'w', which the dataset does not have"),
    ({"v": ("chunks",)}, "must be a dict"),
])
def test_write_dataset_refuses_encodings_it_would_not_honour(tmp_path, encoding, match):
    url = str(tmp_path / "e.zarr")
    with pytest.raises(dz.ZarrioError, match=match):
        dz.write_dataset(xr.Dataset({"v": (("x",), np.arange(4.0))}), url, encoding=encoding)
    assert not os.path.exists(url)  # refused before anything was written


@pytest.mark.parametrize("region", ["auto", {"t": "auto"}, {"t": "auto", "x": slice(0, 3)}])
def test_write_dataset_region_auto_finds_the_place_as_to_zarr_does(tmp_path, region):
    t = pd.date_range("2020-01-01", periods=10)
    ds = xr.Dataset({"v": (("t", "x"), np.zeros((10, 3)))}, coords={"t": t})
    ours, theirs = str(tmp_path / "ours.zarr"), str(tmp_path / "theirs.zarr")
    dz.write_dataset(ds.chunk({"t": 1}), ours)
    ds.chunk({"t": 1}).to_zarr(theirs, zarr_format=3)
    part = ds.isel(t=slice(3, 6)) + 5.0
    dz.write_dataset(part, ours, region=region)  # mode inferred: "r+"
    part.to_zarr(theirs, region=region, mode="r+")
    np.testing.assert_array_equal(xr.open_zarr(ours).v.values, xr.open_zarr(theirs).v.values)
    assert xr.open_zarr(ours).v.values[3:6].tolist() == [[5.0] * 3] * 3


def test_write_dataset_region_auto_refuses_data_it_cannot_place(tmp_path):
    ds = xr.Dataset({"v": (("t",), np.zeros(4))}, coords={"t": [0, 1, 2, 3]})
    url = str(tmp_path / "d.zarr")
    dz.write_dataset(ds, url)
    for part in (ds.isel(t=[0, 2]), ds.assign_coords(t=[0, 1, 2, 9])):
        with pytest.raises(dz.ZarrioError, match="non-contiguous indices|Not all values of coordinate 't'"):
            dz.write_dataset(part, url, region="auto")
    with pytest.raises(dz.ZarrioError, match="all keys in ``region`` are not in Dataset dimensions"):
        dz.write_dataset(ds, url, region={"y": "auto"})


def test_write_dataset_safe_and_align_chunks_as_to_zarr(tmp_path):
    """Misaligned dask chunks: rechunked by default and with align_chunks=True; refused with
    align_chunks=False (to_zarr's safe_chunks check), never written unsafely."""
    ds = xr.Dataset({"v": (("x",), np.arange(12.0))}).chunk({"x": 5})
    encoding = {"v": {"chunks": (4,)}}
    for kwargs in ({}, {"align_chunks": True}, {"safe_chunks": False}):
        url = str(tmp_path / f"d{len(kwargs)}{sorted(kwargs)}.zarr")
        dz.write_dataset(ds, url, encoding=encoding, **kwargs)
        assert xr.open_zarr(url).v.values.tolist() == list(np.arange(12.0))
    with pytest.raises(dz.MisalignedWriteError):
        dz.write_dataset(ds, str(tmp_path / "refused.zarr"), encoding=encoding, align_chunks=False)


@pytest.mark.parametrize("zarr_format", [2, 3])
@pytest.mark.parametrize("chunked", [False, True])
def test_write_dataset_object_strings_and_bytes(tmp_path, chunked, zarr_format):
    """String and bytes variables (object dtype) get vlen-utf8 / vlen-bytes, as to_zarr gives them."""
    ds = xr.Dataset(
        {"v": (("t",), np.arange(3.0))},
        coords={"name": ("t", np.array(["a", "", "日本"], dtype=object)),
                "raw": ("t", np.array([b"a", b"", b"\xff"], dtype=object))},
    )
    src = ds.chunk(2) if chunked else ds
    ours, theirs = str(tmp_path / "ours.zarr"), str(tmp_path / "theirs.zarr")
    dz.write_dataset(src, ours, zarr_format=zarr_format)
    xr.testing.assert_identical(xr.open_zarr(ours).compute(), ds)
    src.to_zarr(theirs, zarr_format=zarr_format)
    xr.testing.assert_identical(xr.open_dataset(theirs, engine="dask_zarrio").compute(), ds)
