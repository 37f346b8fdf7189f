"""Hypothesis strategies for arrays, chunkings and dtypes."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st

__all__ = ["DTYPES", "array_data", "shapes_and_chunks", "variable_arrays"]

DTYPES = ["bool", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2", "f4", "f8", "c8", "c16",
          "M8[ns]", "m8[s]", "S5", "U4"]


@st.composite
def shapes_and_chunks(draw: Any, max_ndim: int = 3, max_side: int = 12) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """A shape (sides may be 0) and a chunk shape (edges partial, chunks may exceed the shape)."""
    ndim = draw(st.integers(0, max_ndim))
    shape = tuple(draw(st.integers(0, max_side)) for _ in range(ndim))
    chunks = tuple(draw(st.integers(1, max(1, s + 2))) for s in shape)
    return shape, chunks


def array_data(dtype: np.dtype[Any], shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """Deterministic varied data of ``dtype``: negatives, NaN/inf for floats, text for strings.

    Examples
    --------
    >>> array_data(np.dtype("i2"), (3,)).dtype
    dtype('int16')
    """
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape, dtype=np.int64))
    kind = dtype.kind
    if kind == "b":
        flat = rng.integers(0, 2, n).astype(bool)
    elif kind in "iu":
        info = np.iinfo(dtype)
        flat = rng.integers(info.min, info.max, n, dtype=dtype, endpoint=True)
    elif kind == "f":
        flat = (rng.standard_normal(n) * 1000).astype(dtype)
        if n > 3:
            flat[:3] = [np.nan, np.inf, -0.0]
    elif kind == "c":
        flat = (rng.standard_normal(n) + 1j * rng.standard_normal(n)).astype(dtype)
    elif kind in "Mm":
        flat = rng.integers(-(2**40), 2**40, n).astype("i8").view(dtype)
    elif kind == "S":
        flat = np.array([bytes(rng.integers(97, 123, rng.integers(0, dtype.itemsize + 1)).astype("u1")) for _ in range(n)], dtype)
    elif kind == "U":
        words = ["", "a", "éß", "日本", "zarr", "ΩΩΩ"]
        flat = np.array([words[i % len(words)][: dtype.itemsize // 4] for i in rng.integers(0, 6, n)], dtype)
    else:
        raise ValueError(f"no data for {dtype!r}")
    return flat.reshape(shape)


@st.composite
def variable_arrays(draw: Any, kind: str, shape: tuple[int, ...]) -> np.ndarray:
    """An object array of ``shape`` holding ``str`` (``kind="string"``) or ``bytes`` of any length.

    Text includes the empty string, non-ASCII letters, emoji and NUL; bytes any value.
    """
    n = int(np.prod(shape, dtype=np.int64))
    items = st.text(max_size=12) if kind == "string" else st.binary(max_size=12)
    flat = np.empty(n, object)
    flat[:] = draw(st.lists(items, min_size=n, max_size=n))
    return flat.reshape(shape)
