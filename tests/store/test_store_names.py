"""Member names (issue 28): every store runs the one check of ``store.base.member_path``, at
every entry point that takes a name (``child``, a constructor's node path, a URL's node path),
so a hostile name is refused with a ZarrioError quoting it and nothing is written; and every
name a store accepts is listed back (SQLite's listing with astral characters)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

import dask_zarrio as dz
from dask_zarrio.errors import ZarrioError
from dask_zarrio.store import MappingStore, Store, open_store
from dask_zarrio.store.backends.mongodb_store import MongoDBStore
from dask_zarrio.store.backends.redis_store import RedisStore
from dask_zarrio.store.backends.sqlite import SQLiteStore
from dask_zarrio.store.base import member_path

#: Names that could point outside a node, name a sibling, or hide their spelling.
HOSTILE = [
    "a\nb", "a\rb", "a\x00b", "a\x07b", "a\tb", "a\x1bb", "a\x7fb", "a\x85b", "a\\b", "..\\x",
    "..", "a/../b", ".", "./a", "a/.", "a//b", "//a", "/a", "", "a//", "x" * 256, "é" * 128,
    "a\u2028b", "a\u2029b", "a\u202eb", "a\u2066b", "\ud800",
]
#: The same, percent-encoded in a URL's node path.
ENCODED = {"a%0ab": "a\nb", "a%0Db": "a\rb", "a%00b": "a\x00b", "a%5Cb": "a\\b", "%2e%2e": "..", "a%2F%2Fb": "a//b"}
#: Printable names a store must take and list back as they are.
FINE = ["a b", "ü/ß", "名前", "a.b-c_d", "x" * 255, "e\U0001f600", "z\U0010ffff", "\U0010ffff\U0010ffff/q", "%41"]


@dataclass
class Kind:
    """One store kind: its top node, and the URL of a node below it (``None``: no such URLs)."""

    top: Store
    url: Callable[[str], str] | None


@pytest.fixture(params=["local", "memory", "mapping", "sqlite", "zip", "lmdb", "redis", "mongodb"])
def kind(request, tmp_path) -> Kind:
    name = request.param
    if name == "local":
        return Kind(open_store(str(tmp_path / "top")), None)
    if name == "memory":
        return Kind(open_store(f"memory://names-{uuid.uuid4().hex}"), None)
    if name == "mapping":
        return Kind(MappingStore({}), None)
    if name in ("sqlite", "zip", "lmdb"):
        file = tmp_path / {"sqlite": "d.db", "zip": "d.zip", "lmdb": "env"}[name]
        return Kind(open_store(f"{name}://{file}"), lambda node: f"{name}://{file}?path={node}")
    if name == "redis":
        base = f"redis://127.0.0.1:{request.getfixturevalue('redis_port')}/0/{uuid.uuid4().hex}"
        return Kind(open_store(base), lambda node: f"{base}/{node}")
    request.getfixturevalue("mongomock_client")
    db = f"db{uuid.uuid4().hex[:8]}"
    return Kind(open_store(f"mongodb://localhost/{db}"), lambda node: f"mongodb://localhost/{db}/{node}")


def _seeded(kind: Kind) -> tuple[Store, list[str]]:
    """The store with a sibling ``g/ab`` (what a dropped character would overwrite), and its keys."""
    top = kind.top
    top.set("g/ab/zarr.json", b"sibling")
    return top, top.list_keys()


def _refused(exc: pytest.ExceptionInfo[Any], name: str) -> None:
    assert repr(name)[1:-1] in str(exc.value), str(exc.value)


@pytest.mark.parametrize("name", HOSTILE, ids=ascii)
def test_child_refuses_a_hostile_name_on_every_store(kind: Kind, name: str):
    top, before = _seeded(kind)
    group = top.child("g")
    with pytest.raises(ZarrioError) as exc:
        group.child(name).set("zarr.json", b"hostile")
    _refused(exc, name)
    assert top.list_keys() == before and top.get("g/ab/zarr.json") == b"sibling"


@pytest.mark.parametrize("name", [n for n in HOSTILE if n.strip("/")], ids=ascii)
def test_a_url_node_path_is_checked_the_same(kind: Kind, name: str):
    if kind.url is None:
        pytest.skip("local paths and memory:// roots are the user's own location, not member names")
    top, before = _seeded(kind)
    with pytest.raises(ZarrioError) as exc:
        dz.write(np.arange(3), kind.url(f"g/{name}"))
    _refused(exc, name)
    assert top.list_keys() == before and top.get("g/ab/zarr.json") == b"sibling"


@pytest.mark.parametrize(("encoded", "name"), ENCODED.items(), ids=ascii)
def test_a_percent_encoded_name_in_a_url_is_checked_decoded(kind: Kind, encoded: str, name: str):
    if kind.url is None:
        pytest.skip("no URLs with node paths")
    top, before = _seeded(kind)
    with pytest.raises(ZarrioError) as exc:
        dz.write(np.arange(3), kind.url(f"g/{encoded}"))
    _refused(exc, name)
    assert top.list_keys() == before


@pytest.mark.parametrize("name", [n for n in HOSTILE if n.strip("/")], ids=ascii)
def test_a_constructor_node_path_is_checked_the_same(kind: Kind, name: str):
    top = kind.top
    if isinstance(top, (RedisStore, MongoDBStore)):
        make: Callable[[], Any] = lambda: type(top)(top.url, f"g/{name}", top.options)  # noqa: E731
    elif isinstance(top, MappingStore):
        make = lambda: MappingStore(top.mapping, f"g/{name}")  # noqa: E731
    elif hasattr(top, "path") and hasattr(top, "options"):
        make = lambda: type(top)(top.path, f"g/{name}", **top.options)  # noqa: E731
    else:
        pytest.skip("a folder's root is the user's own location")
    with pytest.raises(ZarrioError) as exc:
        make()
    _refused(exc, name)


def test_the_redis_url_newline_no_longer_names_the_sibling(redis_port: int):
    base = f"redis://127.0.0.1:{redis_port}/0/{uuid.uuid4().hex}"
    dz.write(np.arange(3), f"{base}/g/ab")
    with pytest.raises(ZarrioError, match=r"\\n"):
        dz.write(np.arange(5), f"{base}/g/a\nb")
    assert dz.read(f"{base}/g/ab").compute().tolist() == [0, 1, 2]


def test_a_trailing_slash_names_the_same_node_everywhere(kind: Kind):
    top, _ = _seeded(kind)
    assert top.child("g/ab/").describe() == top.child("g/ab").describe()
    assert top.child("g/ab/").get("zarr.json") == b"sibling"
    assert member_path("g/ab/") == "g/ab"


@pytest.mark.parametrize("name", FINE, ids=ascii)
def test_printable_names_are_taken_and_listed_back(kind: Kind, name: str):
    top = kind.top
    if name.startswith("x" * 255) and isinstance(top.child("g"), type(open_store("lmdb:///nowhere"))):
        pytest.skip("LMDB keys hold at most 511 bytes")
    top.child(f"g/{name}").set("zarr.json", b"v")
    assert f"g/{name}/zarr.json" in top.list_keys()
    assert top.child("g").list_dir() == [name.split("/")[0]]
    assert top.child(f"g/{name}").get("zarr.json") == b"v"


def test_sqlite_lists_names_at_and_above_the_last_code_point(tmp_path):
    top = SQLiteStore(str(tmp_path / "d.db"))
    names = ["g/\U0010ffff", "g/\U0010ffffz", "g/a\U0010ffff\U0010ffff", "g/\U0001f600", "h/x", "g\U0010ffff/x"]
    top.set_many({f"{n}/zarr.json": b"v" for n in names})
    assert top.child("g").list_dir() == sorted(n[2:] for n in names if n.startswith("g/"))
    assert top.child("g/\U0010ffff").list_keys() == ["zarr.json"]
    assert SQLiteStore(str(tmp_path / "d.db"), "g\U0010ffff").list_keys() == ["x/zarr.json"]
    top.child("g").clear()
    assert top.list_keys() == ["g\U0010ffff/x/zarr.json", "h/x/zarr.json"]
