"""Benchmarks: dask_zarrio against dask.array.from_zarr/to_zarr and tensorstore, same data, same run."""
