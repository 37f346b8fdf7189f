"""Zarr v3 ``string`` and ``bytes`` arrays (vlen-utf8, vlen-bytes), with zarr-python 3 as oracle."""

from __future__ import annotations

import json
import struct
import warnings

import dask.array as da
import numpy as np
import pytest
import zarr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from zarr.core.dtype import VariableLengthBytes

import dask_zarrio as dz
from dask_zarrio.codecs.pipeline import CodecPipeline
from dask_zarrio.codecs.registry import codec_from_json
from dask_zarrio.codecs.vlen import VLenBytesCodec, VLenUTF8Codec
from dask_zarrio.errors import MetadataError, ZarrioError
from dask_zarrio.metadata.create import new_array_metadata, variable_kind
from dask_zarrio.metadata.v3 import ArrayMetadataV3
from dask_zarrio.testing.strategies import shapes_and_chunks, variable_arrays

KINDS = ["string", "bytes"]
WORDS = {"string": ["", "a", "ü", "日本", "😀", "a\x00b"], "bytes": [b"", b"a", b"\xff\x00", "ü".encode(), b"xyz" * 5]}
FILL = {"string": "", "bytes": b""}


def data(kind: str, shape: tuple[int, ...]) -> np.ndarray:
    words = WORDS[kind]
    flat = np.empty(int(np.prod(shape)), object)
    flat[:] = [words[i % len(words)] for i in range(flat.size)]
    return flat.reshape(shape)


def as_object(arr: np.ndarray) -> np.ndarray:
    """zarr-python returns numpy StringDType for strings: compare as object arrays."""
    return np.asarray(arr).astype(object)


def same(actual: np.ndarray, expected: np.ndarray) -> None:
    assert actual.dtype == object and actual.shape == expected.shape
    assert [(type(v), v) for v in actual.flat] == [(type(v), v) for v in expected.flat]


def zarr_create(url: str, kind: str, **kwargs: object) -> zarr.Array:
    dtype = str if kind == "string" else VariableLengthBytes()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zarr-python: "bytes" has no stable v3 spec yet
        return zarr.create_array(url, dtype=dtype, zarr_format=3, **kwargs)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("shards", [None, (4, 4)])
