"""dz.write, dz.init and dz.read (api.py): planned writes, regions, appends, templates, no corruption."""

from __future__ import annotations

import json
import logging
import os
import uuid

import dask
import dask.array as da
import numpy as np
import pytest
import zarr

import dask_zarrio as dz
from dask_zarrio.store import open_store
from dask_zarrio.testing import CountingStore

RNG = np.random.default_rng(42)
SOURCE = RNG.standard_normal((400, 400))


@pytest.mark.parametrize("repeat", range(3))
@pytest.mark.parametrize("fmt", [2, 3])
def test_misaligned_chunks_do_not_corrupt_on_many_threads(tmp_path, repeat, fmt):
    """dask.array.to_zarr writes corrupt data here 5/5 times (dask/dask#12583, zarr-python#3682)."""
    url = str(tmp_path / "a.zarr")
    x = da.from_array(SOURCE, chunks=25)
    with dask.config.set(scheduler="threads", num_workers=16):
        dz.write(x, url, chunks=(40, 40), zarr_format=fmt)
    np.testing.assert_array_equal(zarr.open_array(url, mode="r")[...], SOURCE)


def test_each_chunk_key_written_exactly_once(tmp_path):
    store = CountingStore(open_store(str(tmp_path / "a.zarr")))
    dz.write(da.from_array(SOURCE, chunks=25), store, chunks=(40, 40))
    chunk_sets = {k: v for k, v in store.sets.items() if k.startswith("c/")}
    assert len(chunk_sets) == 100 and set(chunk_sets.values()) == {1}
    assert store.sets["zarr.json"] == 1


def test_rechunk_is_logged_at_info(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="dask_zarrio"):
        dz.write(da.from_array(SOURCE, chunks=25), str(tmp_path / "a.zarr"), chunks=(40, 40))
    assert "exactly one writer" in caplog.text


def test_aligned_layout_needs_no_rechunk(tmp_path, caplog):
    x = da.from_array(SOURCE, chunks=(100, 50))
    with caplog.at_level(logging.INFO, logger="dask_zarrio"):
        dz.write(x, str(tmp_path / "a.zarr"), chunks=(50, 50))
        dz.write(x, str(tmp_path / "b.zarr"))  # chunks=None: chosen from the dask blocks
    assert "rechunking" not in caplog.text
    assert json.load(open(tmp_path / "b.zarr" / "zarr.json"))["chunk_grid"]["configuration"]["chunk_shape"] == [100, 50]


def test_irregular_dask_chunks_are_planned(tmp_path, url):
    x = da.from_array(SOURCE[:, :7], chunks=((7, 5, 9, 3) * 16 + (16,), 7))
    dz.write(x, url, chunks=(4, 7))
    np.testing.assert_array_equal(dz.read(url).compute(), SOURCE[:, :7])


@pytest.fixture
def base(tmp_path):
    """A 2-D array of 23 x 17 in chunks of 5 x 4 (edge chunks on both axes)."""
    url = str(tmp_path / "base.zarr")
    data = np.arange(23 * 17, dtype="i4").reshape(23, 17)
    dz.write(da.from_array(data, chunks=(5, 4)), url, fill_value=-1)
    return url, data


@pytest.mark.parametrize("region", [
    (slice(3, 12), slice(2, 15)),      # cuts chunks on every side
    (slice(5, 15), slice(4, 12)),      # aligned
    (slice(0, 23), slice(13, 17)),     # reaches the array's edge
    (slice(7, 8),),                    # one row, trailing axis implied
])
@pytest.mark.parametrize("dask_chunks", [3, 7])
def test_region_write_changes_only_the_region(base, region, dask_chunks):
    url, data = base
    full = tuple(region) + (slice(0, 17),) * (2 - len(region))
    patch_shape = tuple(s.stop - s.start for s in full)
    patch = -np.arange(np.prod(patch_shape), dtype="i4").reshape(patch_shape) - 100
    dz.write(da.from_array(patch, chunks=dask_chunks), url, mode="r+", region=region)
    expected = data.copy()
    expected[full] = patch
    np.testing.assert_array_equal(zarr.open_array(url, mode="r")[...], expected)


def test_region_write_of_fill_values_deletes_emptied_chunks(base):
    url, data = base
    dz.write(da.full((5, 4), -1, dtype="i4", chunks=5), url, mode="r+", region=(slice(0, 5), slice(0, 4)))
    assert not os.path.exists(os.path.join(url, "c", "0", "0"))
    expected = data.copy()
    expected[:5, :4] = -1
    np.testing.assert_array_equal(dz.read(url).compute(), expected)


