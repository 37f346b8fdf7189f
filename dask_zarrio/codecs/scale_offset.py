"""The ``scale_offset`` codec: ``(x - offset) * scale``, in the array's own data type.

Array→array, shape and dtype preserving (zarr-extensions ``codecs/scale_offset``;
zarr-python 3.2+). Arithmetic follows the input data type, as zarr-python does: integer
results outside the type's range, and integer decodes that do not divide exactly, are
errors instead of silently wrapping or truncating; floats may overflow to ±inf.
``offset`` and ``scale`` are JSON scalars in the fill-value encoding of the input type,
kept as written so that ``zarr.json`` round-trips byte for byte.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import MetadataError
from .base import ArrayArrayCodec
from .scalars import parse_json_scalar

__all__ = ["ScaleOffsetCodec", "scale_offset_decode", "scale_offset_encode"]

_WIDE = np.dtype(np.int64)


def _check_range(values: np.ndarray, dtype: np.dtype[Any], what: str) -> None:
    info = np.iinfo(dtype)
    if values.size and (values.min() < info.min or values.max() > info.max):
        raise ValueError(
            f"scale_offset {what} produced a value outside the range of {dtype.name!r} "
            f"[{info.min}, {info.max}]; choose an offset and scale that keep the data in range"
        )


def _integer(arr: np.ndarray, op: Any) -> np.ndarray:
    """``op`` on integers widened (int64; Python ints for 64-bit types, where int64 itself
    could overflow unnoticed), range-checked."""
    wide = arr.astype(object if arr.dtype.itemsize == 8 else _WIDE)
    result = np.asarray(op(wide))
    _check_range(result, arr.dtype, "encode" if op.__name__ == "enc" else "decode")
    return result.astype(arr.dtype)


def scale_offset_encode(arr: np.ndarray, offset: np.generic, scale: np.generic) -> np.ndarray:
    """``(arr - offset) * scale`` in ``arr``'s data type; integer overflow is an error.

    Examples
    --------
    >>> scale_offset_encode(np.array([1.5, 2.0], "f4"), np.float32(1), np.float32(2))
    array([1., 2.], dtype=float32)
    >>> scale_offset_encode(np.array([100], "i1"), np.int8(-100), np.int8(1))
    Traceback (most recent call last):
    ...
    ValueError: scale_offset encode produced a value outside the range of 'int8' [-128, 127]; ...
    """
    native = arr.astype(arr.dtype.newbyteorder("="), copy=False)
    if native.dtype.kind == "f":
        result = (native - offset) * scale
    else:
        o, s = int(offset), int(scale)  # type: ignore[call-overload]

        def enc(x: np.ndarray) -> np.ndarray:
            return (x - o) * s  # type: ignore[no-any-return]

        result = _integer(native, enc)
    return result.astype(arr.dtype, copy=False)


def scale_offset_decode(arr: np.ndarray, offset: np.generic, scale: np.generic) -> np.ndarray:
    """``arr / scale + offset`` in ``arr``'s data type; inexact integer division is an error.

    Examples
    --------
    >>> scale_offset_decode(np.array([4, 6], "u2"), np.uint16(1), np.uint16(2))
    array([3, 4], dtype=uint16)
    >>> scale_offset_decode(np.array([5], "i4"), np.int32(0), np.int32(2))
    Traceback (most recent call last):
    ...
    ValueError: scale_offset decode: 5 is not a multiple of scale=2, ...
    """
    native = arr.astype(arr.dtype.newbyteorder("="), copy=False)
    if native.dtype.kind == "f":
        result = native / scale + offset
    else:
        o, s = int(offset), int(scale)  # type: ignore[call-overload]
        wide = native.astype(object if native.dtype.itemsize == 8 else _WIDE)
        remainder = np.asarray(wide % s) != 0
        if remainder.any():
            raise ValueError(
                f"scale_offset decode: {int(wide[remainder].flat[0])!r} is not a multiple of scale={s!r}, so "
                f"the result is not a {native.dtype.name!r}; the chunk was not written with this codec"
            )

        def dec(x: np.ndarray) -> np.ndarray:
            return x // s + o  # type: ignore[no-any-return]

        result = _integer(native, dec)
    return result.astype(arr.dtype, copy=False)


class ScaleOffsetCodec(ArrayArrayCodec):
    """``scale_offset``: array → array of the same shape and data type.

    Examples
    --------
    >>> c = ScaleOffsetCodec(offset=10, scale=0.5)
    >>> c.to_dict()
    {'name': 'scale_offset', 'configuration': {'offset': 10, 'scale': 0.5}}
    >>> c.decode(c.encode(np.array([12.0, 14.0])), (2,), np.dtype("f8"))
    array([12., 14.])
    """

    name = "scale_offset"

    def __init__(self, offset: object = 0, scale: object = 1) -> None:
        for field, value in (("offset", offset), ("scale", scale)):
            if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                raise MetadataError(
                    f"scale_offset codec: {field}={value!r} must be a JSON number or a "
                    "fill-value string such as 'NaN'"
                )
        self.offset = offset
        self.scale = scale

    def to_dict(self) -> dict[str, Any]:
        # As zarr-python writes it: defaults left out, no configuration when all are.
        config = {k: v for k, v, default in (("offset", self.offset, 0), ("scale", self.scale, 1)) if v != default}
        return {"name": self.name, "configuration": config} if config else {"name": self.name}

    def parameters(self, dtype: np.dtype[Any]) -> tuple[np.generic, np.generic]:
        """``offset`` and ``scale`` as scalars of ``dtype``, checked (scale non-zero)."""
        if dtype.kind not in "iuf":
            raise MetadataError(
                f"scale_offset codec: the data type {dtype.str!r} reaching it is not an integer "
                "or floating-point type; put it after a codec that yields numbers, or remove it"
            )
        offset = parse_json_scalar(self.offset, dtype, "scale_offset offset")
        scale = parse_json_scalar(self.scale, dtype, "scale_offset scale")
        if scale == 0:
            raise MetadataError(f"scale_offset codec: scale={self.scale!r} must not be zero")
        return offset, scale

    def resolve(self, shape: tuple[int, ...], dtype: np.dtype[Any]) -> tuple[tuple[int, ...], np.dtype[Any]]:
        self.parameters(dtype)  # a configuration the data type cannot hold fails on opening
        return shape, dtype

    def encode(self, arr: np.ndarray) -> np.ndarray:
        return scale_offset_encode(arr, *self.parameters(arr.dtype))

    def decode(self, arr: np.ndarray, shape: tuple[int, ...], dtype: np.dtype[Any]) -> np.ndarray:
        return scale_offset_decode(arr, *self.parameters(dtype)).reshape(shape)
