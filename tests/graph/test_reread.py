"""A dz.read array (or an elementwise chain over it) read again in a write's blocks, and
every graph that must not be: only what dask_zarrio can vouch for is re-derived."""

from __future__ import annotations

import operator

import dask.array as da
import numpy as np
import pytest

import dask_zarrio as dz
from dask_zarrio.graph.reread import read_in_blocks

BLOCKS = ((2,), (8, 8), (4, 4, 4, 4))


@pytest.fixture
def source(tmp_path):
    data = np.arange(2 * 16 * 16, dtype="u1").reshape(2, 16, 16)
    url = str(tmp_path / "s.zarr")
    dz.write(da.from_array(data, chunks=(1, 4, 4)), url, chunks=(1, 4, 4))
    return dz.read(url, chunks=(2, 16, 4)), data


@pytest.mark.parametrize(("make", "layers"), [
    (lambda x: x, 1),
    (lambda x: x + 1, 2),
    (lambda x: 3 * x, 2),
    (lambda x: -x, 2),
    (lambda x: abs(x), 2),
    (lambda x: x > 7, 2),
    (lambda x: np.sqrt(x), 2),
    (lambda x: np.maximum(x, 3), 2),
    (lambda x: (x * 2).astype("f4"), 3),
    (lambda x: operator.xor(x, 5), 2),
])
def test_reread_in_the_write_blocks(source, make, layers):
    x, data = source
    y = make(x)
    z = read_in_blocks(y, BLOCKS)
    assert z is not None and z.chunks == BLOCKS and len(z.dask.layers) == layers
    assert z.dtype == y.dtype
    np.testing.assert_array_equal(z.compute(), make(data))
    assert z.name != y.name


@pytest.mark.parametrize("make", [
    lambda x: x.map_blocks(lambda b: b - b.min()),  # depends on the block it sees
    lambda x: x.map_blocks(np.cumsum, axis=2),
    lambda x: x.map_blocks(lambda b, block_id=None: b + block_id[2], dtype="u1"),
    lambda x: x[:, 1:],
    lambda x: x.transpose(0, 2, 1),
    lambda x: x + x,  # two arrays
    lambda x: x + da.ones(x.shape, "u1", chunks=x.chunks),
    lambda x: x.rechunk((1, 8, 8)),
    lambda x: da.from_array(np.zeros(x.shape, "u1"), chunks=x.chunks),
    lambda x: x.sum(axis=0, keepdims=True).repeat(2, axis=0),
])
def test_other_graphs_are_left_to_dask(source, make):
    x, _ = source
    y = make(x)
    chunks = tuple((n,) for n in y.shape) if y.shape != x.shape else BLOCKS
    assert read_in_blocks(y, chunks) is None


def test_a_read_split_from_aligned_blocks_is_not_the_read_layer(source, tmp_path):
    """dz.read(chunks=) that cuts stored chunks is an aligned read plus dask's rechunk."""
    y = dz.read(str(tmp_path / "s.zarr"), chunks=(1, 3, 3))
    assert len(y.dask.layers) > 1 and read_in_blocks(y, BLOCKS) is None


def test_chunks_of_another_shape_are_refused(source):
    x, _ = source
    assert read_in_blocks(x, ((2,), (16,))) is None
    assert read_in_blocks(x, ((2,), (8, 8), (8,))) is None
