"""The notebooks' cells, and the committed notebooks made from them, executed with their outputs.

    python notebooks/make_notebooks.py            # write every notebook, executed (plots inline)
    python notebooks/make_notebooks.py --no-run   # write them without outputs

The committed copies are executed so that GitHub, Jupyter and the docs show their figures
and displays without running them; CI re-executes them (tests/test_notebooks.py) and checks
that the committed copies hold these cells, with outputs, and stay small.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import nbformat

HERE = Path(__file__).parent
#: Both notebooks start the same way: plots inline and small (the committed copies hold them as PNGs).
INLINE = """%matplotlib inline
import matplotlib.pyplot as plt

plt.rcParams.update({"figure.dpi": 72, "figure.figsize": (8, 2.6)})"""

CLIMATE = [
    ("md", """# A Pangeo-style analysis with dask_zarrio

Synthetic daily surface temperature on a global grid (made here, no downloads), written to Zarr
with `dz.write_dataset`, opened lazily with `dz.open_dataset` (xarray's `engine="dask_zarrio"`),
then a climatology, anomalies, a regional time series, and plots. Each computation shows its
progress: dask's `ProgressBar` on the threaded scheduler, `distributed.progress` once a
distributed client runs the work. Everything is written to a temporary folder removed at the end.

Set `DZ_NOTEBOOK_YEARS` to change the size (1 year is about 95 MB, each year adds as much) and
`DZ_S3_ENDPOINT` to also write to an S3 server (the tests start one)."""),
    ("code", INLINE),
    ("code", """import os
import tempfile
from time import perf_counter

import dask
import dask.array as da
import numpy as np
import pandas as pd
import xarray as xr
from dask.diagnostics import ProgressBar

import dask_zarrio as dz

years = int(os.environ.get("DZ_NOTEBOOK_YEARS", "1"))
workdir = tempfile.TemporaryDirectory(prefix="dz-climate-")  # removed in the last cell"""),
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
    ("md", """## Write it, with a progress bar

No distributed client yet: the write runs on dask's threads, and `ProgressBar` follows it
(`minimum=1`: only computations longer than a second, not the small coordinates)."""),
    ("code", """url = os.path.join(workdir.name, "climate.zarr")
t = perf_counter()
with ProgressBar(minimum=1):
    dz.write_dataset(ds, url, mode="w")
print(f"written in {perf_counter() - t:.1f} s")"""),
    ("md", "What was written, as `dz.open_group` shows it in Jupyter (click the sections):"),
    ("code", "dz.open_group(url)"),
    ("code", """endpoint = os.environ.get("DZ_S3_ENDPOINT")
if endpoint:  # the same data on an S3 server
    import fsspec
    opts = {"key": "testing", "secret": "testing", "client_kwargs": {"endpoint_url": endpoint}}
    fsspec.filesystem("s3", **opts).makedirs("climate", exist_ok=True)
    dz.write_dataset(ds.isel(time=slice(0, 60)), "s3://climate/tas.zarr", mode="w", storage_options=opts)
    print(dz.open_dataset("s3://climate/tas.zarr", storage_options=opts).tas.mean().values)"""),
    ("md", """## Open it lazily, and start a distributed client

`dz.open_dataset(url)` is `xr.open_dataset(url, engine="dask_zarrio", chunks={})`. From here on a
`distributed` client runs the computations, so `compute` below follows them with
`distributed.progress` (dask's `ProgressBar` sees nothing a client runs)."""),
    ("code", """from distributed import Client, progress

client = Client(processes=False, dashboard_address=":0")

def compute(*collections):
    \"\"\"dask.compute with a progress bar: distributed's while a client runs the work, else dask's.\"\"\"
    if client is not None and client.status == "running":
        futures = client.compute(list(collections))
        progress(futures, notebook=False)  # the text bar: it is kept in the saved notebook too
        return tuple(client.gather(futures))
    with ProgressBar():
        return dask.compute(*collections)

opened = dz.open_dataset(url)
opened"""),
    ("md", "## Climatology and anomalies"),
    ("code", """clim = opened.tas.groupby("time.month").mean()
anom = opened.tas.groupby("time.month") - clim
clim_v, last_anom = compute(clim, anom.isel(time=-1))
months = clim_v.sel(month=[1, 7]).coarsen(lat=2, lon=2).mean()  # half the pixels: a small figure
months.plot(col="month", cmap="RdBu_r", size=2.6, aspect=1.6)
plt.show()"""),
    ("code", """last_anom.coarsen(lat=2, lon=2).mean().plot(cmap="RdBu_r", vmin=-6, vmax=6, figsize=(5, 2.6))
plt.title(f"anomaly on {str(last_anom.time.values)[:10]}")
plt.show()"""),
    ("md", "## A regional time series (a box over Europe)"),
    ("code", """region = opened.tas.sel(lat=slice(35, 70), lon=slice(-10, 40)).mean(["lat", "lon"])
(series,) = compute(region)
fig, ax = plt.subplots()
series.plot(ax=ax, lw=0.6, label="daily")
series.rolling(time=30, center=True).mean().plot(ax=ax, lw=2, label="30-day mean")
ax.legend()
plt.show()
assert abs(float(series.mean()) - float(ds.tas.sel(lat=slice(35, 70), lon=slice(-10, 40)).mean())) < 1e-3"""),
    ("md", "## Clean up: close the client and remove the temporary folder"),
    ("code", """client.close()
workdir.cleanup()
print("removed:", not os.path.exists(workdir.name))"""),
]

