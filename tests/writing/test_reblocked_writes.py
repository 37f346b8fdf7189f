"""Writes whose blocks must be re-blocked (issue 31): every path writes the same data
(zarr-python reads it back), and memory stays bounded (measured in a subprocess)."""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np
import pytest
import zarr

import dask_zarrio as dz
from dask_zarrio.api import prepare_write
from tests.rss import peak_growth

SHAPE, STORED = (2, 64, 64), (1, 8, 8)


@pytest.fixture
def source(tmp_path):
    data = np.random.default_rng(0).integers(0, 255, SHAPE, dtype="u1")
    url = str(tmp_path / "src.zarr")
    dz.write(da.from_array(data, chunks=STORED), url, chunks=STORED)
    return url, data


def _rechunks(arr: da.Array) -> bool:
    return any(name.startswith("rechunk") for name in arr.dask.layers)


# name: (the data to write from the source's URL and values, what it holds, whether it is read again)
MAKERS = {
    "dz.read": (lambda url, data: dz.read(url), lambda d: d, True),
    "dz.read + 1, astype": (lambda url, data: (dz.read(url) + 1).astype("i2"), lambda d: (d + 1).astype("i2"), True),
    "dz.read v2 source": (lambda url, data: dz.read(url.replace("src", "src2")), lambda d: d, True),
    "dz.read reversed": (lambda url, data: dz.read(url)[:, ::-1], lambda d: d[:, ::-1], False),
    "dz.read rechunked": (lambda url, data: dz.read(url).rechunk((2, 64, 8)), lambda d: d, False),
    "map_blocks": (lambda url, data: dz.read(url).map_blocks(lambda b: b + 1), lambda d: d + 1, False),
    "dask": (lambda url, data: da.from_array(data, chunks=(2, 64, 8)), lambda d: d, False),
    "numpy": (lambda url, data: data, lambda d: d, False),
}
TARGETS = [((1, 8, 8), (1, 32, 32)), ((2, 16, 16), None), ((1, 8, 8), (2, 64, 16))]


@pytest.mark.parametrize("name", MAKERS)
@pytest.mark.parametrize(("chunks", "shards"), TARGETS)
def test_reblocked_writes_store_the_same_data(tmp_path, source, name, chunks, shards):
    url, data = source
    dz.write(da.from_array(data, chunks=(1, 16, 16)), url.replace("src", "src2"), chunks=(1, 16, 16), zarr_format=2)
    make, expected, reread = MAKERS[name]
    arr = make(url, data)
    out = str(tmp_path / "out.zarr")
    planned = prepare_write(arr, out, chunks=chunks, shards=shards)
    planned.target.abandon()
    if isinstance(arr, da.Array) and arr.chunks != planned.plan.chunks:
        assert _rechunks(planned.data) is not reread
    dz.write(arr, out, chunks=chunks, shards=shards)
    np.testing.assert_array_equal(zarr.open_array(out, mode="r")[...], expected(data))


def test_issue_layout_is_read_again_in_one_shard_blocks(source, tmp_path):
    """dz.read's blocks (2, 32, 8) into shards (1, 32, 32): each task reads one shard's chunks."""
    url, _ = source
    x = dz.read(url)
    assert x.chunks == ((2,), (32, 32), (8,) * 8)
    planned = prepare_write(x, str(tmp_path / "out.zarr"), chunks=(1, 8, 8), shards=(1, 32, 32))
    assert planned.plan.chunks == ((1, 1), (32, 32), (32, 32))
    assert planned.data.chunks == planned.plan.chunks and len(planned.data.dask.layers) == 1


def test_region_write_reads_the_source_in_blocks_aligned_to_the_target(source, tmp_path):
    """An r+ write at an offset: the re-read blocks follow the target's shards, not the region's start."""
    url, data = source
    out = str(tmp_path / "out.zarr")
    dz.init(out, shape=(2, 96, 96), dtype="u1", chunks=(1, 8, 8), shards=(1, 32, 32), fill_value=7)
    region = (slice(0, 2), slice(24, 88), slice(8, 72))
    dz.write(dz.read(url), out, mode="r+", region=region)
    expected = np.full((2, 96, 96), 7, "u1")
    expected[region] = data
    np.testing.assert_array_equal(zarr.open_array(out, mode="r")[...], expected)


