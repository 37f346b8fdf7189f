"""The benchmark runs end to end (tiny sizes, one round): a smoke test, no timings asserted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_benchmark_runs_and_prints_every_table(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--size", "0.02", "--chunk-mib", "1", "--rounds", "1",
         "--skip", "distributed,s3,scale,tiny,strings,rechunk,references", "--latency-ms", "0", "--dir", str(tmp_path)],
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


def test_references_benchmark_rows(tmp_path):
    """The references case (tiny here) reads both ways and counts one request per file per block."""
    from benchmarks.__main__ import interleaved
    from benchmarks.references import run

    rows, notes, nbytes = run(tmp_path, 1, interleaved, rows=64, cols=64, chunk=16)
    assert list(rows) == ["dz.read(reference://).sum()", "dz.read(native copy).sum()"]
    assert "4 requests for 2 blocks" in notes[1] and nbytes == 2 * 64 * 64 * 4