IMAGING = [
    ("md", """# A large 3-D volume, written sharded, read back by slices

Imaging and genomics arrays are large and read a plane or a region at a time. Sharding keeps the
number of stored objects small while each plane stays cheap to read: only the shard index and the
inner chunks a slice touches are fetched, by byte range. `dz.info` shows the layout, a
`RequestCounter` counts what a read requests, `dz.plan` prices a rechunk before running it.
`DZ_NOTEBOOK_EDGE` sets the volume's edge (default 512: 128 MB); everything is written to a
temporary folder removed at the end."""),
    ("code", INLINE),
    ("code", """import os
import tempfile
import time

import dask.array as da
import numpy as np

import dask_zarrio as dz
from dask_zarrio.tools.requests import RequestCounter

edge = int(os.environ.get("DZ_NOTEBOOK_EDGE", "512"))
workdir = tempfile.TemporaryDirectory(prefix="dz-volume-")  # removed in the last cell
url = os.path.join(workdir.name, "volume.zarr")
z, y, x = np.ogrid[:edge, :edge, :edge]
def block(block_id):
    i = block_id[0]
    zz = np.arange(i * 64, min((i + 1) * 64, edge))[:, None, None]
    return (((zz - edge / 2) ** 2 + (y - edge / 2) ** 2 + (x - edge / 2) ** 2) < (edge / 3) ** 2).astype("u1") * 200
vol = da.map_blocks(block, chunks=((64,) * (edge // 64), (edge,), (edge,)), dtype="u1")
t = time.perf_counter()
dz.write(vol, url, chunks=(32, 32, 32), shards=(64, 256, 256), mode="w", progress=True)
print(f"{vol.nbytes / 1e6:.0f} MB in {time.perf_counter() - t:.1f} s")"""),
    ("md", "What is stored: inner chunks of 32³ inside shards of 64 × 256 × 256, as `dz.info` shows it:"),
    ("code", "dz.info(url)"),
    ("md", "## One plane: the shard indexes and the inner chunks it touches, by byte range"),
    ("code", """counter = RequestCounter(url)
volume = dz.read(counter.store)
counter.reset()  # count the plane's reads, not the metadata
t = time.perf_counter()
plane = volume[edge // 2].compute()
dt = time.perf_counter() - t
got = counter.requests
print(f"one plane: {plane.nbytes / 1e6:.2f} MB in {dt * 1e3:.0f} ms; {got.gets} whole-object GETs, "
      f"{got.ranged_gets} ranged GETs, {got.bytes_received / 1e6:.2f} MB received "
      f"of {dz.info(url)['stored_bytes'] / 1e6:.2f} MB stored")
assert plane.max() == 200 and got.gets == 0
plt.figure(figsize=(3, 3))
plt.imshow(plane[::4, ::4], cmap="gray")  # every 4th pixel: a small figure
plt.title(f"plane {edge // 2}")
plt.show()"""),
    ("md", "## The whole volume, with a progress bar"),
    ("code", """from dask.diagnostics import ProgressBar

counter.reset()
t = time.perf_counter()
with ProgressBar():
    total = int(volume.sum(dtype="u8").compute())
dt = time.perf_counter() - t
got = counter.requests
print(f"whole volume: {volume.nbytes / dt / 1e9:.2f} GB/s; {got.gets} whole-shard GETs, {got.ranged_gets} ranged "
      f"GETs for {volume.npartitions} tasks")"""),
    ("md", """## Before rechunking to whole planes: what would it cost?

`dz.plan` builds the rechunk's job without running it: passes, tasks, requests, peak memory."""),
    ("code", """planes = os.path.join(workdir.name, "planes.zarr")
dz.plan("rechunk", url, planes, chunks=(1, edge, edge), max_mem="64MiB")"""),
    ("md", "## Check every stored chunk decodes"),
    ("code", """dz.verify(url, progress=True)"""),
    ("md", "## Clean up"),
    ("code", """workdir.cleanup()
print("removed:", not os.path.exists(workdir.name))"""),
]

