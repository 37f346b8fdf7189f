"""A local chunk read by ``get_chunk`` lands in a reused, huge-page-aligned buffer, as by ``get_many``;
``get`` (metadata) gives ``bytes``, which ``json.loads`` takes.

``dz.read``'s blocks of exactly one chunk go through ``get_chunk``; a fresh ``bytes`` per chunk
there was fresh memory on ``dask.distributed`` workers, whose malloc hands big frees
back to the OS: ~1,800 page faults per 7 MiB chunk with dask_zarrio's allocator tuning off.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from dask_zarrio.memory.buffers import HUGE_PAGE
from dask_zarrio.store import open_store


@pytest.mark.parametrize("limit", [None, 8 * 2**20])
@pytest.mark.parametrize("method", ["get_chunk", "get_many"])
def test_big_local_chunk_in_an_aligned_buffer(tmp_path, limit, method):
    payload = np.random.default_rng(0).integers(0, 256, 5 * 2**20, dtype=np.uint8).tobytes()
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "0").write_bytes(payload)
    store = open_store(str(tmp_path))
    got = store.get_chunk("c/0", limit=limit) if method == "get_chunk" else store.get_many(["c/0"], limit=limit)[0]
    assert bytes(memoryview(got)) == payload
    assert np.asarray(got).ctypes.data % HUGE_PAGE == 0


def test_a_big_metadata_document_is_read_as_bytes(tmp_path):
    """Documents of more than the pooled-buffer threshold still parse (a big consolidated group)."""
    import dask_zarrio as dz

    url = str(tmp_path / "g.zarr")
    dz.create_group(url, attributes={"blob": "x" * (5 * 2**20)})
    store = open_store(url)
    assert isinstance(store.get("zarr.json"), bytes)
    assert len(dz.open_group(url).attrs["blob"]) == 5 * 2**20


_READ = textwrap.dedent("""
    import resource, dask, numpy as np
    import dask.array as da
    import dask_zarrio as dz
    dask.config.set(scheduler="threads", num_workers=1)
    rng = np.random.default_rng(0)
    data = np.round(rng.normal(280, 1, (4096, 2048)), 2).astype("f4")  # 2 chunks of 16 MiB
    url = {url!r}
    codec = {{"name": "blosc", "configuration": {{"cname": "zstd", "clevel": 3, "shuffle": "shuffle", "typesize": 4}}}}
    dz.write(da.from_array(data, chunks=(2048, 2048)), url, compressors=[codec])
    x = dz.read(url)
    assert x.chunksize == (2048, 2048)  # one chunk per block: the path through get
    x.sum().compute()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(3):
        x.sum().compute()
    print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) // 6)
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc thresholds")
def test_read_under_distributed_malloc_settings_reuses_its_buffers(tmp_path):
    out = subprocess.run(
        [sys.executable, "-c", _READ.format(url=str(tmp_path / "a.zarr"))], capture_output=True, text=True,
        check=True, env={"MALLOC_TRIM_THRESHOLD_": "65536", "PATH": ""}, cwd=str(Path(__file__).parents[2]))
    per_chunk = int(out.stdout.strip())
    assert per_chunk < 800, per_chunk  # the ~10 MiB compressed chunk afresh: ~2,500; decoding's scratch: ~260
