"""``dz.rechunk_dataset``: variables rechunked by dimension name, small 1-D coordinates kept whole."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import dask_zarrio as dz
from dask_zarrio.rechunking import copy as copy_module

xr = pytest.importorskip("xarray")


@pytest.fixture(params=[2, 3], ids=["v2", "v3"])
def dataset(tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A dataset whose coordinates were written in tiny chunks (as a careless writer would)."""
    time = np.arange(48)
    ds = xr.Dataset(
        {"t": (("time", "lat"), np.random.default_rng(0).random((48, 10)))},
        coords={"time": time, "lat": np.linspace(-45, 45, 10), "step": ("time", time * 2.0)},
    )
    url = str(tmp_path / "src.zarr")
    ds.chunk({"time": 4, "lat": 5}).to_zarr(url, mode="w", consolidated=True, zarr_format=request.param,
                                               encoding={v: {"chunks": (4,)} for v in ("time", "step")})
    return url


def test_coordinates_stay_whole(dataset: str, tmp_path: Path) -> None:
    out = str(tmp_path / "out.zarr")
    dz.rechunk_dataset(dataset, out, {"time": 8, "lat": 2})
    g = dz.open_group(out)
    assert g["t"].chunksize == (8, 2)
    # the index coordinates and the non-index coordinate "step" (in t's "coordinates") stay whole
    assert {name: g[name].chunksize for name in ("time", "lat", "step")} == {
        "time": (48,), "lat": (10,), "step": (48,)}
    xr.testing.assert_identical(xr.open_zarr(out).load(), xr.open_zarr(dataset).load())


def test_named_coordinates_follow_chunks(dataset: str, tmp_path: Path) -> None:
    out = str(tmp_path / "out.zarr")
    dz.rechunk_dataset(dataset, out, {"time": 8}, coords=["time"])
    g = dz.open_group(out)
    assert (g["time"].chunksize, g["step"].chunksize, g["t"].chunksize) == ((8,), (48,), (8, 5))


def test_large_coordinates_are_chunked(dataset: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A coordinate larger than the whole-chunk limit is chunked like the variables."""
    monkeypatch.setattr(copy_module, "WHOLE_COORDINATE_BYTES", 100)  # time: 48 × 8 bytes
    out = str(tmp_path / "out.zarr")
    dz.rechunk_dataset(dataset, out, {"time": 8})
    g = dz.open_group(out)
    assert (g["time"].chunksize, g["lat"].chunksize) == ((8,), (10,))


@pytest.mark.parametrize("coords", ["time", [1]])
def test_coords_must_be_names(dataset: str, tmp_path: Path, coords: object) -> None:
    with pytest.raises(dz.ZarrioError, match="coords="):
        dz.rechunk_dataset(dataset, str(tmp_path / "out.zarr"), {"time": 8}, coords=coords)  # type: ignore[arg-type]


@pytest.mark.parametrize("chunks", [(8,), (2,)], ids=["whole", "split"])
def test_v2_null_fill_value_is_kept(tmp_path: Path, chunks: tuple[int]) -> None:
    """A v2 array with ``"fill_value": null`` rechunked into v2 keeps null: xarray masks a v2 fill
    value, so a 0 written in its place would read the stored zeros back as NaN."""
    import json

    src, out = str(tmp_path / "s.zarr"), str(tmp_path / "o.zarr")
    xr.Dataset(coords={"time": np.arange(8)}).to_zarr(src, zarr_format=2, encoding={"time": {"chunks": (4,)}})
    dz.rechunk(f"{src}/time", out, chunks)
    assert json.loads((tmp_path / "o.zarr" / ".zarray").read_text())["fill_value"] is None
    assert dz.read(out).compute().tolist() == list(range(8))
