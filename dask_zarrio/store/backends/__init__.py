"""The stores themselves, one module each; :func:`dask_zarrio.store.open_store` picks one."""
