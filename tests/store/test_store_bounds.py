"""Memory bombs below the codec (issue 28): a stored object larger than its chunk (or a
metadata document) can be is refused by the store before it is read whole, with a
StoreError naming the key; ZIP members inflate through a bounded reader and lying headers
(zip64 sizes of 2**40) are refused by the bound, never by MemoryError. Peak-memory cases run
in a subprocess and measure its resident memory."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
import warnings
import zipfile
from collections.abc import Callable

import numpy as np
import pytest

import dask_zarrio as dz
from dask_zarrio.errors import StoreError
from dask_zarrio.store import MappingStore, Store, open_store
from dask_zarrio.store.backends.zip_store import ZipStore
from dask_zarrio.store.base import MAX_METADATA_BYTES

KINDS = ["local", "memory", "mapping", "sqlite", "zip", "lmdb", "redis", "mongodb"]
CHUNK = 4096  # bytes of one chunk of the arrays below (u1, chunks of 4096)


@pytest.fixture(params=KINDS)
def url(request, tmp_path) -> str | dict:
    """A fresh node of each store kind (a dict for the mapping store)."""
    name = request.param
    if name == "local":
        return str(tmp_path / "a.zarr")
    if name == "memory":
        return f"memory://bounds-{uuid.uuid4().hex}/a.zarr"
    if name == "mapping":
        return {}
    if name in ("sqlite", "zip", "lmdb"):
        return f"{name}://{tmp_path / {'sqlite': 'd.db', 'zip': 'd.zip', 'lmdb': 'env'}[name]}?path=a.zarr"
    if name == "redis":
        return f"redis://127.0.0.1:{request.getfixturevalue('redis_port')}/0/{uuid.uuid4().hex}/a.zarr"
    request.getfixturevalue("mongomock_client")
    return f"mongodb://localhost/db{uuid.uuid4().hex[:8]}/a.zarr"


def _store(url: str | dict) -> Store:
    return MappingStore(url) if isinstance(url, dict) else open_store(url)


def test_every_store_refuses_an_object_over_the_limit(url):
    store = _store(url)
    store.set_many({"c/0": bytes(100_000), "c/1": b"small"})
    for read in (lambda: store.get("c/0", limit=1000), lambda: store.get_many(["c/1", "c/0"], limit=1000)):
        with pytest.raises(StoreError, match=r"c/0 refused: the object holds (100000 bytes|more than the 1000 bytes)"):
            read()
    assert bytes(store.get("c/0", limit=100_000)) == bytes(100_000)
    assert [None if v is None else bytes(v) for v in store.get_many(["c/1", "gone"], limit=5)] == [b"small", None]
    assert store.get("gone", limit=0) is None


def test_reading_an_array_refuses_a_chunk_bigger_than_it_can_be(url):
    dz.write(np.arange(3 * CHUNK, dtype="u1"), url, chunks=(CHUNK,))
    store = _store(url)
    if isinstance(store, ZipStore):
        store.close()
        with warnings.catch_warnings(), zipfile.ZipFile(store.path, "a") as zf:
            warnings.simplefilter("ignore")  # a duplicate name: the later member wins, as zarr-python's
            zf.writestr("a.zarr/c/1", os.urandom(4 * 2**20))
    else:
        store.set("c/1", os.urandom(4 * 2**20))
    with pytest.raises(StoreError, match=r"c/1 refused: the object holds 4194304 bytes"):
        dz.read(url).compute()
    with pytest.raises(StoreError, match=r"c/1 refused"):
        dz.read(url, chunks=3 * CHUNK).compute()  # one task, several chunks: get_many
    assert dz.read(url)[:CHUNK].compute().tolist() == list(np.arange(CHUNK, dtype="u1"))


@pytest.mark.parametrize("fmt", [2, 3])
def test_a_metadata_document_has_a_bound_too(fmt):
    url = f"memory://bounds-{uuid.uuid4().hex}/a.zarr"
    dz.write(np.arange(4), url, zarr_format=fmt)
    key = "zarr.json" if fmt == 3 else ".zarray"
    open_store(url).set(key, b" " * (MAX_METADATA_BYTES + 1))
    held = rf"({MAX_METADATA_BYTES + 1} bytes|more than the {MAX_METADATA_BYTES} bytes)"
    with pytest.raises(StoreError, match=rf"{key} refused: the object holds {held}"):
        dz.read(url)


def _zip_with(path: str, member: Callable[[zipfile.ZipFile], None]) -> str:
    """An archive holding a 4096-byte u1 array (one chunk), its chunk ``c/0`` written by ``member``."""
    folder = f"memory://bounds-{uuid.uuid4().hex}/a.zarr"
    dz.write(np.arange(CHUNK, dtype="u1"), folder, chunks=(CHUNK,), compressors=None)
    meta = open_store(folder).get("zarr.json")
    with zipfile.ZipFile(path, "w", allowZip64=True) as zf:
        zf.writestr("zarr.json", meta)
        member(zf)
    return f"zip://{path}"


def _deflated(size: int, claimed: int | None = None) -> Callable[[zipfile.ZipFile], None]:
    def write(zf: zipfile.ZipFile) -> None:
        zf.writestr(zipfile.ZipInfo("c/0"), bytes(size), compress_type=zipfile.ZIP_DEFLATED)
        if claimed is not None:
            zf.getinfo("c/0").file_size = claimed  # the central directory says so
    return write


def _stored_claiming(claimed: int) -> Callable[[zipfile.ZipFile], None]:
    def write(zf: zipfile.ZipFile) -> None:
        zf.writestr("c/0", bytes(CHUNK))
        info = zf.getinfo("c/0")
        info.file_size = info.compress_size = claimed  # written as a zip64 extra field
    return write


@pytest.mark.parametrize(("member", "message"), [
    (_deflated(64 * 2**20), r"c/0 refused: the object holds 67108864 bytes"),
    (_deflated(64 * 2**20, claimed=CHUNK), r"c/0 failed .*(CRC|cut short|inflates)"),
    (_deflated(CHUNK, claimed=2**40), r"c/0 refused: the object holds 1099511627776 bytes"),
    (_stored_claiming(2**40), r"c/0 refused: the object holds 1099511627776 bytes"),
], ids=["deflate-bomb", "deflate-header-lies-low", "deflate-zip64-2**40", "stored-zip64-2**40"])
def test_zip_members_are_bounded_by_the_chunk_not_by_memory_error(tmp_path, member, message):
    url = _zip_with(str(tmp_path / "bomb.zip"), member)
    with pytest.raises(StoreError, match=message):
        dz.read(url).compute()


def test_a_zip64_size_past_the_archive_is_refused_without_a_limit_too(tmp_path):
    url = _zip_with(str(tmp_path / "bomb.zip"), _stored_claiming(2**40))
    with pytest.raises(StoreError, match=r"past the archive's end"):
        open_store(url).get("c/0")


# -- peak memory, in a subprocess ------------------------------------------------------------

_CHILD = textwrap.dedent("""
    import resource, sys
    import dask, dask_zarrio as dz
    dask.config.set(scheduler="sync")
    a = dz.read(sys.argv[1])
    a[4096:].compute()  # a good chunk first: imports, codecs, buffers warmed up
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        a[:4096].compute()
        print("read")
    except Exception as e:
        print(type(e).__name__)
    print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024)
