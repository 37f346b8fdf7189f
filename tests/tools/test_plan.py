"""dz.plan: the requests it counts are the requests the operation makes, and it writes nothing."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest

import dask_zarrio as dz
from dask_zarrio.layout.rechunk_plan import Pass
from dask_zarrio.layout.requests import overlaps, region_requests
from dask_zarrio.rechunking.rechunk import parse_max_mem
from dask_zarrio.store import open_store
from dask_zarrio.testing.counting import CountingStore
from dask_zarrio.tools.plan import S3_STANDARD_PRICES


def _source(url: str, shape: tuple[int, ...], chunks: tuple[int, ...], fmt: int = 3) -> np.ndarray:
    data = np.arange(np.prod(shape), dtype="f4").reshape(shape)
    dz.write(da.from_array(data, chunks=chunks), url, chunks=chunks, zarr_format=fmt)
    return data


def _group(root: str, fmt: int, consolidated: bool) -> None:
    dz.create_group(root, attributes={"title": "t"}, zarr_format=fmt)
    _source(f"{root}/a", (10, 10), (5, 5), fmt)
    dz.create_group(f"{root}/sub", zarr_format=fmt)
    _source(f"{root}/sub/b", (8,), (2,), fmt)
    if consolidated:
        dz.consolidate(root)


def _counting(*paths) -> list[CountingStore]:
    return [CountingStore(open_store(str(p))) for p in paths]


def _totals(*stores: CountingStore) -> tuple[int, int]:
    # exists() is a HEAD on object stores, priced as a GET
    gets = sum(sum(s.counters[k].values()) for s in stores for k in ("get", "get_range", "exists"))
    return gets, sum(sum(s.sets.values()) for s in stores)


def _planned_then_run(plan, stores, operation, *args, **kwargs):
    """The plan's (GET, PUT) and the counted ones of running the operation; the plan wrote nothing."""
    assert _totals(*stores)[1] == 0  # the dry run reads through, never writes
    for s in stores:
        s.reset()
    operation(*args, **kwargs)
    return (plan.requests["get"], plan.requests["put"]), _totals(*stores)


@pytest.mark.parametrize(
    ("shape", "source", "target", "fmt", "max_mem", "passes", "kind"),
    [
        ((40, 30), (1, 30), (40, 5), 3, "1MiB", 1, "decode"),  # time series from maps, one pass
        ((40, 30), (1, 30), (40, 5), 2, "1MiB", 1, "decode"),  # v2: its .zarray and .zattrs read
        ((40, 30), (1, 30), "keep", 3, "1MiB", 1, "copy"),  # same grid and codecs: bytes copied
        ((60, 40), (1, 40), (60, 1), 3, 3000, 2, "decode"),  # too little memory: an intermediate array
        ((60, 40), (1, 40), (60, 1), 2, 3000, 2, "decode"),
    ],
)
def test_plan_counts_the_requests_the_rechunk_makes(tmp_path, shape, source, target, fmt, max_mem, passes, kind):
    data = _source(str(tmp_path / "s.zarr"), shape, source, fmt)
    src, dst, temp = _counting(tmp_path / "s.zarr", tmp_path / "t.zarr", tmp_path / "tmp.zarr")
    plan = dz.plan("rechunk", src, dst, chunks=target, max_mem=max_mem, temp=temp, threads=3)
    assert (plan.passes, plan.arrays[0].passes[0].kind) == (passes, kind)
    assert not (tmp_path / "t.zarr").exists() and not (tmp_path / "tmp.zarr").exists()
    assert plan.peak_task_memory <= parse_max_mem(max_mem)
    assert plan.peak_worker_memory == 3 * plan.peak_task_memory
    stores = (src, dst, temp)
    planned, counted = _planned_then_run(plan, stores, dz.rechunk, src, dst, target, max_mem=max_mem, temp=temp)
    assert planned == counted
    np.testing.assert_array_equal(dz.read(str(tmp_path / "t.zarr")).compute(), data)


