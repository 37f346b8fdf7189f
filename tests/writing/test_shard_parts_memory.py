"""A sharded write task never holds its shard joined (issues 30, 31): the encoded inner chunks
and the index go to a local file in pieces, so a task peaks at its block plus about one shard,
not a shard's pieces plus their join. Measured as peak resident memory in a subprocess."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import resource, sys
    import dask, dask.array as da, numpy as np
    import dask_zarrio as dz

    url, compressors = sys.argv[1], (None if sys.argv[2] == "none" else sys.argv[2])
    # Random bytes: no compressor shrinks them, so the encoded shard is as big as the block.
    block = np.random.default_rng(0).integers(0, 256, (16384, 4096), dtype="u1")
    arr = da.from_array(block, chunks=block.shape)
    peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    dz.init(url, shape=block.shape, dtype="u1", chunks=(512, 512), shards=block.shape, compressors=compressors)
    with dask.config.set(scheduler="sync"):
        dz.write(block[:1024, :1024], url + "-warm", chunks=(512, 512), shards=(1024, 1024))  # imports, pools
        before = peak()
        dz.write(arr, url, mode="r+")
    print((peak() - before) / block.nbytes)
    """
)


@pytest.mark.parametrize("compressors", ["none", "zstd"])
def test_one_shard_task_peaks_near_one_shard_above_its_block(tmp_path, compressors):
    """64 MiB of uint8 in 512² chunks, one shard, one task: growth ≤ 1.3 × the shard."""
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "a.zarr"), compressors],
        capture_output=True, text=True, check=True, timeout=300,
    )
    growth = float(out.stdout.split()[-1])
    assert growth <= 1.3, f"a one-shard write task grew by {growth:.2f} × its shard"
