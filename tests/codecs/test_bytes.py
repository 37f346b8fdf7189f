"""The ``bytes`` codec: elements in C order, little or big endian."""

from __future__ import annotations

import numpy as np
import pytest
from codec_roundtrip import ROUTES, round_trip
from conftest import assert_same

from dask_zarrio.codecs.bytes import BytesCodec
from dask_zarrio.errors import MetadataError


@pytest.mark.parametrize("route", ROUTES, ids="->".join)
@pytest.mark.parametrize("endian,dtype", [
    ("little", "<i4"), ("big", "<i4"), ("little", "<f8"), ("big", "<c16"), (None, "|u1"), (None, "|b1"),
])
def test_round_trip(tmp_path, route, endian, dtype):
    data = (np.arange(23 * 17) % 251).astype(dtype).reshape(23, 17)
    codec = {"name": "bytes"} if endian is None else {"name": "bytes", "configuration": {"endian": endian}}
    assert_same(round_trip(tmp_path, route, [codec], data, (8, 6)), data)


@pytest.mark.parametrize("endian,dtype,copy", [
    ("little", "<u2", True), ("big", ">u2", True), ("big", "<u2", False), (None, "|u1", True),
])
def test_decodes_by_copy_only_in_the_stored_byte_order(endian, dtype, copy):
    assert BytesCodec(endian).decodes_by_copy(np.dtype(dtype)) is copy


def test_multi_byte_types_need_an_endian():
    with pytest.raises(MetadataError, match="needs 'endian'"):
        BytesCodec(None).encode(np.zeros(2, "<u2"))


def test_wrong_size_names_both_sizes():
    with pytest.raises(ValueError, match="decoded to 3 bytes, expected 4"):
        BytesCodec("little").decode(b"abc", (2,), np.dtype("<u2"))
