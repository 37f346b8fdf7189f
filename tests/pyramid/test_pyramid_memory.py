"""Peak memory of dz.write_pyramid, in a fresh process each: against dz.write of level 0 alone on a
256 MiB base (5 levels, 2 threads), and on images of 1 and 4 planes (memory must not grow with the
image). Resident memory sampled every 2 ms (tests/rss.py)."""

from __future__ import annotations

import numpy as np

import dask_zarrio as dz
from tests.rss import peak_growth

SETUP = """
    import dask, numpy as np, dask.array as da, dask_zarrio as dz
    what, src, dst, channels, side, shard = sys.argv[1], sys.argv[2], sys.argv[3], *map(int, sys.argv[4:7])
    chunks, shards = (1, 512, 512), (1, shard, shard)
    x = da.random.default_rng(0).integers(0, 255, (channels, side, side), chunks=(1, 2048, side), dtype="u1")
    dz.write(x, src, chunks=chunks, shards=shards)
    del x
"""
WORK = """
    with dask.config.set(scheduler="threads", num_workers=2):
        if what == "plain":
            dz.write(dz.read(src), dst, chunks=chunks, shards=shards)
        else:
            dz.write_pyramid(dz.read(src), dst, levels=5, chunks=chunks, shards=shards, axes=["c", "y", "x"])
"""


def _grown(tmp_path, what: str, channels: int = 1, side: int = 16384, shard: int = 4096) -> int:
    """Peak resident growth of a pyramid (or the plain write of its level 0) in a fresh process."""
    return peak_growth(SETUP, WORK, what, tmp_path / f"s{what}{channels}.zarr", tmp_path / f"{what}{channels}.zarr",
                       channels, side, shard)


def test_peak_memory_is_the_plain_writes_plus_a_block_of_the_next_level(tmp_path):
    """The bound docs/pyramids.md states: a stage task holds one stored object of the source, one
    inner chunk decoded (level 0 is copied here), its block of level 1 and that block encoded, and
    the part it hands on; threads x about 4 shards in all, beside dz.write's threads x 3 (a block
    decoded, fetched and encoded). 256 MiB base of random bytes, 16 MiB shards, 2 threads."""
    block = 4096 * 4096
    plain, pyramid = _grown(tmp_path, "plain"), _grown(tmp_path, "pyramid")
    # + 3 shards, not the 2 x 1 of the bound: two processes' sampled peaks vary by ~30 MiB
    assert pyramid <= plain + 3 * block, f"pyramid +{pyramid / 2**20:.0f} MiB, plain +{plain / 2**20:.0f} MiB"
    assert pyramid <= 2 * 4 * block + 32 * 2**20, f"peak RSS grew by {pyramid / 2**20:.0f} MiB"
    levels = dz.read_pyramid(str(tmp_path / "pyramid1.zarr"))
    assert [x.shape for x in levels] == [(1,) + (16384 // 2**n,) * 2 for n in range(5)]
    top = levels[3][0].compute().astype(np.uint32)
    want = (top[0::2, 0::2] + top[1::2, 0::2] + top[0::2, 1::2] + top[1::2, 1::2] + 2) // 4
    np.testing.assert_array_equal(levels[4][0].compute(), want)


def test_peak_memory_does_not_grow_with_the_image(tmp_path):
    """Four times the image, the same peak: a task builds its block of a coarser level from pieces
    it reads and lets go one at a time, and each later stage's block runs as soon as its parts
    exist (dask orders it right after them), so parts never pile up; a pyramid that held a level
    would grow by 64 MiB more."""
    one, four = _grown(tmp_path, "pyramid", 1, 8192, 2048), _grown(tmp_path, "pyramid", 4, 8192, 2048)
    assert four <= one + 24 * 2**20, f"1 image +{one / 2**20:.0f} MiB, 4 images +{four / 2**20:.0f} MiB"
