"""numcodecs codecs in a v3 chain (``numcodecs.<id>``, as zarr-python's ``numcodecs.zarr3`` writes)."""

from __future__ import annotations

import numcodecs
import numpy as np
import pytest
from codec_roundtrip import ROUTES, round_trip
from conftest import assert_same

from dask_zarrio.codecs import ArrayArrayCodec, BytesBytesCodec, codec_from_json
from dask_zarrio.codecs.numcodecs_adapter import OptedInPickle, wrap_numcodecs
from dask_zarrio.errors import MetadataError, UnknownCodecError, UnsafeCodecError

BYTES = {"name": "bytes", "configuration": {"endian": "little"}}


@pytest.mark.parametrize("route", ROUTES, ids="->".join)
@pytest.mark.parametrize("codecs", [
    [BYTES, {"name": "numcodecs.zlib", "configuration": {"level": 1}}],
    [BYTES, {"name": "numcodecs.bz2", "configuration": {"level": 1}}],
    [BYTES, {"name": "numcodecs.shuffle", "configuration": {"elementsize": 4}},
     {"name": "numcodecs.lz4", "configuration": {"acceleration": 1}}],
    [BYTES, {"name": "numcodecs.crc32", "configuration": {}}],
    [{"name": "numcodecs.delta", "configuration": {"dtype": "<i4"}}, BYTES,
     {"name": "numcodecs.zstd", "configuration": {"level": 1}}],
], ids=["zlib", "bz2", "shuffle-lz4", "crc32", "delta-filter"])
def test_round_trip(tmp_path, route, codecs):
    data = np.arange(23 * 17, dtype="<i4").reshape(23, 17) * 5
    assert_same(round_trip(tmp_path, route, codecs, data, (8, 6)), data)


@pytest.mark.parametrize("codec,kind", [
    (numcodecs.Delta("<i4"), ArrayArrayCodec), (numcodecs.FixedScaleOffset(0, 10, "<f8", "<i4"), ArrayArrayCodec),
    (numcodecs.Zlib(), BytesBytesCodec), (numcodecs.CRC32(), BytesBytesCodec),
])
def test_wrap_by_what_goes_in_and_out(codec, kind):
    wrapped = wrap_numcodecs(codec)
    assert isinstance(wrapped, kind)
    assert wrapped.to_dict()["name"] == f"numcodecs.{codec.codec_id}"


@pytest.mark.parametrize("codec,known", [
    (numcodecs.Zstd(1), True), (numcodecs.GZip(1), True), (numcodecs.Blosc("lz4"), True), (numcodecs.Zlib(1), False),
])
def test_decoded_size_is_read_where_the_frame_records_it(codec, known):
    data = np.arange(1000, dtype="u1").tobytes()
    size = wrap_numcodecs(codec).decoded_size(codec.encode(data))
    assert size == (len(data) if known else None)


def test_pickle_is_refused_until_the_user_opts_in():
    codec = codec_from_json({"name": "numcodecs.pickle", "configuration": {"protocol": 4}})  # parsing never refuses
    with pytest.raises(UnsafeCodecError, match=r"codecs\[1\] uses the 'pickle' codec.*allow_pickle=True"):
        codec.for_decoding(allow_pickle=False, where="codecs[1]")
    opted = codec.for_decoding(allow_pickle=True, where="codecs[1]")
    assert isinstance(opted.codec, OptedInPickle) and opted.codec.protocol == 4
    assert opted.to_dict() == codec.to_dict()


def test_safe_codecs_are_returned_as_they_are():
    codec = codec_from_json({"name": "numcodecs.zlib", "configuration": {"level": 1}})
    assert codec.for_decoding(allow_pickle=False, where="codecs[1]") is codec


def test_unknown_numcodecs_id_says_what_to_install():
    with pytest.raises(UnknownCodecError, match=r"numcodecs has no codec 'snappy9'; install"):
        codec_from_json({"name": "numcodecs.snappy9", "configuration": {}})


@pytest.mark.parametrize("route", ROUTES, ids="->".join)
def test_packbits_is_a_shape_changing_filter(tmp_path, route):
    """zarr-python writes ``[numcodecs.packbits, bytes, ...]``: n booleans become 1 + ceil(n/8) bytes."""
    data = (np.arange(23 * 17).reshape(23, 17) % 3) == 1
    codecs = [{"name": "numcodecs.packbits", "configuration": {}}, {"name": "bytes"}]
    assert_same(round_trip(tmp_path, route, codecs, data, (8, 6)), data)


def test_packbits_resolves_to_bytes_and_refuses_other_types():
    codec = codec_from_json({"name": "numcodecs.packbits", "configuration": {}})
    assert codec.resolve((8, 6), np.dtype(bool)) == ((7,), np.dtype("u1"))
    with pytest.raises(MetadataError, match="packs booleans, but '<i4' reaches it"):
        codec.resolve((8, 6), np.dtype("<i4"))


@pytest.mark.parametrize("route", ROUTES, ids="->".join)
def test_pcodec_is_an_array_to_bytes_codec(tmp_path, route):
    data = np.cumsum(np.arange(23 * 17, dtype="<f4")).reshape(23, 17)
    codecs = [{"name": "numcodecs.pcodec", "configuration": {"level": 8}}]
    assert_same(round_trip(tmp_path, route, codecs, data, (8, 6)), data)


@pytest.mark.parametrize("stored", [40, 10], ids=["more-elements", "fewer-elements"])
def test_pcodec_never_decodes_past_the_chunk(stored):
    """A frame claiming other than the chunk's element count fails before allocating it."""
    codec = codec_from_json({"name": "numcodecs.pcodec", "configuration": {}})
    data = codec.encode(np.arange(stored, dtype="f4"))
    with pytest.raises(ValueError, match="expected 20 for a chunk of shape"):
        codec.decode(data, (4, 5), np.dtype("f4"))


def test_configuration_is_written_back_as_given():
    spec = {"name": "numcodecs.zstd", "configuration": {"level": 1}}
    assert codec_from_json(spec).to_dict() == spec
    assert wrap_numcodecs(numcodecs.Zstd(1)).to_dict()["configuration"] == {"level": 1, "checksum": False}
