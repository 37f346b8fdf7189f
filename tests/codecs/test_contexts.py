"""Per-thread zstd contexts (codecs/contexts.py, blosc_frame.py): no compressor set up per
block where malloc hands memory back, and every Zarr reader reads what they write."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import dask.array as da
import numcodecs
import numpy as np
import pytest
from conftest import assert_same

import dask_zarrio as dz
from dask_zarrio.codecs import blosc as blosc_module
from dask_zarrio.codecs import contexts, numcodecs_adapter

ts = pytest.importorskip("tensorstore")
zarr = pytest.importorskip("zarr")

_FAULTS = textwrap.dedent("""
    import resource, threading
    import numcodecs, numpy as np
    from dask_zarrio.codecs.blosc import BloscCodec
    from dask_zarrio.codecs.zstd import ZstdCodec
    rng = np.random.default_rng(0)
    y = np.linspace(0, 3, 2048, dtype="f4")[:, None]
    data = np.round(280 + 10 * np.sin(y) * np.cos(y.T) + rng.normal(0, .5, (2048, 2048)), 2).astype("f4")  # 16 MiB
    cases = {"dz blosc": BloscCodec("zstd", 3, "shuffle", 4, 0).encode,
             "numcodecs blosc": numcodecs.Blosc("zstd", 3, 1, 2**20).encode,
             "dz zstd": ZstdCodec(3).encode, "numcodecs zstd": numcodecs.Zstd(3).encode}
    def faults():
        return resource.getrusage(resource.RUSAGE_THREAD).ru_minflt
    def run():  # a worker thread, as dask's, so numcodecs compresses serially
        for name, encode in cases.items():
            encode(data)
            before = faults()
            for _ in range(3):
                encode(data)
            print(name, (faults() - before) // 3)
    t = threading.Thread(target=run)
    t.start()
    t.join()
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc thresholds")
def test_no_compressor_set_up_per_block_in_a_distributed_worker_s_malloc():
    """distributed starts workers with MALLOC_TRIM_THRESHOLD_=65536: numcodecs' fresh
    compressor per 1 MiB blosc block is fresh memory each time (~13,000 page faults per
    16 MiB chunk); a context kept per thread is set up once."""
    env = {"MALLOC_TRIM_THRESHOLD_": "65536", "PATH": ""}
    out = subprocess.run([sys.executable, "-c", _FAULTS], capture_output=True, text=True, check=True, env=env,
                         cwd=str(__import__("pathlib").Path(__file__).parents[2]))
    faults = {line.rsplit(" ", 1)[0]: int(line.rsplit(" ", 1)[1]) for line in out.stdout.splitlines()}
    assert faults["dz blosc"] * 4 < faults["numcodecs blosc"], faults
    assert faults["dz zstd"] < faults["numcodecs zstd"], faults


def test_malloc_hands_back_reads_glibc_s_variables(monkeypatch):
    code = "from dask_zarrio.codecs.contexts import malloc_hands_back as m; print(m())"
    runs = {name: subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                 env={"PATH": "", **env}).stdout.strip()
            for name, env in [("plain", {}), ("trim", {"MALLOC_TRIM_THRESHOLD_": "65536"}),
                              ("tunable", {"GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=131072"})]}
    expected = "True" if sys.platform.startswith("linux") else "False"
    assert runs == {"plain": "False", "trim": expected, "tunable": expected}


V3 = {
    "zstd": {"name": "zstd", "configuration": {"level": 3, "checksum": True}},
    **{f"blosc-{cname}-{shuffle}": {"name": "blosc", "configuration": {
        "cname": cname, "clevel": 5, "shuffle": shuffle, "typesize": 4, "blocksize": 0}}
       for cname in ("zstd", "lz4") for shuffle in ("noshuffle", "shuffle", "bitshuffle")},
    "blosc-zstd-shuffle-64k": {"name": "blosc", "configuration": {
        "cname": "zstd", "clevel": 5, "shuffle": "shuffle", "typesize": 4, "blocksize": 65536}},
}
V2 = {"zstd": numcodecs.Zstd(level=3, checksum=True),
      **{f"blosc-{cname}-{shuffle}": numcodecs.Blosc(cname, 5, shuffle, 0)
         for cname in ("zstd", "lz4") for shuffle in (-1, 0, 1, 2)},
      "blosc-zstd-1-64k": numcodecs.Blosc("zstd", 5, 1, 65536)}
CASES = [(3, name) for name in V3] + [(2, name) for name in V2]


@pytest.fixture
def owned(monkeypatch):
    """Write as a distributed worker does: the per-thread contexts."""
    monkeypatch.setattr(blosc_module, "malloc_hands_back", lambda: True)
    monkeypatch.setattr(numcodecs_adapter, "malloc_hands_back", lambda: True)


def _data() -> np.ndarray:
    rng = np.random.default_rng(5)
    return np.round(rng.normal(280, 3, (700, 600)), 1).astype("f4")  # chunks of 1 MiB and less


def _compressor(fmt: int, name: str):
    return [V3[name]] if fmt == 3 else V2[name]


@pytest.mark.parametrize("fmt,name", CASES, ids=[f"v{f}-{n}" for f, n in CASES])
def test_zarr_python_and_tensorstore_read_what_dz_writes(tmp_path, owned, fmt, name):
    data, url = _data(), str(tmp_path / "a.zarr")
    dz.write(da.from_array(data, chunks=(512, 512)), url, zarr_format=fmt, compressors=_compressor(fmt, name))
    assert_same(zarr.open_array(url, mode="r")[...], data)
    if (fmt, name) == (2, "zstd"):
        return  # tensorstore's v2 zstd refuses numcodecs' "checksum" member, whoever writes it
    driver = "zarr3" if fmt == 3 else "zarr"
    assert_same(ts.open({"driver": driver, "kvstore": {"driver": "file", "path": url}}).result().read().result(),
                data)


@pytest.mark.parametrize("fmt,name", CASES, ids=[f"v{f}-{n}" for f, n in CASES])
def test_dz_reads_what_zarr_python_writes(tmp_path, owned, fmt, name):
    data, url = _data(), str(tmp_path / "a.zarr")
    if fmt == 3:
        z = zarr.create_array(url, shape=data.shape, chunks=(512, 512), dtype="f4", zarr_format=3,
                              compressors=[V3[name]])
    else:
        z = zarr.create_array(url, shape=data.shape, chunks=(512, 512), dtype="f4", zarr_format=2,
                              compressors=V2[name])
    z[...] = data
    assert_same(dz.read(url).compute(), data)


def test_context_freed_with_its_thread():
    lib = contexts.libzstd("zstd")
    if lib is None:
        pytest.skip("numcodecs hides libzstd")
    freed = []
    original = contexts._Context.__del__

    def spy(self):
        freed.append(self.ptr)
        original(self)

    import threading

    contexts._Context.__del__ = spy  # type: ignore[method-assign]
    try:
        t = threading.Thread(target=lambda: contexts.zstd_compress(b"abc" * 100, 3, False))
        t.start()
        t.join()
        del t
        import gc

        gc.collect()
    finally:
        contexts._Context.__del__ = original  # type: ignore[method-assign]
    assert len(freed) == 1
