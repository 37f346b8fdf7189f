"""Zarr v3 array metadata (``zarr.json``), as a frozen value with ``from_dict``/``to_dict``."""

from __future__ import annotations

from dataclasses import dataclass, field
from math import prod
from typing import Any

import numpy as np

from ..codecs import Codec, CodecPipeline, codec_from_json
from ..codecs.sharding import ShardingCodec
from ..codecs.vlen import check_variable_serialiser
from ..errors import MetadataError, ZarrioError
from ..layout.grid import ChunkKeyEncoding
from .dtypes import parse_v3_data_type, v3_data_type_to_json, v3_variable_kind
from .fill import encode_fill_value, encode_variable_fill, parse_fill_value, parse_variable_fill
from .rectilinear import AxisEdges, check_shard_edges, edges_to_json, parse_rectilinear
from .structs import encode_struct_fill

__all__ = ["ArrayMetadataV3", "parse_shape", "parse_chunk_grid", "parse_chunk_key_encoding"]

_KNOWN = {
    "zarr_format", "node_type", "shape", "data_type", "chunk_grid", "chunk_key_encoding",
    "fill_value", "codecs", "attributes", "dimension_names", "storage_transformers",
}


#: numpy and dask count elements in int64: no length, and no element count, may exceed it.
MAX_ELEMENTS = 2**63 - 1


def parse_shape(value: object, field_name: str = "shape") -> tuple[int, ...]:
    """A list of non-negative integers whose product fits in int64.

    Examples
    --------
    >>> parse_shape([3, 0])
    (3, 0)
    >>> parse_shape([2**40, 2**40])
    Traceback (most recent call last):
    ...
    dask_zarrio.errors.MetadataError: shape=[1099511627776, 1099511627776] has at least 2**80 elements, ...
    """
    if not isinstance(value, (list, tuple)) or not all(
        isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= MAX_ELEMENTS for v in value
    ):
        raise MetadataError(
            f"{field_name}={value!r} must be a list of non-negative integers below 2**63"
        )
    count = prod(value)
    if count > MAX_ELEMENTS:
        raise MetadataError(
            f"{field_name}={list(value)!r} has at least 2**{count.bit_length() - 1} elements, more than "
            "the 2**63 - 1 that numpy and dask can count; the metadata is corrupt or was not "
            "written for an array: fix it with the writer's real sizes"
        )
    return tuple(value)


def _name_config(value: object, field_name: str) -> tuple[str, dict[str, Any]]:
    if isinstance(value, str):
        return value, {}
    if isinstance(value, dict) and isinstance(value.get("name"), str):
        config = value.get("configuration") or {}
        if not isinstance(config, dict):
            raise MetadataError(f"{field_name}.configuration={config!r} must be an object")
        return value["name"], config
    raise MetadataError(f"{field_name}={value!r} must be {{'name': ..., 'configuration': ...}}")


def parse_chunk_grid(value: object, shape: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[AxisEdges, ...] | None]:
    """The chunk shape of a ``regular`` grid, or a ``rectilinear`` grid's largest chunk and edges.

    Examples
    --------
    >>> parse_chunk_grid({"name": "regular", "configuration": {"chunk_shape": [2, 2]}}, (4, 4))
    ((2, 2), None)
    >>> rectilinear = {"name": "rectilinear", "configuration": {"kind": "inline", "chunk_shapes": [[1, 3], 2]}}
    >>> parse_chunk_grid(rectilinear, (4, 4))
    ((3, 2), ((1, 3), 2))
    """
    ndim = len(shape)
    name, config = _name_config(value, "chunk_grid")
    if name == "rectilinear":
        edges = parse_rectilinear(config, shape)
        return tuple(e if isinstance(e, int) else max(e) for e in edges), edges
    if name != "regular":
        raise MetadataError(
            f"chunk_grid name={name!r} is not supported; dask_zarrio reads 'regular' and 'rectilinear' grids"
        )
    chunks = parse_shape(config.get("chunk_shape"), "chunk_grid.configuration.chunk_shape")
    if len(chunks) != ndim or any(c == 0 for c in chunks):
        raise MetadataError(
            f"chunk_grid.configuration.chunk_shape={list(chunks)!r} must have {ndim} positive "
            "entries, one per array dimension"
        )
    return chunks, None


