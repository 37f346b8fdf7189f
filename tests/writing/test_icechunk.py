"""dz.read/dz.write with Icechunk repositories: one commit per write, none for a failed one.

Oracles both ways: zarr-python reads what dz committed through icechunk's own zarr store,
and dz reads what zarr-python committed. The cited pitfalls: forks that each rewrite the
metadata keep only one of them (icechunk#1206); a writable session cannot travel to
workers (icechunk#964), so each task writes through its own fork.
"""

from __future__ import annotations

import os
import pickle
import re
import time

import dask
import dask.array as da
import icechunk
import numpy as np
import pytest
import zarr

import dask_zarrio as dz
from dask_zarrio.store.backends.icechunk_store import IcechunkStore
from dask_zarrio.testing.store_tests import DATA, RANGES, _cut

SOURCE = np.arange(1600.0).reshape(40, 40)


def _storage(kind: str, tmp_path, request) -> icechunk.Storage:
    if kind == "memory":
        return icechunk.in_memory_storage()
    if kind == "local":
        return icechunk.local_filesystem_storage(str(tmp_path / "repo"))
    endpoint = request.getfixturevalue("s3_endpoint")
    bucket = request.getfixturevalue("bucket")
    return icechunk.s3_storage(
        bucket=bucket, prefix="repo", endpoint_url=endpoint, allow_http=True, force_path_style=True,
        region="us-east-1", access_key_id="testing", secret_access_key="testing",
    )


@pytest.fixture(params=["memory", "local", "s3"])
def repo(request, tmp_path) -> icechunk.Repository:
    return icechunk.Repository.create(_storage(request.param, tmp_path, request))


@pytest.fixture
def local_repo(tmp_path) -> icechunk.Repository:
    return icechunk.Repository.create(icechunk.local_filesystem_storage(str(tmp_path / "repo")))


def _messages(repo: icechunk.Repository, branch: str = "main") -> list[str]:
    return [s.message for s in repo.ancestry(branch=branch)]


def _zarr(repo: icechunk.Repository, path: str, **version: str) -> np.ndarray:
    return zarr.open_array(repo.readonly_session(**(version or {"branch": "main"})).store, path=path, mode="r")[...]


def test_write_is_one_commit_that_zarr_reads(repo):
    dz.write(da.from_array(SOURCE, chunks=(10, 20)), (repo, "grp/a"), chunks=(10, 10), commit="write a")
    assert _messages(repo) == ["write a", "Repository initialized"]
    np.testing.assert_array_equal(_zarr(repo, "grp/a"), SOURCE)
    np.testing.assert_array_equal(dz.read((repo, "grp/a")).compute(), SOURCE)
    assert zarr.open_group(repo.readonly_session("main").store, path="grp", mode="r").attrs.asdict() == {}


def test_dz_reads_what_zarr_committed(repo):
    session = repo.writable_session("main")
    z = zarr.create_array(session.store, name="z", shape=(40, 40), chunks=(16, 16), dtype="f8", fill_value=-1.0)
    z[:30] = SOURCE[:30]
    session.commit("zarr wrote")
    expected = np.where(np.arange(40)[:, None] < 30, SOURCE, -1.0)
    np.testing.assert_array_equal(dz.read((repo, "z"), chunks=(20, 20)).compute(), expected)
    np.testing.assert_array_equal(dz.read((repo.readonly_session("main"), "z")).compute(), expected)


def test_time_travel_reads_older_snapshots_exactly(local_repo):
    repo = local_repo
    dz.write(SOURCE, (repo, "a"), chunks=(10, 10), commit="v1")
    first = repo.lookup_branch("main")
    repo.create_tag("v1", first)
    dz.write(da.zeros((10, 40), chunks=10), (repo, "a"), mode="r+", region=(slice(0, 10),), commit="zero the top")
    now = dz.read((repo, "a")).compute()
    assert (now[:10] == 0).all() and (now[10:] == SOURCE[10:]).all()
    for version in ({"snapshot": first}, {"tag": "v1"}):
        np.testing.assert_array_equal(dz.read((repo, "a"), **version).compute(), SOURCE)
    np.testing.assert_array_equal(_zarr(repo, "a", snapshot_id=first), SOURCE)


