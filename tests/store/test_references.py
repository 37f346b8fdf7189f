"""Virtual references (kerchunk JSON v0/v1, Parquet): NetCDF4/HDF5 files read as Zarr by byte ranges.

The oracle is the original file opened by xarray's h5netcdf engine; references come from
kerchunk's ``SingleHdf5ToZarr`` (and ``kerchunk.df.refs_to_dataframe`` for Parquet), except
for fletcher32, which kerchunk 0.2.10 refuses: those are built from h5py's chunk index, as
VirtualiZarr's HDF reader does.
"""

from __future__ import annotations

import copy
import json
import pickle
from pathlib import Path

import dask
import fsspec
import h5py
import netCDF4
import numpy as np
import pytest
import xarray as xr
from kerchunk.df import refs_to_dataframe
from kerchunk.hdf import SingleHdf5ToZarr

import dask_zarrio as dz
from dask_zarrio.errors import StoreError, StorePermissionError, ZarrioError
from dask_zarrio.store import open_store
from dask_zarrio.store.backends.references import ReferenceStore, coalesce_ranges
from tests.servers.proxy import FaultyProxy
from tests.servers.s3 import s3_options

# kerchunk writes Parquet references with pandas' fastparquet engine, which pandas 3 deprecates.
pytestmark = [
    pytest.mark.filterwarnings("ignore:.*fastparquet.*"), pytest.mark.filterwarnings("ignore:.*infer_string.*"),
]

RNG = np.random.default_rng(20)
TEMP = RNG.standard_normal((12, 8)).astype("f4")
VARIABLES = ["temp", "count", "flag"]


def make_netcdf(path: Path, offset: float = 0.0) -> None:
    """Chunked, compressed and shuffled variables, fill values, a partly written one and a group."""
    with netCDF4.Dataset(path, "w") as nc:
        nc.createDimension("t", 12)
        nc.createDimension("x", 8)
        temp = nc.createVariable(
            "temp", "f4", ("t", "x"), chunksizes=(3, 4), zlib=True, shuffle=True, fill_value=-999.0
        )
        temp.scale_factor = 0.5
        temp.add_offset = 10.0
        temp.units = "K"
        temp[:] = TEMP + offset
        temp[2, 3] = np.ma.masked
        count = nc.createVariable("count", "i4", ("t",), chunksizes=(4,), fill_value=-1)
        count[:6] = np.arange(6) + int(offset)  # chunk 2 never written: no reference, read as fill
        flag = nc.createVariable("flag", "u1", ("x",), chunksizes=(8,), zlib=True, complevel=9)
        flag[:] = np.arange(8, dtype="u1")
        sub = nc.createGroup("sub")
        w = sub.createVariable("w", "f8", ("x",), chunksizes=(3,), zlib=True, shuffle=True)
        w[:] = np.arange(8) * 1.5 + offset


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Two NetCDF4 files and their kerchunk JSON references (absolute local URLs)."""
    root = tmp_path_factory.mktemp("refs")
    out = {}
    for name, offset in (("a", 0.0), ("b", 100.0)):
        path = root / f"{name}.nc"
        make_netcdf(path, offset)
        refs = SingleHdf5ToZarr(str(path), inline_threshold=0).translate()
        (root / f"{name}.json").write_text(json.dumps(refs))
        out[name] = (path, refs)
    return root, out


def expected(path: Path, group: str | None = None) -> xr.Dataset:
    return xr.open_dataset(path, engine="h5netcdf", group=group).load()


def assert_datasets_equal(actual: xr.Dataset, oracle: xr.Dataset) -> None:
    for name in oracle.data_vars:
        np.testing.assert_array_equal(actual[name].values, oracle[name].values, err_msg=name)
        assert actual[name].dims == oracle[name].dims, name
    assert set(actual.data_vars) == set(oracle.data_vars)


@pytest.mark.parametrize("how", ["format", "url", "store"])
def test_json_references_read_like_the_original_file(files, how):
    root, refs = files
    path, _ = refs["a"]
    where = str(root / "a.json")
    if how == "format":
        ds = xr.open_dataset(where, engine="dask_zarrio", format="kerchunk")
    elif how == "url":
        ds = xr.open_dataset("reference://", engine="dask_zarrio", storage_options={"fo": where})
    else:
        ds = xr.open_dataset(ReferenceStore(where), engine="dask_zarrio")
    assert_datasets_equal(ds, expected(path))
    assert ds.temp.attrs["units"] == "K" and np.isnan(ds.temp.values[2, 3])  # CF decoding by xarray


def test_groups_and_arrays_through_references(files):
    root, refs = files
    path, _ = refs["a"]
    group = dz.open_group(str(root / "a.json"), format="kerchunk")
    assert sorted(name for name, _ in group.groups()) == ["sub"]
    sub = xr.open_dataset("reference://sub", engine="dask_zarrio", storage_options={"fo": str(root / "a.json")})
    assert_datasets_equal(sub, expected(path, "sub"))
    raw = dz.read("reference://temp", storage_options={"fo": str(root / "a.json")})
    with h5py.File(path) as f:
        np.testing.assert_array_equal(raw.compute(), f["temp"][:])  # packed values, fill included


def test_missing_references_read_as_the_fill_value(files):
    root, refs = files
    assert "count/2" not in refs["a"][1]["refs"]
    count = dz.read("reference://count", storage_options={"fo": str(root / "a.json")}).compute()
    assert count.tolist() == [0, 1, 2, 3, 4, 5, -1, -1, -1, -1, -1, -1]


def test_zarr_python_reads_the_same_references(files):
    """Second oracle: zarr-python through fsspec's ReferenceFileSystem."""
    root, _ = files
    fo = str(root / "a.json")
    ours = xr.open_dataset(fo, engine="dask_zarrio", format="kerchunk")
    theirs = xr.open_dataset(
        "reference://", engine="zarr", backend_kwargs={"storage_options": {"fo": fo}, "consolidated": False}
    )
    assert_datasets_equal(ours, theirs.load())


