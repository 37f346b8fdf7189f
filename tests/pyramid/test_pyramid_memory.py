"""Peak memory of dz.write_pyramid, in a fresh process: a 256 MiB base, 5 levels, 2 threads.

The bound the docs state: threads × 4 × the largest task block (the block, the next level, a
shard fetched, a shard encoded; blocks are sized to ``array.chunk-size / 4``: here one 4096²
shard, 16 MiB), plus a constant for the parts handed to the next stage and what is not image
data; a whole-image pass would take 256 MiB and more."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np

import dask_zarrio as dz

MEMORY_SCRIPT = textwrap.dedent("""
    import threading, time, sys
    import dask, numpy as np, dask.array as da, dask_zarrio as dz
    src, dst = sys.argv[1], sys.argv[2]
    x = da.random.default_rng(0).integers(0, 255, (16384, 16384), chunks=(2048, 16384), dtype="u1")
    dz.write(x, src, chunks=(512, 512), shards=(4096, 4096))
    del x
    def rss():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096
    base, peak, done = rss(), [0], False
    def sample():
        while not done:
            peak[0] = max(peak[0], rss()); time.sleep(0.005)
    t = threading.Thread(target=sample); t.start()
    with dask.config.set(scheduler="threads", num_workers=2):
        dz.write_pyramid(dz.read(src), dst, levels=5, chunks=(512, 512), shards=(4096, 4096))
    done = True; t.join()
    print(peak[0] - base)
""")


def test_peak_memory_is_threads_times_the_task_block(tmp_path):
    out = subprocess.run(
        [sys.executable, "-c", MEMORY_SCRIPT, str(tmp_path / "s.zarr"), str(tmp_path / "p.zarr")],
        capture_output=True, text=True, check=True, timeout=300,
    )
    grown = int(out.stdout.split()[-1])
    block = 4096 * 4096
    assert grown <= 2 * 4 * block + 128 * 2**20, f"peak RSS grew by {grown / 2**20:.0f} MiB"
    levels = dz.read_pyramid(str(tmp_path / "p.zarr"))
    assert [x.shape for x in levels] == [(16384 // 2**n,) * 2 for n in range(5)]
    top = levels[3].compute().astype(np.uint32)
    want = (top[0::2, 0::2] + top[1::2, 0::2] + top[0::2, 1::2] + top[1::2, 1::2] + 2) // 4
    np.testing.assert_array_equal(levels[4].compute(), want)
