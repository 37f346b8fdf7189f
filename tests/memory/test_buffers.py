"""Huge-page-aligned buffers for big chunks, and local reads into them."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from dask_zarrio.memory.buffers import (
    HUGE_PAGE,
    MIN_ALIGNED,
    POOL,
    BufferPool,
    PopulateAhead,
    empty,
    empty_array,
    pooled_from,
    populate,
    read_file,
    result_array,
)
from dask_zarrio.store import open_store


@pytest.mark.parametrize("nbytes", [MIN_ALIGNED, MIN_ALIGNED + 1, 16 * 2**20, 16 * 2**20 + 12345])
def test_big_buffers_start_on_a_huge_page(nbytes):
    buf = empty(nbytes)
    assert buf.nbytes == nbytes and buf.dtype == np.uint8 and buf.flags.writeable and buf.flags.c_contiguous
    assert buf.ctypes.data % HUGE_PAGE == 0
    # The whole buffer lies inside the allocation: writing its last byte is fine.
    buf[-1] = 7


@pytest.mark.parametrize("nbytes", [0, 1, MIN_ALIGNED - 1])
def test_small_buffers_are_plain(nbytes):
    buf = empty(nbytes)
    assert buf.nbytes == nbytes and buf.base is None


@pytest.mark.parametrize("dtype", ["f4", "<i8", ">u2", "c16", "S3", [("a", "<i4"), ("b", ">f8")]])
def test_empty_array_has_shape_and_dtype(dtype):
    arr = empty_array((1024, 1031), dtype)
    assert arr.shape == (1024, 1031) and arr.dtype == np.dtype(dtype) and arr.flags.c_contiguous
    if arr.nbytes >= MIN_ALIGNED:
        assert arr.ctypes.data % HUGE_PAGE == 0


def test_empty_array_of_objects_is_plain():
    arr = empty_array((3,), object)
    assert arr.dtype == object and arr.shape == (3,)


@pytest.mark.parametrize("size", [0, 10, MIN_ALIGNED - 1, MIN_ALIGNED, 5 * 2**20 + 3])
def test_read_file_returns_every_byte(tmp_path, size):
    data = np.random.default_rng(size).integers(0, 256, size, dtype=np.uint8).tobytes()
    path = tmp_path / "f"
    path.write_bytes(data)
    got = read_file(str(path))
    assert bytes(got) == data
    if size >= MIN_ALIGNED:
        assert isinstance(got, np.ndarray) and got.ctypes.data % HUGE_PAGE == 0 and got.flags.writeable
    else:
        assert isinstance(got, bytes)


def test_read_file_of_a_missing_file_raises(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_file(str(tmp_path / "nope"))


def test_local_store_hands_out_big_chunks_aligned_and_small_ones_as_bytes(tmp_path):
    store = open_store(str(tmp_path / "s"))
    big = np.random.default_rng(0).integers(0, 256, 6 * 2**20, dtype=np.uint8).tobytes()
    store.set("c/0", big)
    store.set("c/1", b"small")
    got = store.get_many(["c/0", "c/1", "c/2"])
    assert bytes(got[0]) == big and got[0].ctypes.data % HUGE_PAGE == 0
    assert got[1] == b"small" and got[2] is None
    assert store.get("c/0") == big  # plain ``get`` (metadata too) stays bytes


@pytest.mark.parametrize("kind", ["v3", "v2", "v3-sharded", "n5", "v3-object-filter-free-bool"])
def test_big_local_chunks_read_back_exactly(tmp_path, kind):
    """Chunks of >= MIN_ALIGNED stored bytes arrive as aligned arrays, not bytes: every format decodes them."""
    import dask.array as da

    import dask_zarrio as dz

    rng = np.random.default_rng(7)
    if kind.endswith("bool"):
        data = rng.random((3000, 3000)) > 0.5  # 9 MB raw chunks of bool
        chunks = (3000, 3000)
    else:
        data = rng.normal(size=(1100, 1024)).astype("f8")  # 8.6 MiB raw, 2 chunks of 4.3 MiB
        chunks = (550, 1024)
    url = str(tmp_path / ("a.n5/x" if kind == "n5" else "a.zarr"))
    kwargs: dict = {"compressors": None}
    if kind == "v2":
        kwargs["zarr_format"] = 2
    elif kind == "n5":
        kwargs["zarr_format"] = "n5"
    elif kind == "v3-sharded":
        kwargs.update(chunks=(275, 512), shards=chunks)
    dz.write(da.from_array(data, chunks=chunks), url, **kwargs)
    out = dz.read(url).compute()
    np.testing.assert_array_equal(out, data)
    assert out.flags.writeable


MiB = 2**20


def test_pool_reuses_a_buffer_once_its_last_view_is_gone():
    pool = BufferPool(max_bytes=64 * MiB)
    a = pool.take(8 * MiB)
    address = a.ctypes.data
    views = [a.view("f4").reshape(1024, -1)[::2], a[100:], memoryview(a)]
    del a
    while views:
        # Still referenced: the memory must not be handed out again.
        assert pool.free_bytes == 0
        b = pool.take(8 * MiB)
        assert b.ctypes.data != address
        del b  # goes back to the pool: a different buffer
        pool.clear()
        views.pop(0)
    assert pool.free_bytes == 8 * MiB
    assert pool.take(8 * MiB).ctypes.data == address


def test_pool_never_lends_memory_still_in_use():
    """Data written into one array survives any number of later takes while it lives."""
    pool = BufferPool(max_bytes=256 * MiB)
    kept = []
    for i in range(20):
        arr = pool.take(6 * MiB)
        arr[:] = i
        if i % 3 == 0:
            kept.append((i, arr[::7]))  # only a view survives
        del arr
    for i, view in kept:
        assert (view == i).all()


@pytest.mark.parametrize("first, then, reused", [
    (8 * MiB, 8 * MiB, True),
    (8 * MiB, 7 * MiB + 1, True),   # rounds up to the same 8 MiB
    (10 * MiB, 8 * MiB, True),       # at most a quarter bigger
    (8 * MiB, 6 * MiB, False),       # more than a quarter bigger
    (16 * MiB, 4 * MiB, False),      # would waste three quarters
    (8 * MiB, 10 * MiB, False),      # too small
])
def test_pool_matches_sizes(first, then, reused):
    pool = BufferPool(max_bytes=64 * MiB)
    a = pool.take(first)
    address = a.ctypes.data
    del a
    b = pool.take(then)
    assert b.nbytes == then and b.ctypes.data % HUGE_PAGE == 0
    assert (b.ctypes.data == address) is reused


def test_pool_keeps_at_most_max_bytes_dropping_the_oldest():
    pool = BufferPool(max_bytes=20 * MiB)
    arrays = [pool.take(8 * MiB) for _ in range(3)]
    addresses = [a.ctypes.data for a in arrays]
    while arrays:  # frees in order: the first one is dropped when the third comes back
        arrays.pop(0)
    assert pool.free_bytes == 16 * MiB
    got = {pool.take(8 * MiB).ctypes.data for _ in range(2)}
    assert got == set(addresses[1:])


def test_pool_of_zero_bytes_keeps_nothing():
    pool = BufferPool(max_bytes=0)
    pool.take(8 * MiB)  # dropped at once
    assert pool.free_bytes == 0


def test_pool_is_safe_across_threads():
    from concurrent.futures import ThreadPoolExecutor

    pool = BufferPool(max_bytes=64 * MiB)

    def work(i: int) -> bool:
        ok = True
        for j in range(30):
            arr = pool.take((4 + (i + j) % 3) * MiB)
            arr[:: 4096] = i
            ok &= bool((arr[:: 4096] == i).all())
        return ok

    with ThreadPoolExecutor(4) as ex:
        assert all(ex.map(work, range(8)))
    assert pool.free_bytes <= 64 * MiB


def test_read_blocks_come_back_to_the_pool_and_results_stay_intact(tmp_path):
    """A computed block the user keeps is never overwritten by later reads."""
    import dask
    import dask.array as da

    import dask_zarrio as dz

    data = np.arange(4 * 1024 * 1024, dtype="f8").reshape(2048, 2048)  # 32 MiB, 8 MiB chunks
    url = str(tmp_path / "a.zarr")
    dz.write(da.from_array(data, chunks=(512, 2048)), url, mode="w", compressors=None)
    with dask.config.set(scheduler="threads"):
        first = dz.read(url, chunks=(512, 2048)).blocks[0].compute()
        kept = first[::3]
        del first
        for _ in range(3):
            assert float(dz.read(url, chunks=(512, 2048)).sum().compute()) == float(data.sum())
    np.testing.assert_array_equal(kept, data[:512][::3])
    assert POOL.free_bytes <= POOL.max_bytes


@pytest.mark.parametrize("missing", [(), ((0, 0),), ((1, 0), (1, 1))])
def test_reused_buffers_never_leak_old_bytes_into_a_read(tmp_path, missing):
    """Pooled memory holds the last user's bytes: every element of a block must be written again."""
    import os

    import dask.array as da

    import dask_zarrio as dz

    data = np.random.default_rng(3).random((2048, 1024))  # 16 MiB, four 4 MiB chunks
    url = str(tmp_path / "a.zarr")
    dz.write(da.from_array(data, chunks=(1024, 512)), url, mode="w", fill_value=-1.0)
    expected = data.copy()
    for i, j in missing:
        os.remove(os.path.join(url, "c", str(i), str(j)))
        expected[i * 1024:(i + 1) * 1024, j * 512:(j + 1) * 512] = -1.0
    for _ in range(3):  # leave pooled buffers of every size used here full of 0xFF
        junk = [POOL.take(n) for n in (16 * MiB, 4 * MiB, 4 * MiB + 1)]
        for j in junk:
            j[:] = 0xFF
        del junk, j
        got = dz.read(url, chunks=(2048, 1024)).compute(scheduler="sync")
        np.testing.assert_array_equal(got, expected)


