"""Decoding a stored chunk straight into the caller's array: the pipelines' ``decode_into`` steps."""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Buffer, BytesBytesCodec

__all__ = ["bytes_target", "finish_into"]


def bytes_target(out: np.ndarray, shape: tuple[int, ...], dtype: np.dtype[Any]) -> np.ndarray | None:
    """``out`` as a flat writable byte view, if it is a C-ordered block of ``shape``/``dtype``.

    Never for objects (strings, bytes): their elements are references, not bytes.
    """
    if (dtype.kind == "O" or out.shape != shape or out.dtype != dtype
            or not out.flags.c_contiguous or not out.flags.writeable):
        return None
    return out.reshape(-1).view(np.uint8)


def finish_into(codec: BytesBytesCodec | None, data: Buffer, target: np.ndarray) -> bool:
    """Decode ``data`` with ``codec`` (``None``: raw bytes) straight into ``target``."""
    nbytes = target.nbytes
    if codec is None:
        src = np.frombuffer(data, np.uint8)
        if src.nbytes != nbytes:
            return False  # the ordinary path raises the size error
        target[...] = src
        return True
    if codec.decoded_size(data) != nbytes:
        return False
    result = codec.decode_bounded(data, nbytes, target)
    if result is not target:
        # The header promised `nbytes` but the data decoded to another size: never
        # hand out `target` with a stale tail; copy what is right or say what is wrong.
        got = memoryview(result).nbytes
        if got != nbytes:
            raise ValueError(f"decoded to {got} bytes, but the frame header records {nbytes}")
        target[...] = np.frombuffer(result, np.uint8)
    return True