def test_json_version_0_templates_and_generators(files, tmp_path):
    root, refs = files
    path, document = refs["a"]
    v0 = copy.deepcopy(document["refs"])
    (tmp_path / "v0.json").write_text(json.dumps(v0))
    templated = {"version": 1, "templates": {"src": str(path)}, "refs": {
        k: (["{{src}}", *v[1:]] if isinstance(v, list) else v) for k, v in document["refs"].items()}}
    (tmp_path / "v1.json").write_text(json.dumps(templated))
    oracle = expected(path)
    elsewhere = {"allowed_targets": [str(root)]}  # the NetCDF file is outside the references' folder
    for name in ("v0.json", "v1.json"):
        ds = xr.open_dataset(str(tmp_path / name), engine="dask_zarrio", format="kerchunk", storage_options=elsewhere)
        assert_datasets_equal(ds, oracle)
    # A generator: eight raw 64-byte chunks at computed offsets of one binary file.
    data = np.arange(64, dtype="<i8")
    (tmp_path / "raw.bin").write_bytes(b"\0" * 16 + data.tobytes())
    gen = {"version": 1, "templates": {"u": str(tmp_path / "raw.bin")}, "refs": {
        ".zarray": json.dumps({"shape": [64], "chunks": [8], "dtype": "<i8", "fill_value": 0, "order": "C",
                               "filters": None, "compressor": None, "zarr_format": 2})},
        "gen": [{"key": "{{i}}", "url": "{{u}}", "offset": "{{ 16 + i * 64 }}", "length": "64",
                 "dimensions": {"i": {"stop": 8}}}]}
    # A dict of references has no folder: local targets are allowed explicitly.
    allowed = {"allowed_targets": [f"file://{tmp_path}/"]}
    assert dz.read(gen, format="kerchunk", storage_options=allowed).compute().tolist() == data.tolist()


def test_inline_base64_and_whole_file_references(tmp_path):
    chunk = np.arange(4, dtype="<u2")
    (tmp_path / "whole.bin").write_bytes(chunk.tobytes() + b"")
    meta = {"shape": [12], "chunks": [4], "dtype": "<u2", "fill_value": 7, "order": "C",
            "filters": None, "compressor": {"id": "zlib", "level": 1}, "zarr_format": 2}
    import base64
    import zlib

    refs = {"version": 1, "refs": {
        ".zarray": meta,
        "0": "base64:" + base64.b64encode(zlib.compress((chunk + 10).tobytes())).decode(),
        "1": [str(tmp_path / "whole.z")],
    }}
    (tmp_path / "whole.z").write_bytes(zlib.compress(chunk.tobytes()))
    allowed = {"allowed_targets": [str(tmp_path)]}
    assert dz.read(refs, format="kerchunk", storage_options=allowed).compute().tolist() == [
        10, 11, 12, 13, 0, 1, 2, 3, 7, 7, 7, 7]


