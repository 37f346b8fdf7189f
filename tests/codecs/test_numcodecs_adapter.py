"""numcodecs codecs in a v3 chain (``numcodecs.<id>``, as zarr-python's ``numcodecs.zarr3`` writes)."""

from __future__ import annotations

import numcodecs
import numpy as np
import pytest
from codec_roundtrip import ROUTES, round_trip
from conftest import assert_same

from dask_zarrio.codecs import ArrayArrayCodec, BytesBytesCodec, codec_from_json
from dask_zarrio.codecs.numcodecs_adapter import OptedInPickle, wrap_numcodecs
from dask_zarrio.errors import UnknownCodecError, UnsafeCodecError

BYTES = {"name": "bytes", "configuration": {"endian": "little"}}


@pytest.mark.parametrize("route", ROUTES, ids="->".join)
@pytest.mark.parametrize("codecs", [
    [BYTES, {"name": "numcodecs.zlib", "configuration": {"level": 1}}],
    [BYTES, {"name": "numcodecs.bz2", "configuration": {"level": 1}}],
    [BYTES, {"name": "numcodecs.shuffle", "configuration": {"elementsize": 4}}, {"name": "numcodecs.lz4", "configuration": {"acceleration": 1}}],
    [BYTES, {"name": "numcodecs.crc32", "configuration": {}}],
    [{"name": "numcodecs.delta", "configuration": {"dtype": "<i4"}}, BYTES, {"name": "numcodecs.zstd", "configuration": {"level": 1}}],
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