PYRAMID = [
    ("md", """# A multiscale pyramid: written in one pass, validated, viewed level by level

Viewers (napari, neuroglancer, OME-Zarr browsers) show a large image through its *pyramid*: the
image and copies of it halved again and again. `dz.write_pyramid` writes all the levels in one pass
(every stored chunk of the source read once, every chunk or shard of every level written once) as
OME-Zarr 0.5, sharded. Here a two-channel picture is written, checked against the OME-Zarr models
of `ome-zarr-models`, and looked at level by level. `DZ_NOTEBOOK_EDGE` sets its side (default 2048,
8 MB); everything goes to a temporary folder removed at the end."""),
    ("code", INLINE),
    ("code", """import os
import tempfile

import dask.array as da
import numpy as np

import dask_zarrio as dz

edge = int(os.environ.get("DZ_NOTEBOOK_EDGE", "2048"))
workdir = tempfile.TemporaryDirectory(prefix="dz-pyramid-")  # removed in the last cell
url = os.path.join(workdir.name, "cells.zarr")
def picture(block_id):
    c, i, j = block_id
    side = 256
    y, x = np.mgrid[i * side:(i + 1) * side, j * side:(j + 1) * side] / edge
    rings = np.sin(40 * np.hypot(y - 0.5, x - 0.5) + c) * np.exp(-4 * np.hypot(y - 0.3 - 0.4 * c, x - 0.5))
    noise = np.random.default_rng(c * 1000 + i * 50 + j).normal(0, 0.05, y.shape)
    return (127 + 120 * np.clip(rings + noise, -1, 1)).astype("u1")[None]
image = da.map_blocks(picture, chunks=((1, 1), (256,) * (edge // 256), (256,) * (edge // 256)), dtype="u1")
dz.write_pyramid(image, url, levels=4, axes=["c", "y", "x"], chunks=(1, 128, 128), shards=(1, 512, 512),
                 scale=[1, 0.5, 0.5], units={"y": "micrometer", "x": "micrometer"}, method="mean",
                 mode="w", progress=True)"""),
    ("md", """What is stored: a group whose `ome` attributes describe four levels, each an array of
128² chunks in 512² shards with its `dimension_names`. `dz.tree` names the pyramid on the group's
line; `dz.info` shows every level (and, on the command line, `dz pyramid`, `dz info` and `dz tree`
do the same)."""),
    ("code", "print(dz.tree(url))"),
    ("code", "dz.info(url)"),
    ("md", """## Validated

`ome-zarr-models` holds the OME-Zarr specification as pydantic models: the group parses as an
OME-Zarr 0.5 image, and `dz.verify` decodes every stored chunk and checks the pyramid's metadata
(axes, level paths, scales in order, dimension names)."""),
    ("code", """import zarr
from ome_zarr_models.v05 import Image

model = Image.from_zarr(zarr.open_group(url, mode="r"))
multiscale = model.attributes.ome.multiscales[0]
for dataset in multiscale.datasets:
    scale, translation = (t.scale if t.type == "scale" else t.translation for t in dataset.coordinateTransformations)
    print(f"level {dataset.path}: scale {scale}, translation {translation}")
report = dz.verify(url)
print("dz.verify:", "ok" if report.ok else report.problems)"""),
    ("md", """## Level by level

`dz.read_pyramid` gives every level back as a lazy dask array, level 0 first; each level is the
mean of 2 × 2 pixels of the one before (its translation moves it by half its pixel)."""),
    ("code", """levels = dz.read_pyramid(url)
fig, axes = plt.subplots(1, len(levels), figsize=(9, 2.6))
for n, (ax, level) in enumerate(zip(axes, levels)):
    step = max(1, level.shape[1] // 128)  # every step-th pixel: small figures
    ax.imshow(level[0, ::step, ::step].compute(), cmap="magma", vmin=0, vmax=255)
    ax.set_title(f"level {n}: {level.shape[1]}²", fontsize=9)
    ax.axis("off")
plt.show()
top = levels[-1][1].compute()
plt.figure(figsize=(2.6, 2.6))
plt.imshow(top, cmap="viridis", interpolation="nearest")
plt.title(f"channel 1, level {len(levels) - 1} at full size", fontsize=9)
plt.axis("off")
plt.show()
assert [x.shape[1] for x in levels] == [edge // 2**n for n in range(4)]"""),
    ("md", "## Clean up"),
    ("code", """workdir.cleanup()
print("removed:", not os.path.exists(workdir.name))"""),
]

