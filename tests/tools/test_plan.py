"""dz.plan: the requests it counts are the requests the operation makes, and it writes nothing."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest

import dask_zarrio as dz
from dask_zarrio.rechunking.rechunk import parse_max_mem
from dask_zarrio.store import open_store
from dask_zarrio.testing.counting import CountingStore
from dask_zarrio.tools.plan import S3_STANDARD_PRICES, _overlaps


def _source(url: str, shape: tuple[int, ...], chunks: tuple[int, ...], fmt: int = 3) -> np.ndarray:
    data = np.arange(np.prod(shape), dtype="f4").reshape(shape)
    dz.write(da.from_array(data, chunks=chunks), url, chunks=chunks, zarr_format=fmt)
    return data


def _totals(*stores: CountingStore) -> tuple[int, int]:
    # exists() is a HEAD on object stores, priced as a GET
    gets = sum(sum(s.counters[k].values()) for s in stores for k in ("get", "get_range", "exists"))
    return gets, sum(sum(s.sets.values()) for s in stores)


@pytest.mark.parametrize(
    ("shape", "source", "target", "fmt", "max_mem", "passes", "kind"),
    [
        ((40, 30), (1, 30), (40, 5), 3, "1MiB", 1, "decode"),  # time series from maps, one pass
        ((40, 30), (1, 30), "keep", 3, "1MiB", 1, "copy"),  # same grid and codecs: bytes copied
        ((60, 40), (1, 40), (60, 1), 3, 3000, 2, "decode"),  # too little memory: an intermediate array
    ],
)
def test_plan_counts_the_requests_the_rechunk_makes(tmp_path, shape, source, target, fmt, max_mem, passes, kind):
    src_url = str(tmp_path / "s.zarr")
    data = _source(src_url, shape, source, fmt)
    src = CountingStore(open_store(src_url))
    dst = CountingStore(open_store(str(tmp_path / "t.zarr")))
    temp = CountingStore(open_store(str(tmp_path / "tmp.zarr")))
    plan = dz.plan("rechunk", src, dst, chunks=target, max_mem=max_mem, temp=temp, threads=3)
    assert (plan.passes, plan.arrays[0].passes[0].kind) == (passes, kind)
    assert _totals(src, dst, temp)[1] == 0 and not (tmp_path / "t.zarr").exists()  # nothing written
    assert plan.peak_task_memory <= parse_max_mem(max_mem)
    assert plan.peak_worker_memory == 3 * plan.peak_task_memory
    for s in (src, dst, temp):
        s.reset()
    dz.rechunk(src, dst, target, max_mem=max_mem, temp=temp)
    assert _totals(src, dst, temp) == (plan.requests["get"], plan.requests["put"])
    np.testing.assert_array_equal(dz.read(str(tmp_path / "t.zarr")).compute(), data)


def test_plan_of_a_group_copy_and_its_cost(tmp_path):
    root = str(tmp_path / "g.zarr")
    dz.create_group(root, attributes={"title": "t"}, zarr_format=2)
    _source(f"{root}/a", (10, 10), (5, 5), 2)
    dz.create_group(f"{root}/sub", zarr_format=2)
    _source(f"{root}/sub/b", (8,), (2,), 2)
    p = dz.plan("copy", root, str(tmp_path / "c.zarr"), zarr_format=3, prices={"get": 1.0, "put": 2.0, "list": 3.0})
    assert sorted(a.path for a in p.arrays) == ["a", "sub/b"] and p.groups == 2
    assert [a.passes[0].kind for a in sorted(p.arrays, key=lambda a: a.path)] == ["copy", "copy"]
    r = p.requests
    assert p.cost["total"] == pytest.approx((r["get"] * 1 + r["put"] * 2 + r["list"] * 3) / 1000)
    assert r["get"] >= 4 + 4 and r["put"] >= 4 + 4  # every chunk read and written once
    doc = p.to_dict()
    assert doc["prices_per_1000"] == {"get": 1.0, "put": 2.0, "list": 3.0} and doc["tasks"] == p.tasks
    assert not (tmp_path / "c.zarr").exists()
    assert dz.plan("copy", root, str(tmp_path / "c.zarr")).prices == S3_STANDARD_PRICES


def test_plan_of_a_write(tmp_path):
    p = dz.plan("write", da.ones((100, 100), chunks=25), str(tmp_path / "w.zarr"), chunks=(40, 40), shards=(80, 80))
    assert p.requests["put"] == 4 + 2 and p.requests["get"] == 1  # 4 shards, journal and metadata
    assert p.arrays[0].passes[0].unit == (80, 80) and not (tmp_path / "w.zarr").exists()
    src = str(tmp_path / "s.zarr")
    _source(src, (20, 20), (5, 5))
    assert dz.plan("write", src, str(tmp_path / "w.zarr")).requests["get"] == 16 + 4


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


def test_plan_refuses_an_existing_target_as_the_operation_would(tmp_path):
    src = str(tmp_path / "s.zarr")
    _source(src, (4,), (2,))
    with pytest.raises(dz.ContainsArrayError, match="already exists"):
        dz.plan("copy", src, src, chunks=(4,))


def test_overlaps_counts_block_chunk_pairs():
    assert _overlaps(((5, 5), (3,)), ((4, 4, 2), (3,))) == 4
    assert _overlaps(((10,),), ((1,) * 10,)) == 10
