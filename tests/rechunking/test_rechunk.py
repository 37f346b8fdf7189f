"""dz.rechunk / dz.copy against the oracles: the target holds the source's values and
zarr-python reads it identically; undecoded paths decode nothing; a failed or killed
rechunk resumes to a correct array; peak memory stays within the contract."""

from __future__ import annotations

import json
import logging
import re

import dask
import dask.array as da
import numpy as np
import pytest
import tensorstore
import zarr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dask_zarrio as dz
from dask_zarrio.graph import tasks as graph_tasks
from dask_zarrio.rechunking import tasks as rechunk_tasks
from tests.rss import peak_growth

FORMATS = [2, 3, "n5"]


def _source(url, data, chunks, fmt=3, **kw):
    dz.write(da.from_array(data, chunks=chunks), url, chunks=chunks, zarr_format=fmt, mode="w", **kw)


@st.composite
def cases(draw):
    ndim = draw(st.integers(1, 3))
    shape = tuple(draw(st.integers(1, 9)) for _ in range(ndim))
    src = tuple(draw(st.integers(1, n)) for n in shape)
    dst = tuple(draw(st.integers(1, n)) for n in shape)
    sharded = draw(st.booleans())
    shards = tuple(c * draw(st.integers(1, 2)) for c in dst) if sharded else None
    return shape, src, dst, draw(st.sampled_from(FORMATS)), draw(st.sampled_from([2, 3])) if not sharded else 3, shards


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=cases(), max_mem=st.sampled_from([4096, 2**20]))
def test_the_target_holds_the_source_and_zarr_python_reads_it_identically(tmp_path_factory, case, max_mem):
    shape, src, dst, src_fmt, dst_fmt, shards = case
    d = tmp_path_factory.mktemp("rk")
    data = np.arange(np.prod(shape), dtype="i4").reshape(shape) - 5  # distinct values: no chunk holds only fill (0)
    _source(str(d / "s"), data, src, src_fmt)
    try:
        dz.rechunk(str(d / "s"), str(d / "t.zarr"), dst, shards=shards, zarr_format=dst_fmt, max_mem=max_mem)
    except dz.ZarrioError as e:  # a task that cannot fit max_mem is refused up front, saying so
        assert "max_mem" in str(e) and max_mem == 4096
        return
    np.testing.assert_array_equal(dz.read(str(d / "t.zarr")).compute(), data)
    z = zarr.open_array(str(d / "t.zarr"), mode="r")
    np.testing.assert_array_equal(z[...], data)
    assert z.chunks == dst and (z.shards == shards if shards else True)


@pytest.mark.parametrize("fmt", FORMATS)
def test_what_zarr_python_wrote_rechunks_identically(tmp_path, fmt):
    data = np.random.default_rng(1).random((12, 10)).astype("f8")
    if fmt == "n5":
        _source(str(tmp_path / "s"), data, (5, 10), "n5")
    else:
        z = zarr.create_array(
            str(tmp_path / "s"), shape=data.shape, chunks=(5, 10), dtype="f8", zarr_format=fmt, fill_value=1.5
        )
        z[2:] = data[2:]
        data[:2] = 1.5
    dz.rechunk(str(tmp_path / "s"), str(tmp_path / "t"), (12, 3), max_mem="1MiB", zarr_format=3)
    np.testing.assert_array_equal(zarr.open_array(str(tmp_path / "t"), mode="r")[...], data)


def test_two_passes_through_a_temporary_array_beside_the_target(tmp_path):
    data = np.random.default_rng(0).random((365, 48, 96)).astype("f4")
    _source(str(tmp_path / "s.zarr"), data, (1, 48, 96))
    job = dz.rechunk(str(tmp_path / "s.zarr"), str(tmp_path / "t.zarr"), (365, 6, 6), max_mem="1MiB", compute=False)
    assert len(job.plan.passes) == 2 and job.plan.peak_memory <= 2**20
    job.compute()
    np.testing.assert_array_equal(zarr.open_array(str(tmp_path / "t.zarr"), mode="r")[...], data)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.zarr", "t.zarr"]  # the temp array is gone