def test_fletcher32_shuffle_zlib_from_the_hdf5_chunk_index(tmp_path):
    path = tmp_path / "f32.h5"
    data = RNG.integers(0, 1000, (10, 6)).astype("<i4")
    with h5py.File(path, "w") as f:
        d = f.create_dataset("v", data=data, chunks=(4, 3), shuffle=True, compression="gzip", fletcher32=True)
        index = [d.id.get_chunk_info(i) for i in range(d.id.get_num_chunks())]
    refs = {".zgroup": json.dumps({"zarr_format": 2}), "v/.zarray": json.dumps({
        "shape": [10, 6], "chunks": [4, 3], "dtype": "<i4", "fill_value": 0, "order": "C", "compressor": None,
        "filters": [{"id": "shuffle", "elementsize": 4}, {"id": "zlib", "level": 4}, {"id": "fletcher32"}],
        "zarr_format": 2})}
    for info in index:
        key = ".".join(str(o // c) for o, c in zip(info.chunk_offset, (4, 3)))
        refs[f"v/{key}"] = [str(path), info.byte_offset, info.size]
    options = {"fo": refs, "allowed_targets": [str(tmp_path)]}
    np.testing.assert_array_equal(dz.read("reference://v", storage_options=options).compute(), data)
    # A corrupted byte fails the checksum, naming the chunk, instead of reading wrong values.
    raw = bytearray(path.read_bytes())
    raw[index[0].byte_offset + 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(ZarrioError, match="v/0.0"):
        dz.read("reference://v", storage_options=options).compute()


def test_parquet_references_read_only_the_records_a_block_needs(files, tmp_path):
    root, refs = files
    path, document = refs["a"]
    where = str(tmp_path / "a.parq")
    refs_to_dataframe(document, where, record_size=2)  # temp: 8 chunks in 4 records
    elsewhere = {"allowed_targets": [str(root)]}  # the NetCDF file is outside the references' folder
    ds = xr.open_dataset(where, engine="dask_zarrio", format="kerchunk", storage_options=elsewhere)
    assert_datasets_equal(ds, expected(path))
    store = open_store(where, elsewhere, format="kerchunk").child("temp")
    store.references()._records.clear()  # type: ignore[attr-defined]
    before = store.references().record_reads  # type: ignore[attr-defined]
    with dask.config.set(scheduler="sync"):
        part = dz.read(store, chunks=(3, 8))[3:6].compute()  # chunks 2 and 3: record 1 only
    with h5py.File(path) as f:
        np.testing.assert_array_equal(part, f["temp"][3:6])
    assert store.references().record_reads - before == 1  # type: ignore[attr-defined]


def test_the_graph_carries_the_location_not_the_references(files):
    root, _ = files
    x = dz.read("reference://temp", storage_options={"fo": str(root / "a.json")})
    assert len(pickle.dumps(dict(x.__dask_graph__()))) < 8000
    clone = pickle.loads(pickle.dumps(open_store("reference://temp", {"fo": str(root / "a.json")})))
    assert clone.references() is open_store(str(root / "a.json"), format="kerchunk").references()


def test_references_are_read_only_and_errors_say_why(files, tmp_path):
    root, _ = files
    store = open_store(str(root / "a.json"), format="kerchunk")
    with pytest.raises(StorePermissionError, match="read-only"):
        store.set("x", b"1")
    with pytest.raises(ZarrioError, match="fo"):
        open_store("reference://temp", {"remote_options": {}})
    with pytest.raises(ZarrioError, match="format='nope'"):
        open_store("x.json", format="nope")
    moved = {"version": 1, "refs": {**json.loads((root / "a.json").read_text())["refs"]}}
    moved["refs"] = {
        k: ([str(tmp_path / "gone.nc"), *v[1:]] if isinstance(v, list) else v) for k, v in moved["refs"].items()
    }
    with pytest.raises(StoreError, match=r"'temp/\d\.\d'.*gone\.nc.*regenerate"):
        dz.read("reference://temp", storage_options={"fo": moved, "allowed_targets": [str(tmp_path)]}).compute()
    with pytest.raises(ZarrioError, match=r"\[url, offset, length\]"):
        ReferenceStore({"a/0": ["x", "y"]})


@pytest.mark.parametrize(
    ("ranges", "gap", "merged"),
    [
        ([(0, 10), (10, 10)], 0, [(0, 20, [0, 1])]),
        ([(0, 10), (11, 10)], 0, [(0, 10, [0]), (11, 21, [1])]),
        ([(50, 10), (0, 10), (5, 2)], 100, [(0, 60, [1, 2, 0])]),
        ([(0, 10), (10, 10)], -1, [(0, 10, [0]), (10, 20, [1])]),
    ],
)
def test_coalesce_ranges(ranges, gap, merged):
    assert coalesce_ranges(ranges, gap) == merged


@pytest.fixture
def proxy(s3_endpoint):
    with FaultyProxy(s3_endpoint) as p:
        yield p


def _stacked(bucket: str, refs: dict[str, dict]) -> dict:
    """One array whose first four chunk rows are a.nc's temp and the last four b.nc's."""
    meta = json.loads(refs["a"]["refs"]["temp/.zarray"])
    meta["shape"] = [24, 8]
    out = {".zgroup": json.dumps({"zarr_format": 2}), "temp/.zarray": json.dumps(meta),
           "temp/.zattrs": refs["a"]["refs"]["temp/.zattrs"]}
    for name, shift in (("a", 0), ("b", 4)):
        for key, value in refs[name]["refs"].items():
            if key.startswith("temp/") and isinstance(value, list):
                i, j = key[5:].split(".")
                out[f"temp/{int(i) + shift}.{j}"] = [f"s3://{bucket}/{name}.nc", *value[1:]]
    return out


@pytest.mark.parametrize(("chunks", "files_per_block"),
                         [((24, 8), [2]), ((6, 8), [1, 1, 1, 1]), ((12, 4), [1, 1, 1, 1])])
def test_s3_one_request_per_source_file_per_block(proxy, bucket, files, chunks, files_per_block):
    root, refs = files
    opts = s3_options(proxy.endpoint)
    fs = fsspec.filesystem("s3", **opts)
    for name in ("a", "b"):
        fs.put(str(refs[name][0]), f"{bucket}/{name}.nc")
    fs.pipe(
        f"{bucket}/refs.json",
        json.dumps({"version": 1, "refs": _stacked(bucket, {k: v[1] for k, v in refs.items()})}).encode()
    )
    options = {"fo": f"s3://{bucket}/refs.json", "target_options": opts, "remote_options": opts}
    x = dz.read("reference://temp", chunks=chunks, storage_options=options)
    proxy.counts.clear()
    values = x.compute()
    assert dict(proxy.counts) == {"GET": sum(files_per_block)}, proxy.counts
    with h5py.File(refs["a"][0]) as fa, h5py.File(refs["b"][0]) as fb:
        np.testing.assert_array_equal(values, np.concatenate([fa["temp"][:], fb["temp"][:]]))
    ds = xr.open_dataset("reference://", engine="dask_zarrio", storage_options=options)
    oracle = np.concatenate([expected(refs["a"][0]).temp.values, expected(refs["b"][0]).temp.values])
    np.testing.assert_array_equal(ds.temp.values, oracle)


def test_s3_without_coalescing_sends_one_request_per_chunk(proxy, bucket, files):
    root, refs = files
    opts = s3_options(proxy.endpoint)
    fsspec.filesystem("s3", **opts).put(str(refs["a"][0]), f"{bucket}/a.nc")
    document = {
        k: ([f"s3://{bucket}/a.nc", *v[1:]] if isinstance(v, list) else v) for k, v in refs["a"][1]["refs"].items()
    }
    x = dz.read("reference://temp", chunks=(12, 8), storage_options={"fo": document, "remote_options": opts})
    proxy.counts.clear()
    with dask.config.set({"dask_zarrio.references.coalesce-gap": -1}):
        x.compute()
    assert dict(proxy.counts) == {"GET": 8}


@pytest.fixture(scope="module")
def virtual(files):
    """VirtualiZarr's manifests of file a, written the three ways it writes them."""
    vz = pytest.importorskip("virtualizarr")
    icechunk = pytest.importorskip("icechunk")
    from obspec_utils.registry import ObjectStoreRegistry
    from obstore.store import LocalStore
    from virtualizarr.parsers import HDFParser

    root, made = files
    path = made["a"][0]
    vds = vz.open_virtual_dataset(
        f"file://{path}", registry=ObjectStoreRegistry({"file://": LocalStore()}), parser=HDFParser()
    )
    vds.vz.to_kerchunk(str(root / "vz.json"), format="json")
    vds.vz.to_kerchunk(str(root / "vz.parq"), format="parquet")
    prefix = f"file://{root}/"
    config = icechunk.RepositoryConfig.default()
    config.set_virtual_chunk_container(
        icechunk.VirtualChunkContainer(prefix, icechunk.local_filesystem_store(str(root)))
    )
    repo = icechunk.Repository.create(icechunk.local_filesystem_storage(str(root / "vz-repo")), config,
                                      authorize_virtual_chunk_access=icechunk.containers_credentials({prefix: None}))
    session = repo.writable_session("main")
    vds.vz.to_icechunk(session.store)
    session.commit("virtual dataset")
    return path, root, repo


@pytest.mark.parametrize("how", ["json", "parquet", "icechunk"])
def test_virtualizarr_manifests_read_like_the_original_file(virtual, how):
    """What VirtualiZarr writes (kerchunk JSON, Parquet, Icechunk virtual chunks) reads like the
    file itself; the masked element and the scale/offset decode as h5netcdf decodes them."""
    path, root, repo = virtual
    if how == "icechunk":
        ds = xr.open_dataset(repo, engine="dask_zarrio")
    else:
        ds = xr.open_dataset(
            str(root / ("vz.json" if how == "json" else "vz.parq")), engine="dask_zarrio", format="kerchunk"
        )
    oracle = expected(path)
    for name in ("temp", "count", "flag"):
        np.testing.assert_array_equal(ds[name].values, oracle[name].values, err_msg=name)
    assert np.isnan(ds.temp.values[2, 3]) and ds.temp.attrs["units"] == "K"
