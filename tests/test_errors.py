"""Bad input gets a clear error that names the key or field, and loses no data."""

from __future__ import annotations

import json
import os
import pickle

import dask.array as da
import numcodecs
import numpy as np
import pytest
import zarr

import dask_zarrio as dz
from dask_zarrio.errors import (
    ArgumentTypeError,
    ArrayNotFoundError,
    ChunkDecodeError,
    ContainsArrayError,
    MetadataError,
    MisalignedWriteError,
    UnknownCodecError,
    UnsafeCodecError,
    ZarrioError,
)


def _edit(url, key, change):
    path = os.path.join(url, key)
    doc = json.load(open(path))
    change(doc)
    json.dump(doc, open(path, "w"))


def test_error_hierarchy():
    assert issubclass(ZarrioError, ValueError)
    assert issubclass(ArrayNotFoundError, FileNotFoundError)
    assert issubclass(ContainsArrayError, FileExistsError)
    assert issubclass(ArgumentTypeError, TypeError) and dz.ArgumentTypeError is ArgumentTypeError
    for cls in (MetadataError, UnknownCodecError, ChunkDecodeError, MisalignedWriteError, UnsafeCodecError,
                ArgumentTypeError):
        assert issubclass(cls, ZarrioError)


def test_missing_array(tmp_path):
    with pytest.raises(ArrayNotFoundError, match="nothing exists there"):
        dz.read(str(tmp_path / "nope.zarr"))


@pytest.mark.parametrize("fmt,what", [(2, "Zarr v2 group"), (3, "Zarr v3 group")])
def test_group_instead_of_array(tmp_path, fmt, what):
    zarr.open_group(str(tmp_path / "g.zarr"), mode="w", zarr_format=fmt)
    with pytest.raises(ArrayNotFoundError, match=what):
        dz.read(str(tmp_path / "g.zarr"))


def test_folder_without_metadata(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "file").write_bytes(b"1")
    with pytest.raises(ArrayNotFoundError, match="no zarr.json, .zarray or .zgroup"):
        dz.read(str(tmp_path / "x"))


