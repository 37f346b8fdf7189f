"""The arguments that describe a new array, checked before anything is written.

A mistake in them is the caller's: a :class:`~dask_zarrio.errors.ZarrioError`, or an
:class:`~dask_zarrio.errors.ArgumentTypeError` for a wrong type, never a
:class:`~dask_zarrio.errors.MetadataError`, which says that a stored document is
invalid. The parsers a new array's metadata shares with stored documents (fill values,
data types, codecs, chunk key encodings) raise MetadataError; :func:`user_arguments`
files what they raise there under the caller's mistakes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np

from ..errors import ArgumentTypeError, MetadataError, ZarrioError

__all__ = ["check_attributes", "check_countable", "check_dimension_names", "new_fill_value", "user_arguments"]


@contextmanager
def user_arguments() -> Iterator[None]:
    """Re-raise a :class:`MetadataError` (an :class:`UnknownCodecError` too) as a :class:`ZarrioError`.

    For code that parses a caller's arguments with parsers written for stored documents:
    the message (which names the argument) stays, the class says whose mistake it is.
    Also a decorator.

    Examples
    --------
    >>> from dask_zarrio.metadata.v3 import parse_chunk_key_encoding
    >>> with user_arguments():
    ...     parse_chunk_key_encoding({"name": "v9"})
    Traceback (most recent call last):
    ...
    dask_zarrio.errors.ZarrioError: chunk_key_encoding name='v9' must be 'default' or 'v2'
    """
    try:
        yield
    except MetadataError as e:
        raise ZarrioError(*e.args) from e


def check_attributes(attributes: object) -> dict[str, Any]:
    """A new node's user attributes: a dict that JSON stores as it is (``None`` is none).

    Checked before any data is written: the documents are stored after the data, and a
    value JSON cannot hold (a numpy array, NaN) would fail only then.

    Examples
    --------
    >>> check_attributes({"units": "K"}), check_attributes(None)
    ({'units': 'K'}, {})
    >>> check_attributes({"scale": np.arange(2)})
    Traceback (most recent call last):
    ...
    dask_zarrio.errors.ArgumentTypeError: attributes={'scale': array([0, 1])} cannot be stored as JSON ...
    """
    if attributes is None:
        return {}
    if not isinstance(attributes, Mapping):
        raise ArgumentTypeError(
            f"attributes={attributes!r} must be a dict of JSON values, e.g. {{'units': 'K'}}"
        )
    try:
        json.dumps(attributes, allow_nan=False)
    except TypeError as e:
        raise ArgumentTypeError(
            f"attributes={attributes!r} cannot be stored as JSON ({e}); give str keys and plain "
            "Python values (numpy values: .tolist() or .item())"
        ) from e
    except ValueError as e:
        raise ZarrioError(
            f"attributes={attributes!r} hold a value JSON has no number for ({e}); store NaN and "
            "infinities as strings, e.g. 'NaN'"
        ) from e
    return dict(attributes)


def check_dimension_names(names: object, ndim: int) -> tuple[str | None, ...] | None:
    """One name (a string, or ``None``) per dimension, or ``None`` for no names.

    Examples
    --------
    >>> check_dimension_names(["time", None], 2)
    ('time', None)
    >>> check_dimension_names("tx", 2)
    Traceback (most recent call last):
    ...
    dask_zarrio.errors.ArgumentTypeError: dimension_names='tx' must be a list of names ...
    """
    if names is None:
        return None
    if isinstance(names, (str, bytes)) or not isinstance(names, Iterable):
        raise ArgumentTypeError(
            f"dimension_names={names!r} must be a list of names (strings, or None), one per dimension, "
            f"e.g. {['x', 'y', 'z'][:ndim] or []!r}"
        )
    out = tuple(names)
    if not all(n is None or isinstance(n, str) for n in out):
        raise ArgumentTypeError(f"dimension_names={list(out)!r} must hold strings (or None), one per dimension")
    if len(out) != ndim:
        raise ZarrioError(f"dimension_names={list(out)!r} must name each of the {ndim} dimensions")
    return out


def new_fill_value(fill_value: object, dtype: np.dtype[Any]) -> np.ndarray:
    """``fill_value`` as a 0-d array of ``dtype``: one value that numpy casts to it.

    Examples
    --------
    >>> new_fill_value(-1, np.dtype("i2"))
    array(-1, dtype=int16)
    >>> new_fill_value("x", np.dtype("f8"))
    Traceback (most recent call last):
    ...
    dask_zarrio.errors.ZarrioError: fill_value='x' cannot be cast to '<f8' ...
    """
    if isinstance(fill_value, np.ndarray) and fill_value.shape == () and fill_value.dtype == dtype:
        return fill_value
    try:
        fill = np.array(fill_value, dtype)
    except TypeError as e:
        raise ArgumentTypeError(f"fill_value={fill_value!r} cannot be cast to {dtype.str!r} ({e})") from e
    except (ValueError, OverflowError) as e:
        raise ZarrioError(f"fill_value={fill_value!r} cannot be cast to {dtype.str!r} ({e})") from e
    if fill.shape != ():
        raise ArgumentTypeError(
            f"fill_value={fill_value!r} must be one value of {dtype.str!r}, not an array of shape {fill.shape}"
        )
    return fill


def check_countable(lengths: tuple[int, ...], dtype: np.dtype[Any], field: str) -> None:
    """Refuse a chunk (or shard) whose bytes numpy cannot count (int64): not an OverflowError later.

    Examples
    --------
    >>> check_countable((2**62, 4), np.dtype("f8"), "chunks")
    Traceback (most recent call last):
    ...
    dask_zarrio.errors.ZarrioError: chunks=(4611686018427387904, 4): one chunk of ... bytes ...
    """
    nbytes = math.prod(lengths) * max(dtype.itemsize, 1)
    if nbytes >= 2**63:
        raise ZarrioError(
            f"{field}={lengths!r}: one chunk of {nbytes} bytes is more than numpy and dask can count "
            f"(2**63); give {field} of a size that fits in memory, e.g. {tuple(min(n, 256) for n in lengths)!r}"
        )