def test_region_and_append_are_one_commit_each(local_repo):
    repo = local_repo
    dz.write(SOURCE, (repo, "a"), chunks=(10, 10), dimension_names=["t", "x"], commit="create")
    dz.write(da.ones((5, 40), chunks=5), (repo, "a"), mode="r+", region=(slice(12, 17),), commit="region")
    dz.write(da.full((20, 40), 7.0, chunks=10), (repo, "a"), mode="a", append_dim="t", commit="append")
    assert _messages(repo)[:3] == ["append", "region", "create"]
    expected = np.concatenate([SOURCE, np.full((20, 40), 7.0)])
    expected[12:17] = 1
    np.testing.assert_array_equal(_zarr(repo, "a"), expected)
    np.testing.assert_array_equal(dz.read((repo, "a")).compute(), expected)


@pytest.mark.parametrize("scheduler", ["threads", "sync"])
def test_failed_graph_commits_nothing(local_repo, scheduler):
    repo = local_repo
    dz.write(SOURCE, (repo, "a"), chunks=(10, 10), commit="v1")
    head = repo.lookup_branch("main")

    def fail(block: np.ndarray, block_info: dict | None = None) -> np.ndarray:
        if block_info[0]["chunk-location"] == (3, 3):  # type: ignore[index]
            raise RuntimeError("injected failure")
        return block * 0

    bad = da.from_array(SOURCE, chunks=10).map_blocks(fail, dtype=SOURCE.dtype)
    with dask.config.set(scheduler=scheduler), pytest.raises(RuntimeError, match="injected"):
        dz.write(bad, (repo, "a"), mode="r+", region=(slice(0, 40),), commit="never")
    assert repo.lookup_branch("main") == head
    np.testing.assert_array_equal(dz.read((repo, "a")).compute(), SOURCE)


def test_compute_false_returns_a_delayed_that_commits(local_repo):
    repo = local_repo
    head = repo.lookup_branch("main")
    job = dz.write(SOURCE, (repo, "a"), chunks=(10, 10), commit="later", compute=False)
    assert repo.lookup_branch("main") == head  # nothing yet
    job.compute()
    assert _messages(repo)[0] == "later"
    np.testing.assert_array_equal(_zarr(repo, "a"), SOURCE)


def test_session_target_is_merged_and_left_to_the_caller(local_repo):
    repo = local_repo
    session = repo.writable_session("main")
    dz.write(SOURCE, (session, "a"), chunks=(10, 10))
    assert session.has_uncommitted_changes and len(_messages(repo)) == 1
    session.commit("mine")
    np.testing.assert_array_equal(_zarr(repo, "a"), SOURCE)


def test_conflicting_commit_names_the_branch_and_snapshot(local_repo):
    repo = local_repo
    dz.write(SOURCE, (repo, "a"), chunks=(10, 10), commit="v1")
    slow = repo.writable_session("main")
    dz.write(da.ones((10, 40), chunks=10), (repo, "a"), mode="r+", region=(slice(0, 10),), commit="first")
    winner = repo.lookup_branch("main")
    with pytest.raises(dz.ConcurrentWriteError, match=f"'main' moved to snapshot '{winner}'.*rebase=True"):
        dz.write(da.zeros((10, 40), chunks=10), (slow, "a"), mode="r+", region=(slice(30, 40),), commit="second")
    assert repo.lookup_branch("main") == winner


