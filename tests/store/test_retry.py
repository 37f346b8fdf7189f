"""Retries (dask_zarrio/store/support/retry.py): transient errors retried, as often as the config keys say.

A memory filesystem that fails on purpose stands in for a busy object store; the S3
fault-injection runs are in test_cloud.py.
"""

from __future__ import annotations

import pickle
import random

import dask
import dask.array as da
import fsspec
import numpy as np
import pytest
from conftest import assert_same
from fsspec.implementations.memory import MemoryFileSystem

import dask_zarrio as dz
from dask_zarrio.store import FsspecStore, open_store
from dask_zarrio.store.support.retry import RetryPolicy, is_transient

DATA = np.random.default_rng(3).standard_normal((60, 50))
NO_SLEEP = {"dask_zarrio.retry.base-delay": 0.0}


def _src(chunks=(10, 10)):
    return da.from_array(DATA, chunks=chunks)


class _Flaky(MemoryFileSystem):
    """A memory filesystem whose requests fail now and then, like a busy object store."""

    protocol = "flakymem"
    rate = 0.2
    failures = 0
    rng = random.Random(0)

    def _maybe_fail(self, path):
        if type(self).rng.random() < type(self).rate:
            type(self).failures += 1
            raise ConnectionResetError(f"connection reset while talking about {path}")

    def cat_file(self, path, start=None, end=None, **kwargs):
        self._maybe_fail(path)
        return super().cat_file(path, start, end, **kwargs)

    def pipe_file(self, path, value, **kwargs):
        self._maybe_fail(path)
        return super().pipe_file(path, value, **kwargs)


@pytest.fixture
def flaky():
    fsspec.register_implementation("flakymem", _Flaky, clobber=True)
    _Flaky.rate, _Flaky.failures, _Flaky.rng = 0.2, 0, random.Random(0)
    with dask.config.set({"dask_zarrio.retry.attempts": 8, **NO_SLEEP}):
        yield _Flaky


def test_our_retries_carry_reads_and_writes_through_faults(flaky):
    dz.write(da.from_array(DATA, chunks=(5, 5)), "flakymem://f/a.zarr", mode="w")
    assert_same(dz.read("flakymem://f/a.zarr").compute(), DATA)
    assert flaky.failures > 20


def test_retries_give_up_with_an_error_naming_the_key_and_the_config_key(flaky):
    flaky.rate = 0.0
    dz.write(_src(), "flakymem://f/b.zarr", mode="w")
    flaky.rate = 1.0
    failed = r"GET flakymem://f/b.zarr/zarr.json failed after 8 attempts: ConnectionResetError"
    with pytest.raises(dz.StoreError, match=failed) as e:
        dz.read("flakymem://f/b.zarr")
    assert "'dask_zarrio.retry.attempts'" in str(e.value)


@pytest.mark.parametrize("attempts", [1, 3, 5])
def test_config_attempts_set_how_many_tries_a_request_gets(flaky, attempts):
    store = open_store("flakymem://f/c.zarr")  # opened before the setting: read at each request
    flaky.rate = 1.0
    with dask.config.set({"dask_zarrio.retry.attempts": attempts}):
        with pytest.raises(dz.StoreError, match=f"failed after {attempts} attempts"):
            store.get("zarr.json")
    assert flaky.failures == attempts


def test_an_explicit_policy_wins_over_the_config(flaky):
    store = FsspecStore(fsspec.filesystem("flakymem"), "/f/d.zarr", RetryPolicy(attempts=2, base_delay=0))
    flaky.rate = 1.0
    with pytest.raises(dz.StoreError, match="failed after 2 attempts"):
        store.get("zarr.json")
    assert flaky.failures == 2
    # Children and pickled copies keep the policy they were given.
    for other in (store.child("x"), pickle.loads(pickle.dumps(store))):
        assert other.retry == RetryPolicy(attempts=2, base_delay=0)


def test_a_pickled_store_follows_the_config_where_it_is_used(flaky):
    """No policy travels with a store: a worker's own dask config decides."""
    with dask.config.set({"dask_zarrio.retry.attempts": 2}):
        payload = pickle.dumps(open_store("flakymem://f/e.zarr"))
    flaky.rate = 1.0
    with dask.config.set({"dask_zarrio.retry.attempts": 4}):
        with pytest.raises(dz.StoreError, match="failed after 4 attempts"):
            pickle.loads(payload).get("zarr.json")


@pytest.mark.parametrize("key,value", [
    ("retry.attempts", 0), ("retry.attempts", "many"), ("retry.attempts", 2.5), ("retry.base-delay", -1),
    ("requests-in-flight", 0),
])
def test_invalid_config_values_are_refused_naming_the_key(key, value):
    fs = MemoryFileSystem()
    fs.pipe_file("/inv/a", b"1")
    store = FsspecStore(fs, "/inv")
    with dask.config.set({f"dask_zarrio.{key}": value}):
        with pytest.raises(dz.ZarrioError, match=f"'dask_zarrio.{key}' is {value!r}"):
            if key.startswith("retry."):
                store.get("a")
            else:
                store._batch([])  # read by concurrent batches (async filesystems) only


def test_config_values_may_be_strings_as_from_environment_variables():
    with dask.config.set({"dask_zarrio.retry.attempts": "3", "dask_zarrio.retry.max-delay": "0.5"}):
        assert RetryPolicy.from_config() == RetryPolicy(attempts=3, max_delay=0.5)


@pytest.mark.parametrize("kwargs",
                         [{"attempts": 0}, {"attempts": 1.5}, {"base_delay": -1.0}, {"max_delay": float("nan")}])
def test_invalid_policies_are_refused(kwargs):
    with pytest.raises(dz.ZarrioError, match=next(iter(kwargs))):
        RetryPolicy(**kwargs)


class _Forbidden(MemoryFileSystem):
    protocol = "forbiddenmem"

    def cat_file(self, path, start=None, end=None, **kwargs):
        if "/c/" in path:
            raise PermissionError(f"access denied: {path}")
        return super().cat_file(path, start, end, **kwargs)


def test_permission_error_is_an_error_never_the_fill_value():
    fsspec.register_implementation("forbiddenmem", _Forbidden, clobber=True)
    dz.write(_src(), "forbiddenmem://p/a.zarr", mode="w")
    x = dz.read("forbiddenmem://p/a.zarr")
    with pytest.raises(PermissionError, match="access denied"):
        x.compute()


@pytest.mark.parametrize("exc,transient", [
    (OSError(5, "Internal Server Error"), True), (ConnectionResetError(), True), (TimeoutError(), True),
    (FileNotFoundError(), False), (PermissionError(), False), (ValueError(), False),
])
def test_transient_classification(exc, transient):
    assert is_transient(exc) is transient
