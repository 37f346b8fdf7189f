"""The benchmark runs end to end (tiny sizes, one round): a smoke test, no timings asserted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_benchmark_runs_and_prints_every_table(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--size", "0.02", "--chunk-mib", "1", "--rounds", "1",
         # the sections with a smoke test of their own below are skipped
         "--skip", "distributed,s3,s3write,stores,scale,tiny,strings,rechunk,icechunk,references,reblock,open,"
                   "fullload,peers,pyramid",
         "--latency-ms", "0", "--dir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=True,
    ).stdout
    for title in ("read", "write", "misaligned write", "sharded read", "sharded write"):
        assert f"\n{title} " in out
    for row in ("limit: read+decode+sum, thread pool", "dz.read(url).sum()", "limit: encode+write, thread pool",
                "dz.write", "memory: streaming"):
        assert row in out


def test_string_benchmark_rows(tmp_path):
    """The strings case (small here) times dz against zarr-python + dask and agrees on the data."""
    from benchmarks.__main__ import interleaved
    from benchmarks.strings import string_rows

    reads, writes, notes, nbytes = string_rows(tmp_path, 1, interleaved, n=2_000, chunk=300)
    assert list(reads)[0] == "dz.read(url) == '' .sum()" and len(reads) == 3
    assert list(writes) == ["dz.write", "da.to_zarr (StringDType blocks)", "zarr.create_array(dtype=str) + da.store"]
    assert "2000 short strings" in notes[0] and nbytes > 2_000 * 4


def test_store_sections_at_a_tiny_size(tmp_path):
    """The per-store table (the file stores; servers start in the real run) and the S3
    write section against moto, at 1 MiB, one round: rows and ratios print."""
    from benchmarks.__main__ import interleaved
    from benchmarks.stores import s3_write_notes, s3_write_rows, store_table

    lines = store_table(tmp_path, 1, 1, interleaved, stores=("local folder", "SQLite", "ZIP", "LMDB"))
    assert [line.split()[0] for line in lines[2:]] == ["local", "SQLite", "ZIP", "LMDB"]
    assert all(float(v) > 0 for line in lines[2:] for v in line.split()[-2:])
    rows, nbytes = s3_write_rows(1, 1, interleaved)
    assert list(rows) == ["limit: encode + PUT, thread pool", "dz.write", "da.to_zarr"] and nbytes >= 2**20 * 0.9
    assert "x the PUT limit" in s3_write_notes(rows)[0]


@pytest.mark.slow
def test_rechunk_benchmark_rows(tmp_path):
    """The rechunk case (16 maps here): every contender in its own process, the limit's
    output is the rechunked array."""
    import numpy as np
    import zarr

    import dask_zarrio as dz
    from benchmarks import rechunk

    lines = rechunk.run_size(tmp_path, 16, 1)
    for name in rechunk.CASES.values():
        assert any(line.startswith(name) for line in lines)
    assert "x a plain file copy" in lines[-1]
    src, out = str(tmp_path / "maps.zarr"), str(tmp_path / "limit.zarr")
    rechunk.contender("limit", src, "", out, 16)()
    assert zarr.open_array(out, mode="r").chunks == (16, 24, 24)
    np.testing.assert_array_equal(dz.read(out).compute(), dz.read(src).compute())
    seconds, peak = rechunk.measure(lambda: np.ones(2**22).sum())
    assert seconds > 0 and peak >= 0


def test_icechunk_benchmark_rows(tmp_path):
    """The icechunk case (tiny here) times dz into icechunk, dz's plain write and store_dask, and
    checks that both committed the same data."""
    import dask.array as da

    from benchmarks.__main__ import interleaved
    from benchmarks.icechunk import icechunk_rows

    source = da.random.default_rng(0).random((64, 64), chunks=16)
    rows, notes = icechunk_rows(tmp_path, source, (16, 16), 1, interleaved)
    assert list(rows) == [
        "dz.write (plain folder)", "dz.write (icechunk, one commit)", "icechunk.dask.store_dask + commit",
    ]
    assert "16 blocks" in notes[0]


def test_references_benchmark_rows(tmp_path):
    """The references case (tiny here) reads both ways and counts one request per file per block."""
    from benchmarks.__main__ import interleaved
    from benchmarks.references import run

    rows, notes, nbytes = run(tmp_path, 1, interleaved, rows=64, cols=64, chunk=16)
    assert list(rows) == ["dz.read(reference://).sum()", "dz.read(native copy).sum()"]
    assert "6 requests for 5 blocks touching 6 (block, file) pairs" in notes[1] and nbytes == 2 * 64 * 64 * 4
    assert "4 requests for 4 (block, file) pairs" in notes[2]  # small chunks: the gaps are coalesced


def test_reblock_benchmark_rows(tmp_path):
    """The re-blocked write case at --small size, one round: every case in its own process, a time
    and a peak each, and the bound the docs state."""
    from benchmarks import reblock

    lines = reblock.run(tmp_path, 1, small=True)
    assert "2 x 2048² uint8" in lines[0]
    for name in reblock.CASES.values():
        row = next(line for line in lines if line.startswith(name))
        seconds, peak = map(float, row[len(name):].split())
        assert seconds > 0 and peak >= 0
    assert lines[-1].startswith("bound stated in docs/performance.md")
def test_full_load_rows(tmp_path):
    """The full-load case (tiny here): each contender in a fresh process, time and peak memory."""
    import numpy as np

    import dask_zarrio as dz
    from benchmarks import full_load

    url = str(tmp_path / "a.zarr")
    dz.write(np.arange(64 * 64, dtype="f4").reshape(64, 64), url, chunks=(16, 64))
    names = ["dz.load(url)", "engine: xr.open_dataset(engine='dask_zarrio').load()", "xr.open_zarr(group).load()"]
    lines = full_load.run(url, tmp_path, 1, names)
    assert "full load into memory" in lines[0]
    for name, line in zip(names, lines[2:], strict=True):
        gbps, spread, cpu, peak, vs_ts = line[len(name):].split()
        assert line.startswith(name) and float(gbps) >= 0 and peak.endswith("x")  # tiny: ~0 GB/s
        assert float(cpu) >= 0 and "-" in spread and vs_ts == "-"  # tensorstore not among the names
def test_open_latency_benchmark_rows():
    """The many-variable open (20 small variables, v3, one round, 20 ms): every contender opens
    each group, no data chunk is read, and dz sends no more requests than xr.open_zarr."""
    from benchmarks import open_latency

    lines = open_latency.run([20], 1, small=True, formats=("v3",))
    rows = {(line[9:29].strip(), line[30:68].strip()): line[68:].split() for line in lines[2:]}
    assert len(rows) == 6 and all(int(data) == 0 for _, _, _, data in rows.values())
    for group in ("v3 consolidated", "v3 not consolidated"):
        ours, theirs = rows[(group, "xr.open_dataset(engine='dask_zarrio')")], rows[(group, "xr.open_zarr")]
        assert int(ours[2]) <= int(theirs[2]) and float(ours[1]) >= 0
def test_peer_benchmark_rows(tmp_path):
    """zarrs-python, zarr-python and tensorstore beside dz, read and write, per layout (tiny here)."""
    import dask

    from benchmarks.__main__ import interleaved, make_source
    from benchmarks.peers import peer_tables

    with dask.config.set(scheduler="threads"):
        generator, chunks = make_source(0.004, 1)  # 512 x 2048 float32 in 512^2 chunks
        tables, notes = peer_tables(tmp_path, generator.persist(), chunks, 1, interleaved,
                                    layouts={"big": (None, None), "small": ((64, 64), None),
                                             "small sharded": ((64, 64), (256, 256))})
    assert [t[0].split(",")[0] for t in tables] == ["peers read", "peers write"] * 3
    for _title, rows, mine, nbytes in tables:
        assert mine in rows and nbytes == 512 * 2048 * 4 and all(s > 0 for s in rows.values())
        peers = [n for n in rows if n != mine]
        assert any(n.startswith("zarrs-python") for n in peers) or any("zarrs" in n for n in notes)
        assert any(n.startswith("tensorstore") for n in peers)


def test_pyramid_benchmark_rows(tmp_path):
    """The pyramid case at --small size, one round: every contender in its own process (peers not
    installed are noted), a time, CPU seconds, a peak and their ratios to dz's plain write each."""
    from benchmarks import pyramid

    lines = pyramid.run(tmp_path, 1, small=True, cases=["pyramid", "pyramid-encode", "plain", "ome-zarr"])
    assert "2 x 2048² uint8" in lines[0] and "3 levels, OME-Zarr 0.5" in lines[0]
    names = [pyramid.CASES[c] for c in ("pyramid", "pyramid-encode", "plain", "ome-zarr")]
    for name in names:
        row = next((line for line in lines if line.startswith(name)), None)
        if row is None:
            assert any(name in line and "skipped" in line for line in lines)
            continue
        seconds, cpu, peak, ratio_s, ratio_c, ratio_m = map(float, row[len(name):].split())
        assert seconds > 0 and cpu > 0 and peak >= 0 and ratio_s > 0 and ratio_c > 0
    plain = next(line for line in lines if line.startswith(names[2]))
    assert plain.split()[-3:] == ["1.00", "1.00", "1.00"]


def test_cluster_rows_measure_dask_alone_and_split_the_cpu_by_thread(client):
    """The distributed tables' extras: a no-op graph of dz's block grid, and CPU by thread."""
    import dask.array as da

    from benchmarks.cluster import cpu_split, no_op_like

    x = da.ones((64, 48), chunks=(16, 16))
    noop = no_op_like(x)
    assert noop.numblocks == x.numblocks and noop.shape == x.numblocks
    assert float(client.compute(noop.sum()).result()) == 0.0
    held = client.persist(x)
    assert client.compute(no_op_like(held, held=True)).result().shape == (4, 3)

    work = da.random.default_rng(0).random((3000, 3000), chunks=(750, 750))
    split = cpu_split(client, lambda: client.compute((work * 2).sum()).result())
    assert set(split) == {"tasks", "loops", "client"}
    assert split["tasks"] > 0.01  # the random numbers were made in the workers' task threads
    assert all(v >= 0 for v in split.values())