def test_rebase_commits_on_top_of_a_concurrent_commit(local_repo):
    repo = local_repo
    dz.write(SOURCE, (repo, "a"), chunks=(10, 10), commit="v1")
    slow = repo.writable_session("main")
    dz.write(da.ones((10, 40), chunks=10), (repo, "a"), mode="r+", region=(slice(0, 10),), commit="first")
    dz.write(
        da.zeros((10, 40), chunks=10), (slow, "a"), mode="r+", region=(slice(30, 40),), commit="second", rebase=True
    )
    expected = SOURCE.copy()
    expected[:10], expected[30:] = 1, 0
    assert _messages(repo)[:2] == ["second", "first"]
    np.testing.assert_array_equal(_zarr(repo, "a"), expected)


def test_url_target(tmp_path):
    url = f"icechunk://{tmp_path / 'repo'}?path=g/a"
    dz.write(SOURCE, url, chunks=(10, 10), commit="by url")
    np.testing.assert_array_equal(dz.read(url).compute(), SOURCE)
    repo = icechunk.Repository.open(icechunk.local_filesystem_storage(str(tmp_path / "repo")))
    assert _messages(repo)[0] == "by url"


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda repo: dz.write(SOURCE, (repo, "a"), zarr_format=2), "Zarr v3 only"),
        (lambda repo: dz.write(SOURCE, (repo.readonly_session("main"), "a")), "read-only"),
        (lambda repo: dz.write(SOURCE, (repo, "a"), resume=True), "committed nothing"),
        (lambda repo: dz.read((repo.readonly_session("main"), "a"), tag="v1"), "already one version"),
        (lambda repo: dz.read((repo, "a"), tag="v1", branch="main"), "one of branch="),
    ],
)
def test_refusals(local_repo, call, match):
    head = local_repo.lookup_branch("main")
    with pytest.raises(dz.ZarrioError, match=match):
        call(local_repo)
    assert local_repo.lookup_branch("main") == head


def test_xarray_engine_reads_a_repository(local_repo):
    xr = pytest.importorskip("xarray")
    repo = local_repo
    ds = xr.Dataset({"t": (("y", "x"), SOURCE)}, coords={"y": np.arange(40)})
    session = repo.writable_session("main")
    ds.to_zarr(session.store, mode="w", consolidated=False, zarr_format=3)
    session.commit("xarray wrote")
    got = xr.open_dataset(repo.readonly_session("main"), engine="dask_zarrio")
    xr.testing.assert_identical(got.compute(), ds)


@pytest.fixture
def chunk_store():
    """A writable in-memory session with one array whose chunk c/0 holds DATA (icechunk
    takes Zarr keys only, so dz's generic store contract with free-form keys does not apply)."""
    repo = icechunk.Repository.create(icechunk.in_memory_storage())
    session = repo.writable_session("main")
    zarr.create_array(session.store, name="a", shape=(len(DATA),), chunks=(len(DATA),), dtype="u1", compressors=None)
    store = IcechunkStore(session, "a")
    store.set("c/0", DATA)
    return store


@pytest.mark.parametrize(("start", "length"), RANGES)
def test_store_ranges_cut_as_python_slices(chunk_store, start, length):
    assert chunk_store.get_range("c/0", start, length) == _cut(DATA, start, length)


def test_store_missing_and_foreign_keys_are_none(chunk_store):
    assert chunk_store.get_many(["c/0", "c/1", ".zarray", ".dz-journal"]) == [DATA, None, None, None]
    assert chunk_store.get_range("c/1", 0, 4) is None and not chunk_store.exists(".zattrs")
    assert chunk_store.list_keys() == ["c/0", "zarr.json"] and chunk_store.parent().list_dir() == ["a", "zarr.json"]
    chunk_store.delete("c/0")
    assert chunk_store.get("c/0") is None


def test_store_pickles_read_only_and_fork_sessions_only(chunk_store):
    with pytest.raises(dz.ZarrioError, match="cannot be sent to other processes"):
        pickle.dumps(chunk_store)


