"""Regenerate the notebooks (without outputs) from the cells below: python notebooks/make_notebooks.py"""

from __future__ import annotations

from pathlib import Path

import nbformat

HERE = Path(__file__).parent

CLIMATE = [
    ("md", """# A Pangeo-style analysis with dask_zarrio

Synthetic daily surface temperature for several years on a global grid (made here, no downloads),
written to Zarr with `dz.write_dataset`, opened with `xr.open_dataset(engine="dask_zarrio")`, then a
climatology, anomalies, a regional time series, and plots. Set `DZ_NOTEBOOK_YEARS` to change the size
(3 years is about 280 MB) and `DZ_S3_ENDPOINT` to also write to an S3 server (the tests start one)."""),
    ("code", """import os
import tempfile
from time import perf_counter

import dask
import dask.array as da
import matplotlib
import numpy as np
import pandas as pd
import xarray as xr
from dask.diagnostics import ProgressBar

import dask_zarrio as dz

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

years = int(os.environ.get("DZ_NOTEBOOK_YEARS", "3"))
workdir = tempfile.mkdtemp(prefix="dz-climate-")"""),
    ("md", "## Make the data: a seasonal cycle, a latitude gradient and weather noise, chunked by month"),
    ("code", """time = pd.date_range("2000-01-01", periods=365 * years, freq="D")
lat = np.linspace(-89.5, 89.5, 180)
lon = np.linspace(-179.5, 179.5, 360)

def block(block_id, t0, nt):
    rng = np.random.default_rng(block_id[0])
    doy = (np.arange(t0, t0 + nt) % 365)[:, None, None]
    la = np.deg2rad(lat)[None, :, None]
    seasonal = 12 * np.sin(2 * np.pi * (doy - 100) / 365) * np.sin(la)
    field = 28 * np.cos(la) - 10 + seasonal + 0 * lon[None, None, :]
    return np.round(field + rng.normal(0, 2.0, (nt, lat.size, lon.size)), 2).astype("f4")

step = 30
parts = [da.from_delayed(dask.delayed(block)((i,), t0, min(step, time.size - t0)),
                         (min(step, time.size - t0), lat.size, lon.size), "f4")
         for i, t0 in enumerate(range(0, time.size, step))]
temp = da.concatenate(parts, axis=0)
ds = xr.Dataset({"tas": (("time", "lat", "lon"), temp, {"units": "degC", "long_name": "near-surface air temperature"})},
                coords={"time": time, "lat": lat, "lon": lon}, attrs={"title": "synthetic climate"})
print(f"{ds.tas.nbytes / 1e6:.0f} MB, dask chunks {ds.tas.data.chunksize}")"""),
    ("code", """url = os.path.join(workdir, "climate.zarr")
t = perf_counter()
with ProgressBar():
    dz.write_dataset(ds, url, mode="w")
print(f"written in {perf_counter() - t:.1f} s")
print(dz.tree(url))"""),
    ("code", """endpoint = os.environ.get("DZ_S3_ENDPOINT")
if endpoint:  # the same data on an S3 server
    import fsspec
    opts = {"key": "testing", "secret": "testing", "client_kwargs": {"endpoint_url": endpoint}}
    fsspec.filesystem("s3", **opts).makedirs("climate", exist_ok=True)
    dz.write_dataset(ds.isel(time=slice(0, 60)), "s3://climate/tas.zarr", mode="w", storage_options=opts)
    print(xr.open_dataset("s3://climate/tas.zarr", engine="dask_zarrio", chunks={},
                          backend_kwargs={"storage_options": opts}).tas.mean().values)"""),
    ("md", "## Open it lazily with the dask_zarrio engine"),
    ("code", """try:
    from distributed import Client
    client = Client(processes=False, dashboard_address=":0")
    print("dashboard:", client.dashboard_link)
except Exception as e:  # distributed is optional here
    client = None
    print("threaded scheduler:", e)
opened = xr.open_dataset(url, engine="dask_zarrio", chunks={})
opened"""),
    ("md", "## Climatology and anomalies"),
    ("code", """clim = opened.tas.groupby("time.month").mean()
anom = opened.tas.groupby("time.month") - clim
with ProgressBar():
    clim_v, last_anom = dask.compute(clim, anom.isel(time=-1))
clim_v.sel(month=[1, 7]).plot(col="month", cmap="RdBu_r", figsize=(10, 3))
plt.savefig(os.path.join(workdir, "climatology.png"))"""),
    ("md", "## A regional time series (a box over Europe)"),
    ("code", """region = opened.tas.sel(lat=slice(35, 70), lon=slice(-10, 40)).mean(["lat", "lon"])
with ProgressBar():
    series = region.compute()
fig, ax = plt.subplots(figsize=(10, 3))
series.plot(ax=ax, lw=0.6, label="daily")
series.rolling(time=30, center=True).mean().plot(ax=ax, lw=2, label="30-day mean")
ax.legend()
plt.savefig(os.path.join(workdir, "series.png"))
assert abs(float(series.mean()) - float(ds.tas.sel(lat=slice(35, 70), lon=slice(-10, 40)).mean())) < 1e-3"""),
    ("code", """if client is not None:
    client.close()"""),
]