""")
BIG = 128 * 2**20


@pytest.mark.parametrize("kind", ["local", "sqlite", "zip", "lmdb", "redis"])
def test_an_oversized_chunk_costs_no_more_than_the_chunk(tmp_path, kind, request):
    if kind == "local":
        url = str(tmp_path / "a.zarr")
    elif kind == "redis":
        url = f"redis://127.0.0.1:{request.getfixturevalue('redis_port')}/0/{uuid.uuid4().hex}/a.zarr"
    else:
        url = f"{kind}://{tmp_path / {'sqlite': 'd.db', 'zip': 'd.zip', 'lmdb': 'env'}[kind]}?path=a.zarr"
    dz.write(np.arange(2 * CHUNK, dtype="u1"), url, chunks=(CHUNK,))
    store = open_store(url)
    if isinstance(store, ZipStore):  # a DEFLATE bomb: 128 MiB of zeros in a few hundred KiB
        store.close()
        with warnings.catch_warnings(), zipfile.ZipFile(store.path, "a") as zf:
            warnings.simplefilter("ignore")
            zf.writestr(zipfile.ZipInfo("a.zarr/c/0"), bytes(BIG), compress_type=zipfile.ZIP_DEFLATED)
    else:
        store.set("c/0", np.ones(BIG, "u1"))
    out = subprocess.run([sys.executable, "-c", _CHILD, url], capture_output=True, text=True, cwd=os.getcwd(),
                         timeout=120)
    assert out.returncode == 0, out.stderr
    outcome, growth = out.stdout.split()
    assert outcome == "StoreError"
    assert int(growth) < 2 * CHUNK + 16 * 2**20, f"resident memory grew by {int(growth) / 2**20:.0f} MiB"


# -- one writer process per ZIP archive --------------------------------------------------------

_WRITER = textwrap.dedent("""
    import sys, numpy as np, dask_zarrio as dz
    from dask_zarrio.store.backends.zip_store import ZipStore
    url, path, hold = sys.argv[1], sys.argv[2], sys.argv[3] == "hold"
    try:
        dz.write(np.full(64, int(sys.argv[4]), "u1"), url, chunks=(8,), mode="a" if hold else "w")
        print("wrote", flush=True)
    except Exception as e:
        print(type(e).__name__, str(e).replace(chr(10), " "), flush=True)
    if hold:
        sys.stdin.readline()  # keeps the archive open for writing until told to go