@pytest.mark.parametrize(
    ("fmt", "kwargs", "kind"),
    [
        (2, {"zarr_format": 3}, "copy"),  # v2 to v3, undecoded
        (3, {"chunks": (40, 5)}, "decode"),
    ],
)
def test_plan_counts_the_requests_an_array_copy_makes(tmp_path, fmt, kwargs, kind):
    _source(str(tmp_path / "s.zarr"), (40, 30), (1, 30), fmt)
    src, dst = _counting(tmp_path / "s.zarr", tmp_path / "t.zarr")
    plan = dz.plan("copy", src, dst, **kwargs)
    assert plan.arrays[0].passes[0].kind == kind and plan.groups == 0
    planned, counted = _planned_then_run(plan, (src, dst), dz.copy, src, dst, **kwargs)
    assert planned == counted


@pytest.mark.parametrize(
    ("fmt", "consolidated", "kwargs", "kinds"),
    [
        (3, False, {}, ["copy", "copy"]),
        (2, False, {"zarr_format": 3}, ["copy", "copy"]),
        (2, True, {}, ["copy", "copy"]),  # consolidated metadata written again at the end
        (3, True, {"chunks": {"a": (10, 1)}}, ["decode", "copy"]),
        (2, False, {"chunks": {"a": (10, 1), "sub/b": (8,)}}, ["decode", "decode"]),
    ],
)
def test_plan_counts_the_requests_a_group_copy_makes(tmp_path, fmt, consolidated, kwargs, kinds):
    _group(str(tmp_path / "g.zarr"), fmt, consolidated)
    src, dst = _counting(tmp_path / "g.zarr", tmp_path / "c.zarr")
    plan = dz.plan("copy", src, dst, **kwargs)
    assert [a.passes[0].kind for a in sorted(plan.arrays, key=lambda a: a.path)] == kinds and plan.groups == 2
    assert not (tmp_path / "c.zarr").exists()  # groups are created when the copy runs, not when it is planned
    planned, counted = _planned_then_run(plan, (src, dst), dz.copy, src, dst, **kwargs)
    assert planned == counted
    assert sum(a.gets for a in plan.arrays) + plan.group_requests[0] == plan.requests["get"]


def test_plan_of_a_group_copy_and_its_cost(tmp_path):
    root = str(tmp_path / "g.zarr")
    _group(root, 2, False)
    p = dz.plan("copy", root, str(tmp_path / "c.zarr"), zarr_format=3, prices={"get": 1.0, "put": 2.0, "list": 3.0})
    assert sorted(a.path for a in p.arrays) == ["a", "sub/b"] and p.groups == 2
    r = p.requests
    assert p.cost["total"] == pytest.approx((r["get"] * 1 + r["put"] * 2 + r["list"] * 3) / 1000)
    assert r["get"] >= 4 + 4 and r["put"] >= 4 + 4 and r["list"] > 0  # every chunk read and written once
    doc = p.to_dict()
    assert doc["prices_per_1000"] == {"get": 1.0, "put": 2.0, "list": 3.0} and doc["tasks"] == p.tasks
    assert not (tmp_path / "c.zarr").exists()
    assert dz.plan("copy", root, str(tmp_path / "c.zarr")).prices == S3_STANDARD_PRICES


@pytest.mark.parametrize("shards", [None, (80, 80)])
def test_plan_counts_the_requests_a_write_makes(tmp_path, shards):
    data = da.ones((100, 100), chunks=25)
    (dst,) = _counting(tmp_path / "w.zarr")
    p = dz.plan("write", data, dst, chunks=(40, 40), shards=shards)
    assert p.arrays[0].passes[0].unit == (shards or (40, 40)) and not (tmp_path / "w.zarr").exists()
    assert p.requests["put"] == (4 if shards else 9) + 2 and p.requests["get"] == 1  # units, journal, metadata
    planned, counted = _planned_then_run(p, (dst,), dz.write, data, dst, chunks=(40, 40), shards=shards)
    assert planned == counted


