"""Value casts between numeric data types with explicit rounding and range handling.

The arithmetic of the ``cast_value`` codec (zarr-extensions ``codecs/cast_value``),
matching ``cast-value-rs``, the implementation zarr-python 3.4 calls:

- ``scalar_map`` entries are applied first: an element equal to a key (``NaN`` matches
  ``NaN``) becomes the entry's value, whatever the other rules say;
- to an integer type: values are rounded by ``rounding``, then checked against the
  target's range: ``None``/``"error"`` refuses, ``"clamp"`` saturates, ``"wrap"`` takes
  them modulo 2**bits. ``NaN`` and ±inf are always errors (map them with ``scalar_map``);
- to a floating-point type: the nearest value in the ``rounding`` direction; finite
  values beyond the target's range are errors, or ±inf with ``"clamp"``; ``NaN`` and
  ±inf stay what they are.

Every error is a :class:`ValueError` naming the offending value.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["OUT_OF_RANGE", "ROUNDING", "cast_values"]

ROUNDING = ("nearest-even", "towards-zero", "towards-positive", "towards-negative", "nearest-away")
OUT_OF_RANGE = ("error", "clamp", "wrap")

#: Holds every int64/uint64 exactly where the platform's long double does (x86: 64-bit
#: mantissa); elsewhere float64, exact up to 2**53.
_EXACT = np.longdouble if np.finfo(np.longdouble).nmant >= 64 - 1 else np.float64


def _round(x: np.ndarray, rounding: str) -> np.ndarray:
    if rounding == "nearest-even":
        return np.rint(x)
    if rounding == "towards-zero":
        return np.trunc(x)
    if rounding == "towards-positive":
        return np.ceil(x)
    if rounding == "towards-negative":
        return np.floor(x)
    return np.where(x >= 0, np.floor(x + 0.5), np.ceil(x - 0.5))  # nearest-away


def _out_of_range(value: Any, target: np.dtype[Any], hint: str) -> ValueError:
    return ValueError(
        f"cast_value: {value!r} is out of the range of {target.name!r}; set out_of_range to {hint} "
        "in the codec's configuration, or map the value with scalar_map"
    )


def _to_integer(src: np.ndarray, target: np.dtype[Any], rounding: str, out_of_range: str) -> np.ndarray:
    info = np.iinfo(target)
    if src.dtype.kind == "f":
        x = src.astype(np.float64)
        bad = ~np.isfinite(x)
        if bad.any():
            raise ValueError(
                f"cast_value: cannot cast {float(x[bad][0])!r} to the integer type {target.name!r}; map it "
                "to a sentinel with scalar_map, e.g. {'encode': [['NaN', 0]], 'decode': [[0, 'NaN']]}"
            )
        r = _round(x, rounding)
        lo, hi_excl = float(info.min), float(int(info.max) + 1)  # powers of two: exact
        low, high = r < lo, r >= hi_excl
        if out_of_range == "wrap":
            v = np.fmod(r, 2.0**64)  # exact; then two's complement in uint64
            u = np.abs(v).astype(np.uint64)
            u = np.where(v < 0, np.uint64(0) - u, u)
            return u.astype(target)
        if out_of_range != "clamp" and (low.any() or high.any()):
            raise _out_of_range(float(src[low | high][0]), target, "'clamp' or 'wrap'")
        out = np.where(low | high, 0, r).astype(target)
    else:
        out = src.astype(target)  # integer narrowing wraps modulo 2**bits
        if out_of_range == "wrap":
            return out
        low, high = src < info.min, src > info.max
        if out_of_range != "clamp" and (low.any() or high.any()):
            raise _out_of_range(int(src[low | high][0]), target, "'clamp' or 'wrap'")
    out[low] = info.min
    out[high] = info.max
    return out


def _direction(r: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The sign of ``r - x``, exactly (``x`` may be an integer beyond 2**53)."""
    if x.dtype.kind == "f":
        return np.sign(r.astype(np.float64) - x.astype(np.float64))
    rr: np.ndarray = r.astype(_EXACT)
    return np.sign(rr - x.astype(_EXACT))