def test_zarr_writes_dz_reads(tmp_path, kind, shards):
    url = str(tmp_path / "a.zarr")
    z = zarr_create(url, kind, shape=(7, 5), chunks=(2, 2), shards=shards)
    written = data(kind, (3, 5))
    z[:3] = written  # the rows below are missing chunks (or empty inner chunks)
    expected = np.full((7, 5), FILL[kind], object)
    expected[:3] = written
    same(as_object(z[...]), expected)
    x = dz.read(url, chunks=(3, 2))
    assert x.dtype == object
    same(x.compute(), expected)
    same(x[1:6, 1:4].compute(), expected[1:6, 1:4])


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("shards", [None, (4, 4)])
def test_dz_writes_zarr_reads(tmp_path, kind, shards):
    url = str(tmp_path / "a.zarr")
    arr = data(kind, (5, 7))
    fill = FILL[kind] if kind == "string" else b""  # bytes objects: fill_value=b"" says so
    dz.write(da.from_array(arr, chunks=(2, 3)), url, chunks=(2, 2), shards=shards, fill_value=fill)
    doc = json.loads((tmp_path / "a.zarr" / "zarr.json").read_text())
    assert doc["data_type"] == ("string" if kind == "string" else "variable_length_bytes")
    assert doc["fill_value"] == ""
    codecs = doc["codecs"][0]["configuration"]["codecs"] if shards else doc["codecs"]
    assert [c["name"] for c in codecs] == ["vlen-utf8" if kind == "string" else "vlen-bytes", "zstd"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        same(as_object(zarr.open_array(url, mode="r")[...]), arr)
    same(dz.read(url).compute(), arr)


@pytest.mark.parametrize("make", [
    lambda a: a.astype(np.dtypes.StringDType()),  # numpy's variable-width strings
    lambda a: a,  # object array of str
])
def test_string_inputs_write_string(tmp_path, make):
    url = str(tmp_path / "a.zarr")
    arr = data("string", (6,))
    dz.write(da.from_array(make(arr), chunks=4), url, chunks=(4,))
    assert json.loads((tmp_path / "a.zarr" / "zarr.json").read_text())["data_type"] == "string"
    same(as_object(zarr.open_array(url, mode="r")[...]), arr)


@pytest.mark.parametrize(("dtype", "name"), [("U3", "fixed_length_utf32"), ("S3", "null_terminated_bytes")])
def test_fixed_width_stays_fixed_width(tmp_path, dtype, name):
    url = str(tmp_path / "a.zarr")
    dz.write(da.from_array(np.array(["ab", "c"], dtype), chunks=1), url)
    assert json.loads((tmp_path / "a.zarr" / "zarr.json").read_text())["data_type"]["name"] == name
    assert dz.read(url).dtype == np.dtype(dtype)


@pytest.mark.parametrize(("kind", "fill"), [("string", "zz"), ("string", "日本"), ("bytes", b"zz"), ("bytes", b"\x00")])
def test_fill_values_both_ways(tmp_path, kind, fill):
    theirs, mine = str(tmp_path / "z.zarr"), str(tmp_path / "d.zarr")
    zarr_create(theirs, kind, shape=(3,), chunks=(2,), fill_value=fill)
    same(dz.read(theirs).compute(), np.array([fill] * 3, object))
    dz.init(mine, shape=(3,), dtype=str if kind == "string" else bytes, chunks=(2,), fill_value=fill)
    fill_json = [json.loads((tmp_path / p / "zarr.json").read_text())["fill_value"] for p in ("z.zarr", "d.zarr")]
    assert fill_json[0] == fill_json[1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        same(as_object(zarr.open_array(mine, mode="r")[...]), np.array([fill] * 3, object))


_settings = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@_settings
@given(sc=shapes_and_chunks(max_ndim=2, max_side=7), kind=st.sampled_from(KINDS), sharded=st.booleans(),
       draw=st.data())
def test_hypothesis_round_trip(tmp_path_factory, sc, kind, sharded, draw):
    shape, chunks = sc
    arr = draw.draw(variable_arrays(kind, shape))
    url = str(tmp_path_factory.mktemp("h") / "a.zarr")
    shards = tuple(2 * c for c in chunks) if sharded and shape else None
    dz.write(da.from_array(arr, chunks=chunks or ()), url, chunks=chunks, shards=shards, fill_value=FILL[kind])
    same(np.asarray(dz.read(url).compute(), object).reshape(shape), arr)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        back = zarr.open_array(url, mode="r")[...]
    if not shape:
        # zarr-python 3 (3.1.6) hands a 0-d string or bytes array back through numpy's fixed-width
        # U and S types, which drop trailing NUL characters (numpy#8089), also for arrays it wrote
        # itself: what it can show is the value without them. dz's own read above keeps them.
        value = back[()] if isinstance(back, np.ndarray) else back
        assert isinstance(value, str if kind == "string" else bytes)
        assert value == arr[()].rstrip("\0" if kind == "string" else b"\0")
        return
    same(as_object(back), arr)


@pytest.mark.parametrize("shape", [(), (2,)])
@pytest.mark.parametrize("value", [b"\x00", b"a\x00\x00", "\x00", "a\x00"])
def test_trailing_nul_characters_are_kept(tmp_path, shape, value):
    """Stored as the vlen codecs store them and read back whole, also in a 0-d array (where
    numpy's fixed-width types would drop them)."""
    kind = "bytes" if isinstance(value, bytes) else "string"
    arr = np.empty(shape, object)
    arr[...] = value
    url = str(tmp_path / "a.zarr")
    dz.write(da.from_array(arr, chunks=shape), url, chunks=shape, fill_value=FILL[kind])
    same(np.asarray(dz.read(url).compute(), object).reshape(shape), arr)
    assert dz.load(url).reshape(-1).tolist() == [value] * arr.size


@pytest.mark.parametrize("kind", KINDS)
def test_header_declaring_more_items_is_chunk_decode_error(tmp_path, kind):
    url = str(tmp_path / "a.zarr")
    zarr_create(url, kind, shape=(4,), chunks=(4,), compressors=None)[:] = data(kind, (4,))
    # A few bytes whose header declares 2**30 items: refused before allocating them.
    (tmp_path / "a.zarr" / "c" / "0").write_bytes(struct.pack("<II", 2**30, 0))
    with pytest.raises(dz.ChunkDecodeError, match=r"c/0.*declares 1073741824 items, but the chunk holds 4"):
        dz.read(url).compute(scheduler="synchronous")


def test_truncated_chunk_is_chunk_decode_error(tmp_path):
    url = str(tmp_path / "a.zarr")
    zarr_create(url, "string", shape=(2,), chunks=(2,), compressors=None)[:] = np.array(["ab", "cd"], object)
    (tmp_path / "a.zarr" / "c" / "0").write_bytes(struct.pack("<II", 2, 100) + b"ab")
    with pytest.raises(dz.ChunkDecodeError, match="c/0"):
        dz.read(url).compute(scheduler="synchronous")


def test_xarray_engine_reads_string_coordinate(tmp_path):
    xr = pytest.importorskip("xarray")
    url = str(tmp_path / "ds.zarr")
    labels = np.array(["a", "ü", "日本", "😀", ""], object)
    xr.Dataset({"v": ("x", np.arange(5.0))}, coords={"x": labels}).to_zarr(url, zarr_format=3, consolidated=False)
    mine = xr.open_dataset(url, engine="dask_zarrio")
    theirs = xr.open_zarr(url, consolidated=False)
    same(as_object(mine["x"].values), as_object(theirs["x"].values))
    same(as_object(mine["x"].values), labels)
    np.testing.assert_array_equal(mine["v"].values, theirs["v"].values)


def _doc(data_type: object, fill: object, codec: str = "vlen-utf8") -> dict[str, object]:
    return {
        "zarr_format": 3, "node_type": "array", "shape": [3], "data_type": data_type,
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [2]}},
        "chunk_key_encoding": {"name": "default"}, "fill_value": fill,
        "codecs": [{"name": codec, "configuration": {}}],
    }


