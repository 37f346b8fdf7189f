"""Shared fixtures: temporary store URLs, oracle helpers, test servers and a dask cluster.

Session-scoped fixtures are per pytest-xdist worker (each worker is a session of its own):
every worker starts its own servers on free ports and its own cluster, on first use, and
stops them by their process ids when it ends.

pyproject.toml's ``addopts`` ask for ``-n auto --dist loadgroup``: the whole suite, or a
folder of it, runs on one xdist worker per CPU core. A command line that names only files
or test ids (``python -m pytest -q tests/test_api.py``) runs in-process instead (see
:func:`pytest_xdist_auto_num_workers`); ``-n N`` or ``-n 0`` choose for themselves.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
import pytest

from dask_zarrio.testing.strategies import DTYPES, array_data

# Golden stores and the scripts that write them (with a newer zarr-python) are data, not tests.
collect_ignore_glob = ["fixtures/*"]

T = TypeVar("T")

__all__ = ["DTYPES", "array_data", "assert_same", "wait_until"]


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """What ``-n auto`` means here: 0 (in-process) when the command line names only files or
    test ids, whose tests take less time than starting workers that each import dask, zarr
    and tensorstore (and ``-s``, ``--pdb`` and prints behave as without xdist); otherwise
    xdist's choice, one worker per core (``PYTEST_XDIST_AUTO_NUM_WORKERS`` overrides both).

    Read only when this file is an initial conftest, i.e. for command lines under tests/
    (and the default testpaths); ``pytest dask_zarrio/x.py`` gets xdist's choice.
    """
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None  # xdist reads it
    if config.args_source is not pytest.Config.ArgsSource.ARGS:
        return None  # testpaths or the current folder: the whole suite
    here = config.invocation_params.dir
    if any((here / arg.split("::")[0]).is_dir() for arg in config.args):
        return None
    return 0


#: Session fixtures that are costly to start (a dask cluster, Node.js's azurite) -> the xdist
#: group of the tests that use one: a group runs on one worker, so the fixture starts once.
#: pytest >= 9.2 and pytest-xdist 3.8 ignore the groups (pytest-xdist#1386: the group is
#: written into the old node id field); until that is fixed every worker that gets such a
#: test starts the fixture itself, which is correct, only slower.
SHARED_BY_GROUP = {"local_cluster": "local_cluster", "azurite_endpoint": "azurite"}


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups off the items
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests that share a costly fixture go to one xdist worker (:data:`SHARED_BY_GROUP`); on
    workers, tests marked slow come first, so that the longest ones start early instead of
    ending a parallel run alone (every worker sorts the same way, as xdist needs); the test
    servers' doctests skip where the server is not installed, as the fixtures' tests do."""
    from tests.servers.azurite import azurite_binary
    from tests.servers.redis import redis_server_binary

    install = "run scripts/install-test-servers.sh"
    missing = {
        "azurite.py": None if azurite_binary() else f"azurite (or Node.js) is not installed; {install} (needs npm)",
        "redis.py": None if redis_server_binary() else f"redis-server is not installed; {install} (apt-get, as root)",
    }
    servers = Path(__file__).parent / "servers"
    for item in items:
        used = getattr(item, "fixturenames", ())
        for fixture, group in SHARED_BY_GROUP.items():
            if fixture in used:
                item.add_marker(pytest.mark.xdist_group(group))
        if item.path.parent == servers and missing.get(item.path.name) and isinstance(item, pytest.DoctestItem):
            item.add_marker(pytest.mark.skip(reason=missing[item.path.name]))
    if hasattr(config, "workerinput"):  # an xdist worker; a run without workers keeps file order
        items.sort(key=lambda item: item.get_closest_marker("slow") is None)  # stable: slow ones first


@pytest.fixture(autouse=True)
def _quiet_oracle_warnings():
    # zarr-python warns that some v3 data types are "not part of the spec" (its wording).
    # The scheduler is left alone: the ``client`` fixture's Client is the default
    # scheduler while a test that asks for it runs.
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


def wait_until(condition: Callable[[], T], timeout: float = 10.0, what: str = "the condition") -> T:
    """Poll ``condition`` until it returns something true, and return that; fail the test
    naming ``what`` after ``timeout`` seconds. For waits: a fixed sleep is either too short
    on a loaded machine or longer than needed on an idle one."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout} s"
        time.sleep(0.02)
    return value


@pytest.fixture(scope="session")
def local_cluster():
    """A ``LocalCluster`` of two worker processes with two threads each, for the whole session
    (of this xdist worker): tests that only need their tasks to run in other processes share
    it through ``client``. Tests that kill workers, register plugins or need a cluster started
    under some dask config keep their own cluster (each says why)."""
    from distributed import LocalCluster

    # dashboard_address=None would still serve HTTP on 8787 when free: ":0", so that the
    # clusters of other xdist workers and other test runs never compete for a port.
    with LocalCluster(n_workers=2, threads_per_worker=2, processes=True, dashboard_address=":0") as cluster:
        yield cluster


@pytest.fixture
def client(local_cluster):
    """A ``distributed.Client`` of the shared cluster, the default scheduler during the test."""
    from distributed import Client

    with Client(local_cluster) as c:
        yield c


@pytest.fixture
def refused_port():
    """A loopback port where connections are refused for the whole test, held so that no
    server another test or xdist worker starts meanwhile can take it."""
    from tests.servers.process import closed_port

    with closed_port() as port:
        yield port


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