def test_region_cutting_chunks_is_reported(base, caplog):
    url, data = base
    with caplog.at_level(logging.WARNING, logger="dask_zarrio"):
        dz.write(da.zeros((4, 17), dtype="i4", chunks=2), url, mode="r+", region=(slice(3, 7),))
    assert "falls inside stored chunk [0, 5)" in caplog.text
    with pytest.raises(dz.MisalignedWriteError, match="axis 0"):
        dz.write(da.zeros((4, 17), dtype="i4", chunks=2), url, mode="r+", region=(slice(3, 7),), align="raise")


def test_region_errors(base):
    url, _ = base
    with pytest.raises(dz.ZarrioError, match="does not match the region"):
        dz.write(da.zeros((3, 3), dtype="i4", chunks=3), url, mode="r+", region=(slice(0, 4),))
    with pytest.raises(dz.ZarrioError, match="outside the array's shape"):
        dz.write(da.zeros((3, 17), dtype="i4", chunks=3), url, mode="r+", region=(slice(21, 24),))
    with pytest.raises(dz.ZarrioError, match="step 1"):
        dz.write(da.zeros((3, 17), dtype="i4", chunks=3), url, mode="r+", region=(slice(0, 6, 2),))
    with pytest.raises(dz.ZarrioError, match="cast first"):
        dz.write(da.zeros((3, 17), dtype="f8", chunks=3), url, mode="r+", region=(slice(0, 3),))
    with pytest.raises(dz.ArrayNotFoundError):
        dz.write(da.zeros(3, chunks=3), url + "-missing", mode="r+")


@pytest.mark.parametrize("fmt", [2, 3])
@pytest.mark.parametrize("add,dask_chunks", [(1, 1), (4, 3), (12, 5), (10, 10)])
def test_append_to_length_not_multiple_of_chunk(tmp_path, fmt, add, dask_chunks):
    """xarray#9767: appending when the last chunk is partial."""
    url = str(tmp_path / "a.zarr")
    first = np.arange(23 * 3, dtype="f8").reshape(23, 3)
    dz.write(da.from_array(first, chunks=(5, 3)), url, zarr_format=fmt, dimension_names=["time", "x"])
    more = -np.arange(add * 3, dtype="f8").reshape(add, 3) - 1
    dz.write(da.from_array(more, chunks=dask_chunks), url, mode="a", append_dim=0)
    expected = np.concatenate([first, more])
    np.testing.assert_array_equal(zarr.open_array(url, mode="r")[...], expected)
    np.testing.assert_array_equal(dz.read(url).compute(), expected)


def test_append_by_dimension_name_resizes_metadata_once(tmp_path):
    url = str(tmp_path / "a.zarr")
    dz.write(da.zeros((4, 2), chunks=(3, 2)), url, dimension_names=["time", "x"])
    store = CountingStore(open_store(url))
    dz.write(da.ones((5, 2), chunks=(2, 2)), store, mode="a", append_dim="time")
    assert store.sets["zarr.json"] == 1
    assert dz.read(url).shape == (9, 2)


def test_append_creates_missing_array_and_checks_shapes(tmp_path):
    url = str(tmp_path / "a.zarr")
    dz.write(da.ones((2, 3), chunks=2), url, mode="a", append_dim=0)
    dz.write(da.ones((2, 3), chunks=2), url, mode="a", append_dim=0)
    assert dz.read(url).shape == (4, 3)
    with pytest.raises(dz.ZarrioError, match="all other dimensions must match"):
        dz.write(da.ones((2, 4), chunks=2), url, mode="a", append_dim=0)
    with pytest.raises(dz.ZarrioError, match="dimension_names"):
        dz.write(da.ones((2, 3), chunks=2), url, mode="a", append_dim="time")


def test_init_then_independent_region_jobs(tmp_path):
    """The "template then regions" pattern (xarray#8245, #8343): no coordination needed."""
    url = str(tmp_path / "t.zarr")
    dz.init(url, shape=(40, 10), dtype="f4", chunks=(10, 10), fill_value=np.nan)
    assert sorted(os.listdir(url)) == ["zarr.json"]
    jobs = [
        dz.write(da.full((10, 10), i, dtype="f4", chunks=5), url, mode="r+",
                 region=(slice(10 * i, 10 * i + 10),), compute=False)
        for i in range(4)
    ]
    assert sorted(os.listdir(url)) == ["zarr.json"]  # nothing but metadata before compute
    dask.compute(*jobs, scheduler="threads", num_workers=8)
    expected = np.repeat(np.arange(4, dtype="f4"), 10)[:, None] * np.ones((1, 10), "f4")
    np.testing.assert_array_equal(zarr.open_array(url, mode="r")[...], expected)


