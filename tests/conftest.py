"""Shared fixtures: temporary store URLs and oracle helpers."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from dask_zarrio.testing.strategies import DTYPES, array_data

# Golden stores and the scripts that write them (with a newer zarr-python) are data, not tests.
collect_ignore_glob = ["fixtures/*"]

__all__ = ["DTYPES", "array_data", "assert_same"]


@pytest.fixture(autouse=True)
def _quiet_oracle_warnings():
    # zarr-python warns that some v3 data types are "not part of the spec" (its wording).
    # The scheduler is left alone: tests/test_distributed.py relies on its Client
    # being the default.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", FutureWarning)
        yield


@pytest.fixture
def url(tmp_path):
    """A fresh local path for one array."""
    return str(tmp_path / "a.zarr")


def assert_same(actual: np.ndarray, expected: np.ndarray) -> None:
    """Identical dtype, shape and bits (NaN == NaN, -0.0 != 0.0)."""
    if isinstance(actual, np.generic) and np.ndim(expected) == 0:
        # dask computes a 0-d array to a numpy scalar; bytes/str scalars lose their width.
        assert actual.dtype.kind == np.asarray(expected).dtype.kind
        actual = np.array(actual, dtype=np.asarray(expected).dtype)
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape
    assert actual.dtype == expected.dtype, (actual.dtype, expected.dtype)
    if actual.dtype.names is not None:  # structs: NaN and NaT fields are equal only bit for bit
        assert np.ascontiguousarray(actual).tobytes() == np.ascontiguousarray(expected).tobytes(), (actual, expected)
    elif actual.dtype.kind in "fc":
        a = np.ascontiguousarray(actual).view(np.uint8)
        e = np.ascontiguousarray(expected).view(np.uint8)
        same_bits = np.array_equal(a, e)
        assert same_bits or np.array_equal(actual, expected, equal_nan=True), (actual, expected)
    else:
        np.testing.assert_array_equal(actual, expected)


@pytest.fixture(scope="session")
def s3_endpoint():
    """A real S3 server (moto_server) on 127.0.0.1 for the whole session, stopped by its pid."""
    from tests.servers.s3 import moto_server

    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def bucket(s3_endpoint, request):
    """A fresh bucket per test; returns its name."""
    import re
    import uuid

    from tests.servers.s3 import create_bucket

    stem = re.sub(r"[^a-z0-9-]", "-", request.node.name.lower())[:40].strip("-") or "b"
    name = f"{stem}-{uuid.uuid4().hex[:8]}"
    create_bucket(s3_endpoint, name)
    return name


@pytest.fixture(scope="session")
def redis_port():
    """A real redis-server on 127.0.0.1 for the session (scripts/install-test-servers.sh installs it)."""
    from tests.servers.redis import redis_server, redis_server_binary

    if redis_server_binary() is None:
        pytest.skip("redis-server is not installed; run scripts/install-test-servers.sh (needs apt-get as root)")
    with redis_server() as port:
        yield port


@pytest.fixture(scope="session")
def azurite_endpoint():
    """The Azurite Blob emulator on 127.0.0.1 for the session (npm package, see the install script)."""
    from tests.servers.azurite import azurite, azurite_binary

    if azurite_binary() is None:
        pytest.skip("azurite (or Node.js) is not installed; run scripts/install-test-servers.sh (needs npm)")
    with azurite() as endpoint:
        yield endpoint


@pytest.fixture
def container(azurite_endpoint, request):
    """A fresh blob container per test; returns its name."""
    import re
    import uuid

    import fsspec

    from tests.servers.azurite import azure_options

    stem = re.sub(r"[^a-z0-9-]", "-", request.node.name.lower())[:40].strip("-") or "c"
    name = re.sub("-+", "-", f"{stem}-{uuid.uuid4().hex[:8]}")
    fsspec.filesystem("az", **azure_options(azurite_endpoint)).mkdir(name)
    return name


@pytest.fixture
def mongomock_client(monkeypatch):
    """MongoDBStore's clients replaced by one shared mongomock client (no MongoDB server can be
    installed here), GridFS included."""
    import mongomock
    import mongomock.gridfs

    from dask_zarrio.store.backends import mongodb_store
    from dask_zarrio.store.support import server

    mongomock.gridfs.enable_gridfs_integration()
    client = mongomock.MongoClient()
    monkeypatch.setattr(mongodb_store.MongoDBStore, "_connect", lambda self: client)
    monkeypatch.setattr(server, "_CLIENTS", {})
    return client
