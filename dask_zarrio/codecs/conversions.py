"""Every conversion between the ways a codec is named: numcodecs, Zarr v3 and N5.

- Zarr v2 ``compressor``/``filters`` configs ``{"id": ...}`` to numcodecs codecs:
  :func:`parse_numcodecs`;
- what a user passes as ``compressors``/``filters`` to a numcodecs codec for v2
  (:func:`to_numcodecs`) or to a v3 codec (:func:`to_v3_codec`), preferring the
  built-in v3 codec to a ``numcodecs.<id>`` wrapper (:func:`v3_from_numcodecs`);
- the ``numcodecs.<id>`` entries of ``zarr.json`` to v3 codecs: :func:`numcodecs_v3_codec`;
- N5 ``compression`` objects to numcodecs codecs and back: :func:`n5_compression_codec`,
  :func:`n5_compression_from_codec`.

Built-in v3 codecs are built through the registry, so that a missing optional
dependency fails only when its codec is asked for.
"""

from __future__ import annotations

from typing import Any

import numcodecs
import numpy as np
from numcodecs.abc import Codec as NumcodecsCodec

from ..errors import MetadataError, UnknownCodecError
from .base import Codec
from .lz4_block import LZ4BlockStream
from .numcodecs_adapter import wrap_numcodecs
from .registry import codec_from_json

__all__ = [
    "n5_compression_codec",
    "n5_compression_from_codec",
    "numcodecs_v3_codec",
    "parse_numcodecs",
    "to_numcodecs",
    "to_v3_codec",
    "v3_from_numcodecs",
]

#: numcodecs' integer ``shuffle`` as the v3 ``blosc`` codec's string.
_BLOSC_SHUFFLE = {0: "noshuffle", 1: "shuffle", 2: "bitshuffle"}


def parse_numcodecs(value: object, field_name: str) -> NumcodecsCodec:
    """A numcodecs codec from its ``{"id": ..., ...}`` config.

    Examples
    --------
    >>> parse_numcodecs({"id": "zlib", "level": 1}, "compressor")
    Zlib(level=1)
    """
    if not isinstance(value, dict) or not isinstance(value.get("id"), str):
        raise MetadataError(f"{field_name}={value!r} must be a numcodecs config {{'id': ...}}")
    try:
        return numcodecs.get_codec(dict(value))
    except (ValueError, KeyError) as e:
        raise UnknownCodecError(
            f"{field_name}={value!r}: numcodecs has no codec {value['id']!r}; install the "
            "package that registers it"
        ) from e
    except TypeError as e:
        raise MetadataError(f"{field_name}={value!r} has invalid arguments: {e}") from e


def to_numcodecs(spec: Any, field_name: str) -> NumcodecsCodec:
    """The numcodecs codec for a Zarr v2 array, from a codec, a config, a v3 dict or a name.

    Examples
    --------
    >>> to_numcodecs({"name": "zstd", "configuration": {"level": 3}}, "compressors")
    Zstd(level=3)
    >>> to_numcodecs("zlib", "compressors")
    Zlib(level=1)
    """
    if isinstance(spec, NumcodecsCodec):
        return spec
    if isinstance(spec, dict) and "name" in spec:  # a v3-style dict: the numcodecs of that name
        return parse_numcodecs({"id": spec["name"], **(spec.get("configuration") or {})}, field_name)
    if isinstance(spec, str):
        return parse_numcodecs({"id": spec}, field_name)
    return parse_numcodecs(spec, field_name)


def v3_from_numcodecs(codec: NumcodecsCodec, dtype: np.dtype[Any]) -> Codec:
    """The v3 codec for a numcodecs codec: a built-in one where it exists, else ``numcodecs.<id>``.

    Examples
    --------
    >>> v3_from_numcodecs(numcodecs.Blosc("lz4", 5, shuffle=-1), np.dtype("u1")).to_dict()["configuration"]
    {'cname': 'lz4', 'clevel': 5, 'shuffle': 'bitshuffle', 'blocksize': 0, 'typesize': 1}
    >>> v3_from_numcodecs(numcodecs.Zlib(1), np.dtype("f8")).to_dict()
    {'name': 'numcodecs.zlib', 'configuration': {'level': 1}}
    """
    config = codec.get_config()
    cid = config.pop("id")
    if cid == "blosc":
        shuffle = config.get("shuffle", 1)
        if shuffle == -1:  # AUTOSHUFFLE: bit-shuffle for one-byte types, byte-shuffle otherwise
            shuffle = 2 if dtype.itemsize == 1 else 1
        return codec_from_json({"name": "blosc", "configuration": {
            "cname": config.get("cname", "lz4"),
            "clevel": config.get("clevel", 5),
            "shuffle": _BLOSC_SHUFFLE[shuffle],
            "typesize": dtype.itemsize,
            "blocksize": config.get("blocksize", 0),
        }})
    if cid == "zstd":
        return codec_from_json({"name": "zstd", "configuration": {
            "level": config.get("level", 0), "checksum": bool(config.get("checksum", False)),
        }})
    if cid == "gzip":
        return codec_from_json({"name": "gzip", "configuration": {"level": config.get("level", 5)}})
    if cid == "crc32c":
        return codec_from_json("crc32c")
    return wrap_numcodecs(codec)


