"""Property-based round trips over shapes, chunkings, dtypes and formats, with zarr-python as oracle."""

from __future__ import annotations

import dask.array as da
import numpy as np
import zarr
from conftest import assert_same
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dask_zarrio as dz
from dask_zarrio.testing.strategies import DTYPES, array_data, shapes_and_chunks

_settings = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@_settings
@given(sc=shapes_and_chunks(), dtype=st.sampled_from(DTYPES), fmt=st.sampled_from([2, 3]),
       order=st.sampled_from("CF"), seed=st.integers(0, 2**16))
def test_dz_write_then_zarr_and_dz_read(tmp_path_factory, sc, dtype, fmt, order, seed):
    shape, chunks = sc
    data = array_data(np.dtype(dtype), shape, seed)
    url = str(tmp_path_factory.mktemp("h") / "a.zarr")
    dz.write(da.from_array(data, chunks=chunks), url, zarr_format=fmt, order=order)
    assert_same(dz.read(url).compute(), data)
    assert_same(zarr.open_array(url, mode="r")[...], data)


@_settings
@given(sc=shapes_and_chunks(), dtype=st.sampled_from(DTYPES), fmt=st.sampled_from([2, 3]),
       read_chunks=st.integers(1, 7), seed=st.integers(0, 2**16))
def test_zarr_write_then_dz_read_any_dask_chunks(tmp_path_factory, sc, dtype, fmt, read_chunks, seed):
    shape, chunks = sc
    data = array_data(np.dtype(dtype), shape, seed)
    url = str(tmp_path_factory.mktemp("h") / "a.zarr")
    z = zarr.create_array(url, shape=shape, chunks=chunks, dtype=data.dtype, zarr_format=fmt)
    z[...] = data
    x = dz.read(url, chunks=(read_chunks,) * len(shape))
    assert_same(x.compute(), data)
    if data.ndim:
        sl = tuple(slice(s // 3, s - s // 4) for s in shape)
        assert_same(x[sl].compute(), data[sl])
