"""Store.location: one node, however it is spelled, is one place (issue 28, "Nothing lost")."""

from __future__ import annotations

import os

import pytest

from dask_zarrio.errors import ZarrioError
from dask_zarrio.store import MappingStore, open_store
from dask_zarrio.store.backends.mongodb_store import MongoDBStore
from dask_zarrio.store.locations import check_locations, lexical_path, local_path, overlaps


def _same(a, b) -> bool:
    return open_store(a).location() == open_store(b).location()


@pytest.mark.parametrize(
    "spelling",
    ["{d}/./g.zarr/a", "{d}//g.zarr/a", "{d}/g.zarr/a/", "file://{d}/g.zarr/a", "{d}/g.zarr/b/../a",
     "{d}/other/../g.zarr/a", "{d}/link/a", "{d}/link-a"],
)
def test_every_spelling_of_a_local_folder_is_one_place(tmp_path, spelling):
    (tmp_path / "g.zarr" / "a").mkdir(parents=True)
    (tmp_path / "other").mkdir()
    os.symlink(tmp_path / "g.zarr", tmp_path / "link")
    os.symlink(tmp_path / "g.zarr" / "a", tmp_path / "link-a")
    assert _same(f"{tmp_path}/g.zarr/a", spelling.format(d=tmp_path))


def test_a_path_through_dotdot_is_where_it_leads_not_where_it_passes(tmp_path):
    src = open_store(f"{tmp_path}/src.zarr").location()
    other = open_store(f"{tmp_path}/src.zarr/../other.zarr")
    assert other.root == f"{tmp_path}/other.zarr" and not overlaps(src, other.location())
    assert not overlaps(src, open_store(f"{tmp_path}/src.zarr2").location())  # a prefix of a name is no parent


@pytest.mark.parametrize("scheme", ["zip", "sqlite", "lmdb"])
def test_an_archive_is_one_place_through_any_link_and_holds_its_nodes(tmp_path, scheme):
    name = {"zip": "d.zip", "sqlite": "d.db", "lmdb": "env"}[scheme]
    real = tmp_path / "real"
    real.mkdir()
    os.symlink(real, tmp_path / "link")
    a = open_store(f"{scheme}://{real}/{name}?path=g.zarr/a").location()
    assert a == open_store(f"{scheme}://{tmp_path}/link/{name}?path=g.zarr/a").location()
    assert a == open_store(f"{scheme}://{tmp_path}/link/../real/{name}?path=g.zarr/a").location()
    assert overlaps(a, open_store(f"{scheme}://{real}/{name}").location())  # the whole archive holds it
    assert overlaps(a, open_store(str(real)).location())  # and so does the folder holding the archive
    assert not overlaps(a, open_store(f"{scheme}://{real}/{name}?path=g.zarr/b").location())
    assert not overlaps(a, open_store(f"{scheme}://{real}/other-{name}?path=g.zarr/a").location())


def test_sqlite_tables_are_separate_places(tmp_path):
    one = open_store(f"sqlite://{tmp_path}/d.db?path=a", {"table": "one"}).location()
    two = open_store(f"sqlite://{tmp_path}/d.db?path=a", {"table": "two"}).location()
    assert not overlaps(one, two) and overlaps(one, open_store(str(tmp_path)).location())


def test_a_server_is_one_place_however_its_host_is_spelled():
    a = open_store("redis://127.0.0.1:6379/0/g.zarr").location()
    assert a == open_store("redis://localhost/0/g.zarr/").location()
    assert a == open_store("rediss://:secret@LOCALHOST:6379/0/g.zarr").location()
    assert overlaps(a, open_store("redis://localhost/0/g.zarr/a").location())
    assert not overlaps(a, open_store("redis://localhost/1/g.zarr").location())  # another database
    assert not overlaps(a, open_store("redis://localhost:6380/0/g.zarr").location())  # another server
    m = MongoDBStore.from_url("mongodb://localhost/db/g.zarr?collection=c").location()
    assert m == MongoDBStore.from_url("mongodb://u:p@127.0.0.1:27017/db/g.zarr/?collection=c").location()
    assert not overlaps(m, MongoDBStore.from_url("mongodb://localhost/db/g.zarr?collection=other").location())
    assert not overlaps(m, MongoDBStore.from_url("mongodb://localhost/db2/g.zarr?collection=c").location())


def test_memory_and_s3_paths_are_normalised_and_s3_endpoints_kept_apart():
    assert _same("memory://x/g.zarr/a", "memory://x/./g.zarr//b/../a/")
    one = open_store("s3://bucket/g.zarr", {"anon": True, "client_kwargs": {"endpoint_url": "http://127.0.0.1:1"}})
    two = open_store("s3://bucket/./g.zarr", {"anon": True, "client_kwargs": {"endpoint_url": "http://127.0.0.1:2"}})
    same = open_store("s3://bucket/x/../g.zarr/a", {"anon": True, "client_kwargs": {"endpoint_url": "http://127.0.0.1:1"}})
    assert not overlaps(one.location(), two.location()) and overlaps(one.location(), same.location())


def test_mappings_are_places_of_their_own():
    m: dict = {}
    assert overlaps(MappingStore(m, "g").location(), MappingStore(m, "g/a").location())
    assert not overlaps(MappingStore(m, "g").location(), MappingStore({}, "g").location())


@pytest.mark.parametrize(
    ("target", "temp", "message"),
    [
        ("g.zarr/a", None, "the target .*g.zarr/a is the source .*g.zarr/a"),
        ("g.zarr", None, "the target .*g.zarr contains the source .*g.zarr/a"),
        ("g.zarr/a/x", None, "the target .*g.zarr/a/x lies inside the source"),
        ("out.zarr", "g.zarr", "the temp .*g.zarr contains the source"),
        ("out.zarr", "out.zarr/t", "the temp .*out.zarr/t lies inside the target"),
        ("out.zarr/x", "out.zarr", "the temp .*out.zarr contains the target"),
    ],
)
def test_check_locations_names_both_places_and_the_fix(tmp_path, target, temp, message):
    source, into = open_store(f"{tmp_path}/g.zarr/a"), open_store(f"{tmp_path}/{target}")
    with pytest.raises(ZarrioError, match=message) as info:
        check_locations("dz.rechunk", source=source, target=into,
                        temp=None if temp is None else open_store(f"{tmp_path}/{temp}"))
    text = str(info.value)
    assert "Nothing was written" in text and ("choose a target" in text or "temp=" in text)


def test_lexical_and_local_paths():
    assert lexical_path("a/./b//c/../d/") == "a/b/d" and lexical_path("/") == "/"
    assert local_path("/x/y/../z") == os.path.realpath("/x") + "/z" if os.path.exists("/x") else "/x/z"
