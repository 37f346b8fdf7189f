"""xarray on top: the ``engine="dask_zarrio"`` backend (reading), ``write_dataset`` and its encoding."""
