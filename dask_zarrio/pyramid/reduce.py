"""The block reductions, in numpy: one level of a block from the level below it.

Every method keeps the dtype. A block's last cells along an axis may be partial (the
array's edge): they reduce the cells they have. The work goes in bands along the first
downsampled axis, so the temporaries (a wider accumulator for ``mean``) stay a small
part of the block.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..errors import ZarrioError

__all__ = ["METHODS", "downsample"]

#: Input bytes reduced at once (along the first downsampled axis): bounds the temporaries and keeps
#: them in cache (512 KiB: 2x2 mean of uint8 runs ~1.8x faster than with 2 MiB bands and a widened copy).
BAND_BYTES = 512 << 10


def _accumulator(dtype: np.dtype[Any], cells: int) -> np.dtype[Any]:
    """A dtype that holds the sum of ``cells`` values of ``dtype`` (twice, for rounding)."""
    if dtype.kind == "b":
        dtype = np.dtype("u1")
    if dtype.kind in "ui":
        bits = dtype.itemsize * 8 + int(cells).bit_length() + 1
        for size in (16, 32, 64):
            if bits <= size:
                return np.dtype(f"{dtype.kind}{size // 8}")
        return np.dtype(f"{dtype.kind}8")  # 64-bit sums of large values may wrap: documented
    if dtype.kind == "f" and dtype.itemsize < 4:
        return np.dtype("f4")
    return dtype


def _offsets(factors: Sequence[int]) -> list[tuple[int, ...]]:
    """Every offset inside a block of ``factors`` cells, the first cell first."""
    return [tuple(int(i) for i in o) for o in np.ndindex(*factors)]


def _strided(x: np.ndarray, factors: Sequence[int], acc: np.dtype[Any],
             combine: Callable[[np.ndarray, np.ndarray], None]) -> np.ndarray:
    """Combine the cells of each block, one strided view per offset (fast: no reshapes, no copies).

    The view of offset 0 has the output's shape; at a partial edge the others are a cell short,
    and combine into the part of the output they reach.
    """
    out = x[tuple(slice(None, None, f) for f in factors)].astype(acc, copy=True)
    for offset in _offsets(factors)[1:]:
        view = x[tuple(slice(o, None, f) for o, f in zip(offset, factors))]
        if view.size:
            combine(out[tuple(slice(0, n) for n in view.shape)], view)
    return out


def _add(out: np.ndarray, view: np.ndarray) -> None:
    out += view


def _counts_array(shape: Sequence[int], factors: Sequence[int], dtype: np.dtype[Any]) -> np.ndarray | int:
    """How many cells each output cell averages: an int where no axis has a partial edge."""
    if all(n % f == 0 for n, f in zip(shape, factors)):
        return int(np.prod(factors))
    counts = np.ones((1,) * len(shape), dtype=dtype)
    for axis, (n, f) in enumerate(zip(shape, factors)):
        if f > 1:
            along = [1] * len(shape)
            along[axis] = -1
            counts = counts * np.minimum(f, n - np.arange(0, n, f)).reshape(along).astype(dtype)
    return counts


def _separable_sum(x: np.ndarray, factors: Sequence[int], acc: np.dtype[Any]) -> np.ndarray:
    """The sum of each block, one axis at a time (each pass shrinks what the next one reads);
    the first pass adds straight into the wider dtype (no widened copy of ``x``). Only for
    shapes that the factors divide."""
    total = x
    for axis, f in enumerate(factors):
        if f == 1:
            continue
        views = [total[(slice(None),) * axis + (slice(o, None, f),)] for o in range(f)]
        summed = np.add(views[0], views[1], dtype=acc)
        for view in views[2:]:
            summed += view
        total = summed
    return total if total is not x else x.astype(acc)


def _mean(x: np.ndarray, factors: Sequence[int]) -> np.ndarray:
    acc = _accumulator(x.dtype, int(np.prod(factors)))
    if all(n % f == 0 for n, f in zip(x.shape, factors)):
        total = _separable_sum(x, factors, acc)
    else:
        total = _strided(x, factors, acc, _add)
    counts = _counts_array(x.shape, factors, acc if acc.kind in "ui" else np.dtype("f8"))
    if x.dtype.kind in "uib":
        if isinstance(counts, int):
            if counts & (counts - 1) == 0:  # a power of two: shift, as fast as it gets
                total += counts // 2
                total >>= counts.bit_length() - 1
            else:
                total *= 2
                total += counts
                total //= 2 * counts  # round half up, exactly: floor(sum / n + 1/2)
        else:
            total = (2 * total + counts) // (2 * counts)
        return total.astype(x.dtype)
    total = total / counts
    return total.astype(x.dtype, copy=False)


def _nearest(x: np.ndarray, factors: Sequence[int]) -> np.ndarray:
    return x[tuple(slice(None, None, f) for f in factors)].copy()


def _minimum(x: np.ndarray, factors: Sequence[int]) -> np.ndarray:
    return _strided(x, factors, x.dtype, lambda out, view: np.minimum(out, view, out=out))


def _maximum(x: np.ndarray, factors: Sequence[int]) -> np.ndarray:
    return _strided(x, factors, x.dtype, lambda out, view: np.maximum(out, view, out=out))


def _groups(x: np.ndarray, factors: Sequence[int]) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    """Each output cell's input cells as a row, padded; a mask of the real ones; the output shape."""
    out = tuple(-(-n // f) for n, f in zip(x.shape, factors))
    padded_shape = tuple(o * f for o, f in zip(out, factors))
    pad = [(0, p - n) for p, n in zip(padded_shape, x.shape)]
    padded = np.pad(x, pad) if any(p for _, p in pad) else x
    valid = np.ones((1,) * x.ndim, dtype=bool)
    for axis, (n, p) in enumerate(zip(x.shape, padded_shape)):
        shape = [1] * x.ndim
        shape[axis] = p
        valid = valid & (np.arange(p) < n).reshape(shape)
    valid = np.broadcast_to(valid, padded_shape)
    split = [s for o, f in zip(out, factors) for s in (o, f)]
    order = [*range(0, 2 * x.ndim, 2), *range(1, 2 * x.ndim, 2)]
    rows = padded.reshape(split).transpose(order).reshape(int(np.prod(out)), -1)
    mask = valid.reshape(split).transpose(order).reshape(int(np.prod(out)), -1)
    return rows, mask, out


def _mode(x: np.ndarray, factors: Sequence[int]) -> np.ndarray:
    """The most common value of each cell's block; ties go to the smallest value."""
    rows, mask, out = _groups(x, factors)
    counts = np.zeros(rows.shape, dtype=np.int32)
    for j in range(rows.shape[1]):
        counts += (rows == rows[:, j : j + 1]) & mask[:, j : j + 1]
    counts[~mask] = -1
    best = counts.max(axis=1, keepdims=True)
    candidates = counts == best
    order = np.argsort(rows, axis=1, kind="stable")
    ranked = np.take_along_axis(candidates, order, axis=1)
    first = np.argmax(ranked, axis=1)  # the smallest candidate value
    pick = np.take_along_axis(order, first[:, None], axis=1)
    return np.take_along_axis(rows, pick, axis=1).reshape(out)


#: The reductions by name: ``(block, factors) -> block of the next level``.
METHODS: dict[str, Callable[[np.ndarray, Sequence[int]], np.ndarray]] = {
    "mean": _mean, "nearest": _nearest, "mode": _mode, "min": _minimum, "max": _maximum,
}


def downsample(x: np.ndarray, factors: Sequence[int], method: str) -> np.ndarray:
    """The next level of block ``x``: each output cell reduces a ``factors`` block of ``x``.

    Output shape ``ceil(x.shape / factors)``, dtype ``x.dtype``. ``mean`` averages the cells
    an edge block has; integers round half up.

    Examples
    --------
    >>> x = np.array([[1, 2, 3], [3, 4, 5]], dtype="u1")
    >>> downsample(x, (2, 2), "mean")
    array([[3, 4]], dtype=uint8)
    >>> downsample(np.array([5, 5, 7, 1, 1]), (3,), "mode"), downsample(x, (1, 2), "nearest")
    (array([5, 1]), array([[1, 3],
           [3, 5]], dtype=uint8))
    """
    if method not in METHODS:
        raise ZarrioError(f"method={method!r} is not one of {sorted(METHODS)}")
    x = np.asarray(x)
    reduce = METHODS[method]
    axis = next((a for a, f in enumerate(factors) if f > 1), None)
    if axis is None or x.size == 0:
        return reduce(x, factors)
    f = factors[axis]
    out_len = -(-x.shape[axis] // f)
    band = max(1, BAND_BYTES // max(1, x.nbytes // max(1, out_len)))
    if band >= out_len:
        return reduce(x, factors)
    out_shape = tuple(-(-n // g) for n, g in zip(x.shape, factors))
    out = np.empty(out_shape, dtype=x.dtype)
    for start in range(0, out_len, band):
        stop = min(out_len, start + band)
        src = [slice(None)] * x.ndim
        dst = [slice(None)] * x.ndim
        src[axis], dst[axis] = slice(start * f, stop * f), slice(start, stop)
        out[tuple(dst)] = reduce(x[tuple(src)], factors)
    return out
