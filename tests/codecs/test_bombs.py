"""Decompression bombs: a chunk decodes to at most what its metadata declares.

Every case stores, under the key of a 4 MiB chunk, bytes that inflate to 512 MiB
(or an object-codec header that declares that many items). Reading it must be a
:class:`~dask_zarrio.errors.ChunkDecodeError` naming the key, and, measured in a
child process, must not raise the peak RSS by more than twice the chunk plus a
small constant.

Peers with the same weakness: numcodecs decodes zstd frames that do not record
their size into a buffer that grows without limit (zarr-developers/numcodecs#707,
which answered zarr-developers/zarr-python#2056), and its blosc decoder trusts the
header and reads outside the buffer on corrupt input (zarr-developers/numcodecs#228);
zarr-python hands chunks to numcodecs without any bound.
"""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import os
import struct
import subprocess
import sys
import textwrap
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numcodecs
import numpy as np
import pytest

import dask_zarrio as dz
from dask_zarrio.codecs.sharding import ShardingCodec

MiB = 2**20
CHUNK = 4 * MiB  # the declared decoded size: 2**20 float32
BOMB = 512 * MiB
N = CHUNK // 4
OBJECTS = 1024  # elements of the object-dtype chunk (8 KiB of pointers)
BYTES = {"name": "bytes", "configuration": {"endian": "little"}}
ROOT = Path(dz.__file__).resolve().parent.parent


def zstd_rle(total: int, content_size: int | None = None) -> bytes:
    """A zstd frame of RLE blocks: 4 bytes per 128 KiB of output.

    Without ``content_size`` the frame does not record its size (streaming writers),
    so a decoder cannot know it before decoding.
    """
    if content_size is None:
        frame = struct.pack("<IBB", 0xFD2FB528, 0x00, 0x50)  # no size, window 2**20
    else:
        frame = struct.pack("<IBQ", 0xFD2FB528, 0xE0, content_size)  # single segment, 8-byte size
    block, count = 128 * 1024, total // (128 * 1024)
    parts = [frame]
    for i in range(count):
        header = (1 if i == count - 1 else 0) | (1 << 1) | (block << 3)  # last?, RLE, size
        parts.append(header.to_bytes(3, "little") + b"\x41")
    return b"".join(parts)


