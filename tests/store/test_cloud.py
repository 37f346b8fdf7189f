"""Object stores: a real S3 server, request counts, concurrency, faults, credentials.

Retries against a flaky filesystem are in test_retry.py."""

from __future__ import annotations

import logging
import pickle
import sqlite3
from collections.abc import Iterator, MutableMapping

import dask
import dask.array as da
import fsspec
import numpy as np
import pytest
import zarr
from conftest import assert_same

import dask_zarrio as dz
import dask_zarrio.store
from dask_zarrio import config
from dask_zarrio.store import open_store
from tests.servers.proxy import FaultyProxy
from tests.servers.s3 import s3_options

DATA = np.random.default_rng(3).standard_normal((60, 50))


def _src(chunks=(10, 10)):
    return da.from_array(DATA, chunks=chunks)


@pytest.mark.parametrize("fmt", [2, 3])
def test_s3_round_trip_both_ways_with_zarr(s3_endpoint, bucket, fmt):
    opts = s3_options(s3_endpoint)
    dz.write(_src(), f"s3://{bucket}/a.zarr", zarr_format=fmt, storage_options=opts)
    assert_same(zarr.open_array(f"s3://{bucket}/a.zarr", mode="r", storage_options=opts)[...], DATA)
    z = zarr.create_array(f"s3://{bucket}/b.zarr", shape=DATA.shape, chunks=(7, 9), dtype="f8",
                          zarr_format=fmt, storage_options=opts)
    z[...] = DATA
    assert_same(dz.read(f"s3://{bucket}/b.zarr", storage_options=opts).compute(), DATA)


def test_s3_region_and_append(s3_endpoint, bucket):
    opts = s3_options(s3_endpoint)
    url = f"s3://{bucket}/a.zarr"
    dz.write(_src(), url, storage_options=opts, dimension_names=["t", "x"])
    dz.write(da.zeros((13, 50), chunks=5), url, mode="r+", region=(slice(4, 17),), storage_options=opts)
    dz.write(da.ones((7, 50), chunks=7), url, mode="a", append_dim="t", storage_options=opts)
    expected = np.concatenate([DATA, np.ones((7, 50))])
    expected[4:17] = 0
    assert_same(zarr.open_array(url, mode="r", storage_options=opts)[...], expected)


def test_s3_groups_and_consolidated_metadata(s3_endpoint, bucket):
    opts = s3_options(s3_endpoint)
    root = f"s3://{bucket}/h.zarr"
    dz.create_group(root, attributes={"title": "cloud"}, storage_options=opts)
    dz.write(_src(), f"{root}/grp/temp", storage_options=opts)
    dz.consolidate(root, storage_options=opts)
    g = zarr.open_consolidated(root, storage_options=opts)
    assert g.attrs["title"] == "cloud"
    assert_same(g["grp/temp"][...], DATA)
    dz.write(_src(), f"{root}/grp/temp", mode="a", append_dim=0, storage_options=opts)
    assert zarr.open_consolidated(root, storage_options=opts)["grp/temp"].shape == (120, 50)


@pytest.fixture
def proxy(s3_endpoint):
    with FaultyProxy(s3_endpoint) as p:
        yield p


def test_one_request_per_chunk_and_to_open(proxy, bucket):
    """Through s3fs, zarr-python asks for the size before every GET (fsspec/s3fs#1027); we do not."""
    opts = s3_options(proxy.endpoint)
    dz.write(_src(), f"s3://{bucket}/a.zarr", storage_options=opts)
    dz.write(_src(), f"s3://{bucket}/b.zarr", zarr_format=2, storage_options=opts)
    proxy.counts.clear()
    x = dz.read(f"s3://{bucket}/a.zarr", storage_options=opts)
    assert dict(proxy.counts) == {"GET": 1}  # zarr.json only
    proxy.counts.clear()
    x.compute()
    assert dict(proxy.counts) == {"GET": 30}  # 6 x 5 chunks, no HEAD
    proxy.counts.clear()
    dz.read(f"s3://{bucket}/b.zarr", storage_options=opts)
    # zarr.json (absent), then .zarray with its .zattrs (attributes, dimension names) in one round trip
    assert dict(proxy.counts) == {"GET": 3}


