"""Rectilinear chunk grids through the xarray engine: ``chunks={}`` gives one dask block per stored chunk.

xarray's zarr backend (for zarr-python 3.2+) declares a rectilinear axis's chunk lengths as a
tuple in ``encoding["preferred_chunks"]`` and a regular axis's as one length
(``xarray.backends.zarr._compact_chunk_sizes``); the engine declares the same, which
xarray's ``_get_chunk`` turns into the dask chunks of ``open_dataset(..., chunks={})``.
"""

from __future__ import annotations

import warnings

import dask.array as da
import numpy as np
import pytest

import dask_zarrio as dz
from dask_zarrio.metadata.rectilinear import preferred_chunks

xr = pytest.importorskip("xarray")
from xarray.backends.zarr import _compact_chunk_sizes  # noqa: E402

BLOCKS = [
    ((3, 5, 2, 10), (4, 4, 4)),  # one irregular axis, one regular
    ((7,), (1, 2, 3, 4, 2)),  # one chunk, then an irregular axis
    ((4, 4, 2), (6, 6)),  # regular with a short last chunk: a rectilinear document that is regular
]


def _write(tmp_path, blocks, shards=None):
    shape = tuple(sum(b) for b in blocks)
    x = da.from_array(np.arange(np.prod(shape), dtype="f4").reshape(shape), chunks=blocks)
    url = str(tmp_path / "ds.zarr")
    dz.write_dataset(xr.Dataset({"c": ("n", np.arange(3))}), url)
    kwargs = {"chunks": "dask"} if shards is None else {"chunks": shards[0], "shards": shards[1]}
    dz.write(x, url + "/v", dimension_names=["y", "x"], **kwargs)
    dz.consolidate(url)
    return url, x


@pytest.mark.parametrize("blocks", BLOCKS, ids=str)
def test_chunks_empty_gives_one_block_per_stored_chunk(tmp_path, blocks):
    url, x = _write(tmp_path, blocks)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # xarray warns where the chunks it picks split stored chunks
        v = xr.open_dataset(url, engine="dask_zarrio", chunks={}).v
    assert v.chunks == blocks
    assert v.encoding["preferred_chunks"] == dict(zip(("y", "x"), _compact_chunk_sizes(blocks)))
    np.testing.assert_array_equal(v.values, x.compute())


def test_sharded_rectilinear_gives_one_block_per_shard(tmp_path):
    url, x = _write(tmp_path, ((4, 8), (6,)), shards=((2, 3), ((4, 8), 6)))
    v = xr.open_dataset(url, engine="dask_zarrio", chunks={}).v
    assert v.chunks == ((4, 8), (6,))
    assert v.encoding["preferred_chunks"] == {"y": (4, 8), "x": 6}
    np.testing.assert_array_equal(v.values, x.compute())


def test_chunks_that_split_stored_chunks_are_warned_about_as_xarray_does(tmp_path):
    url, _ = _write(tmp_path, BLOCKS[0])
    with pytest.warns(UserWarning, match='separate the stored chunks along dimension "y" starting at index 4'):
        v = xr.open_dataset(url, engine="dask_zarrio", chunks={"y": 4}).v
    assert v.chunks[0] == (4, 4, 4, 4, 4)


@pytest.mark.parametrize(
    ("edges", "shape"),
    [((4, (3, 5, 4)), (10, 10)), (((2, 2, 2),), (5,)), (((5, 1),), (6,)), ((3, (1, 9)), (7, 1))],
)
def test_preferred_chunks_are_what_xarrays_zarr_backend_declares(edges, shape):
    from dask_zarrio.layout.grid import Edges, axis_chunk_sizes

    dask_form = tuple(axis_chunk_sizes(e if isinstance(e, int) else Edges(e), n) for e, n in zip(edges, shape))
    assert preferred_chunks(edges, shape) == _compact_chunk_sizes(dask_form)
