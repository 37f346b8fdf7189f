"""S3 connections: an open keeps hundreds of small requests in flight (issue 31, goal 4), which
botocore's pool of 10 connections would send ten at a time; open_store gives s3fs a pool as large
as ``dask_zarrio.metadata-requests-in-flight`` where the user did not choose one."""

from __future__ import annotations

import dask
import fsspec
import pytest

from dask_zarrio.store import open_store
from dask_zarrio.store.support import s3_requests
from dask_zarrio.store.support.requests import fetch_many
from tests.servers.proxy import FaultyProxy
from tests.servers.s3 import s3_options


def _pool(store):
    return store.fs.config_kwargs.get("max_pool_connections")


@pytest.fixture
def no_fd_limit(monkeypatch):
    monkeypatch.setattr(s3_requests, "_open_files_limit", lambda: None)


@pytest.mark.parametrize("scheme", ["s3", "s3a"])
def test_an_s3_store_gets_a_pool_for_the_requests_an_open_keeps_in_flight(s3_endpoint, bucket, scheme, no_fd_limit):
    opts = s3_options(s3_endpoint)
    store = open_store(f"{scheme}://{bucket}/g.zarr", opts)
    assert _pool(store) == 512
    assert "config_kwargs" not in opts  # the caller's options are left as they were
    with dask.config.set({"dask_zarrio.metadata-requests-in-flight": 64}):
        assert _pool(open_store(f"{scheme}://{bucket}/g.zarr", opts)) == 64


@pytest.mark.parametrize("pool", [1, 7, 2048])
def test_a_users_pool_wins(s3_endpoint, bucket, pool, no_fd_limit):
    opts = s3_options(s3_endpoint, config_kwargs={"max_pool_connections": pool, "connect_timeout": 3})
    store = open_store(f"s3://{bucket}/g.zarr", opts)
    assert store.fs.config_kwargs == {"max_pool_connections": pool, "connect_timeout": 3}


def test_other_settings_of_the_client_are_kept(s3_endpoint, bucket, no_fd_limit):
    opts = s3_options(s3_endpoint, config_kwargs={"retries": {"max_attempts": 2}})
    store = open_store(f"s3://{bucket}/g.zarr", opts)
    assert store.fs.config_kwargs == {"retries": {"max_attempts": 2}, "max_pool_connections": 512}
    assert opts["config_kwargs"] == {"retries": {"max_attempts": 2}}


@pytest.mark.parametrize("soft, expected", [(256, 128), (1024, 512), (100000, 512), (30, 15), (16, 10)])
def test_the_pool_takes_at_most_half_the_open_files_allowed(s3_endpoint, bucket, monkeypatch, soft, expected):
    """Each connection is an open file: macOS allows 256 by default, where 512 connections
    would fail an open with "Too many open files"."""
    monkeypatch.setattr(s3_requests, "_open_files_limit", lambda: soft)
    assert _pool(open_store(f"s3://{bucket}/g.zarr", s3_options(s3_endpoint))) == expected


def test_filesystems_the_user_made_and_other_protocols_are_untouched(s3_endpoint, bucket, tmp_path):
    fs = fsspec.filesystem("s3", **s3_options(s3_endpoint))
    assert "max_pool_connections" not in open_store(fs.get_mapper(f"{bucket}/g.zarr")).fs.config_kwargs
    assert not hasattr(open_store("memory://pool/g.zarr").fs, "config_kwargs")
    assert open_store(str(tmp_path / "g.zarr")).root.endswith("g.zarr")


def test_hundreds_of_documents_are_in_flight_together(s3_endpoint, bucket, no_fd_limit):
    """The pool is the one the client uses: the 300 GETs of one step are in flight together, not 10 at
    a time (how many exactly depends on how fast a busy machine sends them; the first answer comes
    after 0.5 s)."""
    fs = fsspec.filesystem("s3", **s3_options(s3_endpoint))
    fs.pipe({f"{bucket}/g.zarr/v{i}/zarr.json": b"{}" for i in range(300)})
    with FaultyProxy(s3_endpoint, latency=0.5) as proxy:
        store = open_store(f"s3://{bucket}/g.zarr", s3_options(proxy.endpoint))
        assert fetch_many(store, [f"v{i}/zarr.json" for i in range(300)]) == [b"{}"] * 300
        assert proxy.max_in_flight >= 100, proxy.max_in_flight
