"""The codec registry: built-ins imported lazily by name, third-party codecs, install hints."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import pytest

from dask_zarrio.codecs import (
    BytesBytesCodec,
    codec_from_json,
    register_codec,
    registered_codecs,
    registry,
)
from dask_zarrio.codecs.gzip import GzipCodec
from dask_zarrio.codecs.registry import KNOWN_CODECS, LazyCodec, codec_class
from dask_zarrio.errors import MetadataError, UnknownCodecError


@pytest.fixture
def clean_registry(monkeypatch):
    """register_codec calls in a test do not outlive it."""
    monkeypatch.setattr(registry, "_REGISTERED", {})


@pytest.mark.parametrize("name", sorted(KNOWN_CODECS))
def test_every_built_in_loads_under_its_spec_name(name):
    assert codec_class(name).name == name


def test_registered_codecs_lists_the_built_ins():
    assert set(registered_codecs()) >= {"blosc", "bytes", "crc32c", "gzip", "sharding_indexed", "transpose", "zstd"}


def test_a_codec_whose_import_fails_says_what_to_install(monkeypatch):
    monkeypatch.setitem(
        KNOWN_CODECS, "example.fast", LazyCodec("dask_zarrio_example_fast:FastCodec", "pip install example-fast")
    )
    refused = (r"codec 'example\.fast' cannot be used: importing 'dask_zarrio_example_fast' failed "
               r"\(ModuleNotFoundError.*pip install example-fast")
    with pytest.raises(UnknownCodecError, match=refused):
        codec_from_json("example.fast")


def test_a_missing_optional_dependency_fails_only_its_codec(monkeypatch):
    """Without the google-crc32c package, the crc32c codec says how to get it; the others still load."""
    monkeypatch.setitem(sys.modules, "google_crc32c", None)  # makes `import google_crc32c` fail
    monkeypatch.delitem(sys.modules, "dask_zarrio.codecs.crc32c", raising=False)
    with pytest.raises(UnknownCodecError, match=r"codec 'crc32c' cannot be used.*pip install google-crc32c"):
        codec_from_json({"name": "crc32c"})
    assert codec_from_json("gzip") == GzipCodec()


def test_unknown_names_list_the_known_ones():
    with pytest.raises(UnknownCodecError) as info:
        codec_from_json({"name": "snappy9", "configuration": {}})
    message = str(info.value)
    assert "'snappy9'" in message and "numcodecs.<id>" in message and "register_codec" in message
    assert all(repr(name) in message for name in KNOWN_CODECS)


class _Reversing(BytesBytesCodec):
    """A stand-in for a third-party codec."""

    def to_dict(self):
        return {"name": self.name}

    def encode(self, data):
        return bytes(memoryview(data).cast("B"))[::-1]

    def decode(self, data, out=None):
        return bytes(memoryview(data).cast("B"))[::-1]


@pytest.mark.parametrize("name", ["example.reverse", "gzip", "numcodecs.zlib"])
def test_registered_classes_take_precedence(clean_registry, name):
    cls = register_codec(type("Reverse", (_Reversing,), {"name": name}))
    codec = codec_from_json({"name": name})
    assert type(codec) is cls
    assert bytes(codec.encode(b"abc")) == b"cba"
    assert name in registered_codecs()


def test_entry_points_are_the_last_resort(monkeypatch):
    found = [SimpleNamespace(name="example.gz", value="dask_zarrio.codecs.gzip:GzipCodec")]
    monkeypatch.setattr(registry, "entry_points", lambda group: found if group == "dask_zarrio.codecs" else [])
    assert codec_from_json({"name": "example.gz", "configuration": {"level": 2}}) == GzipCodec(2)


def test_a_broken_entry_point_says_what_to_reinstall(monkeypatch):
    found = [SimpleNamespace(name="example.gz", value="example_gone.codecs:Gz")]
    monkeypatch.setattr(registry, "entry_points", lambda group: found)
    with pytest.raises(
        UnknownCodecError, match=r"reinstall the package that declares the entry point 'example_gone.codecs:Gz'"
    ):
        codec_from_json("example.gz")


@pytest.mark.parametrize("spec,match", [
    (3, "must be {'name'"),
    ({"name": "gzip", "color": 1}, r"unknown fields \['color'\]"),
    ({"name": "gzip", "configuration": [1]}, "configuration=.1. must be an object"),
    ({"name": "gzip", "configuration": {"lvl": 1}}, "invalid configuration"),
])
def test_malformed_codec_json(spec, match):
    with pytest.raises(MetadataError, match=match):
        codec_from_json(spec)


def test_bare_names_are_the_v3_1_short_hand():
    assert codec_from_json("crc32c") == codec_from_json({"name": "crc32c"})