def _blosc_memcpyed(frame) -> bool:
    return bool(bytes(frame)[2] & 0x02)  # the blosc header's flags: BLOSC_MEMCPYED


# 90 days: the intermediate's chunks (9 days) leave no ragged edge, whose fill padding would compress
@pytest.mark.parametrize(("data", "memcpyed"), [
    (np.random.default_rng(0).random((90, 16, 32)).astype("f4"), True),  # lz4 would save ~10 %: not worth its time
    (np.broadcast_to(np.arange(90, dtype="f4")[:, None, None], (90, 16, 32)).copy(), False),  # smooth: compressed
])
def test_the_intermediate_is_compressed_only_where_it_saves_bytes(tmp_path, monkeypatch, data, memcpyed):
    import importlib

    # keep the temp to look at it: not deleted at the end, nor chunk by chunk by the second pass
    monkeypatch.setattr(
        importlib.import_module("dask_zarrio.rechunking.rechunk"), "_clean", lambda count, stores: count
    )
    monkeypatch.setattr(rechunk_tasks, "_delete", lambda store, keys: None)
    _source(str(tmp_path / "s.zarr"), data, (1, 16, 32))
    job = dz.rechunk(str(tmp_path / "s.zarr"), str(tmp_path / "t.zarr"), (90, 2, 2), max_mem=40_000,
                     temp=str(tmp_path / "tmp.zarr"), compute=False)
    assert job.plan.intermediate is not None
    job.compute()
    np.testing.assert_array_equal(zarr.open_array(str(tmp_path / "t.zarr"), mode="r")[...], data)
    frames = [f.read_bytes() for f in (tmp_path / "tmp.zarr").iterdir()  # flat keys
              if f.name != "zarr.json" and not f.name.startswith(".dz-")]
    tasks = job.plan.passes[0].tasks
    assert len(frames) > 2 * tasks
    plain = sum(map(_blosc_memcpyed, frames))
    # each task decides by its first stored unit, which is compressed whatever the outcome
    assert plain >= len(frames) - tasks if memcpyed else plain == 0
    # the intermediate's own metadata (blosc-lz4) reads it, as zarr-python does
    np.testing.assert_array_equal(zarr.open_array(str(tmp_path / "tmp.zarr"), mode="r")[...], data)


class _KeepsWhatItIsGiven(dz.store.MappingStore):
    """A store that holds the buffers it is given until later, as a batching uploader would."""

    def set(self, key, value):
        self.mapping[key] = value


def test_uncompressed_units_from_one_block_are_stored_apart(tmp_path):
    # A task copies each strided unit into one reused buffer, and an encoding without
    # compressors views it: each unit stored must be its own bytes all the same.
    data = np.arange(24 * 16, dtype="i4").reshape(24, 16)
    _source(str(tmp_path / "s.zarr"), data, (1, 16))
    target = _KeepsWhatItIsGiven({})
    dz.rechunk(str(tmp_path / "s.zarr"), target, (24, 2), compressors=None)
    np.testing.assert_array_equal(dz.read(target).compute(), data)


def test_an_intermediate_for_a_remote_target_needs_temp(tmp_path):
    data = np.zeros((365, 48, 96), "f4") + 1
    _source("memory://rk/s.zarr", data, (1, 48, 96))
    with pytest.raises(dz.ZarrioError, match="pass temp="):
        dz.rechunk("memory://rk/s.zarr", "memory://rk/t.zarr", (365, 6, 6), max_mem="1MiB", mode="w")
    dz.rechunk("memory://rk/s.zarr", "memory://rk/t.zarr", (365, 6, 6), max_mem="1MiB", mode="w", temp="memory://rk/tmp")
    np.testing.assert_array_equal(dz.read("memory://rk/t.zarr").compute(), data)