def test_consolidated_group_opens_members_without_requests(proxy, bucket):
    opts = s3_options(proxy.endpoint)
    root = f"s3://{bucket}/h.zarr"
    dz.create_group(root, storage_options=opts)
    for name in ("a", "b", "c"):
        dz.write(_src(), f"{root}/{name}", storage_options=opts)
    dz.consolidate(root, storage_options=opts)
    proxy.counts.clear()
    g = dz.open_group(root, storage_options=opts)
    arrays = dict(g.arrays())
    assert sorted(arrays) == ["a", "b", "c"]
    # The root's zarr.json, with a v2 group's .zmetadata, .zgroup and .zattrs asked for in the same
    # round trip (the format is not known yet; zarr-python 3 asks for them together too): one round
    # trip for the root, and no request for any member.
    assert dict(proxy.counts) == {"GET": 4}


@pytest.mark.parametrize("in_flight", [None, 4])
def test_task_fetches_its_chunks_concurrently_and_bounded(proxy, bucket, in_flight):
    """At most dask_zarrio.requests-in-flight requests at once, read when the task runs."""
    opts = s3_options(proxy.endpoint)
    dz.write(da.from_array(DATA, chunks=(5, 5)), f"s3://{bucket}/a.zarr", storage_options=opts)
    x = dz.read(f"s3://{bucket}/a.zarr", chunks=-1, storage_options=opts)  # one task, 120 chunks
    assert x.npartitions == 1
    settings = {} if in_flight is None else {"dask_zarrio.requests-in-flight": in_flight}
    proxy.latency = 0.02
    proxy.max_in_flight = 0
    with dask.config.set(settings):
        assert_same(x.compute(scheduler="synchronous"), DATA)
        limit = config.get("requests-in-flight")
    assert limit == (in_flight or config.DEFAULTS["requests-in-flight"])
    assert 1 < proxy.max_in_flight <= limit


@pytest.mark.slow
@pytest.mark.parametrize("fmt", [2, 3])
def test_ten_percent_faults_read_and_write_equal_the_oracle(s3_endpoint, bucket, fmt):
    """503 SlowDown, truncated bodies and connection resets, with botocore's own retries off."""
    url = f"s3://{bucket}/a.zarr"
    with FaultyProxy(s3_endpoint, fail_rate=0.05, truncate_rate=0.03, reset_rate=0.02, seed=fmt) as proxy:
        opts = s3_options(proxy.endpoint, config_kwargs={"retries": {"max_attempts": 1}})
        dz.write(da.from_array(DATA, chunks=(5, 10)), url, zarr_format=fmt, storage_options=opts)
        back = dz.read(url, storage_options=opts).compute()
        injected = sum(v for k, v in proxy.counts.items() if k.startswith("injected"))
    assert injected >= 5, proxy.counts
    assert_same(back, DATA)
    assert_same(zarr.open_array(url, mode="r", storage_options=s3_options(s3_endpoint))[...], DATA)


def test_missing_object_is_the_fill_value(s3_endpoint, bucket):
    opts = s3_options(s3_endpoint)
    dz.write(da.ones((4, 4), chunks=2), f"s3://{bucket}/a.zarr", fill_value=7, storage_options=opts)
    fs = fsspec.filesystem("s3", **opts)
    fs.rm(f"{bucket}/a.zarr/c/0/0")
    expected = np.ones((4, 4))
    expected[:2, :2] = 7
    assert_same(dz.read(f"s3://{bucket}/a.zarr", storage_options=opts).compute(), expected)


def test_credentials_never_in_names_reprs_or_logs(s3_endpoint, bucket, caplog):
    opts = s3_options(s3_endpoint, key="AKIAVERYSECRETKEY", secret="VERYSECRETSECRET")
    with caplog.at_level(logging.DEBUG, logger="dask_zarrio"):
        dz.write(_src(chunks=(20, 25)), f"s3://{bucket}/a.zarr", chunks=(10, 25), storage_options=opts)
        x = dz.read(f"s3://{bucket}/a.zarr", storage_options=opts)
    store = open_store(f"s3://{bucket}/a.zarr", opts)
    texts = [
        repr(store), store.describe("c/0/0"), str(x.__dask_keys__()), caplog.text, repr(x), str(dict(x.dask))[:100000],
    ]
    for text in texts:
        assert "VERYSECRET" not in text
    clone = pickle.loads(pickle.dumps(store))
    assert clone.get("zarr.json") == store.get("zarr.json")


