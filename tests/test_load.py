"""dz.load: a whole array or an orthogonal selection into one numpy array, each chunk read once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import dask.array as da
import numpy as np
import pytest

import dask_zarrio as dz
from dask_zarrio.store import open_store
from dask_zarrio.testing import CountingStore

ROOT = Path(__file__).resolve().parent.parent
FULL = np.arange(11 * 13, dtype="i4").reshape(11, 13)

#: name -> dz.write arguments: every read path the loader goes through.
LAYOUTS = {
    "v2": dict(chunks=(4, 5), zarr_format=2),
    "v2-F-order": dict(chunks=(4, 5), zarr_format=2, order="F"),
    "v3": dict(chunks=(4, 5)),
    "v3-uncompressed": dict(chunks=(4, 13), compressors=None),
    "v3-sharded": dict(chunks=(2, 5), shards=(4, 10)),
    "rectilinear": dict(chunks=((3, 5, 3), (4, 9))),
    "n5": dict(chunks=(4, 5), zarr_format="n5"),
}

SELECTIONS = {
    "all": None,
    "empty-tuple": (),
    "row": (3,),
    "rows": (slice(2, 9),),
    "reversed-column": (slice(None, None, -1), 4),
    "ellipsis-points": (..., [0, 12, 5, 5]),
    "bools-strided": (np.array([True, False] * 5 + [True]), slice(1, 12, 3)),
    "negative-ints": (-1, -1),
    "empty": (slice(5, 5),),
    "numpy-ints": (np.int64(2), np.array([3, -1])),
}


def _oindex(full, selection):
    """What zarr's ``oindex`` gives, in numpy terms."""
    if selection is None:
        return full
    sel = selection if isinstance(selection, tuple) else (selection,)
    if any(s is Ellipsis for s in sel):
        at = next(i for i, s in enumerate(sel) if s is Ellipsis)
        sel = sel[:at] + (slice(None),) * (full.ndim - len(sel) + 1) + sel[at + 1:]
    sel = sel + (slice(None),) * (full.ndim - len(sel))
    arrays, drop = [], []
    for axis, (s, n) in enumerate(zip(sel, full.shape)):
        if isinstance(s, slice):
            arrays.append(np.arange(n)[s])
        elif np.ndim(s) == 0:
            arrays.append(np.array([int(s) % n]))
            drop.append(axis)
        else:
            a = np.asarray(s)
            arrays.append(np.flatnonzero(a) if a.dtype == bool else a % n)
    return full[np.ix_(*arrays)].squeeze(axis=tuple(drop)) if drop else full[np.ix_(*arrays)]


@pytest.fixture(scope="module", params=sorted(LAYOUTS))
def stored(request, tmp_path_factory):
    url = str(tmp_path_factory.mktemp("load") / f"{request.param}.zarr")
    dz.write(da.from_array(FULL, chunks=(6, 7)), url, mode="w", **LAYOUTS[request.param])
    return url


@pytest.mark.parametrize("threads", [1, 3])
@pytest.mark.parametrize("name", sorted(SELECTIONS))
def test_load_gives_the_selection(stored, name, threads):
    got = dz.load(stored, SELECTIONS[name], threads=threads)
    want = _oindex(FULL, SELECTIONS[name])
    assert got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)
    assert got.flags.writeable and got.flags.c_contiguous


def test_load_equals_compute(stored):
    np.testing.assert_array_equal(dz.load(stored), dz.read(stored).compute())


@pytest.mark.parametrize("points", [
    (np.array([0, 10, 10, 3]), np.array([0, 12, 0, 7])),
    (np.array([[1, -1], [2, 3]]), np.array([4])),  # broadcast, negative
    (np.array([], int), np.array([], int)),
])
def test_load_points_is_vectorized_indexing(stored, points):
    np.testing.assert_array_equal(dz.load(stored, points, points=True, threads=2), FULL[points])


def test_missing_chunks_read_as_the_fill_value(tmp_path):
    url = str(tmp_path / "f.zarr")
    dz.init(url, shape=(6, 6), dtype="f4", chunks=(2, 3), fill_value=-1.0)
    dz.write(np.ones((2, 3), "f4"), url, mode="r+", region=(slice(2, 4), slice(3, 6)))
    want = np.full((6, 6), -1.0, "f4")
    want[2:4, 3:6] = 1
    np.testing.assert_array_equal(dz.load(url, threads=4), want)


def test_strings_load_as_objects(tmp_path):
    url = str(tmp_path / "s.zarr")
    words = np.array(["a", "bb", "", "dddd", "e"], dtype=object)
    dz.write(words, url, chunks=(2,))
    np.testing.assert_array_equal(dz.load(url, slice(1, None)), words[1:])


@pytest.mark.parametrize("fmt", [2, 3])
def test_a_partial_load_fetches_only_the_chunks_it_needs(tmp_path, fmt):
    url = str(tmp_path / "c.zarr")
    dz.write(FULL, url, chunks=(4, 5), zarr_format=fmt)
    store = CountingStore(open_store(url))
    dz.load(store, (5, slice(0, 7)))
    chunks = {k: n for k, n in store.gets.items() if not k.startswith((".z", "zarr.json"))}
    assert chunks == ({"1.0": 1, "1.1": 1} if fmt == 2 else {"c/1/0": 1, "c/1/1": 1})


