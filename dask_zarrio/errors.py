"""The exceptions dask_zarrio raises.

Every error derives from :class:`ZarrioError`, itself a :class:`ValueError`, and
where a built-in exception has the same meaning the error subclasses it too, so
``except FileNotFoundError`` keeps working for code written against fsspec or
zarr-python. Messages quote the offending value with ``!r``, name the key or
metadata field, and say how to fix the problem.
"""

from __future__ import annotations

__all__ = [
    "ArrayNotFoundError",
    "ChunkDecodeError",
    "ConcurrentWriteError",
    "ContainsArrayError",
    "IncompleteWriteError",
    "MetadataError",
    "MisalignedWriteError",
    "StoreError",
    "UnknownCodecError",
    "UnsafeCodecError",
    "ZarrioError",
]


class ZarrioError(ValueError):
    """Base class of every error raised by dask_zarrio."""


class ArrayNotFoundError(ZarrioError, FileNotFoundError):
    """No array metadata at the URL; the message says what is there instead."""


class MetadataError(ZarrioError):
    """Array or group metadata is not valid JSON or has an invalid field."""


class UnknownCodecError(MetadataError):
    """The metadata names a codec that dask_zarrio does not know."""


class UnsafeCodecError(ZarrioError, PermissionError):
    """The codec would execute code from the store (pickle) and was not opted in."""


class ChunkDecodeError(ZarrioError):
    """The bytes stored under a chunk key do not decode to a valid chunk."""


class ContainsArrayError(ZarrioError, FileExistsError):
    """Something already exists where ``mode="w-"`` was asked to create an array."""


class MisalignedWriteError(ZarrioError):
    """Dask blocks do not cover whole storage chunks, so a write would race."""


class StoreError(ZarrioError, OSError):
    """A store request kept failing after its retries; the message names the key."""


class IncompleteWriteError(ZarrioError):
    """A write that creates or replaces an array began there and has not finished.

    The array's metadata is committed only after all its data, so no reader sees a
    mix of old, new and fill values; the message says how to resume or restart.
    """


class ConcurrentWriteError(ZarrioError):
    """Another writer changed the array's metadata first (e.g. two appends at once).

    Nothing was written by the losing call; re-run it.
    """
