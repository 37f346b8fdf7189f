"""FsspecStore (dask_zarrio/store/backends/fsspec_store.py): the store contract on memory, a local
folder and a real S3 server, then what only this store does (atomic local writes, pickling
by constructor arguments, declared capabilities, ranges on S3)."""

from __future__ import annotations

import os
import pickle
import uuid

import dask.array as da
import fsspec
import pytest

import dask_zarrio as dz
from dask_zarrio.store import FsspecStore, Store, open_store
from dask_zarrio.testing.store_tests import StoreTests
from tests.servers.proxy import FaultyProxy
from tests.servers.s3 import create_bucket, s3_options

KEY, SECRET = "AKIAVERYSECRETKEY", "VERYSECRETSECRET"


class TestMemory(StoreTests):
    @pytest.fixture
    def store(self) -> Store:
        return open_store(f"memory://{uuid.uuid4().hex}/root.zarr/node")

    def set_back_door(self, store: Store, key: str, value: bytes) -> None:
        assert isinstance(store, FsspecStore)
        fsspec.filesystem("memory").pipe_file(f"{store.root}/{key}", value)

    def get_back_door(self, store: Store, key: str) -> bytes | None:
        assert isinstance(store, FsspecStore)
        try:
            return fsspec.filesystem("memory").cat_file(f"{store.root}/{key}")
        except FileNotFoundError:
            return None


class TestLocal(StoreTests):
    """Plain file I/O on both sides: the back door never touches fsspec."""

    @pytest.fixture
    def store(self, tmp_path) -> Store:
        return open_store(str(tmp_path / "root.zarr" / "node"))

    def set_back_door(self, store: Store, key: str, value: bytes) -> None:
        assert isinstance(store, FsspecStore)
        path = os.path.join(store.root, *key.split("/"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(value)

    def get_back_door(self, store: Store, key: str) -> bytes | None:
        assert isinstance(store, FsspecStore)
        try:
            with open(os.path.join(store.root, *key.split("/")), "rb") as f:
                return f.read()
        except FileNotFoundError:
            return None


@pytest.fixture(scope="module")
def contract_bucket(s3_endpoint):
    """One bucket for the S3 contract tests (each test gets a fresh prefix in it)."""
    name = f"store-contract-{uuid.uuid4().hex[:8]}"
    create_bucket(s3_endpoint, name)
    return name


class TestS3(StoreTests):
    """A real S3 server (moto); the back door is a second s3fs client of its own."""

    secrets = (KEY, SECRET)

    @pytest.fixture
    def store(self, s3_endpoint, contract_bucket) -> Store:
        # fsspec's instance cache on: one client per set of options for the whole class,
        # not a new connection pool per test.
        self.back_door = fsspec.filesystem("s3", **s3_options(s3_endpoint, skip_instance_cache=False))
        options = s3_options(s3_endpoint, key=KEY, secret=SECRET, skip_instance_cache=False)
        return open_store(f"s3://{contract_bucket}/{uuid.uuid4().hex}/root.zarr/node", options)

    def set_back_door(self, store: Store, key: str, value: bytes) -> None:
        assert isinstance(store, FsspecStore)
        self.back_door.pipe_file(f"{store.root}/{key}", value)

    def get_back_door(self, store: Store, key: str) -> bytes | None:
        assert isinstance(store, FsspecStore)
        try:
            return self.back_door.cat_file(f"{store.root}/{key}")
        except FileNotFoundError:
            return None


def test_fsspec_store_pickles_by_constructor_args():
    fs = fsspec.filesystem("memory")
    store = FsspecStore(fs, "/p/a.zarr")
    clone = pickle.loads(pickle.dumps(store))
    assert clone.root == store.root and type(clone.fs) is type(fs)


def test_local_writes_are_atomic_no_temp_files_left(tmp_path):
    url = str(tmp_path / "a.zarr")
    dz.write(da.ones((8, 8), chunks=4), url)
    names = [f for _, _, fs in os.walk(url) for f in fs]
    assert not [n for n in names if n.startswith(".tmp-")]


@pytest.mark.parametrize("protocol,listing", [("memory", True), ("file", True), ("http", False)])
def test_capabilities_follow_the_filesystem(protocol, listing):
    store = FsspecStore(fsspec.filesystem(protocol), "/x")
    assert store.supports_partial_reads
    assert store.supports_listing is listing and store.supports_deletes is listing
    assert store.supports_concurrent_requests is (protocol == "http")


def test_ranges_on_s3_are_one_request_each_and_cut_like_slicing(s3_endpoint, bucket):
    """Suffix ranges and ranges past the end: one GET each, no retries of S3's 416."""
    data = bytes(range(100))
    with FaultyProxy(s3_endpoint) as proxy:
        store = open_store(f"s3://{bucket}/r", s3_options(proxy.endpoint))
        store.set("k", data)
        proxy.counts.clear()
        assert store.get_range("k", -10, 4) == data[-10:-6]
        assert store.get_range("k", 100) == b""
        assert store.get_ranges("k", [(-3, 3), (98, 10), (200, 1)]) == [data[-3:], data[98:], b""]
        assert dict(proxy.counts) == {"GET": 5}


def test_local_files_get_the_permissions_the_umask_gives(tmp_path):
    """Not mkstemp's 0600: an array shared with a group must be readable by it."""
    umask = os.umask(0o022)
    os.umask(umask)
    url = str(tmp_path / "a.zarr")
    dz.write(da.ones(4, chunks=2), url)
    modes = {name: os.stat(os.path.join(url, *name.split("/"))).st_mode & 0o777 for name in ("zarr.json", "c/0")}
    assert modes == {"zarr.json": 0o666 & ~umask, "c/0": 0o666 & ~umask}


def test_a_stale_lock_is_broken_and_a_live_one_waited_for(tmp_path, monkeypatch):
    """The lock file beside a key: older than STALE_LOCK_SECONDS it is a dead writer's, else wait."""
    from dask_zarrio.errors import StoreError
    from dask_zarrio.store.support import local_files as local

    store = open_store(str(tmp_path / "a.zarr"))
    store.set("zarr.json", b"v1")
    lock = tmp_path / "a.zarr" / f"{local.LOCK_PREFIX}zarr.json"
    lock.write_bytes(b"")
    old = os.stat(lock).st_mtime - local.STALE_LOCK_SECONDS - 1
    os.utime(lock, (old, old))
    assert store.set_if_unchanged("zarr.json", b"v2", b"v1")
    assert not lock.exists()  # broken, then taken and released
    lock.write_bytes(b"")  # a live writer's lock
    monkeypatch.setattr(local, "LOCK_WAIT_SECONDS", 0.2)
    with pytest.raises(StoreError, match="delete the lock file"):
        store.set_if_unchanged("zarr.json", b"v3", b"v2")
    assert store.get("zarr.json") == b"v2"


def test_conditional_writes_across_processes_have_one_winner(tmp_path):
    """Lock files exclude other processes, not only threads."""
    import concurrent.futures
    import multiprocessing

    url = str(tmp_path / "a.zarr")
    open_store(url).set("zarr.json", b"v0")
    with concurrent.futures.ProcessPoolExecutor(4, mp_context=multiprocessing.get_context("spawn")) as pool:
        won = list(pool.map(_swap, [(url, i) for i in range(8)]))
    assert won.count(True) == 1
    assert open_store(url).get("zarr.json") == f"writer {won.index(True)}".encode()


def _swap(args: tuple[str, int]) -> bool:
    url, i = args
    return open_store(url).set_if_unchanged("zarr.json", f"writer {i}".encode(), b"v0")
