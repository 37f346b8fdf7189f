"""dz.info and dz.advise on a rectilinear chunk grid: chunks counted and decoded at their own shapes."""

from __future__ import annotations

import dask.array as da
import numpy as np

import dask_zarrio as dz


def test_info_counts_a_rectilinear_grid_s_chunks(tmp_path):
    url = str(tmp_path / "a.zarr")
    dz.write(da.from_array(np.arange(80).reshape(10, 8), chunks=((3, 5, 2), 4)), url, chunks="dask", compressors=None)
    info = dz.info(url)
    assert (info["chunks_expected"], info["chunks_present"], info["keys_outside_grid"]) == (6, 6, 0)
    assert info["compression_ratio"] == 1.0  # raw bytes of each chunk at its own shape


def test_advise_samples_chunks_of_several_shapes(tmp_path):
    url = str(tmp_path / "a.zarr")
    dz.write(da.from_array(np.arange(80.0).reshape(10, 8), chunks=((3, 5, 2), 4)), url, chunks="dask")
    advice = dz.advise(url, sample=3)
    assert len(advice.sampled_chunks) == 3 and advice.rows
