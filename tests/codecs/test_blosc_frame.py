"""dask_zarrio's own blosc-zstd chunks (codecs/blosc_frame.py) are numcodecs' byte for byte.

numcodecs compresses on its calling thread with ``blosc_compress_ctx`` (its serial
path) when it does not use blosc's global thread pool; those are the bytes compared.
"""

from __future__ import annotations

import threading

import numcodecs
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numcodecs import blosc

from dask_zarrio.codecs import blosc_frame, contexts

pytestmark = pytest.mark.skipif(contexts.libzstd("blosc") is None, reason="numcodecs hides libzstd")


@pytest.fixture(autouse=True)
def _serial_numcodecs(monkeypatch):
    monkeypatch.setattr(blosc, "use_threads", False)


def _data(kind: str, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "random":  # incompressible: blocks stored as they are, or the whole chunk copied
        return rng.integers(0, 256, n, dtype=np.uint8)
    if kind == "zeros":
        return np.zeros(n, np.uint8)
    if kind == "smooth":
        return (np.sin(np.arange(n) / 50) * 1000).astype("<i4").view(np.uint8)[:n].copy()
    return np.repeat(rng.integers(0, 256, n // 7 + 1, dtype=np.uint8), 7)[:n].copy()  # runs


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(["random", "zeros", "smooth", "runs"]),
    n=st.one_of(st.integers(128, 5000), st.sampled_from([65536, 65537, 300_001, 2**20 + 3])),
    typesize=st.one_of(st.integers(1, 17), st.sampled_from([255, 256, 1000])),
    shuffle=st.sampled_from([0, 1]),
    clevel=st.integers(1, 9),
    blocksize=st.one_of(st.integers(1, 5000), st.sampled_from([65536, 2**20, 2**21])),
    seed=st.integers(0, 3),
)
def test_frames_are_numcodecs_bytes(kind, n, typesize, shuffle, clevel, blocksize, seed):
    data = _data(kind, n, seed)
    ours = blosc_frame.encode(data, "zstd", clevel, shuffle, typesize, blocksize)
    if n < (1 if typesize > 255 else typesize):  # c-blosc's one-byte blocks: left to numcodecs
        assert ours is None
        return
    assert bytes(ours) == blosc.compress(data, b"zstd", clevel, shuffle, blocksize, typesize)
    assert bytes(numcodecs.Blosc().decode(ours)) == data.tobytes()


def _header(frame) -> tuple[int, ...]:
    return tuple(np.frombuffer(bytes(frame[:4]), np.uint8)) + tuple(np.frombuffer(bytes(frame[4:16]), "<i4"))


@pytest.mark.parametrize("kind,typesize,shuffle,expected_flags,expected_typesize", [
    ("smooth", 4, 1, 0x91, 4),  # shuffle, no split (zstd), compressor format 4 (zstd)
    ("smooth", 4, 0, 0x90, 4),
    ("random", 4, 1, 0x93, 4),  # incompressible: the chunk is copied (MEMCPYED)
    ("smooth", 300, 1, 0x91, 1),  # typesizes over 255 are 1
])
def test_header_fields(kind, typesize, shuffle, expected_flags, expected_typesize):
    data = _data(kind, 3 * 2**20 + 5, 0)
    frame = blosc_frame.encode(data, "zstd", 5, shuffle, typesize, 2**20)
    version, zversion, flags, ts, nbytes, block, total = _header(frame)
    assert (version, zversion, flags, ts) == (2, 1, expected_flags, expected_typesize)
    assert (nbytes, total) == (data.nbytes, len(bytes(frame)))
    assert block == 2**20 // expected_typesize * expected_typesize
    assert bytes(frame[:16]) == blosc.compress(data, b"zstd", 5, shuffle, 2**20, typesize)[:16]


@pytest.mark.parametrize("args", [
    ("lz4", 5, 1, 4, 2**20), ("zstd", 5, 2, 4, 2**20),  # other compressors, bit shuffle
    ("zstd", 0, 1, 4, 2**20), ("zstd", 5, 1, 4, 0),  # a plain copy, c-blosc's automatic block size
])
def test_what_it_leaves_to_numcodecs(args):
    assert blosc_frame.encode(np.zeros(4096, np.uint8), *args) is None
    assert blosc_frame.encode(np.zeros(127, np.uint8), "zstd", 5, 1, 4, 2**20) is None  # under 128 bytes


def test_one_context_per_thread_reused_across_chunks():
    lib = contexts.libzstd("blosc")
    seen: dict[int, list[int]] = {0: [], 1: []}
    # Both threads hold their contexts until both have asked: a context is freed with its thread,
    # and malloc may hand the same address to the next thread.
    both = threading.Barrier(2)

    def work(i: int) -> None:
        seen[i] += [contexts.context(lib), contexts.context(lib)]
        both.wait()

    workers = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    assert seen[0][0] == seen[0][1] and seen[1][0] == seen[1][1] and seen[0][0] != seen[1][0]


@pytest.mark.parametrize("level", [-5, 0, 1, 3, 19, 22, 30])
@pytest.mark.parametrize("checksum", [False, True])
def test_zstd_frames_are_numcodecs_bytes(level, checksum):
    data = np.random.default_rng(level & 7).normal(size=50_000).round(2).astype("f4")
    frame = contexts.zstd_compress(data, level, checksum)
    assert bytes(frame) == numcodecs.Zstd(level=level, checksum=checksum).encode(data)
    assert frame.base is None and frame.nbytes == len(bytes(frame))  # cut to its size, no worst case kept


@pytest.mark.parametrize("config", [
    {"id": "blosc", "cname": "zstd", "clevel": 3, "shuffle": -1, "blocksize": 0},  # AUTOSHUFFLE, item size 4
    {"id": "blosc", "cname": "zstd", "clevel": 3, "shuffle": 1, "blocksize": 4096},
    {"id": "blosc", "cname": "lz4", "clevel": 3, "shuffle": 1, "blocksize": 0},
    {"id": "zstd", "level": 4, "checksum": True},
])
@pytest.mark.parametrize("owned", [False, True])
def test_numcodecs_encoders_write_numcodecs_bytes(monkeypatch, config, owned):
    from dask_zarrio.codecs import numcodecs_adapter

    monkeypatch.setattr(numcodecs_adapter, "malloc_hands_back", lambda: owned)
    codec = numcodecs.get_codec(config)
    data = np.linspace(0, 100, 100_000, dtype="f4").round(1)
    assert bytes(numcodecs_adapter.owned_encoder(codec)(data)) == codec.encode(data)


@pytest.mark.parametrize("kind", ["smooth", "random"])
@pytest.mark.parametrize("pooled_from", [2**22, 2**60])  # as in dask.distributed's workers; as on threads
def test_big_frames_written_through_pooled_memory_are_numcodecs_bytes_at_their_own_size(monkeypatch, kind,
                                                                                        pooled_from):
    """A chunk of 4 MiB and more is compressed into a pooled buffer and copied out at its own size."""
    from dask_zarrio.memory import buffers

    monkeypatch.setattr(buffers, "_POOLED_FROM", pooled_from)
    data = _data(kind, 9 * 2**20 + 3, 1)
    for _ in range(2):  # the second time from a buffer the pool took back
        frame = blosc_frame.encode(data, "zstd", 3, 1, 4, 2**20)
        expected = blosc.compress(data, b"zstd", 3, 1, 2**20, 4)
        assert frame.nbytes == len(expected) and bytes(frame) == expected
        del frame
