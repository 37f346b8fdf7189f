"""The fill value: blocks made of it, and comparing blocks with it bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from dask_zarrio.codecs.empty import fill_block, is_fill


@pytest.mark.parametrize("dtype,fill,expected", [
    ("<i2", None, 0), ("<f4", np.array(np.nan, "<f4"), np.nan), ("|S2", np.array(b"ab"), b"ab"), ("O", None, None),
])
def test_fill_block(dtype, fill, expected):
    block = fill_block((2, 3), np.dtype(dtype), fill)
    assert block.shape == (2, 3) and block.dtype == np.dtype(dtype) and block.flags.writeable
    assert all(v is None if expected is None else (np.isnan(v) if expected is np.nan else v == expected) for v in block.flat)


@pytest.mark.parametrize("block,fill,expected", [
    (np.zeros(4), None, True),
    (np.array([-0.0]), np.array(0.0), False),  # bits differ
    (np.full(3, np.nan), np.array(np.nan), True),
    (np.array([1, 0, 0], "u1"), None, False),
    (np.zeros(0, "u1"), np.array(5, "u1"), True),
    (np.array([b"ab", b"ab"], "|S2"), np.array(b"ab", "|S2"), True),
])
def test_is_fill_compares_bits(block, fill, expected):
    assert is_fill(block, fill) is expected