def members(compress: Callable[[bytes], bytes]) -> bytes:
    """64 concatenated streams of 8 MiB of zeros: cheap to build, 512 MiB to decode."""
    return compress(bytes(8 * MiB)) * (BOMB // (8 * MiB))


@cache
def zeros() -> np.ndarray:
    return np.zeros(BOMB, np.uint8)  # untouched pages: no memory until written


def zlib_bomb() -> bytes:
    c = zlib.compressobj(1)
    block = bytes(8 * MiB)
    return b"".join(c.compress(block) for _ in range(BOMB // len(block))) + c.flush()


def lz4_java_block(payload_size: int) -> bytes:
    """N5's lz4 (lz4-java block stream): one block of ``payload_size`` zeros, then the end."""
    packed = numcodecs.lz4.compress(zeros()[:payload_size])[4:]
    block = b"LZ4Block" + struct.pack("<BiiI", 0x20 | 6, len(packed), payload_size, 0) + packed
    return block + b"LZ4Block" + struct.pack("<BiiI", 0x10 | 6, 0, 0, 0)


def shard_of(inner: bytes) -> bytes:
    """A one-inner-chunk shard (bytes + zstd inside) whose inner chunk is ``inner``."""
    layout = ShardingCodec([N], [BYTES, {"name": "zstd"}]).layout((N,), np.dtype("<f4"))
    index = np.array([[0, len(inner)]], "<u8")
    return inner + bytes(memoryview(layout.index.encode(index)).cast("B"))


def vlen_header(items: int) -> bytes:
    return struct.pack("<I", items) + struct.pack("<I", 1) + b"x"


@dataclass(frozen=True)
class Case:
    """A way to store a chunk: its format, codec configuration and the bomb bytes."""

    fmt: str  # "v3", "v2", "v2-object" or "n5"
    codec: Any
    bomb: Callable[[], bytes]
    measured: bool = True  # also measured in a child process (the slower test)


CASES = {
    "v3-zstd-no-content-size": Case("v3", [BYTES, {"name": "zstd"}], lambda: zstd_rle(BOMB)),
    "v3-zstd-declares-512MiB": Case("v3", [BYTES, {"name": "zstd"}], lambda: zstd_rle(BOMB, BOMB)),
    "v3-zstd-declares-4MiB": Case("v3", [BYTES, {"name": "zstd"}], lambda: zstd_rle(BOMB, CHUNK), False),
    "v3-gzip": Case("v3", [BYTES, {"name": "gzip"}], lambda: members(lambda b: gzip.compress(b, 1))),
    "v3-blosc": Case("v3", [BYTES, {"name": "blosc", "configuration": {"cname": "lz4", "shuffle": "noshuffle"}}],
                     lambda: bytes(numcodecs.blosc.compress(zeros(), b"lz4", 5, 0, 0, 1))),
    "v3-numcodecs.bz2": Case("v3", [BYTES, {"name": "numcodecs.bz2"}], lambda: members(bz2.compress), False),
    "v3-zstd-in-shard": Case("v3", [{"name": "sharding_indexed", "configuration": {
        "chunk_shape": [N], "codecs": [BYTES, {"name": "zstd"}]}}], lambda: shard_of(zstd_rle(BOMB))),
    "v2-zstd": Case("v2", {"id": "zstd"}, lambda: zstd_rle(BOMB), False),
    "v2-zlib": Case("v2", {"id": "zlib"}, zlib_bomb),
    "v2-gzip": Case("v2", {"id": "gzip"}, lambda: members(lambda b: gzip.compress(b, 1)), False),
    "v2-bz2": Case("v2", {"id": "bz2"}, lambda: members(bz2.compress)),
    "v2-lzma": Case("v2", {"id": "lzma"}, lambda: members(lambda b: lzma.compress(b, preset=0))),
    "v2-lz4": Case("v2", {"id": "lz4"}, lambda: bytes(numcodecs.LZ4().encode(zeros()))),
    "v2-blosc": Case(
        "v2", {"id": "blosc", "cname": "zstd"}, lambda: bytes(numcodecs.Blosc("zstd").encode(zeros())), False),
    "n5-gzip": Case("n5", {"type": "gzip"}, lambda: members(lambda b: gzip.compress(b, 1))),
    "n5-xz": Case("n5", {"type": "xz"}, lambda: members(lambda b: lzma.compress(b, preset=0)), False),
    "n5-bzip2": Case("n5", {"type": "bzip2"}, lambda: members(bz2.compress), False),
    "n5-zstd": Case("n5", {"type": "zstd"}, lambda: zstd_rle(BOMB), False),
    "n5-lz4": Case("n5", {"type": "lz4"}, lambda: lz4_java_block(BOMB)),
    "v2-vlen-utf8": Case("v2-object", {"id": "vlen-utf8"}, lambda: vlen_header(BOMB // 8)),
    "v2-vlen-bytes": Case("v2-object", {"id": "vlen-bytes"}, lambda: vlen_header(BOMB // 8), False),
    "v2-vlen-array": Case("v2-object", {"id": "vlen-array", "dtype": "<i4"}, lambda: vlen_header(BOMB // 8), False),
    "v2-json2": Case("v2-object", {"id": "json2"}, lambda: json.dumps(["a", "|O", [BOMB // 8]]).encode()),
}


def store_bomb(root: Path, case: Case, data: bytes) -> str:
    """Write the array's metadata and ``data`` under its only chunk key; return the URL."""
    if case.fmt == "v3":
        url = root / "a.zarr"
        url.mkdir()
        (url / "zarr.json").write_text(json.dumps({
            "zarr_format": 3, "node_type": "array", "shape": [N], "data_type": "float32",
            "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [N]}},
            "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
            "fill_value": 0.0, "codecs": case.codec, "attributes": {},
        }))
        (url / "c").mkdir()
        (url / "c" / "0").write_bytes(data)
    elif case.fmt in ("v2", "v2-object"):
        url = root / "a.zarr"
        url.mkdir()
        obj = case.fmt == "v2-object"
        (url / ".zarray").write_text(json.dumps({
            "zarr_format": 2, "shape": [OBJECTS if obj else N], "chunks": [OBJECTS if obj else N],
            "dtype": "|O" if obj else "<f4", "order": "C", "fill_value": None if obj else 0.0,
            "compressor": None if obj else case.codec, "filters": [case.codec] if obj else None,
        }))
        (url / "0").write_bytes(data)
    else:
        url = root / "b.n5" / "vol"
        url.mkdir(parents=True)
        (url / "attributes.json").write_text(json.dumps(
            {"dimensions": [N], "blockSize": [N], "dataType": "float32", "compression": case.codec}))
        (url / "0").write_bytes(struct.pack(">HHI", 0, 1, N) + data)
    return str(url)


@pytest.fixture(scope="module")
def bombs() -> dict[str, bytes]:
    """Each case's bytes, built once (the compressed ones take a few tens of ms)."""
    return {name: case.bomb() for name, case in CASES.items()}


@pytest.mark.parametrize("name", CASES)
def test_bomb_is_a_decode_error_naming_the_key(tmp_path, bombs, name):
    url = store_bomb(tmp_path, CASES[name], bombs[name])
    key = "0" if CASES[name].fmt != "v3" else "c/0"
    # ValueError: dask_zarrio's own check, not a MemoryError or a codec's RuntimeError.
    with pytest.raises(dz.ChunkDecodeError, match=rf"{key} does not decode: ValueError"):
        dz.read(url).compute(scheduler="synchronous")


_CHILD = textwrap.dedent("""
    import json, resource, sys
    import dask_zarrio as dz
    arr = dz.read(sys.argv[1])  # metadata read and imports done: the baseline
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        arr.compute(scheduler="synchronous")
        outcome = "no error"
    except dz.ChunkDecodeError as e:
        outcome = "ChunkDecodeError"
    except BaseException as e:
        outcome = type(e).__name__
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"base": base * 1024, "peak": peak * 1024, "outcome": outcome}))
""")

#: What reading a 4 MiB chunk may add besides the chunk and its decoded bytes
#: (dask's graph, the scheduler, the compressed bytes of the larger cases: ~2 MiB).
SLACK = 24 * MiB


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss is in KiB on Linux only")
@pytest.mark.parametrize("name", [n for n, c in CASES.items() if c.measured])
def test_bomb_peak_memory_stays_near_the_chunk(tmp_path, bombs, name):
    url = store_bomb(tmp_path, CASES[name], bombs[name])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run([sys.executable, "-c", _CHILD, url], capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    grown = result["peak"] - result["base"]
    assert result["outcome"] == "ChunkDecodeError", result
    assert grown <= 2 * CHUNK + SLACK, f"peak RSS grew by {grown / MiB:.0f} MiB reading {name}"


BLOSC_CASES = {"v3": CASES["v3-blosc"], "v2": CASES["v2-blosc"]}


@pytest.mark.parametrize("damage", [lambda b: b[:-1], lambda b: b + b"\0"], ids=["truncated", "padded"])
@pytest.mark.parametrize("fmt", BLOSC_CASES)
def test_blosc_whose_length_differs_from_its_header_is_a_decode_error(tmp_path, fmt, damage):
    """c-blosc trusts the header's ``cbytes``: a truncated object would be read past its end."""
    data = np.arange(N, dtype="<f4")
    frame = bytes(numcodecs.Blosc("lz4").encode(data))
    url = store_bomb(tmp_path, BLOSC_CASES[fmt], damage(frame))
    with pytest.raises(dz.ChunkDecodeError, match=r"does not decode: ValueError: blosc header records \d+ compressed "
                                                  r"bytes but the object has \d+: it is truncated or padded"):
        dz.read(url).compute(scheduler="synchronous")


@pytest.mark.parametrize("name,payload,expected", [
    # A frame without a content size, as streaming writers make it: decoded within the bound.
    ("v3-zstd-no-content-size", lambda: zstd_rle(CHUNK), np.frombuffer(b"AAAA", "<f4")[0]),
    ("v2-zstd", lambda: zstd_rle(CHUNK), np.frombuffer(b"AAAA", "<f4")[0]),
    # Concatenated gzip members (gzip -c a b) and bz2/xz streams read as one.
    ("v3-gzip", lambda: gzip.compress(bytes(CHUNK // 2)) * 2, 0.0),
    ("v2-bz2", lambda: bz2.compress(bytes(CHUNK // 4)) * 4, 0.0),
    ("n5-xz", lambda: lzma.compress(bytes(CHUNK // 2)) * 2, 0.0),
])
def test_streams_that_fit_the_chunk_still_decode(tmp_path, name, payload, expected):
    url = store_bomb(tmp_path, CASES[name], payload())
    out = dz.read(url).compute(scheduler="synchronous")
    assert out.shape == (N,) and (out == expected).all()