@pytest.mark.parametrize("fmt,key", [(3, "zarr.json"), (2, ".zarray")])
def test_truncated_metadata_names_the_key(url, fmt, key):
    dz.write(da.zeros(4, chunks=2), url, zarr_format=fmt)
    path = os.path.join(url, key)
    data = open(path, "rb").read()
    open(path, "wb").write(data[: len(data) // 2])
    with pytest.raises(MetadataError, match=rf"{key}.*not valid JSON"):
        dz.read(url)


@pytest.mark.parametrize(
    "change,match",
    [
        (lambda d: d.update(shape=[-1]), "shape=\\[-1\\]"),
        (lambda d: d.update(data_type="float128"), "data_type='float128'"),
        (lambda d: d.update(fill_value="banana"), "fill_value='banana'"),
        (lambda d: d.update(chunk_grid={"name": "rectangular"}), "chunk_grid name='rectangular'"),
        (lambda d: d.update(surprise={"x": 1}), "'surprise'"),
        (lambda d: d.update(storage_transformers=[{"name": "x"}]), "storage_transformers"),
        (lambda d: d.pop("codecs"), "'codecs'"),
        (lambda d: d.update(codecs=[{"name": "zstd"}]), "array→bytes"),
        (lambda d: d.update(dimension_names=["a", "b"]), "dimension_names"),
    ],
)
def test_invalid_v3_fields(url, change, match):
    dz.write(da.zeros(4, chunks=2), url)
    _edit(url, "zarr.json", change)
    with pytest.raises(MetadataError, match=match):
        dz.read(url)


def test_must_understand_false_extension_is_ignored(url):
    dz.write(da.arange(4, chunks=2), url)
    _edit(url, "zarr.json", lambda d: d.update(my_ext={"must_understand": False, "x": 1}))
    np.testing.assert_array_equal(dz.read(url).compute(), np.arange(4))


@pytest.mark.parametrize("fmt", [2, 3])
def test_unknown_codec(url, fmt):
    dz.write(da.zeros(4, chunks=2), url, zarr_format=fmt)
    if fmt == 3:
        _edit(url, "zarr.json", lambda d: d["codecs"].append({"name": "snappy9"}))
    else:
        _edit(url, ".zarray", lambda d: d.update(compressor={"id": "snappy9"}))
    with pytest.raises(UnknownCodecError, match="snappy9"):
        dz.read(url)


def test_corrupt_chunk_names_the_key(url):
    dz.write(da.ones((4, 4), chunks=2), url)
    path = os.path.join(url, "c", "1", "0")
    open(path, "wb").write(b"garbage")
    x = dz.read(url)
    np.testing.assert_array_equal(x[:2].compute(), np.ones((2, 4)))  # other chunks still read
    with pytest.raises(ChunkDecodeError, match=r"a\.zarr/c/1/0"):
        x.compute()


def test_crc32c_mismatch_is_a_decode_error(url):
    dz.write(da.ones(4, chunks=4), url, compressors=[{"name": "crc32c"}])
    path = os.path.join(url, "c", "0")
    data = bytearray(open(path, "rb").read())
    data[0] ^= 0xFF
    open(path, "wb").write(bytes(data))
    with pytest.raises(ChunkDecodeError, match="crc32c checksum mismatch"):
        dz.read(url).compute()


def test_chunk_of_wrong_size(url):
    dz.write(da.ones(4, chunks=4), url, compressors=None)
    open(os.path.join(url, "c", "0"), "wb").write(b"\x00" * 7)
    with pytest.raises(ChunkDecodeError, match="decoded to 7 bytes, expected 32"):
        dz.read(url).compute()


class _Sneaky:
    """Unpickling this creates a file: proof of whether the store's code ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


class _Unwrap:
    """Unpickles to the second item of a pickled pair, after running the first's code."""

    def __init__(self, body):
        self.body = body

    def __reduce__(self):
        return (_second, (self.body,))


def _second(body):
    pair = pickle.loads(body)
    pair[0].close()
    return pair[1]


def _pickle_v2(url: str) -> None:
    meta = {"zarr_format": 2, "shape": [2], "chunks": [2], "dtype": "|O", "compressor": None,
            "fill_value": None, "order": "C", "filters": [{"id": "pickle"}]}
    json.dump(meta, open(os.path.join(url, ".zarray"), "w"))


def _pickle_v3(url: str, sharded: bool = False) -> None:
    # No peer writes numcodecs.pickle in v3, but a stranger's store may: the same opt-in holds.
    codecs: list = [{"name": "bytes", "configuration": {"endian": "little"}},
                    {"name": "numcodecs.pickle", "configuration": {"protocol": 4}}]
    if sharded:
        codecs = [{"name": "sharding_indexed", "configuration": {
            "chunk_shape": [2], "codecs": codecs,
            "index_codecs": [{"name": "bytes", "configuration": {"endian": "little"}}]}}]
    meta = {"zarr_format": 3, "node_type": "array", "shape": [2], "data_type": "int64",
            "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [2]}},
            "chunk_key_encoding": {"name": "v2", "configuration": {"separator": "."}},
            "fill_value": 0, "codecs": codecs}
    json.dump(meta, open(os.path.join(url, "zarr.json"), "w"))


@pytest.mark.parametrize("layout", ["v2 filter", "v3 codec", "v3 codec inside a shard"])
def test_pickle_refused_without_opt_in_and_decoded_with_it(tmp_path, url, layout):
    """allow_pickle=True reaches every format's pipeline, nested shards included.

    It used to be dropped while parsing v3 metadata, so the error asked for a flag
    that did not help.
    """
    marker = str(tmp_path / "code-ran")
    os.makedirs(url)
    payload = np.array([_Sneaky(marker), "x"], dtype=object)
    if layout == "v2 filter":
        _pickle_v2(url)
        chunk = numcodecs.Pickle().encode(payload)
    else:
        _pickle_v3(url, sharded="shard" in layout)
        # The pickled object is the chunk's bytes; unpickling still runs _Sneaky's code.
        body = pickle.dumps((_Sneaky(marker), np.array([5, 6], "<i8").tobytes()))
        chunk = pickle.dumps(_Unwrap(body))
        if "shard" in layout:
            index = np.array([[0, len(chunk)]], "<u8").tobytes()
            chunk = chunk + index
    open(os.path.join(url, "0"), "wb").write(chunk)
    with pytest.raises(UnsafeCodecError, match="allow_pickle=True"):
        dz.read(url).compute()
    assert not os.path.exists(marker)
    back = dz.read(url, allow_pickle=True).compute()  # the user opted in: the code runs
    assert os.path.exists(marker)
    if layout == "v2 filter":
        assert back[1] == "x"
        back[0].close()
    else:
        assert back.tolist() == [5, 6]


def test_vlen_utf8_objects_read_without_opt_in(url):
    data = np.array(["a", "bcd", "", "日本"], dtype=object)
    z = zarr.create_array(url, shape=(4,), chunks=(3,), dtype=str, zarr_format=2)
    z[...] = data
    assert list(dz.read(url).compute()) == list(data)


def test_mode_w_minus_refuses_and_changes_nothing(url):
    dz.write(da.arange(4, chunks=2), url)
    before = {f: open(os.path.join(dp, f), "rb").read() for dp, _, fs in os.walk(url) for f in fs}
    with pytest.raises(ContainsArrayError, match="mode='w'"):
        dz.write(da.zeros(6, chunks=3), url)
    after = {f: open(os.path.join(dp, f), "rb").read() for dp, _, fs in os.walk(url) for f in fs}
    assert before == after


def test_mode_w_replaces_and_removes_old_chunks(url):
    dz.write(da.arange(1, 9, chunks=2), url)
    dz.write(da.zeros(4, chunks=4), url, mode="w")
    assert os.listdir(url) == ["zarr.json"]
    np.testing.assert_array_equal(dz.read(url).compute(), np.zeros(4))


def test_misaligned_write_with_align_raise_is_refused_before_writing(url):
    """dask.array.to_zarr corrupts silently here (dask/dask#12583, zarr-python#3682)."""
    x = da.ones((400, 400), chunks=25)
    with pytest.raises(MisalignedWriteError, match=r"axis 0: the dask block boundary at 25 .*rechunk"):
        dz.write(x, url, chunks=(40, 40), align="raise")
    assert not os.path.exists(url)


def test_unknown_mode_and_align(url):
    with pytest.raises(ZarrioError, match="mode='x'"):
        dz.write(da.ones(4, chunks=2), url, mode="x")
    with pytest.raises(ZarrioError, match="align='never'"):
        dz.write(da.ones(4, chunks=2), url, align="never")


def test_bad_write_arguments(url):
    """The caller's mistakes: neither MetadataError (stored documents) nor MisalignedWriteError (alignment)."""
    for kwargs, match in [
        ({"chunks": (2,)}, "give one length per dimension"),
        ({"fill_value": "x"}, "fill_value='x'"),
        ({"zarr_format": 2, "compressors": [numcodecs.Zlib(), numcodecs.GZip()]}, "Zarr v2 allows one compressor"),
    ]:
        with pytest.raises(ZarrioError, match=match) as info:
            dz.write(da.ones((4, 4), chunks=2), url, **kwargs)
        assert not isinstance(info.value, (MetadataError, MisalignedWriteError))
    assert not os.path.exists(url)


NO_FILL = dz.metadata.create.NO_FILL

#: A caller's mistake in the arguments of a new array, and the class it is filed under: never
#: MetadataError (a stored document is invalid) nor MisalignedWriteError (blocks cut chunks).
USER_MISTAKES = [
    ({"chunks": (2,)}, ZarrioError, "give one length per dimension"),
    ({"chunks": ((2, 2), 2, 2)}, ZarrioError, "has 3 entries but the array has 2 dimensions"),
    ({"chunks": "x"}, ArgumentTypeError, "chunks='x' must be a positive integer"),
    ({"chunks": (2, 0)}, ZarrioError, "must hold positive integers"),
    ({"chunks": ((1, 3), 2), "zarr_format": 2}, ZarrioError, "irregular chunk lengths need zarr_format=3"),
    ({"shards": (2, 2, 2)}, ZarrioError, "shards=.* has 3 entries"),
    ({"chunks": (3, 3), "shards": (4, 4)}, ZarrioError, "must be a positive multiple of chunks"),
    ({"shards": (4, 4), "zarr_format": 2}, ZarrioError, "sharding needs zarr_format=3"),
    ({"fill_value": "x"}, ZarrioError, "fill_value='x' cannot be cast to '<f8'"),
    ({"fill_value": {"a": 1}}, ArgumentTypeError, "fill_value=.* cannot be cast to '<f8'"),
    ({"fill_value": [1, 2]}, ArgumentTypeError, "must be one value"),
    ({"fill_value": NO_FILL}, ZarrioError, "Zarr v3 arrays always have a fill value"),
    ({"fill_value": 3, "zarr_format": "n5"}, ZarrioError, "N5 has no fill value"),
    ({"order": "Z"}, ZarrioError, "order='Z' must be 'C' or 'F'"),
    ({"zarr_format": 4}, ZarrioError, "zarr_format=4 must be 2, 3 or 'n5'"),
    ({"attributes": "x"}, ArgumentTypeError, "attributes='x' must be a dict"),
    ({"attributes": {"a": np.arange(2)}}, ArgumentTypeError, "cannot be stored as JSON"),
    ({"attributes": {"a": float("nan")}}, ZarrioError, "JSON has no number for"),
    ({"dimension_names": "xy"}, ArgumentTypeError, "must be a list of names"),
    ({"dimension_names": [1, 2]}, ArgumentTypeError, "must hold strings"),
    ({"dimension_names": ["x"]}, ZarrioError, "must name each of the 2 dimensions"),
    ({"compressors": 5}, ZarrioError, "codec 5 must be"),
    ({"compressors": [{"name": "snappy9"}]}, ZarrioError, "unknown codec 'snappy9'"),
    ({"compressors": [{"name": "zstd", "configuration": {"level": "x"}}]}, ZarrioError, "level='x'"),
    ({"compressors": [{"name": "transpose", "configuration": {"order": [1, 0]}}]}, ZarrioError,
     "is not a bytes→bytes codec"),
    ({"filters": ["zstd"]}, ZarrioError, "is not an array→array codec"),
    ({"zarr_format": 2, "compressors": {"id": "snappy9"}}, ZarrioError, "numcodecs has no codec 'snappy9'"),
    ({"zarr_format": 2, "compressors": [numcodecs.Zlib(), numcodecs.GZip()]}, ZarrioError, "allows one compressor"),
    ({"serializer": "vlen-utf8"}, ZarrioError, "serialises variable-length"),
    ({"serializer": "zstd"}, ZarrioError, "is not an array→bytes codec"),
    ({"chunk_key_encoding": 7}, ArgumentTypeError, "chunk_key_encoding=7 must be a name"),
    ({"chunk_key_encoding": {"name": "v3"}}, ZarrioError, "must be 'default' or 'v2'"),
    ({"zarr_format": "n5", "dimension_names": ["a", "b"]}, ZarrioError, "N5 has none"),
]


@pytest.mark.parametrize("kwargs,cls,match", USER_MISTAKES,
                         ids=[str(sorted(k.items()))[:50] for k, *_ in USER_MISTAKES])
def test_each_user_mistake_is_filed_under_its_class(url, kwargs, cls, match):
    with pytest.raises(ZarrioError, match=match) as info:
        dz.write(da.ones((4, 4), chunks=2), url, **kwargs)
    assert type(info.value) is cls
    assert not os.path.exists(url)  # refused before anything is written


@pytest.mark.parametrize("kwargs,cls,match", [
    ({"chunks": (2, 2)}, ZarrioError, "has 2 entries but the array has 1 dimensions"),
    ({"chunks": (2,), "dtype": "c8", "zarr_format": "n5"}, ZarrioError, "dtype '<c8'"),
    ({"chunks": (2,), "attributes": ["a"]}, ArgumentTypeError, "must be a dict"),
])
def test_init_files_mistakes_as_write_does(url, kwargs, cls, match):
    with pytest.raises(ZarrioError, match=match) as info:
        dz.init(url, shape=(4,), **{"dtype": "f4", **kwargs})
    assert type(info.value) is cls


@pytest.mark.parametrize("kwargs,match", [
    ({"chunks": (2, 2, 2)}, "has 3 entries"),
    ({"chunks": 2, "compressors": [{"name": "snappy9"}]}, "unknown codec 'snappy9'"),
    ({"chunks": 2, "zarr_format": 2, "shards": (4, 4)}, "sharding needs zarr_format=3"),
])
def test_rechunk_arguments_are_the_callers_mistakes(tmp_path, url, kwargs, match):
    dz.write(da.ones((4, 4), chunks=2), url)
    with pytest.raises(ZarrioError, match=match) as info:
        dz.rechunk(url, str(tmp_path / "b.zarr"), **kwargs)
    assert type(info.value) is ZarrioError


@pytest.mark.parametrize("attributes,cls", [("x", ArgumentTypeError), ({"a": np.arange(2)}, ArgumentTypeError),
                                             ({"a": float("inf")}, ZarrioError)])
def test_create_group_refuses_attributes_before_it_replaces_anything(tmp_path, attributes, cls):
    """mode="w" used to clear the group, then fail to write the new attributes: nothing was left."""
    url = str(tmp_path / "g.zarr")
    dz.create_group(url, attributes={"keep": 1})
    with pytest.raises(ZarrioError, match="attributes=") as info:
        dz.create_group(url, attributes=attributes, mode="w")
    assert type(info.value) is cls
    assert dz.open_group(url).attrs == {"keep": 1}


def _set(key: str, value: object):
    return lambda url: open(os.path.join(url, key), "w").write(value if isinstance(value, str) else json.dumps(value))


#: An invalid stored document, and its class: MetadataError (or UnknownCodecError), naming the key.
STORED = [
    (3, _set("zarr.json", "{"), MetadataError, "zarr.json is not valid JSON"),
    (3, lambda u: _edit(u, "zarr.json", lambda d: d.update(fill_value="x")), MetadataError, "fill_value='x'"),
    (3, lambda u: _edit(u, "zarr.json", lambda d: d.update(dimension_names=[1])), MetadataError, "dimension_names"),
    (3, lambda u: _edit(u, "zarr.json", lambda d: d.update(codecs=[{"name": "bytes"}, {"name": "snappy9"}])),
     UnknownCodecError, "zarr.json: .*unknown codec 'snappy9'"),
    (3, lambda u: _edit(u, "zarr.json", lambda d: d["codecs"][1]["configuration"].update(level="x")),
     MetadataError, "level='x'"),
    (2, lambda u: _edit(u, ".zarray", lambda d: d.update(dtype="<q9")), MetadataError, r"\.zarray: .*dtype"),
    (2, lambda u: _edit(u, ".zarray", lambda d: d.update(chunks=[2, 2, 2])), MetadataError, r"\.zarray: chunks="),
    (2, lambda u: _edit(u, ".zarray", lambda d: d.update(compressor={"id": "snappy9"})), UnknownCodecError, "snappy9"),
    (2, _set(".zattrs", "[1]"), MetadataError, r"\.zattrs must hold a JSON object"),
    (2, _set(".zattrs", "{"), MetadataError, r"\.zattrs is not valid JSON"),
    ("n5", lambda u: _edit(u, "attributes.json", lambda d: d.update(blockSize=[2])), MetadataError, "blockSize"),
]


@pytest.mark.parametrize("fmt,spoil,cls,match", STORED)
def test_each_invalid_stored_document_is_a_metadata_error(tmp_path, fmt, spoil, cls, match):
    url = str(tmp_path / ("a.n5" if fmt == "n5" else "a.zarr"))
    dz.write(da.ones((4, 4), chunks=2), url, zarr_format=fmt)
    spoil(url)
    with pytest.raises(MetadataError, match=match) as info:
        dz.read(url).compute()
    assert type(info.value) is cls


def test_a_stored_journal_or_consolidated_document_is_a_metadata_error(tmp_path, url):
    os.makedirs(url)
    open(os.path.join(url, ".dz-write.json"), "w").write("{")
    with pytest.raises(MetadataError, match=r"\.dz-write\.json is not valid JSON"):
        dz.write(da.ones(4, chunks=2), url)
    root = str(tmp_path / "g.zarr")
    dz.create_group(root, zarr_format=2)
    entries = {".zgroup": {"zarr_format": 2}, "a/.zarray": 3}
    _set(".zmetadata", {"zarr_consolidated_format": 1, "metadata": entries})(root)
    with pytest.raises(MetadataError, match=r"\.zmetadata"):
        dz.open_group(root)["a"]


def _error_classes() -> list[type[ZarrioError]]:
    from dask_zarrio import errors

    found = [getattr(errors, name) for name in errors.__all__]
    return [cls for cls in found if isinstance(cls, type) and issubclass(cls, ZarrioError)]


@pytest.mark.parametrize("cls", _error_classes(), ids=lambda cls: cls.__name__)
def test_every_error_pickles_to_its_own_class(cls):
    """Plain pickle and distributed's (tblib) pickle, which a worker's error goes through:
    tblib used to rebuild a ValueError+OSError class through ValueError.__new__ and fail."""
    from distributed.protocol import pickle as distributed_pickle

    try:
        raise cls(f"the key 'a/c/0' failed; fix it ({cls.__name__})")
    except ZarrioError as e:
        e.note = "kept"
        for module in (pickle, distributed_pickle):
            back = module.loads(module.dumps(e))
            assert type(back) is cls
            assert str(back) == str(e) and back.args == e.args and back.note == "kept"


@pytest.mark.parametrize("cls", _error_classes(), ids=lambda cls: cls.__name__)
def test_every_error_class_is_a_top_level_name(cls):
    """The docs write ``dz.<Error>`` (``dz.MissingDependencyError`` in stores.md): each exists there."""
    assert getattr(dz, cls.__name__) is cls and cls.__name__ in dz.__all__