def _count_decodes(monkeypatch):
    calls = []
    for name in ("decode_chunk_at", "decode_chunk_into_at"):  # every chunk decode goes through these
        real = getattr(graph_tasks, name)
        monkeypatch.setattr(graph_tasks, name, lambda *a, _r=real, **k: calls.append(1) or _r(*a, **k))
    return calls


def _chunk_files(root):
    return sorted(
        str(f.relative_to(root)) for f in root.rglob("*") if f.is_file() and not f.name.startswith((".z", "zarr.json"))
    )


@pytest.mark.parametrize(("src_fmt", "src_keys", "kw", "fmt", "files", "encoding"), [
    # v2 -> v3 keeps the chunks' keys, as zarr-python's migrate_to_v3 writes them: a copy of files
    (2, None, {}, 3, ["0.0", "0.1", "1.0", "1.1"], {"name": "v2", "configuration": {"separator": "."}}),
    (2, {"name": "v2", "separator": "/"}, {}, 3, ["0/0", "0/1", "1/0", "1/1"],
     {"name": "v2", "configuration": {"separator": "/"}}),
    (2, None, {"chunk_key_encoding": "default"}, 3, ["c/0/0", "c/0/1", "c/1/0", "c/1/1"],
     {"name": "default", "configuration": {"separator": "/"}}),
    (2, None, {"chunks": (8, 2)}, 3, ["0.0", "0.1", "0.2", "0.3"],  # decoded, same keys
     {"name": "v2", "configuration": {"separator": "."}}),
    (3, {"name": "default", "separator": "."}, {}, 3, ["c.0.0", "c.0.1", "c.1.0", "c.1.1"],
     {"name": "default", "configuration": {"separator": "."}}),
    (3, None, {}, 2, ["0/0", "0/1", "1/0", "1/1"], "/"),  # v2 cannot say c/: the separator stays
])
def test_a_copy_keeps_the_chunk_keys_unless_told(tmp_path, src_fmt, src_keys, kw, fmt, files, encoding):
    data = np.arange(64, dtype="i4").reshape(8, 8) + 1
    dz.write(
        da.from_array(data, chunks=4), str(tmp_path / "s"), chunks=(4, 4), zarr_format=src_fmt,
        chunk_key_encoding=src_keys
    )
    dz.copy(str(tmp_path / "s"), str(tmp_path / "t"), zarr_format=fmt, **kw)
    assert _chunk_files(tmp_path / "t") == files
    if fmt == 3:
        assert json.loads((tmp_path / "t" / "zarr.json").read_text())["chunk_key_encoding"] == encoding
    else:
        assert json.loads((tmp_path / "t" / ".zarray").read_text())["dimension_separator"] == encoding
    np.testing.assert_array_equal(zarr.open_array(str(tmp_path / "t"), mode="r")[...], data)
    driver = {2: "zarr", 3: "zarr3"}[fmt]
    spec = {"driver": driver, "kvstore": {"driver": "file", "path": str(tmp_path / "t")}}
    ts = tensorstore.open(spec, read=True).result()
    np.testing.assert_array_equal(ts.read().result(), data)


@pytest.mark.parametrize(("kw", "kind"), [({"zarr_format": 3}, "copy"), ({"shards": (8, 8)}, "shards")])
def test_container_changes_copy_stored_bytes_without_decoding(tmp_path, monkeypatch, kw, kind):
    data = np.random.default_rng(2).random((16, 16))
    data[:8, :8] = 0  # a chunk holding only fill: not stored, stays missing
    _source(str(tmp_path / "s"), data, (4, 4), 2, compressors={"id": "blosc", "cname": "lz4", "shuffle": 1})
    calls = _count_decodes(monkeypatch)
    job = dz.copy(str(tmp_path / "s"), str(tmp_path / "t"), chunks=(4, 4), **kw) if kind == "copy" else None
    if kind == "shards":
        job = dz.rechunk(str(tmp_path / "s"), str(tmp_path / "t"), (4, 4), zarr_format=3, compute=False, **kw)
        assert job.plan.passes[0].kind == "shards"
        job.compute()
    assert calls == []
    np.testing.assert_array_equal(zarr.open_array(str(tmp_path / "t"), mode="r")[...], data)
    dz.rechunk(
        str(tmp_path / "s"), str(tmp_path / "d"), (4, 4), compressors={"name": "zstd", "configuration": {"level": 1}}
    )
    assert calls  # recompressing decodes