def _killing(calls_dir, fail_at: tuple[int, int]) -> da.Array:
    """SOURCE * 2 in 16 blocks; the worker computing ``fail_at`` dies (os._exit) mid-task."""

    def double(block: np.ndarray, block_info: dict | None = None) -> np.ndarray:
        if tuple(block_info[0]["chunk-location"]) == fail_at and not (calls_dir / "heal").exists():  # type: ignore[index]
            time.sleep(0.5)  # let the other workers write their blocks into their forks first
            os._exit(1)
        return block * 2

    return da.from_array(SOURCE, chunks=10).map_blocks(double, dtype=SOURCE.dtype)


@pytest.mark.slow
def test_distributed_write_and_killed_worker(local_repo, tmp_path):
    """On a 2-process LocalCluster each task's fork travels back and is merged; a worker
    killed mid-write fails the graph and the branch's head does not move."""
    distributed = pytest.importorskip("distributed")
    repo = local_repo
    dz.write(SOURCE, (repo, "a"), chunks=(10, 10), commit="v1")
    head = repo.lookup_branch("main")
    # A cluster of its own, not tests/conftest.py's shared one: a worker is killed, and
    # allowed-failures is read when the scheduler starts.
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    ) as cluster, distributed.Client(cluster):
        with pytest.raises(distributed.KilledWorker):
            dz.write(_killing(tmp_path, (3, 3)), (repo, "a"), mode="r+", region=(slice(0, 40),), commit="killed")
        assert repo.lookup_branch("main") == head
        (tmp_path / "heal").touch()
        dz.write(_killing(tmp_path, (3, 3)), (repo, "b"), chunks=(10, 10), commit="on the cluster")
        job = dz.write(SOURCE + 1, (repo, "c"), chunks=(20, 20), commit="delayed on the cluster", compute=False)
        job.compute()
    assert _messages(repo)[:3] == ["delayed on the cluster", "on the cluster", "v1"]
    np.testing.assert_array_equal(_zarr(repo, "a"), SOURCE)
    np.testing.assert_array_equal(_zarr(repo, "b"), SOURCE * 2)
    np.testing.assert_array_equal(dz.read((repo, "c")).compute(), SOURCE + 1)


def test_in_memory_repository_refuses_a_cluster(client):
    repo = icechunk.Repository.create(icechunk.in_memory_storage())
    with pytest.raises(dz.ZarrioError, match="cannot be forked"):  # client: the shared cluster's
        dz.write(SOURCE, (repo, "a"), chunks=(10, 10), commit="no")


def _dataset(times: range = range(8)):
    xr = pytest.importorskip("xarray")
    t = np.arange(len(times) * 6.0).reshape(len(times), 6) + times.start
    return xr.Dataset(
        {"t": (("time", "x"), da.from_array(t, chunks=(4, 3))),
         "name": (("x",), np.array(list("abcdef"), dtype=object))},
        coords={"time": np.array(times), "x": np.arange(6) * 10}, attrs={"title": "one commit"},
    )


def test_write_dataset_is_one_commit_that_xarray_reads(repo):
    xr = pytest.importorskip("xarray")
    ds = _dataset()
    dz.write_dataset(ds, (repo, "grp/ds"), commit="dataset")
    assert _messages(repo) == ["dataset", "Repository initialized"]
    session = repo.readonly_session("main")
    xr.testing.assert_identical(xr.open_zarr(session.store, group="grp/ds", consolidated=False).compute(), ds.compute())
    xr.testing.assert_identical(xr.open_dataset((repo, "grp/ds"), engine="dask_zarrio").compute(), ds.compute())


