"""A shard index naming an offset past the object's end is a ChunkDecodeError, asked once (issue 28).

A lying index is corrupt data, not a transient fault: the store must not be asked six
times (``OSError: Invalid argument`` from seeking a local file to 2**50 was retried as a
flaky disk), nor answer with a StoreError after its retries.
"""

from __future__ import annotations

import errno
import os
import zipfile

import dask
import dask.array as da
import fsspec
import numpy as np
import pytest

import dask_zarrio as dz
from dask_zarrio.metadata.create import new_array_metadata
from dask_zarrio.store.support import retry

SHAPE, CHUNK, SHARD = (16, 16), (4, 4), (16, 16)
DATA = np.arange(256, dtype="i4").reshape(SHAPE)


def _lie(raw: bytes, offset: int) -> bytes:
    """The shard ``raw`` with inner chunk (0, 0) moved to ``offset`` by its index (checksum still right)."""
    meta = new_array_metadata(shape=SHAPE, dtype=np.dtype("i4"), chunk_shape=CHUNK, shard_shape=SHARD)
    layout = meta.codecs[0].with_fill(None).layout(SHARD, np.dtype("i4"))
    index = layout.decode_index(raw[-layout.index_nbytes:]).copy()
    index[0, 0] = (offset, index[0, 0][1])
    return raw[: -layout.index_nbytes] + bytes(layout.index.encode(index))


@pytest.fixture
def attempts(monkeypatch):
    """Every request attempt the retry policy makes, by request name."""
    seen: list[str] = []
    real = retry.RetryPolicy.call

    def counting(self, fn, what):
        def once():
            seen.append(what)
            return fn()
        return real(self, once, what)

    monkeypatch.setattr(retry.RetryPolicy, "call", counting)
    return seen


def _write(tmp_path, offset: int) -> str:
    url = str(tmp_path / "a.zarr")
    dz.write(da.from_array(DATA, chunks=SHARD), url, chunks=CHUNK, shards=SHARD, compressors=None)
    path = os.path.join(url, "c", "0", "0")
    with open(path, "rb") as f:
        raw = f.read()
    with open(path, "wb") as f:
        f.write(_lie(raw, offset))
    return url


@pytest.mark.parametrize("offset", [2**40, 2**50, 2**62 - 1], ids=["2**40", "2**50", "2**62"])
@pytest.mark.parametrize("partial", [True, False], ids=["partial", "whole"])
def test_an_offset_past_the_end_of_a_local_shard_is_a_decode_error_asked_once(tmp_path, attempts, offset, partial):
    url = _write(tmp_path, offset)
    x = dz.read(url, chunks=CHUNK if partial else SHARD)
    attempts.clear()
    with dask.config.set(scheduler="sync"), pytest.raises(dz.ChunkDecodeError, match=r"c/0/0.*(has only|past)"):
        (x[0:4, 0:4] if partial else x).compute()
    shard = [w.split(" file:")[0] for w in attempts if w.endswith("c/0/0")]
    # One read of the index and one of the inner chunk it names (partial), or one of the whole shard.
    assert shard == (["GET (range)", "GET (range)"] if partial else ["GET"]), f"asked {shard}"


@pytest.mark.parametrize("offset", [2**50, 2**62 - 1], ids=["2**50", "2**62"])
def test_verify_names_the_lying_shard(tmp_path, attempts, offset):
    url = _write(tmp_path, offset)
    report = dz.verify(url)
    assert [(p.kind, p.key) for p in report.problems] == [("shard_index", "c/0/0")]


@pytest.mark.parametrize("offset", [2**50, 2**62 - 1], ids=["2**50", "2**62"])
def test_the_same_lie_in_memory_and_in_a_zip(tmp_path, offset):
    url = _write(tmp_path, offset)
    archive, mem = tmp_path / "a.zip", f"memory://past-end-{offset}/a.zarr"
    memory = fsspec.filesystem("memory")
    with zipfile.ZipFile(archive, "w") as z:
        for root, _, files in os.walk(url):
            for name in files:
                full = os.path.join(root, name)
                z.write(full, os.path.relpath(full, url))
                memory.pipe(f"{mem}/{os.path.relpath(full, url)}", open(full, "rb").read())
    for where in (str(archive), mem):
        x = dz.read(where, chunks=CHUNK)
        with pytest.raises(dz.ChunkDecodeError, match=r"c/0/0"):
            x[0:4, 0:4].compute()


def test_an_invalid_argument_is_not_retried():
    """Whatever asks a file system for an impossible range, the same request cannot succeed later."""
    assert not retry.is_transient(OSError(errno.EINVAL, "Invalid argument"))
    assert retry.is_transient(OSError(errno.EIO, "I/O error"))
