"""The ``transpose`` codec: permute a chunk's axes before serialising it."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import MetadataError
from .base import ArrayArrayCodec

__all__ = ["TransposeCodec"]


class TransposeCodec(ArrayArrayCodec):
    """Permute axes by ``order`` (a permutation of ``range(ndim)``).

    The strings "C" and "F" of early v3 drafts are accepted and resolved when the
    chunk's number of dimensions is known.

    Examples
    --------
    >>> c = TransposeCodec([1, 0])
    >>> c.encode(np.arange(6).reshape(2, 3)).shape
    (3, 2)
    """

    name = "transpose"

    def __init__(self, order: list[int] | tuple[int, ...] | str) -> None:
        if isinstance(order, str):
            if order not in ("C", "F"):
                raise MetadataError(f"transpose codec: order={order!r} must be a permutation")
        elif not isinstance(order, (list, tuple)) or sorted(order) != list(range(len(order))):
            raise MetadataError(
                f"transpose codec: order={order!r} must be a permutation of 0..ndim-1"
            )
        self.order: tuple[int, ...] | str = order if isinstance(order, str) else tuple(order)

    def to_dict(self) -> dict[str, Any]:
        order = self.order if isinstance(self.order, str) else list(self.order)
        return {"name": "transpose", "configuration": {"order": order}}

    def _perm(self, ndim: int) -> tuple[int, ...]:
        order = self.order
        if isinstance(order, str):  # "C" or "F", checked in __init__
            return tuple(range(ndim)) if order == "C" else tuple(reversed(range(ndim)))
        if len(order) != ndim:
            raise MetadataError(
                f"transpose codec: order={list(order)!r} has {len(order)} axes but "
                f"the array has {ndim}"
            )
        return order

    def resolve(self, shape: tuple[int, ...], dtype: np.dtype[Any]) -> tuple[tuple[int, ...], np.dtype[Any]]:
        return tuple(shape[i] for i in self._perm(len(shape))), dtype

    def encode(self, arr: np.ndarray) -> np.ndarray:
        return arr.transpose(self._perm(arr.ndim))

    def decode(self, arr: np.ndarray, shape: tuple[int, ...], dtype: np.dtype[Any]) -> np.ndarray:
        return arr.transpose(np.argsort(self._perm(arr.ndim)))
