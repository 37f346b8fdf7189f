"""The main job: write a few hundred MB array to a local Zarr store and read it back.

Run ``python -m dask_zarrio.demo [--path DIR] [--mb SIZE] [--zarr-format 2|3]``. It
prints the array, write and read throughput, and a checksum computed both from
the source and from what was read back (they must agree).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import dask
import dask.array as da
import numpy as np

from ..api import read, write


def _temperature_block(block_id: tuple[int, ...], shape: tuple[int, ...], t0: int) -> np.ndarray:
    """A synthetic daily temperature field: seasonal cycle + latitude gradient + noise."""
    rng = np.random.default_rng(abs(hash(block_id)) % 2**32)
    t = np.arange(t0, t0 + shape[0], dtype=np.float32)[:, None, None]
    lat = np.linspace(-1, 1, shape[1], dtype=np.float32)[None, :, None]
    field = 15 - 20 * lat**2 + 10 * np.sin(2 * np.pi * t / 365) * lat
    noise = rng.normal(0, 1.5, size=shape).astype(np.float32)
    # Rounded to 0.01 K like real instrument data, which makes it compressible.
    return np.round(field + noise, 2).astype(np.float32)


def synthetic_temperature(mb: int, chunk_days: int = 8) -> da.Array:
    """A (time, lat, lon) float32 array of about ``mb`` megabytes.

    Examples
    --------
    >>> synthetic_temperature(4).shape
    (8, 256, 512)
    """
    ny, nx = 256, 512
    nt = max(chunk_days, (mb * 2**20 // (ny * nx * 4)) // chunk_days * chunk_days)
    blocks = [
        da.from_delayed(
            dask.delayed(_temperature_block)((i,), (min(chunk_days, nt - i), ny, nx), i),
            shape=(min(chunk_days, nt - i), ny, nx),
            dtype=np.float32,
        )
        for i in range(0, nt, chunk_days)
    ]
    return da.concatenate(blocks, axis=0)


def main(argv: list[str] | None = None) -> int:
    """Run the demo; returns 0 when the checksums agree."""
    parser = argparse.ArgumentParser(prog="python -m dask_zarrio.demo", description=__doc__)
    parser.add_argument("--path", help="folder for the store (default: a temporary folder)")
    parser.add_argument("--mb", type=int, default=256, help="array size in MB (default 256)")
    parser.add_argument("--zarr-format", type=int, default=3, choices=(2, 3))
    args = parser.parse_args(argv)

    folder = Path(args.path) if args.path else Path(tempfile.mkdtemp(prefix="dz-demo-"))
    url = str(folder / "temperature.zarr")
    source = synthetic_temperature(args.mb).persist()
    nbytes = source.nbytes
    print(f"array: shape={source.shape} dtype={source.dtype} chunks={source.chunksize} "
          f"({nbytes / 2**20:.0f} MiB) -> {url}")

    t = time.perf_counter()
    write(source, url, mode="w", zarr_format=args.zarr_format,
          dimension_names=["time", "lat", "lon"], attributes={"units": "degC"})
    dt_write = time.perf_counter() - t
    stored = sum(f.stat().st_size for f in Path(url).rglob("*") if f.is_file())
    print(f"write: {dt_write:.2f} s, {nbytes / dt_write / 1e9:.2f} GB/s, "
          f"stored {stored / 2**20:.0f} MiB (ratio {nbytes / stored:.1f})")

    t = time.perf_counter()
    back = read(url)
    total = back.astype(np.float64).sum().compute()
    dt_read = time.perf_counter() - t
    print(f"read + sum: {dt_read:.2f} s, {nbytes / dt_read / 1e9:.2f} GB/s")

    expected = source.astype(np.float64).sum().compute()
    same = bool(np.array_equal(back.compute(), source.compute()))
    print(f"checksum (sum): read {total:.4f}, source {expected:.4f}; identical: {same}")
    if not args.path:
        shutil.rmtree(folder, ignore_errors=True)
    return 0 if same and total == expected else 1


if __name__ == "__main__":
    raise SystemExit(main())