IMAGING = [
    ("md", """# A large 3-D volume, written sharded, read back by slices

Imaging and genomics arrays are large and read a plane or a region at a time. Sharding keeps the
number of stored objects small while each plane stays cheap to read: only the shard index and the
inner chunks a slice touches are fetched. `DZ_NOTEBOOK_EDGE` sets the volume's edge (default 512)."""),
    ("code", """import os
import tempfile
import time

import dask.array as da
import numpy as np

import dask_zarrio as dz
from dask_zarrio.store import open_store
from dask_zarrio.testing import CountingStore

edge = int(os.environ.get("DZ_NOTEBOOK_EDGE", "512"))
url = os.path.join(tempfile.mkdtemp(prefix="dz-volume-"), "volume.zarr")
z, y, x = np.ogrid[:edge, :edge, :edge]
def block(block_id):
    i = block_id[0]
    zz = np.arange(i * 64, min((i + 1) * 64, edge))[:, None, None]
    return (((zz - edge / 2) ** 2 + (y - edge / 2) ** 2 + (x - edge / 2) ** 2) < (edge / 3) ** 2).astype("u1") * 200
vol = da.map_blocks(block, chunks=((64,) * (edge // 64), (edge,), (edge,)), dtype="u1")
t = time.perf_counter()
dz.write(vol, url, chunks=(32, 32, 32), shards=(64, 256, 256), mode="w")
print(f"{vol.nbytes / 1e6:.0f} MB in {time.perf_counter() - t:.1f} s")"""),
    ("code", """store = CountingStore(open_store(url))
volume = dz.read(store)
store.reset()
t = time.perf_counter()
plane = volume[edge // 2].compute()
dt = time.perf_counter() - t
print(f"one plane: {plane.nbytes / 1e6:.1f} MB in {dt * 1e3:.0f} ms; "
      f"{sum(store.gets.values())} GETs, {sum(store.counters['get_range'].values())} ranged GETs")
assert plane.max() == 200"""),
    ("code", """store.reset()
t = time.perf_counter()
total = int(volume.sum(dtype="u8").compute())
dt = time.perf_counter() - t
print(f"whole volume: {volume.nbytes / dt / 1e9:.2f} GB/s; {sum(store.gets.values())} GETs for "
      f"{volume.npartitions} tasks")"""),
]


def build(cells: list[tuple[str, str]], name: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell(src) if kind == "md" else nbformat.v4.new_code_cell(src) for kind, src in cells
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, HERE / name)


if __name__ == "__main__":
    build(CLIMATE, "climate.ipynb")
    build(IMAGING, "imaging.ipynb")