@pytest.mark.parametrize(("data_type", "fill", "value"), [
    ("string", "", ""), ("string", "ü", "ü"), ({"name": "string"}, "x", "x"),
    ("bytes", "", b""), ("variable_length_bytes", "eno=", b"zz"), ("bytes", [122, 0], b"z\x00"),
])
def test_metadata_fill_values(data_type, fill, value):
    codec = "vlen-utf8" if "string" in str(data_type) else "vlen-bytes"
    meta = ArrayMetadataV3.from_dict(_doc(data_type, fill, codec))
    assert meta.dtype == object and meta.fill_value[()] == value and type(meta.fill_value[()]) is type(value)
    assert meta.to_dict()["fill_value"] == (fill if isinstance(fill, str) else "egA=")
    assert ArrayMetadataV3.from_dict(meta.to_dict()) == meta


@pytest.mark.parametrize(("data_type", "fill"), [
    ("string", 0), ("string", None), ("bytes", "not base64!"), ("bytes", [256]), ("bytes", 3),
])
def test_bad_fill_values_are_metadata_errors(data_type, fill):
    with pytest.raises(MetadataError, match=rf"fill_value={fill!r}".replace("[", r"\[")):
        ArrayMetadataV3.from_dict(_doc(data_type, fill))


@pytest.mark.parametrize("codec", ["vlen-utf8", "vlen-bytes"])
def test_vlen_codec_on_fixed_size_type_is_metadata_error(codec):
    with pytest.raises(MetadataError, match=rf"codec '{codec}' serialises variable-length"):
        ArrayMetadataV3.from_dict(_doc("int16", 0, codec)).pipeline()


@pytest.mark.parametrize(("codec", "element"), [(VLenUTF8Codec(), b"x"), (VLenBytesCodec(), "x"), (VLenUTF8Codec(), 3)])
def test_wrong_element_type_is_refused_on_write(codec, element):
    with pytest.raises(ZarrioError, match=rf"stores .* elements .*not {element!r}"):
        codec.encode(np.array([element], object))


def test_codec_registry_and_configuration():
    assert codec_from_json({"name": "vlen-utf8", "configuration": {}}) == VLenUTF8Codec()
    assert codec_from_json("vlen-bytes").to_dict() == {"name": "vlen-bytes", "configuration": {}}
    with pytest.raises(MetadataError, match="vlen-utf8"):
        codec_from_json({"name": "vlen-utf8", "configuration": {"level": 1}})
    p = CodecPipeline.from_codecs([VLenUTF8Codec(), codec_from_json("zstd")], (2, 2), np.dtype(object))
    arr = data("string", (2, 2))
    same(p.decode(p.encode(arr)), arr)