def test_init_refuses_existing(tmp_path):
    url = str(tmp_path / "t.zarr")
    dz.init(url, shape=(4,), dtype="i2", chunks=(2,))
    with pytest.raises(dz.ContainsArrayError):
        dz.init(url, shape=(4,), dtype="i2", chunks=(2,))
    dz.init(url, shape=(8,), dtype="i2", chunks=(2,), mode="w")
    assert dz.read(url).shape == (8,)


def test_default_chunks_stay_within_byte_cap(tmp_path):
    url = str(tmp_path / "a.zarr")
    dz.write(da.zeros((256, 256), chunks=256), url, max_task_bytes=64 * 1024)
    chunk_shape = json.load(open(os.path.join(url, "zarr.json")))["chunk_grid"]["configuration"]["chunk_shape"]
    assert np.prod(chunk_shape) * 8 <= 64 * 1024


def test_a_replacing_write_refuses_to_read_its_own_target(tmp_path):
    """``mode="w"`` would delete the source before reading it: xarray's ``to_zarr(mode="w")`` of
    data opened from the same store writes NaN (xarray#11159)."""
    url = str(tmp_path / "g.zarr")
    dz.write(da.arange(8, chunks=4), f"{url}/x")
    source = dz.read(f"{url}/x")
    for target in (f"{url}/x", url):  # the array itself, or a group that holds it
        with pytest.raises(dz.ZarrioError, match="(is|contains) the source .*g.zarr/x.* deletes the target"):
            dz.write((source + 1).rechunk(8), target, mode="w")
    np.testing.assert_array_equal(dz.read(f"{url}/x").compute(), np.arange(8))
    dz.write(source + 1, f"{url}/x", mode="r+")  # in place: each chunk is read, then rewritten
    dz.write(dz.read(f"{url}/x") * 2, f"{url}/y", mode="w")  # elsewhere
    np.testing.assert_array_equal(dz.read(f"{url}/y").compute(), (np.arange(8) + 1) * 2)


def test_a_replacing_write_sees_sources_through_xarray(tmp_path):
    xr = pytest.importorskip("xarray")
    url = str(tmp_path / "d.zarr")
    dz.write_dataset(xr.Dataset({"v": (("x",), np.arange(6.0))}).chunk(3), url, mode="w")
    ds = xr.open_dataset(url, engine="dask_zarrio", chunks={})
    with pytest.raises(dz.ZarrioError, match="the target .*d.zarr/v is the source"):
        dz.write(ds.v.data * 2, f"{url}/v", mode="w")
    np.testing.assert_array_equal(dz.read(f"{url}/v").compute(), np.arange(6.0))


@pytest.mark.parametrize("where", ["memory", "local"])
def test_a_failed_replacement_leaves_consolidated_metadata_true(tmp_path, where):
    """A group opened through consolidated metadata must not read old metadata over new chunks
    (or over none): an object store drops the entry when the old array goes; a local folder
    keeps the old array, and its entry, until the new one is renamed in."""
    url = str(tmp_path / "g.zarr") if where == "local" else f"memory://cons-{uuid.uuid4().hex}/g.zarr"
    dz.create_group(url)
    dz.write(da.ones(8, chunks=4), f"{url}/x")
    dz.consolidate(url)

    def fail(block: np.ndarray) -> np.ndarray:
        raise RuntimeError("injected failure")

    with pytest.raises(RuntimeError):
        dz.write(da.zeros(8, chunks=4).map_blocks(fail, dtype="f8"), f"{url}/x", mode="w")
    g = dz.open_group(url)
    if where == "memory":
        assert "x" not in g.metadata.consolidated
        with pytest.raises(dz.IncompleteWriteError):
            g["x"]
    else:
        np.testing.assert_array_equal(g["x"].compute(), np.ones(8))
    dz.write(da.full(8, 5.0, chunks=4), f"{url}/x", mode="w")
    assert dz.open_group(url).metadata.consolidated["x"].document["shape"] == [8]
    np.testing.assert_array_equal(dz.open_group(url)["x"].compute(), np.full(8, 5.0))


