"""One registry of Zarr v3 codecs, keyed by the spec name."""

from __future__ import annotations

from typing import Any

from ..errors import MetadataError, UnknownCodecError
from .base import Codec

__all__ = ["codec_from_json", "register_codec", "registered_codecs"]

_REGISTRY: dict[str, type[Codec]] = {}


def register_codec(cls: type[Codec]) -> type[Codec]:
    """Class decorator: make ``cls`` available under ``cls.name``.

    Examples
    --------
    >>> from dask_zarrio.codecs.gzip import GzipCodec
    >>> register_codec(GzipCodec) is GzipCodec
    True
    """
    _REGISTRY[cls.name] = cls
    return cls


def registered_codecs() -> list[str]:
    """The names of every known codec, sorted.

    Examples
    --------
    >>> "zstd" in registered_codecs()
    True
    """
    from . import _load_builtin  # noqa: F401  (registers the built-in codecs)

    return sorted(_REGISTRY)


def codec_from_json(spec: object) -> Codec:
    """Build a codec from its JSON form: ``{"name", "configuration"}`` or a bare name.

    A bare string is the Zarr v3.1 short-hand for a codec without configuration
    (shared/peer-pitfalls.md, format edge case 9). ``numcodecs.<id>`` names are
    served by numcodecs, as zarr-python's ``numcodecs.zarr3`` writes them.

    Examples
    --------
    >>> codec_from_json({"name": "gzip", "configuration": {"level": 1}})
    GzipCodec({'level': 1})
    >>> codec_from_json("crc32c")
    Crc32cCodec({})
    """
    from . import _load_builtin  # noqa: F401

    config: Any
    if isinstance(spec, str):
        name, config = spec, {}
    elif isinstance(spec, dict) and isinstance(spec.get("name"), str):
        name, config = spec["name"], spec.get("configuration") or {}
        extra = set(spec) - {"name", "configuration", "must_understand"}
        if extra:
            raise MetadataError(f"codec {spec!r} has unknown fields {sorted(extra)!r}")
    else:
        raise MetadataError(
            f"codec {spec!r} must be {{'name': ..., 'configuration': {{...}}}} or a name string"
        )
    if not isinstance(config, dict):
        raise MetadataError(f"codec {name!r}: configuration={config!r} must be an object")
    if name.startswith("numcodecs."):
        from .numcodecs_adapter import numcodecs_v3_codec

        return numcodecs_v3_codec(name, config)
    cls = _REGISTRY.get(name)
    if cls is None:
        raise UnknownCodecError(
            f"unknown codec {name!r} in the array metadata; dask_zarrio knows "
            f"{sorted(_REGISTRY)} and numcodecs.<id>. Re-encode the array with a known codec "
            "or register one with dask_zarrio.codecs.register_codec"
        )
    try:
        return cls.from_config(dict(config))
    except TypeError as e:
        raise MetadataError(f"codec {name!r}: invalid configuration {config!r}: {e}") from e


def codec_spec(spec: Any) -> dict[str, Any]:
    """Normalise a codec's JSON form to a dict, for comparisons and error messages."""
    return {"name": spec} if isinstance(spec, str) else dict(spec)
