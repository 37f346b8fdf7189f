"""Opening a group of many variables takes a few round trips, whatever their number (issue 31, goal 4).

Every test opens through :class:`~dask_zarrio.testing.waves.WaveStore`: a store that overlaps
requests, as object stores do, and records which requests had to wait for others. An open
needs a listing (without consolidated metadata), the members' documents and, for xarray,
the index coordinates' chunks; requests that do not depend on each other go out together.
"""

from __future__ import annotations

import json
import logging
import os

import dask.array as da
import numpy as np
import pytest
import xarray as xr
import zarr

import dask_zarrio as dz
from dask_zarrio.store import open_store
from dask_zarrio.testing.waves import WaveStore

N_VARS = 50
DOCUMENTS = ("zarr.json", ".zarray", ".zattrs", ".zgroup", ".zmetadata")
#: A round trip long enough that a thread started late on a busy machine still joins its wave.
SLOW = 0.25


def era5_like(url: str, zarr_format: int, consolidated: bool, n: int = N_VARS) -> None:
    """ERA5 in small: ``n`` variables (time, latitude, longitude) written by zarr-python, each
    with its first chunk stored (so that a read of it would show), and the three coordinates."""
    group = zarr.open_group(url, mode="w", zarr_format=zarr_format)  # type: ignore[arg-type]
    dims = ("time", "latitude", "longitude")
    # No coordinate value equals zarr-python's v2 fill value 0 (xarray would mask it).
    coords = {"time": np.arange(1, 25, dtype="i8"), "latitude": np.linspace(90, -90, 4, dtype="f4"),
              "longitude": np.arange(6, dtype="f4") * 60 + 30}
    for name, values in coords.items():
        attrs = {"units": "hours since 2000-01-01"} if name == "time" else {}
        arr = _create(group, name, values.shape, values.shape, values.dtype, (name,), attrs, zarr_format)
        arr[:] = values
    for i in range(n):
        arr = _create(group, f"var_{i:02d}", (24, 4, 6), (6, 2, 3), np.dtype("f4"), dims, {"units": "K"}, zarr_format)
        arr[:6, :2, :3] = i
    if consolidated:
        zarr.consolidate_metadata(url, zarr_format=zarr_format)  # type: ignore[arg-type]


def _create(group, name, shape, chunks, dtype, dims, attrs, zarr_format):
    if zarr_format == 2:
        return group.create_array(name, shape=shape, chunks=chunks, dtype=dtype,
                                  attributes={**attrs, "_ARRAY_DIMENSIONS": list(dims)})
    return group.create_array(name, shape=shape, chunks=chunks, dtype=dtype, dimension_names=dims, attributes=attrs)


@pytest.fixture(scope="module", params=[(3, True), (3, False), (2, True), (2, False)],
                ids=["v3-consolidated", "v3-plain", "v2-consolidated", "v2-plain"])
def group_url(request, tmp_path_factory):
    fmt, consolidated = request.param
    url = str(tmp_path_factory.mktemp("era5") / "g.zarr")
    era5_like(url, fmt, consolidated)
    return url, fmt, consolidated


def _chunk_reads(store: WaveStore) -> list[str]:
    """Requests of anything but a metadata document or a listing."""
    return [r.key for r in store.requests if r.kind != "list" and not r.key.endswith(DOCUMENTS)]


def test_xarray_open_takes_a_few_round_trips_and_reads_only_coordinates(group_url):
    """Consolidated: the root document, then the coordinates (2). Not: the root documents with the
    listing, the members' documents, the coordinates (3). Before, each member's documents were
    read one after the other, twice, and each coordinate read on its own (110 to 165 waves)."""
    url, fmt, consolidated = group_url
    store = WaveStore(open_store(url), delay=SLOW)
    ds = xr.open_dataset(store, engine="dask_zarrio", chunks={})
    assert len(ds.data_vars) == N_VARS and ds.time.dtype.kind == "M"
    assert ds.latitude.values.tolist() == [90, 30, -30, -90]
    assert store.waves <= (2 if consolidated else 3), [(r.key, r.wave) for r in store.requests]
    assert sorted(_chunk_reads(store)) == ["latitude/" + ("0" if fmt == 2 else "c/0"),
                                           "longitude/" + ("0" if fmt == 2 else "c/0"),
                                           "time/" + ("0" if fmt == 2 else "c/0")]
    gets = store.keys("get")
    assert len(gets) == len(set(gets)), "a document or chunk was fetched twice"
    assert float(ds.var_07[0, 0, 0]) == 7.0  # the data still reads


