"""N5 dataset metadata (``attributes.json``), presented in C order with the axes reversed.

N5 lists ``dimensions`` and ``blockSize`` fastest axis first; dask_zarrio shows
the array with those reversed, as zarr 2.x's N5Store did, so the same data read
from N5 or Zarr gives the same numpy array. Block keys stay in N5 order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..codecs.conversions import n5_compression_codec
from ..codecs.n5 import N5Pipeline
from ..errors import MetadataError, ZarrioError
from .v3 import parse_shape

__all__ = ["N5_DTYPES", "ArrayMetadataN5", "N5KeyEncoding", "is_n5_dataset"]

N5_DTYPES = ["uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64", "float32", "float64"]
_REQUIRED = ("dimensions", "blockSize", "dataType", "compression")
#: The N5 version written to a new root's attributes.json.
N5_VERSION = "2.5.1"


def is_n5_dataset(doc: dict[str, Any]) -> bool:
    """Whether an ``attributes.json`` describes a dataset (not just a group).

    Examples
    --------
    >>> is_n5_dataset({"n5": "2.5.1"})
    False
    """
    return all(k in doc for k in _REQUIRED)


def _check_compression(compression: object) -> None:
    """Validate ``compression``, naming it whatever a parameter of the wrong type makes numcodecs raise.

    Parameters go through ``int()`` and codec constructors, which raise TypeError,
    ValueError or OverflowError for ``"level": "x"``, ``"blocksize": []`` or ``1e400``.
    """
    try:
        n5_compression_codec(compression)
    except ZarrioError:
        raise
    except (TypeError, ValueError, OverflowError, KeyError, IndexError, AttributeError) as e:
        raise MetadataError(
            f"compression={compression!r} has a parameter of the wrong type or range ({e}); "
            "N5 compression parameters are integers (and cname a string)"
        ) from e


@dataclass(frozen=True)
class N5KeyEncoding:
    """Block keys in N5 order: grid index reversed, joined by "/".

    Examples
    --------
    >>> N5KeyEncoding().key((4, 1, 0))
    '0/1/4'
    """

    def key(self, index: tuple[int, ...]) -> str:
        """The store key of the block at (C-order) grid ``index``."""
        return "/".join(map(str, reversed(index)))


@dataclass(frozen=True, eq=False)
class ArrayMetadataN5:
    """An N5 dataset's ``attributes.json``.

    Examples
    --------
    >>> m = ArrayMetadataN5.from_dict({"dimensions": [7, 5], "blockSize": [3, 2],
    ...                                "dataType": "uint16", "compression": {"type": "raw"}})
    >>> m.shape, m.chunk_shape, m.dtype
    ((5, 7), (2, 3), dtype('uint16'))
    """

    dimensions: tuple[int, ...]
    block_size: tuple[int, ...]
    data_type: str
    compression: dict[str, Any]
    attributes: dict[str, Any] = field(default_factory=dict)

    zarr_format = "n5"
    fill_value = None
    chunk_key_encoding = N5KeyEncoding()
    dimension_names = None
    variable_kind = None  # N5 has no variable-length data types

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> ArrayMetadataN5:
        """Parse and validate a dataset's ``attributes.json``."""
        if not isinstance(doc, dict):
            raise MetadataError(f"attributes.json must hold a JSON object, not {doc!r}")
        for key in _REQUIRED:
            if key not in doc:
                raise MetadataError(f"attributes.json lacks the N5 dataset field {key!r}")
        dims = parse_shape(doc["dimensions"], "dimensions")
        block = parse_shape(doc["blockSize"], "blockSize")
        if len(block) != len(dims) or any(b == 0 for b in block) or not dims:
            raise MetadataError(
                f"blockSize={list(block)!r} must have {len(dims)} positive entries, one per dimension"
            )
        if doc["dataType"] not in N5_DTYPES:
            raise MetadataError(f"dataType={doc['dataType']!r} must be one of {N5_DTYPES}")
        _check_compression(doc["compression"])
        extra = {k: v for k, v in doc.items() if k not in _REQUIRED}
        return cls(dims, block, doc["dataType"], dict(doc["compression"]), extra)

    def to_dict(self) -> dict[str, Any]:
        """The ``attributes.json`` document."""
        return {
            **self.attributes,
            "dimensions": list(self.dimensions),
            "blockSize": list(self.block_size),
            "dataType": self.data_type,
            "compression": self.compression,
        }

    @property
    def shape(self) -> tuple[int, ...]:
        """The array's shape: ``dimensions`` reversed."""
        return tuple(reversed(self.dimensions))

    @property
    def chunk_shape(self) -> tuple[int, ...]:
        """The block shape: ``blockSize`` reversed."""
        return tuple(reversed(self.block_size))

    @property
    def dtype(self) -> np.dtype[Any]:
        """The element type, in native byte order."""
        return np.dtype(self.data_type)

    def pipeline(self, *, allow_pickle: bool = False) -> N5Pipeline:
        """Block header + compression for this dataset."""
        return N5Pipeline(self.compression, self.chunk_shape, self.dtype)

    def resized(self, shape: tuple[int, ...]) -> ArrayMetadataN5:
        """The same dataset with C-order ``shape``."""
        return ArrayMetadataN5(
            tuple(reversed(shape)), self.block_size, self.data_type, self.compression, self.attributes
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ArrayMetadataN5) and self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]