NOTEBOOKS = {"climate.ipynb": CLIMATE, "imaging.ipynb": IMAGING, "pyramid.ipynb": PYRAMID}


def build(cells: list[tuple[str, str]]) -> nbformat.NotebookNode:
    """A notebook of ``cells`` (kind, source), without outputs."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell(src) if kind == "md" else nbformat.v4.new_code_cell(src) for kind, src in cells
    ]
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i}"  # stable ids: regenerating changes only what changed
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def execute(nb: nbformat.NotebookNode, env: dict[str, str] | None = None, timeout: int = 600) -> None:
    """Run ``nb`` in a fresh kernel that imports this checkout, in a temporary working folder."""
    import nbclient

    env = dict(os.environ if env is None else env)
    paths = [str(HERE.parent), env.get("PYTHONPATH")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    env.pop("MPLBACKEND", None)  # the notebooks choose inline plots
    with tempfile.TemporaryDirectory(prefix="dz-notebook-") as cwd:
        client = nbclient.NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                         resources={"metadata": {"path": cwd}})
        client.execute(env=env)
    for cell in nb.cells:  # what changes on every run and says nothing
        cell.get("metadata", {}).pop("execution", None)
        if cell.cell_type == "code":
            cell.outputs = settled(cell.outputs)
    nb.metadata.pop("widgets", None)


def settled(outputs: list[nbformat.NotebookNode]) -> list[nbformat.NotebookNode]:
    """Outputs as Jupyter shows them once a cell has run: consecutive stream outputs joined, and
    a progress bar's updates (each after a carriage return) reduced to the last one."""
    out: list[nbformat.NotebookNode] = []
    for o in outputs:
        if o.output_type == "stream" and out and out[-1].output_type == "stream" and out[-1].name == o.name:
            out[-1].text += o.text
        else:
            out.append(o)
    for o in out:
        if o.output_type == "stream":
            text = o.text.replace("\x1b[2K", "")  # distributed's text bar clears its line so
            o.text = "\n".join(line.rstrip("\r").rsplit("\r", 1)[-1] for line in text.split("\n"))
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--no-run", action="store_true", help="write the notebooks without outputs")
    parser.add_argument("names", nargs="*", default=list(NOTEBOOKS), help="which notebooks (default: all)")
    args = parser.parse_args()
    for name in args.names:
        nb = build(NOTEBOOKS[name])
        if not args.no_run:
            execute(nb)
        nbformat.write(nb, HERE / name)
        print(f"{name}: {(HERE / name).stat().st_size / 1e3:.0f} kB", file=sys.stderr)
