"""The ``cast_value`` codec: elements converted by value to another numeric data type.

Array→array (zarr-extensions ``codecs/cast_value``; zarr-python 3.2+, which needs the
``cast-value-rs`` package for it). dask_zarrio does the casts itself with numpy
(:mod:`dask_zarrio.codecs.casting`), so it needs no extra package; the tests check it
against ``cast-value-rs``. Usually placed after ``scale_offset`` to store floats as small
integers; ``NaN`` needs a ``scalar_map`` entry to an integer sentinel, in both directions.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import MetadataError
from .base import ArrayArrayCodec
from .casting import OUT_OF_RANGE, ROUNDING, cast_values
from .scalars import NUMERIC_DATA_TYPES, numeric_data_type, parse_json_scalar

__all__ = ["CastValueCodec", "parse_scalar_map"]

_DIRECTIONS = ("encode", "decode")


def parse_scalar_map(value: object) -> dict[str, list[list[Any]]] | None:
    """``scalar_map`` as ``{"encode": [[from, to], ...], "decode": [...]}`` (JSON values kept).

    Duplicate keys keep the last entry, as zarr-python does.

    Examples
    --------
    >>> parse_scalar_map({"encode": [["NaN", 0]], "decode": [[0, "NaN"]]})
    {'encode': [['NaN', 0]], 'decode': [[0, 'NaN']]}
    >>> parse_scalar_map({"encode": [["NaN"]]})
    Traceback (most recent call last):
    ...
    dask_zarrio.errors.MetadataError: cast_value codec: scalar_map['encode']=[['NaN']] must be a list of ...
    """
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) - set(_DIRECTIONS):
        raise MetadataError(
            f"cast_value codec: scalar_map={value!r} must be an object with 'encode' and/or "
            "'decode' lists of [from, to] pairs"
        )
    parsed: dict[str, list[list[Any]]] = {}
    for direction in _DIRECTIONS:
        entries = value.get(direction)
        if entries is None:
            continue
        pairs = list(entries.items()) if isinstance(entries, dict) else entries
        if not isinstance(pairs, (list, tuple)) or not all(
            isinstance(p, (list, tuple)) and len(p) == 2 and all(isinstance(v, (int, float, str)) for v in p)
            for p in pairs
        ):
            raise MetadataError(
                f"cast_value codec: scalar_map[{direction!r}]={entries!r} must be a list of [from, to] "
                "pairs of JSON scalars, e.g. [['NaN', 0]]"
            )
        parsed[direction] = [[k, v] for k, v in dict((p[0], p[1]) for p in pairs).items()]
    return parsed


class CastValueCodec(ArrayArrayCodec):
    """``cast_value``: array → array of the same shape in ``data_type``.

    Examples
    --------
    >>> c = CastValueCodec(data_type="uint8", out_of_range="clamp", scalar_map={"encode": [["NaN", 0]]})
    >>> c.resolve((3,), np.dtype("f4"))
    ((3,), dtype('uint8'))
    >>> c.encode(np.array([np.nan, 1.5, 999], "f4"))
    array([  0,   2, 255], dtype=uint8)
    """

    name = "cast_value"

    def __init__(
        self, data_type: object, rounding: object = "nearest-even", out_of_range: object = None,
        scalar_map: object = None,
    ) -> None:
        if not isinstance(data_type, str) or data_type not in NUMERIC_DATA_TYPES:
            raise MetadataError(
                f"cast_value codec: data_type={data_type!r} is not supported; dask_zarrio casts to "
                f"{sorted(NUMERIC_DATA_TYPES)}"
            )
        if rounding not in ROUNDING:
            raise MetadataError(f"cast_value codec: rounding={rounding!r} must be one of {list(ROUNDING)}")
        if out_of_range is not None and out_of_range not in OUT_OF_RANGE:
            raise MetadataError(
                f"cast_value codec: out_of_range={out_of_range!r} must be one of {list(OUT_OF_RANGE)} or absent"
            )
        self.data_type = data_type
        self.target = NUMERIC_DATA_TYPES[data_type]
        if out_of_range == "wrap" and self.target.kind == "f":
            raise MetadataError(
                f"cast_value codec: out_of_range='wrap' needs an integer data_type, not {data_type!r}; "
                "use 'clamp' (±inf) or leave it out"
            )
        self.rounding: str = rounding  # type: ignore[assignment]
        self.out_of_range: str | None = out_of_range  # type: ignore[assignment]
        self.scalar_map = parse_scalar_map(scalar_map)
        self._maps: dict[tuple[str, str, str], list[tuple[np.generic, np.generic]]] = {}

    def to_dict(self) -> dict[str, Any]:
        # As zarr-python writes it: defaults left out.
        config: dict[str, Any] = {"data_type": self.data_type}
        if self.rounding != "nearest-even":
            config["rounding"] = self.rounding
        if self.out_of_range is not None:
            config["out_of_range"] = self.out_of_range
        if self.scalar_map is not None:
            config["scalar_map"] = self.scalar_map
        return {"name": self.name, "configuration": config}

    def _map(self, direction: str, source: np.dtype[Any], target: np.dtype[Any]) -> list[tuple[np.generic, np.generic]]:
        key = (direction, source.str, target.str)
        if key not in self._maps:
            entries = (self.scalar_map or {}).get(direction, [])
            where = f"cast_value scalar_map[{direction!r}]"
            self._maps[key] = [
                (parse_json_scalar(k, source, f"{where} key"), parse_json_scalar(v, target, f"{where} value"))
                for k, v in entries
            ]
        return self._maps[key]

    def resolve(self, shape: tuple[int, ...], dtype: np.dtype[Any]) -> tuple[tuple[int, ...], np.dtype[Any]]:
        if numeric_data_type(dtype) is None:
            raise MetadataError(
                f"cast_value codec: the data type {dtype.str!r} reaching it is not an integer or "
                f"floating-point type it can cast from ({sorted(NUMERIC_DATA_TYPES)})"
            )
        self._map("encode", dtype, self.target)  # entries the data types cannot hold fail on opening
        self._map("decode", self.target, dtype)
        return shape, self.target

    def encode(self, arr: np.ndarray) -> np.ndarray:
        return cast_values(arr, self.target, rounding=self.rounding, out_of_range=self.out_of_range,
                           scalar_map=self._map("encode", arr.dtype, self.target))

    def decode(self, arr: np.ndarray, shape: tuple[int, ...], dtype: np.dtype[Any]) -> np.ndarray:
        out = cast_values(arr, dtype, rounding=self.rounding, out_of_range=self.out_of_range,
                          scalar_map=self._map("decode", arr.dtype, dtype))
        return out.reshape(shape)