""")


def _writer(url: str, path: str, hold: bool, value: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", _WRITER, url, path, "hold" if hold else "once", str(value)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=os.getcwd())


def test_a_second_writer_process_of_a_zip_is_refused_and_nothing_is_lost(tmp_path):
    path = str(tmp_path / "d.zip")
    first = _writer(f"zip://{path}?path=a", path, True, 1)
    assert first.stdout is not None and first.stdout.readline().strip() == "wrote"
    second = _writer(f"zip://{path}?path=b", path, False, 2)
    said, err = second.communicate(timeout=120)
    assert said.startswith("StoreError") and "another process is writing" in said and path in said, (said, err)
    assert dz.read(f"zip://{path}?path=a").compute().tolist() == [1] * 64
    assert "b/zarr.json" not in open_store(f"zip://{path}").list_keys()
    first.communicate("go\n", timeout=120)  # the first writer exits: its lock goes with it
    third = _writer(f"zip://{path}?path=b", path, False, 3)
    assert third.communicate(timeout=120)[0].strip() == "wrote"
    assert dz.read(f"zip://{path}?path=a").compute().tolist() == [1] * 64
    assert dz.read(f"zip://{path}?path=b").compute().tolist() == [3] * 64


def test_two_processes_writing_one_zip_at_once_never_both_succeed(tmp_path):
    path = str(tmp_path / "d.zip")
    writers = [_writer(f"zip://{path}?path=n{i}", path, False, i + 1) for i in range(2)]
    said = [w.communicate(timeout=120)[0].strip() for w in writers]
    wrote = [i for i, s in enumerate(said) if s == "wrote"]
    assert len(wrote) >= 1 and all(s == "wrote" or s.startswith("StoreError") for s in said), said
    for i in wrote:  # whoever was told it succeeded has every block
        assert dz.read(f"zip://{path}?path=n{i}").compute().tolist() == [i + 1] * 64


def test_close_gives_the_archive_to_another_process(tmp_path):
    path = str(tmp_path / "d.zip")
    store = ZipStore(path)
    store.set("x", b"1")
    other = _writer(f"zip://{path}?path=b", path, False, 2)
    assert other.communicate(timeout=120)[0].startswith("StoreError")
    store.close()
    other = _writer(f"zip://{path}?path=b", path, False, 2)
    assert other.communicate(timeout=120)[0].strip() == "wrote"
    assert store.get("x") == b"1"


def test_s3_reads_at_most_the_limit_plus_one_byte_in_one_request(s3_endpoint, bucket, monkeypatch):
    """S3 (moto): a chunk object far larger than its chunk can be is refused after a ranged GET of
    limit + 1 bytes, one request and no HEAD; within the limit it reads whole, an empty object too."""
    import s3fs

    from tests.servers.s3 import s3_options

    opts = s3_options(s3_endpoint)
    url = f"s3://{bucket}/bounds-{uuid.uuid4().hex}/a.zarr"
    dz.write(np.arange(CHUNK * 2, dtype="u1"), url, chunks=(CHUNK,), compressors=None, storage_options=opts)
    store = open_store(url, opts)
    store.set("c/1", bytes(64 * 2**20))  # a 64 MiB "chunk" of a 4 KiB chunk
    store.set("c/2", b"")
    asked: list[tuple[object, object]] = []
    real = s3fs.S3FileSystem._cat_file

    async def counted(self, path, *args, **kwargs):
        if "/c/" in path:  # chunks (metadata documents have their own bound)
            asked.append((kwargs.get("start"), kwargs.get("end")))
        return await real(self, path, *args, **kwargs)

    monkeypatch.setattr(s3fs.S3FileSystem, "_cat_file", counted)
    with pytest.raises(StoreError, match=r"c/1 refused: the object holds more than the \d+ bytes it can hold"):
        dz.read(url, storage_options=opts).compute()
    limit = int(asked[-1][1]) - 1  # type: ignore[arg-type]
    assert all(start == 0 and end == limit + 1 for start, end in asked) and limit < 2 * CHUNK + 2**20
    asked.clear()
    assert [bytes(v) for v in store.get_many(["c/0", "c/2"], limit=limit)][1] == b""
    assert len(asked) == 2