def test_write_dataset_append_and_region_are_one_commit_each(local_repo):
    xr = pytest.importorskip("xarray")
    repo = local_repo
    dz.write_dataset(_dataset(), repo, commit="create")
    dz.write_dataset(_dataset(range(8, 12))[["t"]], repo, append_dim="time", commit="append")
    dz.write_dataset(
        _dataset(range(100, 104))[["t"]].assign_coords(time=np.arange(4)), repo, region="auto", commit="region"
    )
    assert _messages(repo)[:3] == ["region", "append", "create"]
    got = xr.open_dataset(repo, engine="dask_zarrio").t.values
    expected = np.concatenate([np.arange(8 * 6.0).reshape(8, 6), np.arange(4 * 6.0).reshape(4, 6) + 8])
    expected[:4] = np.arange(4 * 6.0).reshape(4, 6) + 100
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(
        xr.open_zarr(repo.readonly_session("main").store, consolidated=False).t.values, expected
    )


def test_write_dataset_that_fails_commits_nothing(local_repo):
    xr = pytest.importorskip("xarray")
    repo = local_repo
    dz.write_dataset(_dataset(), repo, commit="create")
    head = repo.lookup_branch("main")

    def fail(block: np.ndarray, block_info: dict | None = None) -> np.ndarray:
        if block_info[0]["chunk-location"] == (1, 1):  # type: ignore[index]
            raise RuntimeError("injected failure")
        return block * 0

    ds = _dataset()
    ds["t"] = ds.t.copy(data=ds.t.data.map_blocks(fail, dtype=float))
    with pytest.raises(RuntimeError, match="injected"):
        dz.write_dataset(ds, repo, mode="w", commit="never")
    assert repo.lookup_branch("main") == head
    xr.testing.assert_identical(xr.open_dataset(repo, engine="dask_zarrio").compute(), _dataset().compute())


def test_write_dataset_into_a_session_merges_without_committing(local_repo):
    xr = pytest.importorskip("xarray")
    repo = local_repo
    session = repo.writable_session("main")
    dz.write_dataset(_dataset(), session)
    assert session.has_uncommitted_changes and _messages(repo) == ["Repository initialized"]
    session.commit("by the caller")
    xr.testing.assert_identical(xr.open_dataset(repo, engine="dask_zarrio").compute(), _dataset().compute())


@pytest.mark.parametrize(("target", "kwargs", "match"), [
    ("repo", {"zarr_format": 2}, "Zarr v3 only"),
    ("folder", {"commit": "m"}, "apply to Icechunk targets only"),
])
def test_write_dataset_refusals(local_repo, tmp_path, target, kwargs, match):
    pytest.importorskip("xarray")
    url = local_repo if target == "repo" else str(tmp_path / "plain.zarr")
    with pytest.raises(dz.ZarrioError, match=match):
        dz.write_dataset(_dataset(), url, **kwargs)
    assert _messages(local_repo) == ["Repository initialized"]
    assert not os.path.exists(tmp_path / "plain.zarr")


def _virtual_repo(tmp_path, authorize: bool) -> tuple[icechunk.Repository, np.ndarray]:
    """A repository whose array "v" has two virtual chunks: byte ranges of a plain file
    (what VirtualiZarr writes into Icechunk), after a 6-byte header."""
    raw = np.arange(100, dtype="<i4")
    (tmp_path / "data.bin").write_bytes(b"HEADER" + raw.tobytes())
    prefix = f"file://{tmp_path}/"
    config = icechunk.RepositoryConfig.default()
    config.set_virtual_chunk_container(
        icechunk.VirtualChunkContainer(prefix, icechunk.local_filesystem_store(str(tmp_path)))
    )
    creds = icechunk.containers_credentials({prefix: None})
    storage = icechunk.local_filesystem_storage(str(tmp_path / "repo"))
    repo = icechunk.Repository.create(storage, config, authorize_virtual_chunk_access=creds)
    session = repo.writable_session("main")
    zarr.create_array(session.store, name="v", shape=(120,), chunks=(50,), dtype="<i4", compressors=None, fill_value=-1)
    session.store.set_virtual_ref("v/c/0", prefix + "data.bin", offset=6, length=200)
    session.store.set_virtual_ref("v/c/1", prefix + "data.bin", offset=206, length=200)
    session.commit("virtual chunks")
    if not authorize:
        repo = icechunk.Repository.open(storage)
    return repo, np.concatenate([raw, np.full(20, -1, "<i4")])  # chunk 2 was never written: fill


