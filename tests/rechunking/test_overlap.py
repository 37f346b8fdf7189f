"""Nothing lost (issue 28): a copy, rechunk or write whose source, target and temp overlap, in any
spelling and on any store, is refused before anything is created or deleted, and every byte that
was there is there afterwards."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import dask.array as da
import numpy as np
import pytest

import dask_zarrio as dz
from dask_zarrio.store import open_store

#: 32 rows of 32: rows (1, 32) to columns (32, 1) under 2 KiB takes two passes (an intermediate array).
#: Small, as every S3 case writes, lists and reads the group on a server that answers one request at a time.
N = 32
DATA = np.arange(N * N, dtype="i8").reshape(N, N)
TWO_PASSES: dict[str, Any] = {"chunks": (N, 1), "max_mem": 2048}


@dataclass
class Place:
    """A store kind: URLs of nodes in one key space, its options, and a snapshot of every object in it."""

    kind: str
    node: Callable[[str], str]
    options: dict[str, Any]
    root: str

    def snapshot(self) -> dict[str, Any]:
        if self.kind == "s3":
            # Every object's ETag (the MD5 of its bytes) from one listing, where reading each
            # object back cost the S3 cases most of their time (the server answers one at a time).
            import fsspec

            prefix = self.root.removeprefix("s3://").rstrip("/") + "/"
            found = fsspec.filesystem("s3", **self.options).find(prefix, detail=True)
            return {k.removeprefix(prefix): (v["size"], v["ETag"]) for k, v in found.items()}
        store = open_store(self.root, self.options)
        return {k: bytes(store.get(k) or b"") for k in store.list_keys()}


@pytest.fixture(params=["local", "memory", "sqlite", "zip", "lmdb", "redis", "s3"])
def place(request, tmp_path) -> Place:
    kind, tag = request.param, uuid.uuid4().hex[:8]
    if kind == "local":
        return Place(kind, lambda p: f"{tmp_path}/{p}", {}, str(tmp_path))
    if kind == "memory":
        return Place(kind, lambda p: f"memory://ov-{tag}/{p}", {}, f"memory://ov-{tag}")
    if kind in ("sqlite", "zip", "lmdb"):
        file = tmp_path / {"sqlite": "d.db", "zip": "d.zip", "lmdb": "env"}[kind]
        return Place(kind, lambda p: f"{kind}://{file}?path={p}", {}, f"{kind}://{file}")
    if kind == "redis":
        port = request.getfixturevalue("redis_port")
        return Place(kind, lambda p: f"redis://127.0.0.1:{port}/0/{tag}/{p}", {}, f"redis://127.0.0.1:{port}/0/{tag}")
    from tests.servers.s3 import s3_options

    endpoint, bucket = request.getfixturevalue("s3_endpoint"), request.getfixturevalue("bucket")
    return Place(kind, lambda p: f"s3://{bucket}/{p}", s3_options(endpoint), f"s3://{bucket}")


def _group(place: Place) -> str:
    """``g.zarr`` with the arrays ``a`` (rows of 32) and ``b`` beside it."""
    g = place.node("g.zarr")
    dz.create_group(g, storage_options=place.options)
    dz.write(da.from_array(DATA, chunks=(1, N)), place.node("g.zarr/a"), chunks=(1, N),
             storage_options=place.options)
    dz.write(da.arange(8, chunks=4), place.node("g.zarr/b"), chunks=4, storage_options=place.options)
    return g


def _refused(place: Place, operation: Callable[[], Any], message: str) -> None:
    """``operation`` is refused with ``message``, and nothing in the key space changed."""
    before = place.snapshot()
    with pytest.raises(dz.ZarrioError, match=message):
        operation()
    assert place.snapshot() == before
    np.testing.assert_array_equal(dz.read(place.node("g.zarr/a"), storage_options=place.options).compute(), DATA)


def _copy(place: Place, src: str, dst: str, **kw: Any) -> Callable[[], Any]:
    return lambda: dz.copy(place.node(src), place.node(dst), storage_options=place.options,
                           target_options=place.options, **kw)


def _rechunk(place: Place, src: str, dst: str, temp: str | None = None, **kw: Any) -> Callable[[], Any]:
    return lambda: dz.rechunk(place.node(src), place.node(dst), storage_options=place.options,
                              target_options=place.options, temp=None if temp is None else place.node(temp),
                              **{**TWO_PASSES, **kw})


@pytest.mark.parametrize(
    ("src", "dst", "mode", "message"),
    [
        ("g.zarr", "g.zarr", "w", "the target .*g.zarr is the source"),
        ("g.zarr", "g.zarr/backup", "w-", "the target .*g.zarr/backup lies inside the source"),
        ("g.zarr/a", "g.zarr", "w", "the target .*g.zarr contains the source .*g.zarr/a"),
        ("g.zarr/a", "g.zarr/a", "w", "is the source"),
        ("g.zarr/a", "g.zarr/a/x", "w-", "lies inside the source"),
    ],
)
def test_a_copy_onto_or_into_its_source_is_refused(place, src, dst, mode, message):
    _group(place)
    _refused(place, _copy(place, src, dst, mode=mode), message)


@pytest.mark.parametrize(
    ("dst", "temp", "message"),
    [
        ("out.zarr", "g.zarr/a", "the temp .*g.zarr/a is the source"),  # the source array
        ("out.zarr", "g.zarr", "the temp .*g.zarr contains the source"),  # its group
        ("g.zarr/out", "g.zarr", "the temp .*g.zarr contains the source"),  # the target's parent
        ("out.zarr", "out.zarr", "the temp .*out.zarr is the target"),
        ("out.zarr", "out.zarr/t", "the temp .*out.zarr/t lies inside the target"),
        ("out/t.zarr", "out", "the temp .*out contains the target"),
        ("g.zarr/a", "tmp.zarr", "the target .*g.zarr/a is the source"),
    ],
)
def test_a_temp_overlapping_source_or_target_is_refused(place, dst, temp, message):
    _group(place)
    if place.kind in ("local", "memory", "s3"):
        open_store(place.node(dst), place.options)  # the target is not created either
    _refused(place, _rechunk(place, "g.zarr/a", dst, temp, mode="w"), message)
    _refused(place, _copy(place, "g.zarr", dst if dst != "g.zarr/a" else "g.zarr", temp=place.node(temp), mode="w",
                          **TWO_PASSES), "is the source|contains the source|the target|lies inside")


def test_a_replacing_write_reading_its_target_is_refused(place):
    _group(place)
    a = dz.read(place.node("g.zarr/a"), storage_options=place.options)
    for target in ("g.zarr/a", "g.zarr"):
        _refused(place, lambda t=target: dz.write(a + 1, place.node(t), mode="w", storage_options=place.options),
                 "(is|contains) the source .*g.zarr/a")


def test_a_sibling_reached_through_dotdot_is_not_the_source(place):
    """``g.zarr/a/../c`` is ``g.zarr/c``: allowed, written there, and nothing made inside ``a``."""
    if place.kind in ("sqlite", "zip", "lmdb", "redis"):
        pytest.skip("member paths of these stores refuse '..' outright (store.base.member_path)")
    _group(place)
    before = place.snapshot()
    dz.rechunk(place.node("g.zarr/a"), place.node("g.zarr/a/../c"), storage_options=place.options,
               target_options=place.options, chunks=(8, 8))
    np.testing.assert_array_equal(dz.read(place.node("g.zarr/c"), storage_options=place.options).compute(), DATA)
    after = place.snapshot()
    assert {k: v for k, v in after.items() if not k.startswith("g.zarr/c/")} == before  # only c is new
    assert sorted(dz.open_group(place.node("g.zarr"), storage_options=place.options).array_keys()) == ["a", "b", "c"]


def test_a_target_through_dotdot_makes_no_groups_where_it_passes(tmp_path):
    (tmp_path / "plain" / "sub").mkdir(parents=True)
    dz.write(da.arange(8, chunks=4), f"{tmp_path}/plain/x.zarr/../y.zarr", chunks=4)
    made = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert made == ["plain/y.zarr/c/0", "plain/y.zarr/c/1", "plain/y.zarr/zarr.json"]


@pytest.mark.parametrize("how", ["dot", "slashes", "file-url", "link", "parent-link"])
def test_a_local_source_spelled_otherwise_is_still_the_source(tmp_path, how):
    place = Place("local", lambda p: f"{tmp_path}/{p}", {}, str(tmp_path))
    _group(place)
    os.symlink(tmp_path / "g.zarr" / "a", tmp_path / "link-a")
    os.symlink(tmp_path / "g.zarr", tmp_path / "link-g")
    target = {"dot": f"{tmp_path}/./g.zarr/a", "slashes": f"{tmp_path}//g.zarr//a", "file-url": f"file://{tmp_path}/g.zarr/a",
              "link": f"{tmp_path}/link-a", "parent-link": f"{tmp_path}/link-g/a"}[how]
    before = place.snapshot()
    with pytest.raises(dz.ZarrioError, match="is the source"):
        dz.rechunk(place.node("g.zarr/a"), target, chunks=(8, 8), mode="w")
    assert place.snapshot() == before and os.path.islink(tmp_path / "link-a")
    assert not [p for p in tmp_path.rglob(".dz-*")]


@pytest.mark.parametrize("scheme", ["zip", "sqlite", "lmdb"])
def test_an_archive_reached_through_a_link_is_still_the_source(tmp_path, scheme):
    name = {"zip": "d.zip", "sqlite": "d.db", "lmdb": "env"}[scheme]
    (tmp_path / "real").mkdir()
    os.symlink(tmp_path / "real", tmp_path / "link")
    src = f"{scheme}://{tmp_path}/link/{name}?path=a"
    dz.write(da.from_array(DATA, chunks=(1, N)), src, chunks=(1, N))
    # read back through the link: LMDB refuses a second handle on one environment under another path
    place = Place(scheme, lambda p: p, {}, f"{scheme}://{tmp_path}/link/{name}")
    before = place.snapshot()
    for target in (f"{scheme}://{tmp_path}/real/{name}?path=a", f"{scheme}://{tmp_path}/real/{name}",
                   str(tmp_path / "real")):
        with pytest.raises(dz.ZarrioError, match="is the source|contains the source"):
            dz.rechunk(src, target, chunks=(8, 8), mode="w")
    assert place.snapshot() == before
    np.testing.assert_array_equal(dz.read(src).compute(), DATA)
