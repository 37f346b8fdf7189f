"""Stored chunks of an array written without ``chunks=`` (issue 32): irregular dask blocks such as
(123, 877) no longer make the first block's length (123) the chunk of the whole array; the
choice is dask's ``"auto"``-style along such axes, aligned by the planner, and logged at INFO."""

from __future__ import annotations

import logging

import dask.array as da
import numpy as np
import pytest

import dask_zarrio as dz
from dask_zarrio.layout.default_chunks import AUTO_CHUNK_BYTES


@pytest.mark.parametrize("blocks,shape,expected", [
    (((123, 877),), (1000,), (1000,)),                                     # small: one chunk
    (((123, 877), (50, 50)), (1000, 100), (1000, 50)),                     # the regular axis keeps its blocks
    (((100,) * 10,), (1000,), (100,)),                                     # regular: the blocks, as before
    (((7, 2_999_000, 1000),), (3_000_007,), (AUTO_CHUNK_BYTES // 8,)),       # big: dask's auto size, <= 16 MiB
])
def test_irregular_blocks_do_not_become_stored_chunks(tmp_path, caplog, blocks, shape, expected):
    data = np.arange(np.prod(shape), dtype="f8").reshape(shape)
    url = str(tmp_path / "a.zarr")
    with caplog.at_level(logging.INFO, logger="dask_zarrio"):
        dz.write(da.from_array(data, chunks=blocks), url)
    chunks = tuple(dz.info(url)["chunks"])
    assert chunks == expected
    assert np.prod(chunks) * 8 <= AUTO_CHUNK_BYTES
    assert any(f"stored chunks {chunks} chosen" in r.getMessage() for r in caplog.records)
    np.testing.assert_array_equal(dz.read(url).compute(), data)


def test_chunks_given_are_kept(tmp_path):
    url = str(tmp_path / "a.zarr")
    dz.write(da.from_array(np.arange(1000), chunks=((123, 877),)), url, chunks=(123,))
    assert dz.info(url)["chunks"] == [123]