def test_group_open_reads_documents_only_in_few_round_trips(group_url):
    url, _, consolidated = group_url
    store = WaveStore(open_store(url), delay=SLOW)
    arrays = dict(dz.open_group(store).arrays())
    assert len(arrays) == N_VARS + 3 and arrays["var_03"].shape == (24, 4, 6)
    assert store.waves <= (1 if consolidated else 3)
    assert _chunk_reads(store) == [] and not store.keys("exists")
    assert len(store.keys("list")) == (0 if consolidated else 1)


@pytest.mark.parametrize("consolidated", [False, True])
def test_v2_arrays_without_a_separator_are_checked_together(tmp_path, consolidated):
    """zarr 2.x's nested layout with no dimension_separator: each array's first chunk is looked
    for, all arrays at once (two waves: "." keys, then "/" keys), not one array after the other."""
    root = str(tmp_path / "r.zarr")
    g = zarr.open_group(root, mode="w", zarr_format=2)
    for i in range(10):
        z = g.create_array(f"a{i}", shape=(3, 4), chunks=(2, 2), dtype="i4",
                           chunk_key_encoding={"name": "v2", "separator": "/" if i % 2 else "."})
        z[...] = i + 1
        path = os.path.join(root, f"a{i}", ".zarray")
        meta = json.load(open(path))
        del meta["dimension_separator"]
        json.dump(meta, open(path, "w"))
    if consolidated:
        zarr.consolidate_metadata(root, zarr_format=2)
        cons_path = os.path.join(root, ".zmetadata")  # as old writers left it (see test_hierarchy)
        cons = json.load(open(cons_path))
        for i in range(10):
            cons["metadata"][f"a{i}/.zarray"].pop("dimension_separator", None)
        json.dump(cons, open(cons_path, "w"))
    store = WaveStore(open_store(root), delay=SLOW)
    arrays = dict(dz.open_group(store).arrays())
    assert store.waves <= (3 if consolidated else 5)
    probes = [f"a{i}/0.0" for i in range(10)] + [f"a{i}/0/0" for i in (1, 3, 5, 7, 9)]
    assert sorted(store.keys("exists")) == sorted(probes)
    store.delay = 0  # the round trips are counted: the data reads with what was found, without waiting
    for i in range(10):
        assert (arrays[f"a{i}"].compute() == i + 1).all()


def test_members_of_every_kind_in_one_v3_group(tmp_path, caplog):
    """A v3 group holding a v2 array, a subgroup, a folder that is no node and an unfinished
    write: the batch reads what it can tell, the rest as before; the listing stays the same."""
    root = str(tmp_path / "g.zarr")
    dz.create_group(root)
    for i in range(5):
        dz.write(da.full(4, i, chunks=2), f"{root}/v3_{i}")
    dz.write(da.ones(4, chunks=2), f"{root}/old", zarr_format=2)
    dz.create_group(f"{root}/sub", attributes={"a": 1})
    dz.write(da.ones(2, chunks=2), f"{root}/sub/inner")
    os.makedirs(f"{root}/junk")
    open(f"{root}/junk/file", "w").close()
    dz.write(da.ones(4, chunks=2), f"{root}/pending", compute=False)
    store = WaveStore(open_store(root))
    with caplog.at_level(logging.WARNING, logger="dask_zarrio"):
        group = dz.open_group(store)
        assert group.members() == {"old": "array", "sub": "group", **{f"v3_{i}": "array" for i in range(5)}}
    assert any("pending is incomplete" in r.message for r in caplog.records)
    nodes = group.nodes()
    assert nodes["old"][1].zarr_format == 2 and nodes["sub"][1].attributes == {"a": 1}
    assert dict(group["sub"].arrays())["inner"].sum().compute() == 2
    assert [dict(group.groups())["sub"].attrs] == [{"a": 1}]


def test_v2_subgroups_come_in_a_second_batch(tmp_path):
    root = str(tmp_path / "g.zarr")
    dz.create_group(root, zarr_format=2)
    for i in range(6):
        dz.create_group(f"{root}/g{i}", zarr_format=2, attributes={"i": i})
        dz.write(da.ones(2, chunks=2), f"{root}/a{i}", zarr_format=2)
    store = WaveStore(open_store(root), delay=SLOW)
    group = dz.open_group(store)
    store.reset()
    kinds = group.members()
    assert kinds == {**{f"a{i}": "array" for i in range(6)}, **{f"g{i}": "group" for i in range(6)}}
    assert store.waves == 3  # the listing, .zarray/.zattrs of all, .zgroup/.zmetadata of the six groups
    assert [g.attrs["i"] for _, g in group.groups()] == list(range(6))