def test_plan_counts_the_requests_a_write_of_a_numpy_array_makes(tmp_path):
    data = np.arange(100.0).reshape(10, 10)
    (dst,) = _counting(tmp_path / "w.zarr")
    p = dz.plan("write", data, dst, chunks=(5, 5))
    assert p.source == "numpy array" and p.tasks == 4
    assert _planned_then_run(p, (dst,), dz.write, data, dst, chunks=(5, 5)) == ((1, 4 + 2), (1, 4 + 2))


def test_plan_counts_the_requests_a_write_from_a_read_makes(tmp_path):
    _source(str(tmp_path / "s.zarr"), (20, 20), (5, 5))
    src, dst = _counting(tmp_path / "s.zarr", tmp_path / "w.zarr")
    p = dz.plan("write", src, dst, chunks=(10, 10))
    assert p.source == src.describe() and p.arrays[0].passes[0].kind == "write"

    def write_what_is_read() -> None:  # dz.read's own metadata request counted with the write's
        dz.write(dz.read(src), dst, chunks=(10, 10))

    planned, counted = _planned_then_run(p, (src, dst), write_what_is_read)
    assert planned == counted and planned[0] >= 16  # every stored chunk read once


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"operation": "move"}, "must be one of"),
        ({"prices": {"get": -1}}, "prices="),
        ({"max_mem": "lots"}, "max_mem="),
    ],
)
def test_plan_refuses_bad_arguments(tmp_path, kwargs, message):
    src = str(tmp_path / "s.zarr")
    _source(src, (4,), (2,))
    args = {"operation": "copy", **kwargs}
    with pytest.raises(dz.ZarrioError, match=message):
        dz.plan(args.pop("operation"), src, str(tmp_path / "t.zarr"), **args)


@pytest.mark.parametrize("operation", ["copy", "rechunk", "write"])
def test_plan_refuses_an_existing_target_as_the_operation_would(tmp_path, operation):
    src, dst = str(tmp_path / "s.zarr"), str(tmp_path / "t.zarr")
    _source(src, (4,), (2,))
    _source(dst, (4,), (2,))
    with pytest.raises(dz.ContainsArrayError, match="already exists"):
        dz.plan(operation, src, dst, chunks=(4,))
    with pytest.raises(dz.ZarrioError, match="the target .*s.zarr is the source .*s.zarr"):
        dz.plan("copy", src, src, chunks=(4,))
    assert dz.plan(operation, src, dst, chunks=(4,), mode="w").requests["put"] == 1 + 2  # replaced: one chunk


def test_plan_of_a_group_copy_refuses_an_existing_target(tmp_path):
    _group(str(tmp_path / "g.zarr"), 3, False)
    _group(str(tmp_path / "h.zarr"), 3, False)
    with pytest.raises(dz.ContainsArrayError, match="already exists"):
        dz.plan("copy", str(tmp_path / "g.zarr"), str(tmp_path / "h.zarr"))
    with pytest.raises(dz.ZarrioError, match="the target .*g.zarr is the source"):
        dz.plan("copy", str(tmp_path / "g.zarr"), str(tmp_path / "g.zarr"))


def test_pass_requests_count_overlaps_and_owners():
    assert overlaps(((5, 5), (3,)), ((4, 4, 2), (3,))) == 4
    assert overlaps(((10,),), ((1,) * 10,)) == 10
    p = Pass("decode", (1, 30), (40, 5), (40, 10), 3, 0, 0, 0, 1)
    assert p.requests((40, 30)) == (40 * 3, 6)  # every row chunk read by each of 3 tasks; 6 units
    assert p.requests((40, 30), ranged=(40, 30)) == (40 * 3 + 3, 6)  # and the one shard's index, by each
    assert Pass("copy", (1, 30), (1, 30), (40, 30), 1, 0, 0, 0, 1).requests((40, 30)) == (40, 40)
    assert p.owners((40, 30)) == 0 and Pass("decode", (10, 10), (40, 5), (40, 10), 3, 0, 0, 0, 1).owners((40, 30)) == 3
    assert region_requests(((4, 4, 2), (3,)), (slice(2, 10), slice(0, 3))) == (1, 3)