def test_pool_size_follows_the_buffer_pool_setting():
    """``dask_zarrio.buffer-pool`` (bytes or a size string; 0 keeps nothing) bounds the pool."""
    import dask

    pool = BufferPool()  # as POOL: no fixed budget
    assert pool.max_bytes == 256 * MiB  # the default
    with dask.config.set({"dask_zarrio.buffer-pool": "20MiB"}):
        assert pool.max_bytes == 20 * MiB
        arrays = [pool.take(8 * MiB) for _ in range(3)]
        del arrays
        assert pool.free_bytes == 16 * MiB
    with dask.config.set({"dask_zarrio.buffer-pool": 0}):
        pool.take(8 * MiB)  # comes back to a pool that keeps nothing now: dropped
        assert pool.free_bytes <= 16 * MiB
        pool.clear()
        pool.take(8 * MiB)
        assert pool.free_bytes == 0
    assert BufferPool(max_bytes="8MiB").max_bytes == 8 * MiB  # a fixed budget ignores the setting
    assert POOL.max_bytes == 256 * MiB


def vm_flags(address: int) -> set[str]:
    """The ``VmFlags`` of this process's mapping that holds ``address`` (``/proc/self/smaps``)."""
    with open("/proc/self/smaps") as f:
        inside = False
        for line in f:
            head = line.split()[0]
            if "-" in head and not head.endswith(":"):
                lo, hi = (int(x, 16) for x in head.split("-"))
                inside = lo <= address < hi
            elif inside and head == "VmFlags:":
                return set(line.split()[1:])
    raise LookupError(hex(address))


