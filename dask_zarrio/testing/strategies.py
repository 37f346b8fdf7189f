"""Hypothesis strategies for arrays, chunkings and dtypes."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st

__all__ = [
    "DTYPES", "TIME_UNITS", "array_data", "shapes_and_chunks", "struct_dtypes", "time_dtypes",
    "variable_arrays",
]

DTYPES = ["bool", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2", "f4", "f8", "c8", "c16",
          "M8[ns]", "m8[s]", "S5", "U4"]
#: numpy's time units, each a Zarr v3 numpy.datetime64/numpy.timedelta64 ``unit``.
TIME_UNITS = ["Y", "M", "W", "D", "h", "m", "s", "ms", "us", "ns", "ps", "fs", "as", "generic"]
_FIELD_TYPES = ["bool", "i1", "<i2", ">i4", "<u8", ">f4", "<f8", "<c8", "<M8[s]", ">m8[ms]", "S3", "<U2", "V2"]


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
    >>> array_data(np.dtype([("a", "u1"), ("t", "M8[s]")]), (2,)).dtype.names
    ('a', 't')
    """
    if dtype.subdtype is not None:  # a sub-array field: its elements are one more axis
        base, inner = dtype.subdtype
        return array_data(base, (*shape, *inner), seed)
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape, dtype=np.int64))
    kind = dtype.kind
    if kind == "b":
        flat = rng.integers(0, 2, n).astype(bool)
    elif kind in "iu":
        info = np.iinfo(dtype)
        flat = rng.integers(info.min, info.max, n, dtype=dtype.newbyteorder("="), endpoint=True).astype(dtype)
    elif kind == "f":
        flat = (rng.standard_normal(n) * 1000).astype(dtype)
        if n > 3:
            flat[:3] = [np.nan, np.inf, -0.0]
    elif kind == "c":
        flat = (rng.standard_normal(n) + 1j * rng.standard_normal(n)).astype(dtype)
    elif kind in "Mm":
        flat = rng.integers(-(2**40), 2**40, n).astype("i8").view(dtype)
        if n > 1:
            flat[1] = np.array("NaT", dtype)
    elif kind == "S":
        flat = np.array(
            [bytes(rng.integers(97, 123, rng.integers(0, dtype.itemsize + 1)).astype("u1")) for _ in range(n)], dtype
        )
    elif kind == "U":
        words = ["", "a", "éß", "日本", "zarr", "ΩΩΩ"]
        flat = np.array([words[i % len(words)][: dtype.itemsize // 4] for i in rng.integers(0, 6, n)], dtype)
    elif kind == "V" and dtype.names is not None:
        flat = np.zeros(n, dtype)
        for i, name in enumerate(dtype.names):
            sub = dtype.fields[name][0]  # type: ignore[index]
            flat[name] = array_data(sub, (n,), seed + i + 1)
    elif kind == "V":
        flat = rng.integers(0, 256, n * dtype.itemsize, dtype="u1").view(dtype)
    else:
        raise ValueError(f"no data for {dtype!r}")
    return flat.reshape(shape)


@st.composite
def variable_arrays(draw: Any, kind: str, shape: tuple[int, ...]) -> np.ndarray:
    """An object array of ``shape`` holding ``str`` (``kind="string"``) or ``bytes`` of any length.

    Text includes the empty string, non-ASCII letters, emoji and NUL, and now and then a
    very long one (up to 100,000 characters); bytes any value.
    """
    n = int(np.prod(shape, dtype=np.int64))
    if kind == "string":
        long = st.tuples(st.text(min_size=1, max_size=3), st.integers(1000, 100_000)).map(lambda t: t[0] * t[1])
        items = st.one_of(st.text(max_size=12), long)
    else:
        long_bytes = st.tuples(st.binary(min_size=1, max_size=3), st.integers(1000, 100_000)).map(lambda t: t[0] * t[1])
        items = st.one_of(st.binary(max_size=12), long_bytes)
    flat = np.empty(n, object)
    flat[:] = draw(st.lists(items, min_size=n, max_size=n))
    return flat.reshape(shape)


@st.composite
def time_dtypes(draw: Any) -> np.dtype[Any]:
    """A datetime64 or timedelta64 dtype of any unit but ``generic``, scale factor and byte order.

    ``generic`` is left out: numpy cannot convert values other than NaT to or from it
    (and zarr-python 3.1 cannot write it); the golden stores cover it.

    Examples
    --------
    >>> from hypothesis import find
    >>> find(time_dtypes(), lambda d: d.kind == "m" and d.byteorder == ">")
    dtype('>m8[Y]')
    """
    unit = draw(st.sampled_from(TIME_UNITS[:-1]))
    scale = draw(st.sampled_from([1, 1, 3, 1000]))
    code = draw(st.sampled_from(["<M8", "<m8", ">M8", ">m8"]))
    return np.dtype(f"{code}[{scale if scale != 1 else ''}{unit}]")


@st.composite
def struct_dtypes(draw: Any, max_depth: int = 2, subarrays: bool = False) -> np.dtype[Any]:
    """A structured dtype: 1-4 fields of fixed-size types, either byte order, nested structs.

    ``subarrays=True`` also gives sub-array fields, which only Zarr v2 stores.

    Examples
    --------
    >>> from hypothesis import find
    >>> len(find(struct_dtypes(), lambda d: len(d.names) > 1).names)
    2
    """
    count = draw(st.integers(1, 4))
    names = draw(st.lists(st.sampled_from("abcdefgh"), min_size=count, max_size=count, unique=True))
    fields: list[Any] = []
    for name in names:
        if max_depth > 1 and draw(st.integers(0, 4)) == 0:
            fields.append((name, draw(struct_dtypes(max_depth - 1, subarrays))))
        elif subarrays and draw(st.integers(0, 4)) == 0:
            fields.append((name, draw(st.sampled_from(_FIELD_TYPES)), (draw(st.integers(1, 3)),)))
        else:
            fields.append((name, draw(st.sampled_from(_FIELD_TYPES))))
    return np.dtype(fields)