def test_format_fill_and_dtype_change_in_the_same_pass(tmp_path):
    data = np.arange(60, dtype="i4").reshape(6, 10)
    _source(str(tmp_path / "s"), data, (2, 10), 2)
    dz.rechunk(str(tmp_path / "s"), str(tmp_path / "t"), {1: 5}, zarr_format=3, fill_value=-1, dtype="f8")
    z = zarr.open_array(str(tmp_path / "t"), mode="r")
    assert z.dtype == np.dtype("f8") and z.fill_value == -1 and z.chunks == (2, 5)
    np.testing.assert_array_equal(z[...], data.astype("f8"))


def test_chunks_by_dimension_name_and_auto(tmp_path):
    _source(str(tmp_path / "s"), np.ones((8, 6)), (1, 6), dimension_names=["time", "x"])
    dz.rechunk(str(tmp_path / "s"), str(tmp_path / "t"), {"time": -1, "x": 3})
    assert dz.read(str(tmp_path / "t")).chunksize == (8, 3)
    dz.rechunk(str(tmp_path / "s"), str(tmp_path / "a"), "auto")
    assert zarr.open_array(str(tmp_path / "a"), mode="r").chunks == (8, 6)
    with pytest.raises(dz.ZarrioError, match="dimension_names"):
        dz.rechunk(str(tmp_path / "s"), str(tmp_path / "b"), {"lat": 2})


def test_a_group_copies_with_attributes_and_consolidated_metadata(tmp_path):
    root = str(tmp_path / "g.zarr")
    zg = zarr.open_group(root, mode="w", zarr_format=2, attributes={"title": "t"})
    sub = zg.create_group("sub", attributes={"k": 1})
    sub.create_array("a", data=np.arange(20.0).reshape(4, 5), chunks=(1, 5))
    zarr.consolidate_metadata(root)
    dz.copy(root, str(tmp_path / "c.zarr"), chunks={"sub/a": (4, 1)}, zarr_format=3)
    out = zarr.open_group(str(tmp_path / "c.zarr"), mode="r", use_consolidated=True)
    assert out.attrs["title"] == "t" and out["sub"].attrs["k"] == 1
    assert out["sub/a"].chunks == (4, 1) and out.metadata.consolidated_metadata is not None
    np.testing.assert_array_equal(out["sub/a"][...], np.arange(20.0).reshape(4, 5))


def test_a_failed_rechunk_resumes_writing_only_what_is_missing(tmp_path, monkeypatch):
    data = np.arange(400.0).reshape(20, 20)
    _source(str(tmp_path / "s"), data, (20, 1))
    real, seen = rechunk_tasks.read_into, []

    def failing(spec, store, region, out, fetch):
        seen.append(region)
        if region[0].start == 10:
            raise RuntimeError("injected failure")
        return real(spec, store, region, out, fetch)

    monkeypatch.setattr(rechunk_tasks, "read_into", failing)
    with dask.config.set(scheduler="sync"), pytest.raises(RuntimeError):
        dz.rechunk(str(tmp_path / "s"), str(tmp_path / "t"), (10, 20), max_mem=6000)
    with pytest.raises(dz.IncompleteWriteError):
        dz.read(str(tmp_path / "t"))
    monkeypatch.setattr(rechunk_tasks, "read_into", real)
    dz.rechunk(str(tmp_path / "s"), str(tmp_path / "t"), (10, 20), max_mem=6000, resume=True)
    np.testing.assert_array_equal(zarr.open_array(str(tmp_path / "t"), mode="r")[...], data)


def test_progress_bar_on_threads(tmp_path, capsys):
    _source(str(tmp_path / "s"), np.ones((4, 4)), (1, 4))
    dz.rechunk(str(tmp_path / "s"), str(tmp_path / "t"), (4, 1), progress=True)
    assert "100%" in capsys.readouterr().out