def _resident() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="madvise and /proc are Linux's")


@linux_only
@pytest.mark.parametrize("shape, dtype", [((2048, 1024), "f4"), ((3, 1000, 1001), "<i8"), ((2**23,), "u1")])
def test_result_arrays_take_small_pages(shape, dtype):
    """numpy advises huge pages for 4 MiB and more; a fresh huge page is the dearest to fault in on a VM."""
    arr = result_array(shape, dtype)
    assert arr.shape == shape and arr.dtype == np.dtype(dtype) and arr.flags.owndata and arr.flags.c_contiguous
    inner = arr.ctypes.data + arr.nbytes // 2
    assert "nh" in vm_flags(inner) and "hg" not in vm_flags(inner)
    arr[...] = 3
    assert (arr == 3).all()


@pytest.mark.parametrize("shape", [(0,), (10,), (1023, 1023)])
def test_small_result_arrays_are_plain_numpy(shape):
    arr = result_array(shape, "f4")
    assert arr.shape == shape and arr.flags.owndata
    assert populate(arr) is False  # too few pages to matter


@linux_only
@pytest.mark.parametrize("parts", [1, 2, 3, 7])
def test_populate_faults_in_every_page_and_changes_nothing(parts):
    # Over glibc's largest mmap threshold (32 MiB): always a fresh mapping, never reused heap memory
    # already resident (freed buffers under 32 MiB go back to glibc, which reuses them).
    arr = result_array((64 * 2**20,), "u1")
    before = _resident()
    done = [populate(arr, i, parts) for i in range(parts)]
    if not all(done):
        pytest.skip("this kernel has no MADV_POPULATE_WRITE (Linux 5.14+)")
    # Every page is mapped (at most the two partial pages at the ends are left to fault in).
    assert _resident() - before >= arr.nbytes - 2 * 4096
    assert not arr.any()  # fresh anonymous memory reads as zeros; populate wrote nothing