def to_v3_codec(spec: Any, dtype: np.dtype[Any]) -> Codec:
    """The v3 codec for a new array of ``dtype``, from a codec, a numcodecs config, a v3 dict or name.

    Examples
    --------
    >>> blosc = to_v3_codec({"name": "blosc", "configuration": {"shuffle": "noshuffle"}}, np.dtype("f4"))
    >>> blosc.to_dict()["configuration"]["typesize"]
    4
    >>> to_v3_codec({"id": "gzip", "level": 2}, np.dtype("f4"))
    GzipCodec({'level': 2})
    """
    if isinstance(spec, Codec):
        codec = spec
    elif isinstance(spec, NumcodecsCodec):
        codec = v3_from_numcodecs(spec, dtype)
    elif isinstance(spec, dict) and "id" in spec:
        codec = v3_from_numcodecs(parse_numcodecs(spec, "compressors"), dtype)
    else:
        codec = codec_from_json(spec)
    return codec.for_dtype(dtype)


def numcodecs_v3_codec(name: str, config: dict[str, Any]) -> Codec:
    """The v3 codec for the ``zarr.json`` entry ``numcodecs.<id>``.

    Examples
    --------
    >>> numcodecs_v3_codec("numcodecs.zlib", {"level": 1}).to_dict()
    {'name': 'numcodecs.zlib', 'configuration': {'level': 1}}
    """
    codec_id = name.split(".", 1)[1]
    # Unsafe codecs (pickle) are refused later, by ``for_decoding``, where the user's
    # allow_pickle is known: refusing here would make the opt-in impossible.
    return wrap_numcodecs(parse_numcodecs({"id": codec_id, **config}, f"codec {name!r}"), config)


def n5_compression_codec(compression: object) -> NumcodecsCodec | None:
    """The codec for an N5 ``compression`` object (``None`` for raw).

    Examples
    --------
    >>> n5_compression_codec({"type": "gzip", "level": 3, "useZlib": True})
    Zlib(level=3)
    """
    if not isinstance(compression, dict) or not isinstance(compression.get("type"), str):
        raise MetadataError(f"compression={compression!r} must be an object with a 'type'")
    kind = compression["type"]
    if kind == "raw":
        return None
    if kind == "gzip":
        level = compression.get("level", -1)
        level = 6 if level in (-1, None) else int(level)
        return numcodecs.Zlib(level) if compression.get("useZlib") else numcodecs.GZip(level)
    if kind == "bzip2":
        return numcodecs.BZ2(int(compression.get("blockSize", 9)))
    if kind == "xz":
        return numcodecs.LZMA(preset=int(compression.get("preset", 6)))
    if kind == "blosc":
        return numcodecs.Blosc(
            cname=compression.get("cname", "lz4"), clevel=int(compression.get("clevel", 5)),
            shuffle=int(compression.get("shuffle", 1)), blocksize=int(compression.get("blocksize", 0)),
        )
    if kind == "zstd":
        return numcodecs.Zstd(level=int(compression.get("level", 3)))
    if kind == "lz4":
        return LZ4BlockStream(int(compression.get("blockSize", 65536)))
    raise MetadataError(
        f"N5 compression type {kind!r} is not supported; known: raw, gzip, bzip2, xz, blosc, zstd, lz4"
    )


def n5_compression_from_codec(codec: Any) -> dict[str, Any]:
    """The N5 ``compression`` object for a codec given to ``dz.write`` (or an N5 dict).

    Examples
    --------
    >>> n5_compression_from_codec(numcodecs.Zstd(level=5))
    {'type': 'zstd', 'level': 5}
    """
    if codec is None:
        return {"type": "raw"}
    if isinstance(codec, dict) and "type" in codec:
        n5_compression_codec(codec)  # validates
        return dict(codec)
    if isinstance(codec, dict) and ("id" in codec or "name" in codec):
        codec = to_numcodecs(codec, "compressors")
    cid = codec.codec_id if isinstance(codec, NumcodecsCodec) else None
    if cid == "gzip":
        return {"type": "gzip", "level": codec.level, "useZlib": False}
    if cid == "zlib":
        return {"type": "gzip", "level": codec.level, "useZlib": True}
    if cid == "bz2":
        return {"type": "bzip2", "blockSize": codec.level}
    if cid == "lzma":
        return {"type": "xz", "preset": codec.preset if codec.preset is not None else 6}
    if cid == "blosc":
        # tensorstore refuses n5-blosc's optional "nthreads" member: leave it out.
        return {
            "type": "blosc", "cname": codec.cname, "clevel": codec.clevel, "shuffle": codec.shuffle,
            "blocksize": codec.blocksize,
        }
    if cid == "zstd":
        return {"type": "zstd", "level": codec.level}
    if cid == "n5-lz4":
        return {"type": "lz4", "blockSize": codec.block_size}
    raise MetadataError(
        f"compressors={codec!r} has no N5 equivalent; use GZip, Zlib, BZ2, LZMA, Blosc or Zstd, "
        "or an N5 compression object such as {'type': 'gzip', 'level': 5}"
    )
