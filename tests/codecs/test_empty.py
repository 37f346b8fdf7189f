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
    assert all(
        v is None if expected is None else (np.isnan(v) if expected is np.nan else v == expected) for v in block.flat
    )


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


@pytest.mark.parametrize("dtype", ["<f4", "<i8", "|S3", "<c16", "|b1", "<M8[s]", [("a", "<i2"), ("b", "<f4")]])
@pytest.mark.parametrize("where", [None, (0, 0, 0), (1, 2, 3), (2, 3, 4)])
def test_is_fill_on_strided_parts_is_what_a_contiguous_copy_gives(dtype, where):
    # Target units are strided parts of a task's block: is_fill reads them in place.
    dtype = np.dtype(dtype)
    block = fill_block((3, 4, 6), dtype, None)
    if where is not None:
        block[where] = np.frombuffer(b"\x01" * dtype.itemsize, dtype)[0]
    for part in (block[:, 1:, ::2], block[1:, :, 2:5], block[::2, ::3, 1:], block[2, 3, 4:5], block[2, 3, 4]):
        part = np.asarray(part)
        assert not part.flags.c_contiguous or part.ndim < 2
        contiguous = np.ascontiguousarray(part)
        assert is_fill(part, None) is is_fill(contiguous, None) is (not contiguous.view(np.uint8).any())