@linux_only
def test_populate_keeps_what_an_array_holds():
    arr = result_array((2**21,), "f8")
    arr[:] = np.arange(arr.size)
    assert populate(arr, 1, 2) in (True, False)
    assert (arr == np.arange(arr.size)).all()


@linux_only
def test_populate_ahead_faults_in_each_range_once_in_order():
    arr = result_array((64 * 2**20,), "u1")  # a fresh mapping: nothing resident yet
    if not populate(result_array((8 * 2**20,), "u1")):
        pytest.skip("this kernel has no MADV_POPULATE_WRITE (Linux 5.14+)")
    ahead = PopulateAhead(arr)
    before = _resident()
    ahead.upto(10 * 2**20 + 5)  # up to a byte inside a page: that page too
    first = _resident() - before
    assert 10 * 2**20 - 4096 <= first <= 10 * 2**20 + 2 * 4096
    ahead.upto(2**20)  # behind what is done: nothing more
    assert _resident() - before - first < 64 * 4096
    ahead.upto(arr.nbytes)
    assert _resident() - before >= arr.nbytes - 2 * 4096
    assert not arr.any()


@linux_only
def test_populate_ahead_from_many_threads_covers_the_array_and_keeps_its_bytes():
    from concurrent.futures import ThreadPoolExecutor

    arr = result_array((48 * 2**20,), "u1")
    arr[::4096] = 7  # what the array holds stays
    ahead = PopulateAhead(arr)
    stops = list(range(2**20, arr.nbytes + 1, 3 * 2**20 + 11)) + [arr.nbytes]
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(ahead.upto, stops))
    assert (arr[::4096] == 7).all() and arr.sum() == 7 * len(arr[::4096])


@linux_only
def test_populate_ahead_leaves_what_populate_refuses_alone():
    small = result_array((1000,), "f4")
    small[:] = 1
    PopulateAhead(small).upto(small.nbytes)  # too few pages to matter: nothing done, no error
    assert (small == 1).all()
    arr = result_array((64 * 2**20,), "u1")  # a fresh mapping, read-only: not to be written
    arr.flags.writeable = False
    before = _resident()
    PopulateAhead(arr).upto(arr.nbytes)
    assert _resident() - before < 2**20


def test_populate_refuses_what_it_cannot_fill_whole():
    arr = result_array((2048, 2048), "f4")
    assert populate(arr[:, ::2]) is False  # strided: not one run of memory
    arr.flags.writeable = False
    assert populate(arr) is False


def test_buffers_glibc_reuses_itself_are_not_pooled():
    """Below glibc's largest mmap threshold (32 MiB) a freed buffer goes back to the C library,
    which reuses it; the pool keeping it too doubled that memory (a pyramid's peak grew by
    ~100 MiB). Bigger ones, which glibc maps afresh every time, are pooled."""
    if pooled_from() == MIN_ALIGNED:
        pytest.skip("not glibc with its dynamic thresholds: every big buffer is pooled")
    POOL.clear()
    buf = empty(16 * 2**20)
    assert buf.ctypes.data % HUGE_PAGE == 0
    del buf
    assert POOL.free_bytes == 0
    big = empty(40 * 2**20)
    del big
    assert POOL.free_bytes == 40 * 2**20
    POOL.clear()
    block = empty(32 * 2**20)  # a 32 MiB read block: glibc would map 34 MiB afresh for it every time
    del block
    assert POOL.free_bytes == 32 * 2**20
    POOL.clear()


@pytest.mark.parametrize("env,pooled", [
    ({}, 28 * 2**20 + 1),  # an aligned buffer of more asks glibc for 32 MiB or more: always a fresh mapping
    ({"MALLOC_TRIM_THRESHOLD_": "65536"}, MIN_ALIGNED),  # as dask.distributed starts its workers
    ({"MALLOC_MMAP_THRESHOLD_": "1048576"}, MIN_ALIGNED),
])
def test_fixed_malloc_thresholds_pool_every_big_buffer(env, pooled):
    """Where the environment fixes glibc's thresholds it no longer reuses big buffers: the pool does."""
    import os
    import platform
    import subprocess

    if platform.libc_ver()[0] != "glibc":
        pytest.skip("not glibc: every big buffer is pooled")
    code = "from dask_zarrio.memory.buffers import pooled_from; print(pooled_from())"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    done = subprocess.run([sys.executable, "-c", code], env={**clean, **env}, capture_output=True, text=True,
                          check=True)
    assert int(done.stdout) == pooled
