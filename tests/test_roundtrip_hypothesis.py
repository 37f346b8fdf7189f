"""Property-based round trips over shapes, chunkings, dtypes and formats, with zarr-python as oracle."""

from __future__ import annotations

import dask.array as da
import numpy as np
import zarr
from conftest import assert_same
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dask_zarrio as dz
from dask_zarrio.testing.strategies import (
    DTYPES,
    array_data,
    shapes_and_chunks,
    struct_dtypes,
    time_dtypes,
)

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


def _create(url: str, data: np.ndarray, chunks: tuple[int, ...], fmt: object) -> None:
    """zarr-python 3.1 writes ``data`` as v2, v3 or sharded v3 (one shard per two chunks a side)."""
    shards = {"shards": tuple(2 * c for c in chunks)} if fmt == "sharded" else {}
    z = zarr.create_array(url, shape=data.shape, chunks=chunks, dtype=data.dtype,
                          zarr_format=2 if fmt == 2 else 3, **shards)
    z[...] = data


def _dz_kwargs(chunks: tuple[int, ...], fmt: object) -> dict[str, object]:
    if fmt == "sharded":
        return {"zarr_format": 3, "chunks": chunks, "shards": tuple(2 * c for c in chunks)}
    return {"zarr_format": fmt, "chunks": chunks}


def _native(dtype: np.dtype) -> np.dtype:
    from dask_zarrio.metadata.structs import packed

    return packed(dtype)


@_settings
@given(sc=shapes_and_chunks(max_ndim=2), dtype=time_dtypes(), fmt=st.sampled_from([2, 3, "sharded"]),
       seed=st.integers(0, 2**16), dz_first=st.booleans())
def test_times_both_ways(tmp_path_factory, sc, dtype, fmt, seed, dz_first):
    """Every time unit and scale factor, NaT included, written by one of dz and zarr-python 3.1."""
    shape, chunks = sc
    fmt = 3 if fmt == "sharded" and not shape else fmt  # a 0-d array has no shards
    data = array_data(dtype, shape, seed)
    url = str(tmp_path_factory.mktemp("h") / "a.zarr")
    if dz_first:
        dz.write(data, url, **_dz_kwargs(chunks, fmt))
    else:
        _create(url, data, chunks, fmt)
    expected = data if fmt == 2 else data.astype(dtype.newbyteorder("="))
    assert_same(dz.read(url).compute(), expected)
    assert_same(zarr.open_array(url, mode="r")[...], expected)


@_settings
@given(sc=shapes_and_chunks(max_ndim=2), dtype=struct_dtypes(subarrays=True), fmt=st.sampled_from([2, 3, "sharded"]),
       seed=st.integers(0, 2**16))
def test_structs_dz_round_trip(tmp_path_factory, sc, dtype, fmt, seed):
    """Any struct, nested or with sub-array fields (v2 only: v3 has none), through dz."""
    shape, chunks = sc
    if "(" in str(dtype) or (fmt == "sharded" and not shape):
        fmt = 2  # sub-array fields are v2's alone; a 0-d array has no shards
    data = array_data(dtype, shape, seed)
    url = str(tmp_path_factory.mktemp("h") / "a.zarr")
    dz.write(data, url, **_dz_kwargs(chunks, fmt))
    assert_same(dz.read(url).compute(), data if fmt == 2 else data.astype(_native(dtype)))


def _zarr_31_writes(dtype: np.dtype) -> bool:
    """Structs zarr-python 3.1.6 writes and reads back itself: flat, native, no raw or time fields."""
    subs = [dtype.fields[n][0] for n in dtype.names]
    return _native(dtype) == dtype and all(s.names is None and s.kind not in "VMm" for s in subs)


@_settings
@given(sc=shapes_and_chunks(max_ndim=2), dtype=struct_dtypes(max_depth=1).filter(_zarr_31_writes),
       fmt=st.sampled_from([2, 3]), seed=st.integers(0, 2**16))
def test_dz_reads_structs_zarr_31_writes(tmp_path_factory, sc, dtype, fmt, seed):
    """zarr-python 3.1's "structured" v3 arrays (and v2 ones), read by dz identically."""
    shape, chunks = sc
    data = array_data(dtype, shape, seed)
    url = str(tmp_path_factory.mktemp("h") / "a.zarr")
    _create(url, data, chunks, fmt)
    # zarr-python drops chunks == its fill value, so a lone -0.0 reads back 0.0: compare to its reading.
    assert_same(dz.read(url).compute(), zarr.open_array(url, mode="r")[...])
    if fmt == 2:
        dz.write(data, url + "2", **_dz_kwargs(chunks, fmt))
        assert_same(zarr.open_array(url + "2", mode="r")[...], data)
