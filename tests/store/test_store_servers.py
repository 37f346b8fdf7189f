"""Whole-array work on the server-backed stores (Redis, Azure Blob via Azurite, MongoDB via
mongomock): reads, writes, regions, appends, sharding, groups, consolidated metadata and the
xarray engine, each proven against zarr-python both ways by copying the node's objects
between the server and a local folder that zarr-python opens."""

from __future__ import annotations

import uuid
from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import xarray as xr
import zarr

import dask_zarrio as dz
from dask_zarrio.store import Store, open_store
from tests.conftest import assert_same
from tests.servers.azurite import azure_options

DATA = np.random.default_rng(19).standard_normal((40, 30))


@pytest.fixture(params=["redis", "azure", "mongodb"])
def server(request) -> tuple[str, dict]:
    """``(url of a fresh node, storage_options)`` on each server-backed store."""
    node = uuid.uuid4().hex
    if request.param == "redis":
        return f"redis://127.0.0.1:{request.getfixturevalue('redis_port')}/0/{node}", {}
    if request.param == "azure":
        endpoint = request.getfixturevalue("azurite_endpoint")
        return f"az://{request.getfixturevalue('container')}/{node}", azure_options(endpoint)
    request.getfixturevalue("mongomock_client")
    return f"mongodb://localhost/db/{node}?collection=zarr", {}


def _url(server: tuple[str, dict], path: str) -> str:
    base, _, query = server[0].partition("?")
    return f"{base}/{path}" + (f"?{query}" if query else "")


def _copy(source: Store, target: Store) -> None:
    for key in source.list_keys():
        value = source.get(key)
        assert value is not None
        target.set(key, value)


@pytest.mark.parametrize("fmt", [2, 3])
def test_written_here_read_by_zarr_and_back(server, tmp_path: Path, fmt: int):
    opts = server[1]
    dz.write(da.from_array(DATA, chunks=(10, 15)), _url(server, "a.zarr"), zarr_format=fmt, storage_options=opts)
    _copy(open_store(_url(server, "a.zarr"), opts), open_store(str(tmp_path / "a.zarr")))
    assert_same(zarr.open_array(str(tmp_path / "a.zarr"), mode="r")[...], DATA)
    z = zarr.create_array(str(tmp_path / "b.zarr"), shape=DATA.shape, chunks=(7, 9), dtype="f8", zarr_format=fmt)
    z[...] = DATA
    _copy(open_store(str(tmp_path / "b.zarr")), open_store(_url(server, "b.zarr"), opts))
    assert_same(dz.read(_url(server, "b.zarr"), storage_options=opts).compute(), DATA)


def test_regions_appends_and_shards(server):
    opts = server[1]
    url = _url(server, "a.zarr")
    dz.write(da.from_array(DATA, chunks=(10, 10)), url, dimension_names=["t", "x"], storage_options=opts)
    dz.write(da.zeros((13, 30), chunks=5), url, mode="r+", region=(slice(4, 17),), storage_options=opts)
    dz.write(da.ones((7, 30), chunks=7), url, mode="a", append_dim="t", storage_options=opts)
    expected = np.concatenate([DATA, np.ones((7, 30))])
    expected[4:17] = 0
    assert_same(dz.read(url, storage_options=opts).compute(), expected)
    sharded = _url(server, "s.zarr")
    dz.write(da.from_array(DATA, chunks=(20, 30)), sharded, chunks=(5, 5), shards=(20, 30), storage_options=opts)
    assert_same(dz.read(sharded, storage_options=opts).compute(), DATA)
    assert_same(dz.read(sharded, chunks=(5, 5), storage_options=opts)[3:9, 4:7].compute(), DATA[3:9, 4:7])


def test_groups_and_consolidated_metadata(server):
    opts = server[1]
    root = _url(server, "h.zarr")
    dz.create_group(root, attributes={"title": "served"}, storage_options=opts)
    dz.write(da.from_array(DATA, chunks=10), _url(server, "h.zarr/grp/temp"), storage_options=opts)
    dz.consolidate(root, storage_options=opts)
    g = dz.open_group(root, storage_options=opts)
    assert g.attrs["title"] == "served"
    assert_same(g["grp/temp"].compute(), DATA)
    assert "consolidated_metadata" in open_store(root, opts).get("zarr.json").decode()


def test_the_xarray_engine(server):
    opts = server[1]
    url = _url(server, "ds.zarr")
    ds = xr.Dataset({"t": (("time", "x"), DATA)}, coords={"time": np.arange(40)}, attrs={"source": "server"})
    dz.write_dataset(ds.chunk({"time": 10}), url, mode="w", storage_options=opts)
    back = xr.open_dataset(url, engine="dask_zarrio", chunks={}, storage_options=opts)
    xr.testing.assert_identical(back.compute(), ds)