def test_virtual_chunks_read_through_the_repository(tmp_path):
    repo, expected = _virtual_repo(tmp_path, authorize=True)
    np.testing.assert_array_equal(dz.read((repo, "v"), chunks=(50,)).compute(), expected)
    np.testing.assert_array_equal(_zarr(repo, "v"), expected)


# icechunk wraps its error report near 200 characters: with a folder more in the prefix, the
# advice to authorize the container is on its second line.
@pytest.mark.parametrize("folder", ["", "pushes-the-rest-down"])
def test_unauthorised_virtual_chunks_name_the_key_and_the_fix(tmp_path, folder):
    (tmp_path / folder).mkdir(exist_ok=True)
    repo, _ = _virtual_repo(tmp_path / folder, authorize=False)
    with pytest.raises(dz.StoreError, match=r"v/c/[01]: its virtual chunk lives under 'file://.*authorize_virtual_chunk_access="):
        dz.read((repo, "v")).compute()


@pytest.mark.parametrize("how", ["refused dataset", "failed graph"])
def test_a_failed_write_gives_the_session_back_as_it_was(local_repo, how):
    """A Session target is forked for the tasks; a write that fails (refused before any data,
    or a task raising) drops the fork's metadata and merges it back empty, so the caller's own
    changes still commit, cleanly (icechunk warns on a session committed with a fork out)."""
    xr = pytest.importorskip("xarray")
    import warnings

    repo = local_repo
    session = repo.writable_session("main")
    if how == "refused dataset":
        with pytest.raises(dz.ZarrioError, match="bogus"):
            dz.write_dataset(xr.Dataset({"v": (("x",), np.arange(4))}), session, encoding={"v": {"bogus": 1}})
    else:
        def fail(block: np.ndarray) -> np.ndarray:
            raise RuntimeError("injected failure")

        with pytest.raises(RuntimeError, match="injected"):
            dz.write(
                da.from_array(SOURCE, chunks=10).map_blocks(fail, dtype=SOURCE.dtype), (session, "a"), chunks=(10, 10)
            )
    zarr.create_array(session.store, name="mine", shape=(2,), dtype="i4", fill_value=7)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        session.commit("the caller's own change")
    assert sorted(zarr.open_group(repo.readonly_session("main").store, mode="r").array_keys()) == ["mine"]


@pytest.mark.parametrize(("versions", "words"), [
    ({"branch": "nope"}, "no branch 'nope' (branches: 'main'"),
    ({"tag": "v9"}, "no tag 'v9'"),
    ({"snapshot": "ZZZZZZZZZZZZZZZZZZZZ"}, "no snapshot 'ZZZZZZZZZZZZZZZZZZZZ'"),
])
def test_a_missing_branch_tag_or_snapshot_is_named_not_a_rust_report(versions, words):
    repo = icechunk.Repository.create(icechunk.in_memory_storage())
    with pytest.raises(dz.ArrayNotFoundError, match=re.escape(words)) as info:
        dz.read((repo, "a"), **versions)
    assert "IcechunkError" not in str(info.value) and "x " not in str(info.value)[:2]


def test_a_malformed_snapshot_id_and_a_write_to_a_missing_branch_are_dz_errors():
    repo = icechunk.Repository.create(icechunk.in_memory_storage())
    with pytest.raises(dz.ZarrioError, match="'bad' is not an icechunk snapshot id"):
        dz.read((repo, "a"), snapshot="bad")
    with pytest.raises(dz.ArrayNotFoundError, match="no branch 'dev'.*repo.create_branch"):
        dz.write(np.arange(4), repo, branch="dev")
    assert [s.message for s in repo.ancestry(branch="main")][-1]  # nothing was committed anywhere