@pytest.mark.parametrize("where", ["local", "memory"])
def test_concurrent_appends_lose_nothing(tmp_path, where):
    """Each append grows the shape by a conditional update; the loser retries, nothing is lost
    (zarr-python#2077 and #701 lose concurrent appends silently)."""
    import threading

    url = str(tmp_path / "a.zarr") if where == "local" else f"memory://appends-{uuid.uuid4().hex}/a.zarr"
    dz.write(da.full((4, 3), -1, dtype="i4", chunks=(4, 3)), url, chunks=(4, 3))
    conflicts = []

    def append(i: int) -> None:
        while True:
            try:
                dz.write(da.full((4, 3), i, dtype="i4", chunks=(4, 3)), url, mode="a", append_dim=0)
                return
            except dz.ConcurrentWriteError:
                conflicts.append(i)

    threads = [threading.Thread(target=append, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    back = dz.read(url).compute()
    assert back.shape == (36, 3)
    assert sorted(back[4::4, 0].tolist()) == list(range(8))  # every append, once, whole
    assert all((back[4 * k : 4 * k + 4] == back[4 * k, 0]).all() for k in range(9))


def test_an_append_that_lost_the_race_writes_nothing(tmp_path, monkeypatch):
    """The second of two appends that read the same shape is refused before any data."""
    from dask_zarrio.writing import target

    url = str(tmp_path / "a.zarr")
    dz.write(da.zeros(4, chunks=4, dtype="i2"), url, chunks=4)
    real = target.resolve_destination
    interleaved = []

    def resolve_then_let_another_append_in(*args, **kwargs):
        dest = real(*args, **kwargs)
        if not interleaved:
            interleaved.append(1)
            dz.write(da.full(4, 7, chunks=4, dtype="i2"), url, mode="a", append_dim=0)
        return dest

    monkeypatch.setattr(target, "resolve_destination", resolve_then_let_another_append_in)
    with pytest.raises(dz.ConcurrentWriteError, match="re-run the append"):
        dz.write(da.full(4, 9, chunks=4, dtype="i2"), url, mode="a", append_dim=0)
    np.testing.assert_array_equal(dz.read(url).compute(), [0] * 4 + [7] * 4)


@pytest.mark.parametrize("shape,chunks", [
    ((-1,), 1), ((1.5,), 1), (("a",), 1), ((4,), 0), ((4,), (-2,)), ((4,), (2, 2)), ((4,), 1.5),
    ((2**64,), 1), ((2**40, 2**40), 1), ("4", 1),
])
def test_init_refuses_bad_shapes_and_chunks_before_writing(shape, chunks):
    m: dict = {}
    with pytest.raises(dz.ZarrioError):
        dz.init(m, shape=shape, chunks=chunks, dtype="i4")
    assert m == {}


@pytest.mark.parametrize("kwargs", [
    {"chunks": 0}, {"chunks": -1}, {"chunks": (2,)}, {"shards": 0}, {"chunks": 1.5}, {"shards": "4"},
])
def test_write_refuses_bad_chunks_before_writing(kwargs):
    m: dict = {}
    with pytest.raises(dz.ZarrioError):
        dz.write(da.zeros((4, 4), chunks=2), m, **kwargs)
    assert m == {}


def test_write_infers_the_mode_from_append_dim_and_region(tmp_path):
    url = str(tmp_path / "a.zarr")
    dz.write(da.arange(4, chunks=2), url)
    dz.write(da.arange(4, 6, chunks=2), url, append_dim=0)
    dz.write(da.zeros(2, chunks=2, dtype="i8"), url, region=(slice(0, 2),))
    assert dz.read(url).compute().tolist() == [0, 0, 2, 3, 4, 5]
    with pytest.raises(dz.ZarrioError, match="region= needs mode='r\\+' or 'a'"):
        dz.write(da.zeros(2, chunks=2), url, mode="w", region=(slice(0, 2),))


@pytest.mark.parametrize("dtype", [object, np.dtypes.StringDType()])
def test_write_of_a_numpy_string_array_without_chunks(tmp_path, dtype):
    """dask cannot size "auto" blocks of object data; dz sizes them as 8 bytes an element."""
    url = str(tmp_path / "s.zarr")
    values = np.array(["a", "", "日本"] * 5, dtype=dtype)
    dz.write(values, url)
    assert dz.read(url).compute().tolist() == values.tolist()
    assert zarr.open_array(url, mode="r")[...].tolist() == values.tolist()