def test_the_group_opens_in_one_round_trip_v2_or_v3(tmp_path):
    """With overlapping requests a group's v2 documents go with zarr.json; a plain local store
    still asks for zarr.json alone first (a v3 group costs one request there)."""
    from dask_zarrio.testing import CountingStore

    for fmt in (2, 3):
        url = str(tmp_path / f"g{fmt}.zarr")
        dz.create_group(url, zarr_format=fmt, attributes={"t": fmt})
        store = WaveStore(open_store(url), delay=SLOW)
        assert dz.open_group(store).attrs == {"t": fmt} and store.waves == 1
        counting = CountingStore(open_store(url))
        dz.open_group(counting)
        assert dict(counting.gets) == ({"zarr.json": 1} if fmt == 3 else dict.fromkeys(
            ("zarr.json", ".zmetadata", ".zgroup", ".zattrs"), 1))


def test_index_coordinates_too_big_to_preload_are_read_as_before(group_url, monkeypatch):
    from dask_zarrio.graph import preload

    url, _, _ = group_url
    monkeypatch.setattr(preload, "MAX_PRELOAD_BYTES", 16)
    store = WaveStore(open_store(url))
    ds = xr.open_dataset(store, engine="dask_zarrio", chunks={})
    assert ds.longitude.values.tolist() == [30, 90, 150, 210, 270, 330]
    assert len(_chunk_reads(store)) >= 3


def test_a_sharded_index_coordinate_is_preloaded(tmp_path):
    """Its shard is fetched once, in the batch; the index and inner chunks are cut from memory."""
    root = str(tmp_path / "s.zarr")
    ds = xr.Dataset({"v": (("x",), np.arange(64.0))}, coords={"x": np.arange(64) * 2})
    dz.write_dataset(ds, root, encoding={"x": {"chunks": (8,), "shards": (32,)}})
    store = WaveStore(open_store(root))
    opened = xr.open_dataset(store, engine="dask_zarrio", chunks={})
    assert opened.x.values.tolist() == list(range(0, 128, 2))
    assert sorted(k for k in _chunk_reads(store) if k.startswith("x/")) == ["x/c/0", "x/c/1"]


def test_xarray_open_lists_while_it_reads_the_root(group_url):
    """The engine needs the members: the listing goes out with the root's documents (one round
    trip less without consolidated metadata); with it, the listing is that one request unused."""
    url, _, consolidated = group_url
    store = WaveStore(open_store(url), delay=SLOW)
    ds = xr.open_dataset(store, engine="dask_zarrio", chunks={})
    assert len(ds.data_vars) == N_VARS
    assert [r.wave for r in store.requests if r.kind == "list"] == [1]
    assert store.waves == (2 if consolidated else 3), [(r.key, r.wave) for r in store.requests]


@pytest.mark.parametrize("consolidated", [True, False])
def test_xarray_open_lists_only_where_it_may_need_to(group_url, consolidated):
    """consolidated=True needs no listing; consolidated=False lists once, with the root, even
    where the group has consolidated metadata (then ignored)."""
    url, _, has_consolidated = group_url
    if consolidated and not has_consolidated:
        pytest.skip("consolidated=True needs consolidated metadata")
    store = WaveStore(open_store(url), delay=SLOW)
    ds = xr.open_dataset(store, engine="dask_zarrio", chunks={}, consolidated=consolidated)
    assert len(ds.data_vars) == N_VARS
    assert [r.wave for r in store.requests if r.kind == "list"] == ([] if consolidated else [1])
    assert store.waves <= (2 if consolidated else 3)


def test_a_group_opened_with_list_members_lists_once_with_the_root(group_url):
    """dz.open_group(list_members=True): the listing in the root's round trip, used by the first
    read of the members; later reads list again (a group may gain members)."""
    url, _, consolidated = group_url
    store = WaveStore(open_store(url), delay=SLOW)
    group = dz.open_group(store, list_members=True)
    arrays = dict(group.arrays())
    assert len(arrays) == N_VARS + 3 and store.waves <= (1 if consolidated else 2)
    assert [r.wave for r in store.requests if r.kind == "list"] == [1]
    if not consolidated:
        group.nodes()
        assert [r.wave for r in store.requests if r.kind == "list"] == [1, 3]


def test_list_members_is_ignored_where_listing_does_not_overlap(tmp_path):
    """A local folder answers in turn: no thread, the listing when the members are read."""
    from dask_zarrio.testing import CountingStore

    url = str(tmp_path / "g.zarr")
    dz.write(da.ones(2, chunks=2), f"{url}/x")
    counting = CountingStore(open_store(url))
    group = dz.open_group(counting, list_members=True)
    assert group._listing is None
    assert list(group.array_keys()) == ["x"]


def test_a_group_with_a_pending_listing_pickles(group_url):
    import pickle

    url, _, _ = group_url
    group = dz.open_group(WaveStore(open_store(url), delay=0.2), list_members=True)
    again = pickle.loads(pickle.dumps(group))
    assert again.attrs == group.attrs and len(list(again.array_keys())) == N_VARS + 3
