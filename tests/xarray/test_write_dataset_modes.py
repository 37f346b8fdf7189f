"""``dz.write_dataset``'s modes and appends against ``Dataset.to_zarr`` (issue 29's silent data errors first).

Each case runs both writers on the same data and compares what ``xr.open_zarr`` reads back,
or the exception class.
"""

from __future__ import annotations

import numpy as np
import pytest

import dask_zarrio as dz

xr = pytest.importorskip("xarray")
pytest.importorskip("zarr")

FORMATS = [2, 3]


def _both(tmp_path, first, then, zarr_format, **kwargs):
    """Write ``first`` with each writer, then ``then`` with ``kwargs``; what each store reads back."""
    out = []
    for name, writer in (("dz", _dz), ("xr", _xr)):
        url = str(tmp_path / f"{name}.zarr")
        writer(first, url, zarr_format=zarr_format)
        writer(then, url, zarr_format=zarr_format, **kwargs)
        out.append(xr.open_zarr(url).compute())
    return out


def _dz(ds, url, **kwargs):
    return dz.write_dataset(ds, url, **kwargs)


def _xr(ds, url, **kwargs):
    return ds.to_zarr(url, **kwargs)


@pytest.mark.parametrize("zarr_format", FORMATS)
@pytest.mark.parametrize("mode", ["a", "r+"])
def test_mode_a_and_r_plus_overwrite_stored_values(tmp_path, zarr_format, mode):
    """Silent error: mode="a" kept the old values and attributes; "r+" without region wrote nothing."""
    old = xr.Dataset({"v": (("x",), np.zeros(4), {"units": "m"})}, coords={"x": [1, 2, 3, 4]}, attrs={"g": "old"})
    new = xr.Dataset({"v": (("x",), np.arange(4.0), {"units": "km"})}, coords={"x": [1, 2, 3, 4]}, attrs={"g": "new"})
    ours, theirs = _both(tmp_path, old, new, zarr_format, mode=mode)
    assert ours.v.values.tolist() == [0.0, 1.0, 2.0, 3.0]
    assert ours.attrs == {"g": "new" if mode == "a" else "old"}  # r+ changes no metadata
    assert ours.v.attrs == {"units": "m"}  # a stored variable keeps its attributes, as to_zarr keeps them
    xr.testing.assert_identical(ours, theirs)


@pytest.mark.parametrize("zarr_format", FORMATS)
@pytest.mark.parametrize(("then", "kwargs"), [
    pytest.param(xr.Dataset({"v": (("t",), np.ones(2))}), {"append_dim": "nope"}, id="unknown-dim"),
    pytest.param(xr.Dataset({"v": (("y",), np.ones(2))}), {"append_dim": "t"}, id="other-dims"),
    pytest.param(xr.Dataset({"v": (("t", "y"), np.ones((2, 2)))}), {"append_dim": "t"}, id="more-dims"),
    pytest.param(xr.Dataset({"w": (("t", "y"), np.ones((2, 3)))}), {"append_dim": "t"}, id="other-sizes"),
    pytest.param(xr.Dataset({"v": (("t",), np.ones(2))}), {"append_dim": "t", "encoding": {"v": {"chunks": (1,)}}},
                 id="encoding"),
])
def test_appends_are_checked_as_to_zarr_checks_them(tmp_path, zarr_format, then, kwargs):
    """Silent error: unknown dimensions, other dimensions or sizes and encoding= were ignored."""
    first = xr.Dataset({"v": (("t",), np.arange(3.0)), "w": (("t", "y"), np.zeros((3, 2)))})
    for name, writer in (("dz", _dz), ("xr", _xr)):
        url = str(tmp_path / f"{name}.zarr")
        writer(first, url, zarr_format=zarr_format)
        with pytest.raises(ValueError) as raised:
            writer(then, url, **kwargs)
        if name == "dz":
            assert isinstance(raised.value, dz.ZarrioError)
            assert repr(kwargs.get("append_dim")) in str(raised.value) or "already exists" in str(raised.value)
        xr.testing.assert_identical(xr.open_zarr(url).compute(), first)  # nothing was written


@pytest.mark.parametrize("zarr_format", FORMATS)
@pytest.mark.parametrize("kind", ["U", "S"])
def test_appending_longer_fixed_width_strings_is_refused(tmp_path, zarr_format, kind):
    """Silent error: ["ab"] then ["abcd"] read ["ab", "ab"]; to_zarr raises "Mismatched dtypes"."""
    first = xr.Dataset({"s": (("t",), np.array(["ab"], dtype=kind))})
    longer = xr.Dataset({"s": (("t",), np.array(["abcd"], dtype=kind))})
    for name, writer in (("dz", _dz), ("xr", _xr)):
        url = str(tmp_path / f"{name}.zarr")
        writer(first, url, zarr_format=zarr_format)
        with pytest.raises(ValueError, match="Mismatched dtypes"):
            writer(longer, url, append_dim="t")
        assert xr.open_zarr(url).s.values.tolist() == first.s.values.tolist()
    url = str(tmp_path / "same.zarr")  # the stored width: appended
    dz.write_dataset(first, url, zarr_format=zarr_format)
    dz.write_dataset(first, url, append_dim="t")
    assert xr.open_zarr(url).s.values.tolist() == first.s.values.tolist() * 2


@pytest.mark.parametrize("zarr_format", FORMATS)
def test_mode_a_creates_a_missing_store_and_a_minus_only_appends(tmp_path, zarr_format):
    ds = xr.Dataset({"v": (("t",), np.arange(3.0)), "k": (("y",), np.arange(2.0))}, coords={"t": [0, 1, 2]})
    more = xr.Dataset({"v": (("t",), np.arange(3.0, 5.0)), "k": (("y",), np.ones(2))}, coords={"t": [3, 4]})
    for name, writer in (("dz", _dz), ("xr", _xr)):
        url = str(tmp_path / f"{name}.zarr")
        writer(ds, url, mode="a", zarr_format=zarr_format)  # created
        writer(more, url, mode="a-", append_dim="t")  # k (no "t") left alone
        back = xr.open_zarr(url).compute()
        assert back.v.values.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
        assert back.k.values.tolist() == [0.0, 1.0]
        writer(more, url, mode="a", append_dim="t")  # k overwritten
        assert xr.open_zarr(url).k.values.tolist() == [1.0, 1.0]


@pytest.mark.parametrize("zarr_format", FORMATS)
def test_r_plus_refuses_new_variables_and_missing_stores(tmp_path, zarr_format):
    url = str(tmp_path / "d.zarr")
    with pytest.raises(FileNotFoundError):
        dz.write_dataset(xr.Dataset({"v": (("t",), np.zeros(2))}), url, mode="r+")
    dz.write_dataset(xr.Dataset({"v": (("t",), np.zeros(2))}), url, zarr_format=zarr_format)
    with pytest.raises(dz.ZarrioError, match="non-pre-existing variables \\['w'\\]"):
        dz.write_dataset(xr.Dataset({"w": (("t",), np.zeros(2))}), url, mode="r+")
