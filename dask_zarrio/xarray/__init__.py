"""xarray on top: the ``engine="dask_zarrio"`` backend and ``write_dataset``'s encoding."""
