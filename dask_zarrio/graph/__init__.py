"""Dask graphs: the read and write layers, the tasks that run on workers, progress bars."""