def _to_float(src: np.ndarray, target: np.dtype[Any], rounding: str, out_of_range: str) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):
        r = src.astype(target)  # round to nearest, ties to even
        # At or beyond 2**(max exponent + 1) nothing rounds back into range, whatever the
        # mode (as cast-value-rs): out of range. Below it, only a rounding to ±inf is.
        limit = np.ldexp(_EXACT(1), np.finfo(target).maxexp)  # float64's own: inf, never reached
        overflow = np.abs(src.astype(_EXACT)) >= limit
        if rounding != "nearest-even":
            finite = np.isfinite(src) if src.dtype.kind == "f" else np.ones(src.shape, bool)
            d = np.where(finite, _direction(r, src), 0)
            zero, inf = target.type(0), target.type(math.inf)
            if rounding == "towards-zero":
                away = ((src > 0) & (d > 0)) | ((src < 0) & (d < 0))
                r = np.where(away, np.nextafter(r, zero), r)
            elif rounding == "towards-positive":
                r = np.where(d < 0, np.nextafter(r, inf), r)
            elif rounding == "towards-negative":
                r = np.where(d > 0, np.nextafter(r, -inf), r)
            else:  # nearest-away: only ties differ from nearest-even
                other = np.nextafter(r, np.where(d > 0, -inf, inf).astype(target))
                exact: np.ndarray = src.astype(_EXACT)
                tie = (d != 0) & (np.abs(other.astype(_EXACT) - exact) == np.abs(r.astype(_EXACT) - exact))
                r = np.where(tie & (np.abs(other) > np.abs(r)), other, r)
    finite = np.isfinite(src) if src.dtype.kind == "f" else np.ones(src.shape, bool)
    overflow = (overflow | np.isinf(r)) & finite
    if out_of_range != "clamp" and np.any(overflow):
        raise _out_of_range(src[overflow][0].item(), target, "'clamp' (±inf)")
    inf = target.type(math.inf)
    return np.where(overflow, np.where(src < 0, -inf, inf), r)


def cast_values(
    arr: np.ndarray,
    target: np.dtype[Any],
    *,
    rounding: str = "nearest-even",
    out_of_range: str | None = None,
    scalar_map: Sequence[tuple[np.generic, np.generic]] = (),
) -> np.ndarray:
    """``arr`` cast by value to ``target`` (see the module docstring for the rules).

    Examples
    --------
    >>> cast_values(np.array([1.5, 2.5, -0.5]), np.dtype("i1"))
    array([2, 2, 0], dtype=int8)
    >>> cast_values(np.array([300.0, np.nan]), np.dtype("u1"), out_of_range="clamp",
    ...             scalar_map=[(np.float64("nan"), np.uint8(0))])
    array([255,   0], dtype=uint8)
    >>> cast_values(np.array([300]), np.dtype("u1"))
    Traceback (most recent call last):
    ...
    ValueError: cast_value: 300 is out of the range of 'uint8'; set out_of_range to 'clamp' or 'wrap' ...
    """
    src = arr.astype(arr.dtype.newbyteorder("="), copy=False)
    mapped = np.zeros(src.shape, bool)
    values = []
    for key, value in scalar_map:
        hit = np.isnan(src) if src.dtype.kind == "f" and np.isnan(key) else src == key
        hit &= ~mapped
        mapped |= hit
        values.append((hit, value))
    if mapped.any():
        src = np.where(mapped, src.dtype.type(0), src)
    mode = out_of_range or "error"
    native = target.newbyteorder("=")
    out = _to_integer(src, native, rounding, mode) if native.kind in "iu" else _to_float(src, native, rounding, mode)
    for hit, value in values:
        out[hit] = value
    return out.astype(target, copy=False)