def parse_chunk_key_encoding(value: object) -> ChunkKeyEncoding:
    """``default`` (``c/0/1``) or ``v2`` (``0.1``), each with its separator.

    Examples
    --------
    >>> parse_chunk_key_encoding({"name": "v2", "configuration": {"separator": "/"}})
    ChunkKeyEncoding(prefix=None, separator='/')
    """
    name, config = _name_config(value, "chunk_key_encoding")
    if name not in ("default", "v2"):
        raise MetadataError(f"chunk_key_encoding name={name!r} must be 'default' or 'v2'")
    sep = config.get("separator", "/" if name == "default" else ".")
    if sep not in ("/", "."):
        raise MetadataError(f"chunk_key_encoding separator={sep!r} must be '/' or '.'")
    return ChunkKeyEncoding("c" if name == "default" else None, sep)


def parse_dimension_names(value: object, ndim: int) -> tuple[str | None, ...] | None:
    """``None`` or one name (or ``None``) per dimension."""
    if value is None:
        return None
    if (
        not isinstance(value, (list, tuple))
        or len(value) != ndim
        or not all(v is None or isinstance(v, str) for v in value)
    ):
        raise MetadataError(
            f"dimension_names={value!r} must be a list of {ndim} strings (or nulls)"
        )
    return tuple(value)


def _codec(value: object, index: int) -> Codec:
    """``codecs[index]``, where a codec's own checks missed a wrong-typed setting.

    Codecs validate what they understand; a setting of the wrong type can still
    escape from inside numpy or numcodecs as a bare TypeError or OverflowError,
    which must not reach users as anything but a MetadataError naming the field.
    """
    try:
        return codec_from_json(value)
    except ZarrioError:
        raise
    except (TypeError, ValueError, OverflowError, KeyError, IndexError, AttributeError) as e:
        raise MetadataError(f"codecs[{index}]={value!r} is not a valid codec: {e}; fix its configuration") from e


