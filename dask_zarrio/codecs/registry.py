"""One registry of Zarr v3 codecs, keyed by the spec name.

Built-in codecs are listed by name with the class that implements them, as a
``"module:Class"`` path, and imported on first use (fsspec's
``known_implementations``). So the registry imports no codec module and sits
below them all (sharding parses its inner codecs through it without a cycle),
and a codec whose optional dependency is missing fails with an install hint
when it is used, instead of breaking the package import.

Third-party codecs are added by :func:`register_codec` (they take precedence over
the built-ins) or by an entry point in the ``dask_zarrio.codecs`` group, looked up
only for names known no other way (as numcodecs' registry does). ``numcodecs.<id>``
names are served by numcodecs, as zarr-python's ``numcodecs.zarr3`` writes them.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from ..errors import MetadataError, UnknownCodecError
from .base import Codec

__all__ = [
    "ALIASES",
    "ENTRY_POINT_GROUP",
    "KNOWN_CODECS",
    "LazyCodec",
    "codec_class",
    "codec_from_json",
    "register_codec",
    "registered_codecs",
]

#: Entry-point group in which other packages can declare codecs by spec name.
ENTRY_POINT_GROUP = "dask_zarrio.codecs"


@dataclass(frozen=True)
class LazyCodec:
    """Where a codec lives (``"module:attribute"``) and what to install when importing it fails.

    Examples
    --------
    >>> LazyCodec("dask_zarrio.codecs.gzip:GzipCodec", "pip install numcodecs").load("gzip").name
    'gzip'
    """

    target: str
    install: str

    def load(self, name: str) -> Any:
        """Import the module and return the attribute; a failed import names the fix."""
        module_name, _, attribute = self.target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as e:
            raise UnknownCodecError(
                f"codec {name!r} cannot be used: importing {module_name!r} failed "
                f"({type(e).__name__}: {e}). To read and write it: {self.install}"
            ) from e
        return getattr(module, attribute)


_BROKEN_INSTALL = "pip install --force-reinstall dask_zarrio"

#: The built-in codecs, by spec name; imported when first named.
KNOWN_CODECS: dict[str, LazyCodec] = {
    "blosc": LazyCodec("dask_zarrio.codecs.blosc:BloscCodec", "pip install numcodecs"),
    "bytes": LazyCodec("dask_zarrio.codecs.bytes:BytesCodec", _BROKEN_INSTALL),
    "cast_value": LazyCodec("dask_zarrio.codecs.cast_value:CastValueCodec", _BROKEN_INSTALL),
    "crc32c": LazyCodec("dask_zarrio.codecs.crc32c:Crc32cCodec", "pip install google-crc32c"),
    "gzip": LazyCodec("dask_zarrio.codecs.gzip:GzipCodec", "pip install numcodecs"),
    "scale_offset": LazyCodec("dask_zarrio.codecs.scale_offset:ScaleOffsetCodec", _BROKEN_INSTALL),
    "sharding_indexed": LazyCodec("dask_zarrio.codecs.sharding:ShardingCodec", _BROKEN_INSTALL),
    "transpose": LazyCodec("dask_zarrio.codecs.transpose:TransposeCodec", _BROKEN_INSTALL),
    "vlen-bytes": LazyCodec("dask_zarrio.codecs.vlen:VLenBytesCodec", "pip install numcodecs"),
    "vlen-utf8": LazyCodec("dask_zarrio.codecs.vlen:VLenUTF8Codec", "pip install numcodecs"),
    "zstd": LazyCodec("dask_zarrio.codecs.zstd:ZstdCodec", "pip install numcodecs"),
}

#: Other names of built-in codecs: ``endian`` is ``bytes`` in early drafts of the v3
#: spec, which zarr-python still reads. Written back under the spec name.
ALIASES = {"endian": "bytes"}

#: ``numcodecs.<id>``: a function of (name, configuration) that wraps numcodecs' codec.
_NUMCODECS = LazyCodec("dask_zarrio.codecs.conversions:numcodecs_v3_codec", "pip install numcodecs")

#: Classes given to :func:`register_codec`, by spec name.
_REGISTERED: dict[str, type[Codec]] = {}


def register_codec(cls: type[Codec]) -> type[Codec]:
    """Class decorator: make ``cls`` available under ``cls.name``, before any built-in.

    Examples
    --------
    >>> from dask_zarrio.codecs.base import BytesBytesCodec
    >>> @register_codec
    ... class Identity(BytesBytesCodec):
    ...     name = "example.identity"
    ...     def to_dict(self): return {"name": self.name}
    ...     def encode(self, data): return data
    ...     def decode(self, data, out=None): return data
    >>> codec_from_json("example.identity")
    Identity({})
    """
    _REGISTERED[cls.name] = cls
    return cls


def registered_codecs() -> list[str]:
    """The names of every codec known without an entry point, sorted.

    Examples
    --------
    >>> "zstd" in registered_codecs()
    True
    """
    return sorted({*KNOWN_CODECS, *_REGISTERED})


def _from_entry_point(name: str) -> type[Codec] | None:
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            return LazyCodec(ep.value, f"reinstall the package that declares the entry point {ep.value!r}").load(name)  # type: ignore[no-any-return]
    return None


def codec_class(name: str) -> type[Codec]:
    """The class for spec name ``name``: registered, built in, or from an entry point.

    Examples
    --------
    >>> codec_class("crc32c").__name__
    'Crc32cCodec'
    >>> codec_class("snappy9")
    Traceback (most recent call last):
    ...
    dask_zarrio.errors.UnknownCodecError: unknown codec 'snappy9'; dask_zarrio knows ...
    """
    registered = _REGISTERED.get(name)
    if registered is not None:
        return registered
    known = KNOWN_CODECS.get(ALIASES.get(name, name))
    if known is not None:
        return known.load(name)  # type: ignore[no-any-return]
    found = _from_entry_point(name)
    if found is not None:
        return found
    # Also reached from a new array's arguments (dz.write(compressors=...)): the wording fits both.
    raise UnknownCodecError(
        f"unknown codec {name!r}; dask_zarrio knows {registered_codecs()} and numcodecs.<id>. "
        "Use (or re-encode a stored array with) a known codec, register one with "
        "dask_zarrio.codecs.register_codec, or install a package that "
        f"declares it in the {ENTRY_POINT_GROUP!r} entry-point group"
    )


def codec_from_json(spec: object) -> Codec:
    """Build a codec from its JSON form: ``{"name", "configuration"}`` or a bare name.

    A bare string is the short-hand that the Zarr v3.1 core spec allows for an
    extension without configuration (zarr-python 3.1 and tensorstore still refuse
    it). ``numcodecs.<id>`` names are served by numcodecs, as zarr-python's
    ``numcodecs.zarr3`` writes them.

    Examples
    --------
    >>> codec_from_json({"name": "gzip", "configuration": {"level": 1}})
    GzipCodec({'level': 1})
    >>> codec_from_json("crc32c")
    Crc32cCodec({})
    """
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
    if name.startswith("numcodecs.") and name not in _REGISTERED:
        return _NUMCODECS.load(name)(name, config)  # type: ignore[no-any-return]
    cls = codec_class(name)
    try:
        return cls.from_config(dict(config))
    except TypeError as e:
        raise MetadataError(f"codec {name!r}: invalid configuration {config!r}: {e}") from e
