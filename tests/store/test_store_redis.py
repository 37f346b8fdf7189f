"""RedisStore (dask_zarrio/store/backends/redis_store.py): the store contract against a real redis-server,
then what only this store does (URLs, passwords, dropped connections, a missing server)."""

from __future__ import annotations

import pickle
import sys
import uuid

import dask
import dask.array as da
import numpy as np
import pytest
import redis

import dask_zarrio as dz
from dask_zarrio.errors import MissingDependencyError, StoreError, StorePermissionError
from dask_zarrio.store import Store, open_store
from dask_zarrio.store.backends.redis_store import RedisStore
from dask_zarrio.store.base import join_key
from dask_zarrio.testing.store_tests import StoreTests
from tests.conftest import assert_same
from tests.servers.redis import CuttingProxy, redis_server

PASSWORD = "hunter2-very-secret"


class TestRedisStore(StoreTests):
    @pytest.fixture
    def store(self, redis_port: int) -> Store:
        return open_store(f"redis://127.0.0.1:{redis_port}/0/{uuid.uuid4().hex}/root.zarr/node")

    def _raw(self, store: Store) -> redis.Redis:
        assert isinstance(store, RedisStore)
        return redis.Redis.from_url(store.url)

    def set_back_door(self, store: Store, key: str, value: bytes) -> None:
        assert isinstance(store, RedisStore)
        self._raw(store).set(join_key(store.root, key), value)

    def get_back_door(self, store: Store, key: str) -> bytes | None:
        assert isinstance(store, RedisStore)
        value = self._raw(store).get(join_key(store.root, key))
        return None if value is None else bytes(value)


@pytest.mark.parametrize(
    "url, location, root, options",
    [
        ("redis://localhost", "redis://localhost:6379/0", "", {}),
        ("redis://h:7000/3/g.zarr/a", "redis://h:7000/3", "g.zarr/a", {}),
        ("redis://me:pw@h/a.zarr", "redis://h:6379/0", "a.zarr", {"password": "pw", "username": "me"}),
        ("rediss://:pw@h:6380/1", "rediss://h:6380/1", "", {"password": "pw"}),
    ],
)
def test_url_forms(url, location, root, options):
    s = RedisStore.from_url(url)
    assert (s.url, s.root, dict(s.options)) == (location, root, options)
    assert "pw" not in repr(s) and ":pw" not in s.describe("k")


@pytest.mark.parametrize("url", ["redis://", "redis://h:99999/0", "http://h/0"])
def test_bad_urls_say_how_to_write_one(url):
    with pytest.raises(dz.ZarrioError, match="redis://host"):
        RedisStore.from_url(url)


def test_a_password_protected_server_and_pickles_without_secrets_in_their_repr():
    with redis_server(password=PASSWORD) as port:
        url = f"redis://127.0.0.1:{port}/0/a.zarr"
        dz.write(da.arange(20, chunks=5), url, storage_options={"password": PASSWORD})
        store = open_store(url, {"password": PASSWORD})
        reduced = store.__reduce__()
        clone = pickle.loads(pickle.dumps(store))
        assert PASSWORD not in repr(reduced) and PASSWORD not in repr(clone) and PASSWORD not in clone.token()
        assert b"socket" not in pickle.dumps(store) and b"ConnectionPool" not in pickle.dumps(store)
        assert_same(dz.read(clone).compute(), np.arange(20))
        with pytest.raises(StorePermissionError, match=r"redis://127\.0\.0\.1:\d+/0/a\.zarr") as info:
            open_store(url, {"password": "wrong-password"}).get("zarr.json")
        assert "wrong-password" not in str(info.value)


def test_the_password_can_come_from_the_environment_so_no_pickle_carries_it(monkeypatch):
    with redis_server(password=PASSWORD) as port:
        monkeypatch.setenv("REDISCLI_AUTH", PASSWORD)
        store = open_store(f"redis://127.0.0.1:{port}/0/a.zarr")
        store.set("k", b"v")
        assert PASSWORD.encode() not in pickle.dumps(store)
        assert pickle.loads(pickle.dumps(store)).get("k") == b"v"


def test_a_connection_killed_mid_read_is_retried(redis_port):
    """The proxy drops the first connection after 1000 bytes of a reply (inside one MGET of
    big chunks); redis-py's own retries are off, so dask_zarrio.store.support.retry reconnects."""
    data = np.random.default_rng(0).random((64, 64))
    dz.write(da.from_array(data, chunks=16), f"redis://127.0.0.1:{redis_port}/0/killed.zarr", compressors=None)
    with CuttingProxy(redis_port, cuts=1, after=1000) as proxy, dask.config.set({"dask_zarrio.retry.base-delay": 0}):
        got = dz.read(f"redis://127.0.0.1:{proxy.port}/0/killed.zarr", chunks=-1).compute()
    assert proxy.cut == 1
    assert_same(got, data)


def test_without_retries_the_killed_connection_is_a_store_error(redis_port):
    """The proof that no hidden layer retried: one attempt, and the cut surfaces."""
    dz.write(da.ones(4096, chunks=4096), f"redis://127.0.0.1:{redis_port}/0/once.zarr", compressors=None)
    with CuttingProxy(redis_port, cuts=1, after=10) as proxy, dask.config.set({"dask_zarrio.retry.attempts": 1}):
        with pytest.raises(StoreError, match="after 1 attempts"):
            open_store(f"redis://127.0.0.1:{proxy.port}/0/once.zarr").get("zarr.json")


def test_a_missing_server_is_a_store_error_naming_the_url_without_the_password(refused_port):
    url = f"redis://:{PASSWORD}@127.0.0.1:{refused_port}/0/a.zarr"
    with dask.config.set({"dask_zarrio.retry.attempts": 2, "dask_zarrio.retry.base-delay": 0}):
        with pytest.raises(StoreError, match=r"redis://127\.0\.0\.1:\d+/0/a\.zarr/zarr\.json") as info:
            dz.read(url)
    assert PASSWORD not in str(info.value)
    assert info.value.__cause__ is None or PASSWORD not in str(info.value.__cause__)


def test_a_missing_package_says_which_extra_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "redis", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'dask_zarrio\[redis\]'"):
        RedisStore.from_url("redis://127.0.0.1:1/0").get("k")


def test_get_many_is_one_request(redis_port, monkeypatch):
    store = open_store(f"redis://127.0.0.1:{redis_port}/0/{uuid.uuid4().hex}")
    store.set_many({f"c/{i}": bytes([i]) for i in range(50)})
    calls = []
    client = store.client()
    original = client.execute_command
    monkeypatch.setattr(client, "execute_command", lambda *a, **k: calls.append(a[0]) or original(*a, **k))
    assert store.get_many([f"c/{i}" for i in range(50)]) == [bytes([i]) for i in range(50)]
    assert calls == ["MGET"]
