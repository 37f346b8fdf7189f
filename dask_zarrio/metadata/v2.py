"""Zarr v2 array metadata (``.zarray``), as a frozen value with ``from_dict``/``to_dict``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numcodecs.abc import Codec as NumcodecsCodec

from ..codecs import V2Pipeline
from ..codecs.conversions import parse_numcodecs
from ..codecs.numcodecs_adapter import check_safe_codec_id, opt_in
from ..errors import MetadataError, ZarrioError
from ..layout.grid import ChunkKeyEncoding
from .dtypes import parse_v2_dtype, v2_dtype_to_json
from .fill import encode_fill_value, encode_variable_fill, parse_fill_value, parse_variable_fill
from .v3 import parse_shape

__all__ = ["ArrayMetadataV2"]

#: numcodecs ids that turn object arrays into bytes.
OBJECT_CODECS = {"vlen-utf8", "vlen-bytes", "vlen-array", "json2", "msgpack2", "pickle"}


def _holds_bytes(dtype: np.dtype[Any], filters: object) -> bool:
    """An object array of ``bytes`` (``vlen-bytes``): its JSON fill value is base64, as zarr-python writes it."""
    return dtype.kind == "O" and isinstance(filters, (list, tuple)) and any(
        (f.get("id") if isinstance(f, dict) else getattr(f, "codec_id", None)) == "vlen-bytes" for f in filters
    )


def _codec_config(codec: NumcodecsCodec) -> dict[str, Any]:
    """numcodecs' config, minus defaults that other readers reject.

    tensorstore refuses ``"checksum": false`` in a zstd compressor; zarr-python omits it too.
    """
    config = codec.get_config()
    if config.get("id") == "zstd" and config.get("checksum") is False:
        del config["checksum"]
    return config


def _numcodecs(value: object, field_name: str) -> NumcodecsCodec:
    """The codec of ``field_name``; numcodecs' own exceptions become a MetadataError naming it.

    A codec constructor given a setting of the wrong type (``"level": 10**400``) raises
    whatever numpy or C raise, OverflowError included; users see the field instead.
    """
    try:
        return parse_numcodecs(value, field_name)
    except ZarrioError:
        raise
    except (TypeError, ValueError, OverflowError, KeyError, IndexError, AttributeError) as e:
        raise MetadataError(f"{field_name}={value!r} is not a valid numcodecs config: {e}") from e


@dataclass(frozen=True, eq=False)
class ArrayMetadataV2:
    """The contents of a v2 array's ``.zarray`` (and ``.zattrs`` when read).

    Examples
    --------
    >>> m = ArrayMetadataV2.from_dict({
    ...     "zarr_format": 2, "shape": [4], "chunks": [2], "dtype": "<f8",
    ...     "compressor": {"id": "zlib", "level": 1}, "fill_value": "NaN",
    ...     "order": "C", "filters": None})
    >>> m.shape, m.dtype, bool(np.isnan(m.fill_value))
    ((4,), dtype('float64'), True)
    """

    shape: tuple[int, ...]
    chunk_shape: tuple[int, ...]
    dtype: np.dtype[Any]
    compressor: NumcodecsCodec | None
    fill_value: np.ndarray | None
    order: str
    filters: tuple[NumcodecsCodec, ...] | None
    dimension_separator: str = "."
    attributes: dict[str, Any] = field(default_factory=dict)
    explicit_separator: bool = True

    zarr_format = 2

    @classmethod
    def from_dict(cls, data: dict[str, Any], attributes: dict[str, Any] | None = None) -> ArrayMetadataV2:
        """Parse and validate ``.zarray``."""
        if not isinstance(data, dict):
            raise MetadataError(f".zarray must hold a JSON object, not {data!r}")
        if attributes is not None and not isinstance(attributes, dict):
            raise MetadataError(f".zattrs must hold a JSON object, not {attributes!r}")
        if data.get("zarr_format") != 2:
            raise MetadataError(f"zarr_format={data.get('zarr_format')!r} must be 2 in .zarray")
        for key in ("shape", "chunks", "dtype", "compressor", "fill_value", "order"):
            if key not in data:
                raise MetadataError(f".zarray lacks the required field {key!r}")
        shape = parse_shape(data["shape"])
        chunks = parse_shape(data["chunks"], "chunks")
        if len(chunks) != len(shape) or any(c == 0 for c in chunks):
            raise MetadataError(
                f"chunks={list(chunks)!r} must have {len(shape)} positive entries, one per "
                f"dimension of shape={list(shape)!r}"
            )
        dtype = parse_v2_dtype(data["dtype"])
        order = data["order"]
        if order not in ("C", "F"):
            raise MetadataError(f"order={order!r} must be 'C' or 'F'")
        sep = data.get("dimension_separator")
        if sep not in (None, ".", "/"):
            raise MetadataError(f"dimension_separator={sep!r} must be '.' or '/'")
        compressor = data["compressor"]
        filters = data.get("filters")
        if filters is not None and not isinstance(filters, list):
            raise MetadataError(f"filters={filters!r} must be a list or null")
        return cls(
            shape=shape,
            chunk_shape=chunks,
            dtype=dtype,
            compressor=None if compressor is None else _numcodecs(compressor, "compressor"),
            fill_value=(
                parse_variable_fill(data["fill_value"], "bytes")
                if _holds_bytes(dtype, filters) and data["fill_value"] is not None
                else parse_fill_value(data["fill_value"], dtype, 2)
            ),
            order=order,
            filters=None if not filters else tuple(_numcodecs(f, f"filters[{i}]") for i, f in enumerate(filters)),
            dimension_separator=sep or ".",
            attributes=dict(attributes or {}),
            explicit_separator=sep is not None,
        )

    def _fill_json(self) -> Any:
        if self.fill_value is not None and _holds_bytes(self.dtype, self.filters):
            return encode_variable_fill(self.fill_value, "bytes")
        return encode_fill_value(self.fill_value, self.dtype, 2)

    def to_dict(self) -> dict[str, Any]:
        """The ``.zarray`` document."""
        out: dict[str, Any] = {
            "zarr_format": 2,
            "shape": list(self.shape),
            "chunks": list(self.chunk_shape),
            "dtype": v2_dtype_to_json(self.dtype),
            "compressor": None if self.compressor is None else _codec_config(self.compressor),
            "fill_value": self._fill_json(),
            "order": self.order,
            "filters": None if not self.filters else [f.get_config() for f in self.filters],
        }
        if self.explicit_separator:
            out["dimension_separator"] = self.dimension_separator
        return out

    @property
    def chunk_key_encoding(self) -> ChunkKeyEncoding:
        """v2 keys: indices joined by ``dimension_separator``."""
        return ChunkKeyEncoding(None, self.dimension_separator)

    @property
    def dimension_names(self) -> tuple[str | None, ...] | None:
        """xarray's ``_ARRAY_DIMENSIONS`` attribute, when present."""
        names = self.attributes.get("_ARRAY_DIMENSIONS")
        return tuple(names) if isinstance(names, list) else None

    @property
    def variable_kind(self) -> str | None:
        """``"string"``/``"bytes"`` for an object array whose first object codec is ``vlen-utf8``/``vlen-bytes``.

        As :attr:`ArrayMetadataV3.variable_kind`; other object codecs (``json2``,
        ``vlen-array``, ...) hold any Python objects: ``None``.
        """
        ids = [f.codec_id for f in self.filters or () if f.codec_id in OBJECT_CODECS] if self.dtype.kind == "O" else []
        return {"vlen-utf8": "string", "vlen-bytes": "bytes"}.get(ids[0]) if ids else None

    def pipeline(self, *, allow_pickle: bool = False) -> V2Pipeline:
        """The filters + compressor chain; refuses pickle unless ``allow_pickle``."""
        filters = self.filters or ()
        for i, f in enumerate(filters):
            check_safe_codec_id(f.codec_id, allow_pickle=allow_pickle, where=f"filters[{i}]")
        if self.compressor is not None:
            check_safe_codec_id(self.compressor.codec_id, allow_pickle=allow_pickle, where="compressor")
        if self.dtype.kind == "O" and not any(f.codec_id in OBJECT_CODECS for f in filters):
            raise MetadataError(
                f"dtype {self.dtype.str!r} (object) needs an object codec such as vlen-utf8 in "
                f"filters; got filters={[f.get_config() for f in filters]!r}"
            )
        filters = tuple(opt_in(f, allow_pickle) for f in filters)
        # The opt-in reaches the compressor as it reaches the filters: both were refused above.
        compressor = None if self.compressor is None else opt_in(self.compressor, allow_pickle)
        return V2Pipeline(filters, compressor, self.order, self.chunk_shape, self.dtype)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ArrayMetadataV2) and self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]
