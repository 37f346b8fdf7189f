"""The main job's demo: ``python -m dask_zarrio.demo``."""