def test_sharded_source_read_by_ranges(tmp_path):
    data = np.random.default_rng(1).integers(0, 255, SHAPE, dtype="u1")
    src, out = str(tmp_path / "src.zarr"), str(tmp_path / "out.zarr")
    dz.write(da.from_array(data, chunks=(2, 16, 64)), src, chunks=(1, 4, 4), shards=(2, 16, 64))
    with dask.config.set(scheduler="threads", num_workers=2):
        dz.write(dz.read(src), out, chunks=(1, 8, 8), shards=(1, 64, 16))
    np.testing.assert_array_equal(zarr.open_array(out, mode="r")[...], data)


SETUP = """
    import dask, numpy as np, dask.array as da, dask_zarrio as dz
    src, dst, how = sys.argv[1], sys.argv[2], sys.argv[3]
    x = da.random.default_rng(0).integers(0, 255, (2, 4096, 4096), chunks=(1, 256, 256), dtype="u1")
    dz.write(x, src, chunks=(1, 256, 256), compressors=None)
    del x
    y = dz.read(src)  # blocks (2, 4096, 256): 2 MiB
    if how == "dask":
        y = da.random.default_rng(1).integers(0, 255, y.shape, chunks=y.chunks, dtype="u1")
"""
WORK = """
    with dask.config.set(scheduler="threads", num_workers=2):
        dz.write(y, dst, chunks=(1, 256, 256), shards=(1, 2048, 2048))
"""
MiB = 2**20
SHARD, BLOCK, THREADS = 4 * MiB, 2 * MiB, 2


@pytest.mark.parametrize(("how", "bound"), [
    # Read again in one-shard blocks: 2 x threads x the larger of a shard and a block (each task holds its
    # block and the shard's encoded inner chunks, written to the file unjoined), plus 16 MiB (interpreter,
    # allocator, codecs). Measured: +18.8 MiB (+26.8 when shards were joined, bound 48 then).
    ("read", 2 * THREADS * max(SHARD, BLOCK) + 16 * MiB),
    # Any other dask array: the same, plus the source blocks overlapping the shards in flight, which dask
    # keeps until every block that needs them is written (8 blocks of 2 MiB span a band of shards).
    # Measured: +35.6 MiB (+43.7 joined, bound 64 then).
    ("dask", 2 * THREADS * max(SHARD, BLOCK) + 8 * BLOCK + 16 * MiB),
])
def test_peak_memory_of_a_write_into_shards_from_unaligned_blocks(tmp_path, how, bound):
    """2 x 4096² uint8 (32 MiB) in 256² chunks into shards of 2048², 2 threads: +113 MiB (read) and
    +72 MiB (dask) before, when the planner merged 8 source blocks into blocks of 4 shards."""
    grown = peak_growth(SETUP, WORK, tmp_path / "s.zarr", tmp_path / "t.zarr", how, timeout=120)
    assert grown <= bound, f"peak RSS grew by {grown / MiB:.0f} MiB, over {bound / MiB:.0f} MiB"
    z = zarr.open_array(str(tmp_path / "t.zarr"), mode="r")
    assert z.shards == (1, 2048, 2048) and z.shape == (2, 4096, 4096)


@pytest.mark.parametrize(("data", "stored", "target"), [
    (np.array([f"s{i}" for i in range(20)], dtype=object), (4,), (6,)),  # strings: one chunk per read block
    (np.arange(240, dtype="i4").reshape(40, 6), (5, 6), ((3, 7, 10, 20), (6,))),  # a rectilinear target
    (np.arange(240, dtype="f8").reshape(40, 6), (5, 6), (8, 4)),  # cut along both axes
])
def test_other_dtypes_and_grids_are_read_again(tmp_path, data, stored, target):
    src, out = str(tmp_path / "src.zarr"), str(tmp_path / "out.zarr")
    dz.write(da.from_array(data, chunks=stored), src, chunks=stored)
    x = dz.read(src)
    planned = prepare_write(x, out, chunks=target)
    planned.target.abandon()
    assert planned.data.chunks == planned.plan.chunks and list(planned.data.dask.layers) == [planned.data.name]
    dz.write(x, out, chunks=target)
    back = dz.read(out).compute() if isinstance(target[0], tuple) else zarr.open_array(out, mode="r")[...]
    np.testing.assert_array_equal(back, data)