class SQLiteMapping(MutableMapping):
    """A key/value store in one SQLite table: the kind of adapter users write."""

    def __init__(self, path):
        self.path = path
        with sqlite3.connect(path) as db:
            db.execute("CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v BLOB)")

    def __getitem__(self, key):
        with sqlite3.connect(self.path) as db:
            row = db.execute("SELECT v FROM kv WHERE k = ?", (key,)).fetchone()
        if row is None:
            raise KeyError(key)
        return row[0]

    def __setitem__(self, key, value):
        with sqlite3.connect(self.path) as db:
            db.execute("INSERT OR REPLACE INTO kv VALUES (?, ?)", (key, bytes(value)))

    def __delitem__(self, key):
        with sqlite3.connect(self.path) as db:
            if db.execute("DELETE FROM kv WHERE k = ?", (key,)).rowcount == 0:
                raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        with sqlite3.connect(self.path) as db:
            return iter([r[0] for r in db.execute("SELECT k FROM kv ORDER BY k")])

    def __len__(self):
        with sqlite3.connect(self.path) as db:
            return db.execute("SELECT COUNT(*) FROM kv").fetchone()[0]


def test_sqlite_mapping_store(tmp_path):
    m = SQLiteMapping(str(tmp_path / "kv.sqlite"))
    dz.create_group(m, attributes={"db": "sqlite"})
    dz.write(_src(), dz.store.MappingStore(m, "grp/a"))
    dz.consolidate(m)
    g = dz.open_group(m)
    assert g.attrs == {"db": "sqlite"}
    assert_same(g["grp/a"].compute(), DATA)
    assert "grp/a/c/0/0" in m


def test_distributed_read_from_s3(s3_endpoint, bucket, local_cluster):
    from distributed import Client

    opts = s3_options(s3_endpoint)
    dz.write(_src(), f"s3://{bucket}/a.zarr", storage_options=opts)
    with Client(local_cluster):
        assert_same(dz.read(f"s3://{bucket}/a.zarr", storage_options=opts).compute(), DATA)
        dz.write(_src() * 2, f"s3://{bucket}/b.zarr", chunks=(20, 25), storage_options=opts)
    with dask.config.set(scheduler="threads"):
        assert_same(dz.read(f"s3://{bucket}/b.zarr", storage_options=opts).compute(), DATA * 2)


@pytest.mark.parametrize("dask_rows", [1536, 3072])  # one shard per task (set), two (set_many)
def test_large_shards_are_uploaded_multipart(proxy, bucket, dask_rows):
    """12 MiB shards with 5 MiB parts: one CreateMultipartUpload and three parts each;
    the small metadata documents stay single PUTs. zarr-python reads the result."""
    opts = s3_options(proxy.endpoint)
    url = f"s3://{bucket}/a.zarr"
    data = np.arange(3072 * 1024, dtype="f8").reshape(3072, 1024)
    with dask.config.set({"dask_zarrio.s3-multipart-part-size": "5MiB"}):
        dz.write(da.from_array(data, chunks=(dask_rows, 1024)), url, chunks=(256, 1024), shards=(1536, 1024),
                 compressors=None, storage_options=opts)
    assert dict(proxy.multipart) == {"CreateMultipartUpload": 2, "UploadPart": 6, "CompleteMultipartUpload": 2}
    np.testing.assert_array_equal(zarr.open_array(url, mode="r", storage_options=opts)[...], data)
    np.testing.assert_array_equal(dz.read(url, storage_options=opts).compute(), data)


def test_a_multipart_part_size_under_s3s_minimum_is_refused(proxy, bucket):
    opts = s3_options(proxy.endpoint)
    with dask.config.set({"dask_zarrio.s3-multipart-part-size": "1MiB"}), \
            pytest.raises(dz.ZarrioError, match=r"s3-multipart-part-size' is '1MiB'.*at least 5 MiB"):
        dz.write(np.zeros(4), f"s3://{bucket}/a.zarr", chunks=(2,), storage_options=opts)