SETUP = """
    import dask, numpy as np, dask.array as da, dask_zarrio as dz
    src, dst = sys.argv[1], sys.argv[2]
    x = da.random.default_rng(0).random((800, 256, 256), chunks=(1, 256, 256), dtype="f4")
    dz.write(x, src, chunks=(1, 256, 256), compressors=None)
    del x
"""
WORK = """
    with dask.config.set(scheduler="threads", num_workers=2):
        dz.rechunk(src, dst, (800, 32, 32), max_mem="64MiB")
"""


def test_peak_memory_stays_within_max_mem_times_threads(tmp_path):
    """A 200 MiB array from maps to series, max_mem=64MiB, 2 threads: the resident memory grows
    by at most 2 x 64 MiB plus 64 MiB for what is not decoded data (the interpreter's and
    the codecs' buffers, the allocator's slack), whereas reading it whole would take 200 MiB."""
    grown = peak_growth(SETUP, WORK, tmp_path / "s.zarr", tmp_path / "t.zarr", timeout=120)
    assert grown <= 2 * 64 * 2**20 + 64 * 2**20, f"peak RSS grew by {grown / 2**20:.0f} MiB"
    z = zarr.open_array(str(tmp_path / "t.zarr"), mode="r")
    assert z.chunks == (800, 32, 32) and z.shape == (800, 256, 256)


def _group_source(root, shapes):
    """A v2 group with one (maps -> series) array per shape under ``sub/``."""
    zg = zarr.open_group(root, mode="w", zarr_format=2, attributes={"title": "t"})
    sub = zg.create_group("sub")
    rng = np.random.default_rng(3)
    data = {}
    for name, shape in shapes.items():
        data[f"sub/{name}"] = rng.random(shape).astype("f4")
        sub.create_array(name, data=data[f"sub/{name}"], chunks=(1, *shape[1:]))
    return data


def test_a_group_copy_is_one_graph_with_temp_per_member(tmp_path, monkeypatch):
    from dask_zarrio.rechunking import copy as copying

    data = _group_source(str(tmp_path / "g.zarr"), {"a": (120, 24, 48), "b": (120, 24, 40)})
    computed = []
    real = copying.compute_with_progress
    monkeypatch.setattr(copying, "compute_with_progress", lambda *c, **k: computed.append(len(c)) or real(*c, **k))
    dz.copy(str(tmp_path / "g.zarr"), "memory://rk-group/c.zarr", chunks={"sub/a": (120, 4, 4), "sub/b": (120, 4, 4)},
            max_mem="64KiB", zarr_format=3, temp="memory://rk-group/tmp")
    assert computed == [2]  # both members' passes in one computation
    for path, values in data.items():
        np.testing.assert_array_equal(dz.read(f"memory://rk-group/c.zarr/{path}").compute(), values)
    import fsspec
    assert fsspec.filesystem("memory").find("/rk-group/tmp") == []  # each member's temp array deleted


def test_rechunk_to_delayed_computes_with_other_work(tmp_path):
    data = np.arange(400.0).reshape(20, 20)
    _source(str(tmp_path / "s"), data, (1, 20))
    job = dz.rechunk(str(tmp_path / "s"), str(tmp_path / "t"), (20, 1), max_mem=4000, compute=False)
    stored, total = dask.compute(job.to_delayed(), da.ones(4, chunks=2).sum())
    assert stored == 20 and total == 4
    np.testing.assert_array_equal(zarr.open_array(str(tmp_path / "t"), mode="r")[...], data)


