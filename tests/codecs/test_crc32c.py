"""The ``crc32c`` codec: a CRC-32C appended on encode, checked and stripped on decode."""

from __future__ import annotations

import numpy as np
import pytest
from codec_roundtrip import ROUTES, round_trip
from conftest import assert_same

from dask_zarrio.codecs import codec_from_json

BYTES = {"name": "bytes", "configuration": {"endian": "little"}}


@pytest.mark.parametrize("route", ROUTES, ids="->".join)
@pytest.mark.parametrize("codecs", [
    [BYTES, "crc32c"],
    [BYTES, {"name": "gzip", "configuration": {"level": 1}}, {"name": "crc32c"}],
], ids=["alone", "after-gzip"])
def test_round_trip(tmp_path, route, codecs):
    data = np.arange(23 * 17, dtype="<f4").reshape(23, 17)
    assert_same(round_trip(tmp_path, route, codecs, data, (8, 6)), data)


def test_known_checksum():
    """RFC 3720's check value for 32 bytes of zeros is 0x8A9136AA."""
    assert bytes(codec_from_json("crc32c").encode(b"\x00" * 32))[-4:] == (0x8A9136AA).to_bytes(4, "little")


@pytest.mark.parametrize("damage,match", [
    (lambda b: b[:-1] + bytes([b[-1] ^ 1]), "checksum mismatch"),
    (lambda b: b[:3], "cannot hold a 4-byte checksum"),
])
def test_damage_is_detected(damage, match):
    codec = codec_from_json("crc32c")
    with pytest.raises(ValueError, match=match):
        codec.decode(damage(bytes(codec.encode(b"data"))))
