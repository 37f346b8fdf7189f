"""``serializer=`` and ``chunk_key_encoding=`` of new arrays, both ways with zarr-python 3.1 and tensorstore.

zarr-python 3.4's forms are checked document for document by the golden stores
(``tests/fixtures/zarr34/cases_codecs.py``, ``cases_hierarchy.py``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numcodecs
import numpy as np
import pytest
import tensorstore as ts
import zarr
from conftest import assert_same

import dask_zarrio as dz
from dask_zarrio.codecs.bytes import BytesCodec
from dask_zarrio.errors import MetadataError
from dask_zarrio.metadata.create_codecs import new_key_encoding

DATA = (np.arange(35, dtype="<f4").reshape(5, 7) - 9) / 4
BIG = {"name": "bytes", "configuration": {"endian": "big"}}
PCODEC = {"name": "numcodecs.pcodec", "configuration": {"level": 8}}
SERIALIZERS = {
    "bytes-big": (BIG, "auto"),
    "bytes-codec-object": (BytesCodec("big"), "auto"),
    "pcodec": (PCODEC, None),
    "pcodec-numcodecs-object": (numcodecs.PCodec(level=8), None),
}
KEYS = {
    "default-dot": ({"name": "default", "separator": "."}, "c.1.2", 3),
    "default-name": ("default", "c/1/2", 3),
    "v2-name": ("v2", "1.2", 3),
    "v2-slash": ({"name": "v2", "separator": "/"}, "1/2", 3),
    "v2-configuration": ({"name": "v2", "configuration": {"separator": "/"}}, "1/2", 3),
    "v2-format-slash": ({"name": "v2", "separator": "/"}, "1/2", 2),
    "v2-format-name": ("v2", "1.2", 2),
}


def _zarr_kwargs(value: Any) -> Any:
    """zarr-python takes dicts only: a bare name is ``{"name": ...}``."""
    return {"name": value} if isinstance(value, str) else value


@pytest.mark.parametrize("shards", [None, (4, 4)], ids=["plain", "sharded"])
@pytest.mark.parametrize("name", SERIALIZERS)
def test_dz_writes_a_serializer_zarr_reads(tmp_path: Path, name: str, shards: Any) -> None:
    serializer, compressors = SERIALIZERS[name]
    url = str(tmp_path / "a.zarr")
    dz.write(DATA, url, chunks=(2, 2), shards=shards, serializer=serializer, compressors=compressors)
    codecs = json.loads((tmp_path / "a.zarr" / "zarr.json").read_text())["codecs"]
    inner = codecs[0]["configuration"]["codecs"] if shards else codecs
    assert inner[0]["name"] == ("bytes" if name.startswith("bytes") else "numcodecs.pcodec")
    assert_same(zarr.open_array(url, mode="r")[...], DATA)
    assert_same(dz.read(url).compute(), DATA)


@pytest.mark.parametrize("shards", [None, (4, 7)], ids=["plain", "sharded"])
@pytest.mark.parametrize("name", ["bytes-big", "pcodec"])
def test_zarr_writes_a_serializer_dz_reads(tmp_path: Path, name: str, shards: Any) -> None:
    serializer, compressors = SERIALIZERS[name]
    url = str(tmp_path / "a.zarr")
    # Whole rows: zarr-python 3.1.6 hands pcodec a non-contiguous view of a narrower chunk, which numcodecs refuses.
    zarr.create_array(url, data=DATA, chunks=(2, 7), shards=shards, serializer=serializer, compressors=compressors)
    assert_same(dz.read(url).compute(), DATA)


def test_tensorstore_reads_a_big_endian_serializer(tmp_path: Path) -> None:
    url = str(tmp_path / "a.zarr")
    dz.write(DATA, url, chunks=(2, 2), shards=(4, 4), serializer=BIG)
    assert_same(ts.open({"driver": "zarr3", "kvstore": {"driver": "file", "path": url}}).result().read().result(), DATA)


def test_a_vlen_bytes_serializer_stores_object_data_as_bytes(tmp_path: Path) -> None:
    data = np.array([b"", b"ab", b"\x00"], dtype=object)
    url = str(tmp_path / "a.zarr")
    dz.write(data, url, chunks=(2,), serializer="vlen-bytes")
    assert json.loads((tmp_path / "a.zarr" / "zarr.json").read_text())["fill_value"] == ""
    assert_same(zarr.open_array(url, mode="r")[...], data)
    assert_same(dz.read(url).compute(), data)


@pytest.mark.parametrize("name", KEYS)
def test_dz_writes_chunk_keys_zarr_reads(tmp_path: Path, name: str) -> None:
    encoding, key, fmt = KEYS[name]
    url = str(tmp_path / "a.zarr")
    dz.write(DATA, url, chunks=(2, 3), zarr_format=fmt, chunk_key_encoding=encoding)
    assert (tmp_path / "a.zarr" / key).is_file()
    assert_same(zarr.open_array(url, mode="r")[...], DATA)
    assert_same(dz.read(url).compute(), DATA)
    driver = "zarr3" if fmt == 3 else "zarr"
    assert_same(ts.open({"driver": driver, "kvstore": {"driver": "file", "path": url}}).result().read().result(), DATA)


@pytest.mark.parametrize("name", KEYS)
def test_zarr_writes_chunk_keys_dz_reads(tmp_path: Path, name: str) -> None:
    encoding, key, fmt = KEYS[name]
    url = str(tmp_path / "a.zarr")
    zarr.create_array(url, data=DATA, chunks=(2, 3), zarr_format=fmt, chunk_key_encoding=_zarr_kwargs(encoding))
    assert (tmp_path / "a.zarr" / key).is_file()
    assert_same(dz.read(url).compute(), DATA)


def test_init_takes_both(tmp_path: Path) -> None:
    url = str(tmp_path / "a.zarr")
    dz.init(url, shape=(4,), dtype="<i4", chunks=(2,), serializer=BIG, chunk_key_encoding="v2")
    dz.write(np.arange(4, dtype="<i4"), url, mode="r+", region=(slice(0, 4),))
    assert sorted(p.name for p in (tmp_path / "a.zarr").iterdir()) == ["0", "1", "zarr.json"]
    assert_same(zarr.open_array(url, mode="r")[...], np.arange(4, dtype="<i4"))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"serializer": "zstd"}, "serializer='zstd' is not an array→bytes codec"),
        ({"serializer": {"name": "transpose", "configuration": {"order": [0]}}}, "is not an array→bytes codec"),
        ({"serializer": BIG, "zarr_format": 2}, "Zarr v2 arrays have no array→bytes codec"),
        ({"serializer": BIG, "zarr_format": "n5"}, "Zarr n5 arrays have no array→bytes codec"),
        ({"serializer": "vlen-utf8"}, "the chunk's data type is '<f4'"),
        ({"chunk_key_encoding": "default", "zarr_format": 2}, "Zarr v2 arrays take only the 'v2' encoding"),
        ({"chunk_key_encoding": "v2", "zarr_format": "n5"}, "N5 datasets have their own keys"),
        ({"chunk_key_encoding": {"name": "v3"}}, "name='v3' must be 'default' or 'v2'"),
        ({"chunk_key_encoding": {"name": "v2", "separator": "-"}}, "separator='-' must be '/' or '.'"),
        ({"chunk_key_encoding": {"name": "v2", "separator": "/", "x": 1}}, "has keys ['x']"),
        ({"chunk_key_encoding": 7}, "chunk_key_encoding=7 must be"),
    ],
)
def test_refused_before_anything_is_written(tmp_path: Path, kwargs: dict[str, Any], message: str) -> None:
    """The caller's mistake: a ZarrioError, not a MetadataError (that is for stored documents)."""
    with pytest.raises(dz.ZarrioError, match=message.replace("[", r"\[").replace("(", r"\(")) as info:
        dz.write(np.arange(4, dtype="<f4"), str(tmp_path / "a"), chunks=(2,), **kwargs)
    assert not isinstance(info.value, MetadataError)
    assert not (tmp_path / "a").exists()


@pytest.mark.parametrize("fmt", [2, 3])
def test_a_name_is_the_encoding_with_its_default_separator(fmt: int) -> None:
    assert new_key_encoding("v2", fmt) == new_key_encoding({"name": "v2", "separator": "."}, fmt)
    assert new_key_encoding(None, fmt) == new_key_encoding("default" if fmt == 3 else "v2", fmt)
