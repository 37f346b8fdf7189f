"""The fill value: blocks made of it, and whether a block is nothing but it.

Comparing bits keeps ``-0.0`` and NaN payloads that ``==`` would merge; chunks and
inner chunks that pass are not stored (zarr-python's ``write_empty_chunks=False``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["fill_block", "fill_bytes", "is_fill"]


def fill_block(shape: tuple[int, ...], dtype: np.dtype[Any], fill: np.ndarray | None) -> np.ndarray:
    """A new array of ``shape`` holding ``fill`` (zeros, or ``None`` for objects, without one).

    Examples
    --------
    >>> fill_block((2,), np.dtype("i2"), np.array(7, "i2")), fill_block((1,), np.dtype("O"), None)
    (array([7, 7], dtype=int16), array([None], dtype=object))
    """
    if fill is None:
        if dtype.kind == "O":
            return np.full(shape, None, dtype)
        return np.zeros(shape, dtype)
    return np.full(shape, fill, dtype)


def fill_bytes(fill: np.ndarray | None, dtype: np.dtype[Any]) -> bytes:
    """The exact bytes of one element equal to the fill value (zeros for ``None``).

    Examples
    --------
    >>> fill_bytes(None, np.dtype("i2"))
    b'\\x00\\x00'
    """
    if fill is None:
        return b"\x00" * dtype.itemsize
    return np.asarray(fill, dtype).tobytes()


def is_fill(block: np.ndarray, fill: np.ndarray | None) -> bool:
    """Whether every element of ``block`` equals ``fill``, bit for bit.

    Examples
    --------
    >>> is_fill(np.zeros(3), None), is_fill(np.array([-0.0]), np.array(0.0))
    (True, False)
    """
    if block.size == 0:
        return True
    dtype = block.dtype
    if dtype.kind == "O":
        value = None if fill is None else fill[()]
        return bool(all(v == value for v in block.flat))
    want = fill_bytes(fill, dtype)
    size = dtype.itemsize
    # The first element alone, not a contiguous copy of the block: real data usually differs
    # at once, and a strided part of a larger block would otherwise be copied whole first.
    if block[(slice(0, 1),) * block.ndim].tobytes() != want:
        return False
    if size in (1, 2, 4, 8):
        # A view with the same item size works on any strides: no copy either.
        return bool((block.view(f"u{size}") == np.frombuffer(want, f"u{size}")[0]).all())
    rows = np.ascontiguousarray(block).reshape(-1).view(np.uint8).reshape(-1, size)
    return bool((rows == np.frombuffer(want, np.uint8)).all())
