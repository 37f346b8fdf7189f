"""A Dataset pyramid (convention="multiscales"): each level a group that xr.open_zarr reads,
equal to ds.coarsen(...).mean() for even sizes; DataArray inputs take their dims as axes."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import dask_zarrio as dz
from dask_zarrio.errors import ZarrioError

xr = pytest.importorskip("xarray")


@pytest.fixture
def ds():
    rng = np.random.default_rng(0)
    return xr.Dataset(
        {"t2m": (("time", "y", "x"), rng.random((2, 8, 12)).astype("f4"), {"units": "K"}),
         "mask": (("y", "x"), rng.integers(0, 3, (8, 12)).astype("i2")),
         "label": ("time", np.array([1, 2]))},
        coords={"y": np.arange(8.0) * 10, "x": np.arange(12.0) * 10, "time": [0, 1]},
        attrs={"title": "demo"},
    )


def test_levels_open_with_xarray_and_match_coarsen(ds, tmp_path):
    url = str(tmp_path / "ds.zarr")
    dz.write_pyramid(ds, url, levels=3, convention="multiscales", chunks=(1, 4, 4))
    layout = dz.open_group(url).attrs["multiscales"]["layout"]
    assert [e["asset"] for e in layout] == ["0", "1", "2"]
    for n, entry in enumerate(layout):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # consolidated: no fallback warning
            level = xr.open_zarr(f"{url}/{entry['asset']}")
        want = ds.coarsen(y=2**n, x=2**n).mean() if n else ds
        xr.testing.assert_allclose(level.t2m, want.t2m.astype("f4"), rtol=1e-6)
        np.testing.assert_array_equal(level.label, ds.label)
        assert level.t2m.attrs == {"units": "K"} and level.attrs == {"title": "demo"}
        assert level.mask.dtype == ds.mask.dtype


def test_dataset_needs_the_multiscales_convention(ds):
    with pytest.raises(ZarrioError, match="convention='multiscales'"):
        dz.write_pyramid(ds, "memory://pyr/dsbad.zarr", mode="w")


def test_dataarray_dims_are_the_axes():
    arr = xr.DataArray(np.zeros((3, 8, 8), "u1"), dims=("c", "y", "x"))
    dz.write_pyramid(arr, "memory://pyr/da.zarr", levels=2, mode="w")
    _, pyramid = dz.pyramid.open_pyramid("memory://pyr/da.zarr")
    assert [a.name for a in pyramid.axes] == ["c", "y", "x"] and pyramid.levels[1].scale == (1.0, 2.0, 2.0)