def test_a_partial_load_reads_a_shard_by_ranges(tmp_path):
    url = str(tmp_path / "s.zarr")
    dz.write(FULL, url, chunks=(2, 5), shards=(4, 10))
    store = CountingStore(open_store(url))
    np.testing.assert_array_equal(dz.load(store, (5, slice(0, 3))), FULL[5, :3])
    assert [k for k in store.gets if k.startswith("c/")] == []  # no shard fetched whole
    assert dict(store.counters["get_range"]) == {"c/1/0": 2}  # its index, then one inner chunk


def test_a_full_load_fetches_every_chunk_once(tmp_path):
    url = str(tmp_path / "o.zarr")
    dz.write(FULL, url, chunks=(2, 3))
    store = CountingStore(open_store(url))
    dz.load(store, threads=4)
    chunks = [n for k, n in store.gets.items() if k.startswith("c/")]
    assert len(chunks) == 6 * 5 and set(chunks) == {1}


@pytest.mark.parametrize("selection, error", [
    ((11,), IndexError), ((0, 0, 0), IndexError), (([20],), IndexError), ((np.ones(3, bool),), IndexError),
    ((1.5,), IndexError), ((..., ...), IndexError), ((None,), dz.ZarrioError),
])
def test_bad_selections_are_refused(tmp_path, selection, error):
    url = str(tmp_path / "b.zarr")
    dz.write(FULL, url, chunks=(4, 5))
    with pytest.raises(error):
        dz.load(url, selection)


def test_a_corrupt_chunk_names_its_key(tmp_path):
    url = tmp_path / "x.zarr"
    dz.write(FULL, str(url), chunks=(4, 5))
    (url / "c" / "1" / "1").write_bytes(b"junk")
    with pytest.raises(dz.ChunkDecodeError, match="c/1/1"):
        dz.load(str(url), threads=3)


def test_load_reads_icechunk_versions_as_read_does(tmp_path):
    with pytest.raises(dz.ZarrioError, match="Icechunk"):
        dz.load(str(tmp_path / "none.zarr"), branch="main")


_CHILD = textwrap.dedent("""
    import json, sys
    import numpy as np, dask_zarrio as dz
    from benchmarks.memory import measure
    how, url = sys.argv[1], sys.argv[2]
    call = {"load": lambda: dz.load(url), "compute": lambda: dz.read(url).compute()}[how]
    dz.load(url, (slice(0, 1),)), dz.read(url)[:1].compute()  # imports and metadata warm: the baseline
    out = []
    seconds, grown = measure(lambda: out.append(call()))
    print(json.dumps({"grown": grown, "nbytes": out[0].nbytes}))
""")


def _peak(how, url):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run([sys.executable, "-c", _CHILD, how, url], capture_output=True, text=True, env=env,
                         timeout=240)
    assert run.returncode == 0, run.stderr[-2000:]
    r = json.loads(run.stdout.strip().splitlines()[-1])
    return r["grown"] / r["nbytes"]


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """256 MiB of float32 in 2 MiB chunks that do not span the last axis (so none decodes in place)."""
    url = str(tmp_path_factory.mktemp("big") / "big.zarr")
    x = da.random.default_rng(0).random((8192, 8192), chunks=(1024, 8192), dtype="f4")
    dz.write(x, url, chunks=(512, 1024))
    return url


@pytest.mark.skipif(sys.platform != "linux", reason="resident memory is sampled from /proc")
def test_a_full_load_peaks_within_a_tenth_of_its_output(big):
    """dask's compute holds the blocks and their concatenation (about 2 x); dz.load the result."""
    assert _peak("load", big) <= 1.1


@pytest.mark.parametrize("chunks", [(1024, 2048), (512, 2048), (256, 512), (1000, 700)])
@pytest.mark.parametrize("threads", [1, 3])
@pytest.mark.parametrize("codec", ["blosc", "zstd", None])
def test_a_big_load_is_exact_whatever_its_pieces_and_threads(tmp_path, chunks, threads, codec):
    """8 MiB: the result is faulted in by the threads first (one part each, as many parts as pieces)."""
    x = np.random.default_rng(1).random((1024, 2048)).astype("f4")
    url = str(tmp_path / "a.zarr")
    compressors = None if codec is None else [{"name": codec, "configuration": {"cname": "zstd", "typesize": 4}}
                                              if codec == "blosc" else {"name": "zstd"}]
    dz.write(da.from_array(x, chunks=(512, 512)), url, chunks=chunks, compressors=compressors)
    got = dz.load(url, threads=threads)
    assert got.flags.writeable and got.flags.c_contiguous
    np.testing.assert_array_equal(got, x)
    np.testing.assert_array_equal(dz.load(url, (slice(3, None), slice(None, -5)), threads=threads), x[3:, :-5])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="madvise and /proc are Linux's")
def test_a_load_result_takes_small_pages(tmp_path):
    """A huge page touched for the first time costs 4-20 x a small one on a VM (docs/performance.md)."""
    from tests.memory.test_buffers import vm_flags

    url = str(tmp_path / "a.zarr")
    dz.write(da.ones((1024, 2048), chunks=512, dtype="f4"), url, chunks=(256, 512))
    got = dz.load(url, threads=2)
    flags = vm_flags(got.ctypes.data + got.nbytes // 2)
    assert "hg" not in flags and "nh" in flags
    points = dz.load(url, (np.arange(2**21) % 1024, np.arange(2**21) % 2048), points=True)
    assert points.nbytes >= 2**23 and "hg" not in vm_flags(points.ctypes.data + points.nbytes // 2)