@pytest.mark.parametrize(("dtype", "fill", "kind"), [
    ("T", None, "string"), (str, None, "string"), (bytes, None, "bytes"), ("O", None, "string"),
    ("O", b"", "bytes"), ("O", "", "string"), ("U2", None, None), ("S2", None, None), ("i4", None, None),
])
def test_variable_kind_of_new_arrays(dtype, fill, kind):
    assert variable_kind(np.dtype(dtype), fill) == kind
    meta = new_array_metadata(shape=(2,), dtype=np.dtype(dtype), chunk_shape=(2,), fill_value=fill)
    if kind is not None:
        assert meta.to_dict()["fill_value"] == "" and meta.dtype == object


@pytest.mark.parametrize("data_type", ["string", "bytes"])
def test_bytes_codec_on_variable_length_type_is_metadata_error(data_type):
    doc = _doc(data_type, "", "bytes")
    doc["codecs"] = [{"name": "bytes"}]
    with pytest.raises(MetadataError, match=rf"codecs\[0\] is 'bytes', but data_type '{data_type}'"):
        ArrayMetadataV3.from_dict(doc).pipeline()


def _sharded(codec: str) -> dict[str, object]:
    return {"name": "sharding_indexed", "configuration": {
        "chunk_shape": [1], "codecs": [{"name": codec, "configuration": {}}], "index_codecs": [
            {"name": "bytes", "configuration": {"endian": "little"}}, {"name": "crc32c"}]}}


@pytest.mark.parametrize(("kind", "codec", "sharded"), [
    ("string", "vlen-bytes", False), ("bytes", "vlen-utf8", False), ("string", "bytes", False),
    ("bytes", "bytes", False), ("string", "vlen-bytes", True), ("bytes", "vlen-utf8", True),
])
def test_serialiser_of_the_other_type_is_refused_at_open(tmp_path, kind, codec, sharded):
    """Both types read as objects: a string array stored with vlen-bytes would decode as bytes
    (or, with the plain bytes codec, as pointers); dz.read refuses it before any chunk is read."""
    url = str(tmp_path / "a.zarr")
    shards = (2,) if sharded else None
    zarr_create(url, kind, shape=(3,), chunks=(1,) if sharded else (2,), shards=shards)[:] = data(kind, (3,))
    doc = json.loads((tmp_path / "a.zarr" / "zarr.json").read_text())
    plain = {"name": codec, "configuration": {"endian": "little"} if codec == "bytes" else {}}
    doc["codecs"] = [_sharded(codec)] if sharded else [plain]
    (tmp_path / "a.zarr" / "zarr.json").write_text(json.dumps(doc))
    where = r"codecs\[0\]\.configuration\.codecs\[0\]" if sharded else r"codecs\[0\]"
    with pytest.raises(MetadataError, match=rf"{where} is '{codec}', but data_type '{kind}' is stored with 'vlen-"):
        dz.read(url)


@pytest.mark.parametrize("make", [
    lambda a: a, lambda a: a.astype(np.dtypes.StringDType()),
    lambda a: da.from_array(a.astype(np.dtypes.StringDType()), chunks=2),
], ids=["object", "StringDType", "dask-StringDType"])
def test_v2_strings_written_as_zarr_python_writes_them(tmp_path, make):
    """v2 string data becomes |O + vlen-utf8 with fill value '', read back as objects both ways."""
    arr = data("string", (5,))
    url = str(tmp_path / "a.zarr")
    dz.write(make(arr), url, zarr_format=2, chunks=(2,))
    doc = json.loads((tmp_path / "a.zarr" / ".zarray").read_text())
    assert (doc["dtype"], doc["filters"], doc["fill_value"]) == ("|O", [{"id": "vlen-utf8"}], "")
    same(as_object(zarr.open_array(url, mode="r")[...]), arr)
    theirs = str(tmp_path / "theirs.zarr")
    zarr.create_array(theirs, shape=(5,), chunks=(2,), dtype=str, zarr_format=2)[:] = arr
    same(dz.read(theirs).compute(), arr)