def test_a_failed_group_copy_resumes_only_unfinished_members(tmp_path, monkeypatch):
    data = _group_source(str(tmp_path / "g.zarr"), {"a": (12, 6, 8), "b": (12, 6, 10)})
    real, reads = rechunk_tasks.read_into, []

    def failing(spec, store, region, out, fetch):
        reads.append(spec.shape)
        if spec.shape == (12, 6, 10):
            raise RuntimeError("injected failure")
        return real(spec, store, region, out, fetch)

    monkeypatch.setattr(rechunk_tasks, "read_into", failing)
    kw = {"chunks": {"sub/a": (12, 3, 4), "sub/b": (12, 3, 5)}, "zarr_format": 3, "max_mem": 4000}
    with dask.config.set(scheduler="sync"), pytest.raises(RuntimeError):
        dz.copy(str(tmp_path / "g.zarr"), str(tmp_path / "c.zarr"), **kw)
    with pytest.raises(dz.IncompleteWriteError):
        dz.read(str(tmp_path / "c.zarr/sub/b"))
    try:
        a_finished = dz.read(str(tmp_path / "c.zarr/sub/a")) is not None
    except dz.IncompleteWriteError:
        a_finished = False
    monkeypatch.setattr(rechunk_tasks, "read_into", lambda *a: reads.append(a[0].shape) or real(*a))
    reads.clear()
    dz.copy(str(tmp_path / "g.zarr"), str(tmp_path / "c.zarr"), resume=True, **kw)
    assert (12, 6, 10) in reads and ((12, 6, 8) not in reads if a_finished else True)
    for path, values in data.items():
        np.testing.assert_array_equal(zarr.open_array(str(tmp_path / "c.zarr" / path), mode="r")[...], values)
    reads.clear()
    dz.copy(str(tmp_path / "g.zarr"), str(tmp_path / "c.zarr"), resume=True, **kw)
    assert reads == []  # every member finished: nothing decoded again


def _kill_after(n, heal):
    """A worker plugin: the worker process dies once it has finished ``n`` tasks of the
    pass into the target (the second), unless the file ``heal`` exists (a crash mid-rechunk,
    as a machine lost or OOM-killed).
    Made in a function so that cloudpickle sends the class by value to the workers."""
    import distributed

    class KillAfter(distributed.WorkerPlugin):
        name = "kill-after"

        def __init__(self):
            self.done = 0

        def transition(self, key, start, finish, **kwargs):
            import os

            name = key[0] if isinstance(key, tuple) else key
            if finish == "memory" and str(name).startswith("rechunk-decode-target-"):
                self.done += 1
                if self.done >= n and not os.path.exists(heal):
                    os._exit(1)

    return KillAfter()


@pytest.mark.slow
def test_a_killed_worker_mid_rechunk_ends_in_a_correct_array_after_resume(tmp_path, caplog):
    import distributed

    data = np.random.default_rng(4).random((60, 12, 16)).astype("f4")
    _source(str(tmp_path / "s.zarr"), data, (1, 12, 16))
    kw = {"max_mem": 8000, "temp": str(tmp_path / "tmp.zarr")}
    job = dz.rechunk(str(tmp_path / "s.zarr"), str(tmp_path / "t.zarr"), (60, 2, 2), compute=False, **kw)
    assert len(job.plan.passes) == 2
    # A cluster of its own, not tests/conftest.py's shared one: its workers are killed, and
    # allowed-failures is read when the scheduler starts.
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    ) as cluster, distributed.Client(cluster) as client:
        client.register_plugin(_kill_after(3, str(tmp_path / "heal")))
        with pytest.raises(distributed.KilledWorker):
            job.compute()
        with pytest.raises(dz.IncompleteWriteError):
            dz.read(str(tmp_path / "t.zarr"))
        (tmp_path / "heal").touch()
        with caplog.at_level(logging.INFO, logger="dask_zarrio"):
            dz.rechunk(str(tmp_path / "s.zarr"), str(tmp_path / "t.zarr"), (60, 2, 2), resume=True, **kw)
    # the second pass was under way
    assert re.search(r"t\.zarr: resuming: [1-9]\d* stored chunks(/shards)? kept", caplog.text)
    np.testing.assert_array_equal(zarr.open_array(str(tmp_path / "t.zarr"), mode="r")[...], data)
    assert not (tmp_path / "tmp.zarr").exists() or not any((tmp_path / "tmp.zarr").iterdir())