@dataclass(frozen=True, eq=False)
class ArrayMetadataV3:
    """The contents of a v3 array's ``zarr.json``.

    Examples
    --------
    >>> m = ArrayMetadataV3.from_dict({
    ...     "zarr_format": 3, "node_type": "array", "shape": [4], "data_type": "int16",
    ...     "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [2]}},
    ...     "chunk_key_encoding": {"name": "default"}, "fill_value": 0,
    ...     "codecs": [{"name": "bytes", "configuration": {"endian": "little"}}]})
    >>> m.shape, m.dtype, m.chunk_shape
    ((4,), dtype('int16'), (2,))
    """

    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    chunk_shape: tuple[int, ...]
    chunk_key_encoding: ChunkKeyEncoding
    fill_value: np.ndarray | None
    codecs: tuple[Codec, ...]
    attributes: dict[str, Any] = field(default_factory=dict)
    dimension_names: tuple[str | None, ...] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    data_type_json: Any = None
    #: A rectilinear grid's per-axis edges (``chunk_shape`` is then its largest chunk).
    chunk_edges: tuple[AxisEdges, ...] | None = None

    zarr_format = 3

    def __post_init__(self) -> None:
        sharding = self.codecs[0] if self.codecs else None
        if self.chunk_edges is not None and isinstance(sharding, ShardingCodec):
            check_shard_edges(self.chunk_edges, sharding.chunk_shape)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ArrayMetadataV3:
        """Parse and validate ``zarr.json``; unknown fields fail unless ``must_understand: false``."""
        if not isinstance(data, dict):
            raise MetadataError(f"zarr.json must hold a JSON object, not {data!r}")
        if data.get("zarr_format") != 3:
            raise MetadataError(f"zarr_format={data.get('zarr_format')!r} must be 3 in zarr.json")
        if data.get("node_type") != "array":
            raise MetadataError(f"node_type={data.get('node_type')!r} must be 'array'")
        for key in ("shape", "data_type", "chunk_grid", "chunk_key_encoding", "fill_value", "codecs"):
            if key not in data:
                raise MetadataError(f"zarr.json lacks the required field {key!r}")
        extra: dict[str, Any] = {}
        for key, value in data.items():
            if key in _KNOWN:
                continue
            if isinstance(value, dict) and value.get("must_understand") is False:
                extra[key] = value
                continue
            raise MetadataError(
                f"zarr.json has the field {key!r}={value!r}, an extension dask_zarrio does not "
                "understand (the spec requires refusing it unless it is marked "
                '"must_understand": false)'
            )
        transformers = data.get("storage_transformers", [])
        if transformers:
            raise MetadataError(
                f"storage_transformers={transformers!r} are not supported; only [] is"
            )
        shape = parse_shape(data["shape"])
        dtype = parse_v3_data_type(data["data_type"])
        codecs_json = data["codecs"]
        if not isinstance(codecs_json, list):
            raise MetadataError(f"codecs={codecs_json!r} must be a list")
        attributes = data.get("attributes", {})
        if not isinstance(attributes, dict):
            raise MetadataError(f"attributes={attributes!r} must be an object")
        kind = v3_variable_kind(data["data_type"])
        chunk_shape, chunk_edges = parse_chunk_grid(data["chunk_grid"], shape)
        return cls(
            shape=shape,
            dtype=dtype,
            chunk_shape=chunk_shape,
            chunk_edges=chunk_edges,
            chunk_key_encoding=parse_chunk_key_encoding(data["chunk_key_encoding"]),
            fill_value=(
                parse_fill_value(data["fill_value"], dtype, 3) if kind is None
                else parse_variable_fill(data["fill_value"], kind)
            ),
            codecs=tuple(_codec(c, i) for i, c in enumerate(codecs_json)),
            attributes=attributes,
            dimension_names=parse_dimension_names(data.get("dimension_names"), len(shape)),
            extra=extra,
            data_type_json=data["data_type"],
        )

    def to_dict(self) -> dict[str, Any]:
        """The ``zarr.json`` document."""
        out: dict[str, Any] = {
            "zarr_format": 3,
            "node_type": "array",
            "shape": list(self.shape),
            "data_type": self.data_type_json or v3_data_type_to_json(self.dtype),
            "chunk_grid": (
                {"name": "regular", "configuration": {"chunk_shape": list(self.chunk_shape)}}
                if self.chunk_edges is None else edges_to_json(self.chunk_edges)
            ),
            "chunk_key_encoding": self.chunk_key_encoding.to_json(),
            "fill_value": self._fill_json(),
            "codecs": [c.to_dict() for c in self.codecs],
            "attributes": self.attributes,
        }
        if self.dimension_names is not None:
            out["dimension_names"] = list(self.dimension_names)
        out.update(self.extra)
        return out

    @property
    def variable_kind(self) -> str | None:
        """``"string"`` or ``"bytes"`` for variable-length elements (numpy objects), else ``None``."""
        return v3_variable_kind(self.data_type_json)

    def _fill_json(self) -> Any:
        kind = self.variable_kind
        structured = isinstance(self.data_type_json, dict) and self.data_type_json.get("name") == "structured"
        if structured and self.fill_value is not None:
            # zarr-python 3.1 reads only the base64 form for the data type it named so.
            return encode_struct_fill(self.fill_value, self.dtype, "structured", lambda f, d: None)
        if kind is None or self.fill_value is None:
            return encode_fill_value(self.fill_value, self.dtype, 3)
        return encode_variable_fill(self.fill_value, kind)

    def pipeline(self, *, allow_pickle: bool = False, chunk_shape: tuple[int, ...] | None = None) -> CodecPipeline:
        """The codec chain for chunks of ``chunk_shape`` (default: the largest).

        Refuses pickle unless ``allow_pickle``.
        """
        codecs = [
            c.for_decoding(allow_pickle=allow_pickle, where=f"codecs[{i}]")
            for i, c in enumerate(self.codecs)
        ]
        check_variable_serialiser(self.variable_kind, codecs)
        shape = self.chunk_shape if chunk_shape is None else chunk_shape
        return CodecPipeline.from_codecs(codecs, shape, self.dtype, self.fill_value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ArrayMetadataV3) and self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]
