"""dz.write_pyramid and dz.read_pyramid: level values against a numpy reference, the one-pass
counts (every source chunk read once, every level object written once), stages, resume,
region updates, and what is refused."""

from __future__ import annotations

import time

import dask
import dask.array as da
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dask_zarrio as dz
from dask_zarrio.errors import ZarrioError
from dask_zarrio.pyramid import graph
from dask_zarrio.pyramid.graph import build_stages
from dask_zarrio.pyramid.levels import plan_pyramid
from dask_zarrio.store import MappingStore
from dask_zarrio.testing import CountingStore


def reference_level(x: np.ndarray, factors: tuple[int, ...], method: str) -> np.ndarray:
    """One level down, cell by cell (slow and obvious): what each method means."""
    out = np.empty(tuple(-(-n // f) for n, f in zip(x.shape, factors)), dtype=x.dtype)
    for index in np.ndindex(*out.shape):
        cell = x[tuple(slice(i * f, (i + 1) * f) for i, f in zip(index, factors))].ravel()
        if method == "mean":
            value = cell.astype(np.float64).mean()
            out[index] = np.floor(value + 0.5) if x.dtype.kind in "uib" else value
        elif method == "nearest":
            out[index] = cell[0]
        elif method == "min":
            out[index] = cell.min()
        elif method == "max":
            out[index] = cell.max()
        else:  # mode: the most common, the smallest on a tie
            values, counts = np.unique(cell, return_counts=True)
            out[index] = values[np.argmax(counts)]
    return out


def reference(x: np.ndarray, factors: tuple[int, ...], levels: int, method: str) -> list[np.ndarray]:
    out = [x]
    for _ in range(levels - 1):
        out.append(reference_level(out[-1], factors, method))
    return out


@pytest.mark.parametrize("method", ["mean", "nearest", "mode", "min", "max"])
@pytest.mark.parametrize("dtype", ["u1", "i2", "f4"])
def test_levels_match_the_reference(method, dtype):
    rng = np.random.default_rng(0)
    x = rng.integers(-5 if dtype != "u1" else 0, 6, size=(3, 13, 11)).astype(dtype)
    url = f"memory://pyr/ref-{method}-{dtype}.zarr"
    dz.write_pyramid(da.from_array(x, chunks=(1, 5, 4)), url, levels=4, chunks=(1, 4, 4), method=method, mode="w",
                     axes=["c", "y", "x"])
    got = [level.compute() for level in dz.read_pyramid(url)]
    want = reference(x, (1, 2, 2), 4, method)
    for g, w in zip(got, want):
        assert g.dtype == x.dtype
        np.testing.assert_allclose(g, w, rtol=1e-6)


@settings(max_examples=25, deadline=None)
@given(
    shape=st.tuples(st.integers(1, 20), st.integers(1, 20)),
    chunk=st.tuples(st.integers(1, 8), st.integers(1, 8)),
    levels=st.integers(1, 4),
    method=st.sampled_from(["mean", "nearest", "mode", "min", "max"]),
    cap=st.sampled_from([64, 1 << 20]),  # a small cap makes several stages
    seed=st.integers(0, 2**16),
)
def test_round_trip_hypothesis(shape, chunk, levels, method, cap, seed):
    x = np.random.default_rng(seed).integers(0, 4, size=shape).astype("i4")
    url = "memory://pyr/hyp.zarr"
    with dask.config.set({"array.chunk-size": cap}):
        dz.write_pyramid(x, url, levels=levels, chunks=chunk, method=method, mode="w")
    for got, want in zip(dz.read_pyramid(url), reference(x, (2, 2), levels, method)):
        np.testing.assert_array_equal(got.compute(), want)


@pytest.mark.parametrize("sharded", [False, True])
@pytest.mark.parametrize("cap", [4096, 1 << 20])
def test_one_pass_every_object_once(sharded, cap):
    """Each stored chunk of the source is read once, each chunk/shard of every level written once."""
    x = np.random.default_rng(1).integers(0, 255, size=(2, 100, 90)).astype("u1")
    src = CountingStore(MappingStore({}, "src.zarr"))
    dz.write(da.from_array(x, chunks=(1, 25, 30)), src, chunks=(1, 25, 30))
    src.gets.clear()
    dst = CountingStore(MappingStore({}, "dst.zarr"))
    shards = (1, 32, 32) if sharded else None
    with dask.config.set({"array.chunk-size": cap}):
        dz.write_pyramid(dz.read(src), dst, levels=4, chunks=(1, 8, 8), shards=shards, axes=["c", "y", "x"])
    chunk_gets = {k: n for k, n in src.gets.items() if "/c/" in k or k.startswith("c/")}
    assert len(chunk_gets) == 2 * 4 * 3 and set(chunk_gets.values()) == {1}
    data_sets = {k: n for k, n in dst.sets.items() if "/c/" in k}
    assert data_sets and set(data_sets.values()) == {1}, {k: n for k, n in data_sets.items() if n > 1}
    for level, want in zip(dz.read_pyramid(dst), reference(x, (1, 2, 2), 4, "mean")):
        np.testing.assert_array_equal(level.compute(), want)


@pytest.mark.parametrize("sharded", [False, True])
@pytest.mark.parametrize("source_compressors", ["auto", None])
def test_level_0_stored_as_the_source_stores_it_is_copied(sharded, source_compressors, monkeypatch):
    """A source stored exactly as level 0 is (same grid, codecs, fill value): level 0's objects are
    the source's bytes, fetched once, decoded once for the next level and stored unchanged (no
    encode); an empty source chunk stays unstored. A source encoded otherwise is re-encoded as
    asked. Either way every object is read once and written once."""
    x = np.random.default_rng(2).integers(0, 255, size=(2, 64, 48)).astype("u1")
    x[1, :16, :16] = 0  # one source chunk (an inner chunk where sharded) holds only the fill value
    layout = {"chunks": (1, 16, 16), "shards": (1, 32, 48) if sharded else None}
    src = CountingStore(MappingStore({}, "src.zarr"))
    dz.write(da.from_array(x, chunks=(1, 32, 48)), src, compressors=source_compressors, **layout)
    src.gets.clear()
    dst = CountingStore(MappingStore({}, "dst.zarr"))
    encoded: list[tuple[int, ...]] = []  # the shapes of the levels encoded
    original = graph.write_region

    def write_region(spec, *args, **kwargs):
        encoded.append(spec.shape)
        return original(spec, *args, **kwargs)

    monkeypatch.setattr(graph, "write_region", write_region)
    with dask.config.set(scheduler="sync"):
        dz.write_pyramid(dz.read(src), dst, levels=3, axes=["c", "y", "x"], **layout)
    assert (x.shape in encoded) == (source_compressors is None)
    chunk_gets = {k: n for k, n in src.gets.items() if k.startswith("c/")}
    assert chunk_gets and set(chunk_gets.values()) == {1}
    assert set(n for k, n in dst.sets.items() if "/c/" in k) == {1}
    source_objects = {k: bytes(src.inner.get(k)) for k in chunk_gets if src.inner.get(k) is not None}
    level0 = {k[2:]: bytes(dst.inner.get(k)) for k in dst.sets if k.startswith("0/c/")}
    assert set(level0) == set(source_objects)
    assert (level0 == source_objects) == (source_compressors is not None)
    for level, want in zip(dz.read_pyramid(dst), reference(x, (1, 2, 2), 3, "mean")):
        np.testing.assert_array_equal(level.compute(), want)


@pytest.mark.parametrize("method", ["mean", "mode", "nearest", "max"])
@pytest.mark.parametrize("shape,chunks,shards,factors", [
    ((2, 61, 47), (1, 8, 8), (1, 16, 24), {"y": 2, "x": 2}),  # edges cut shards and inner chunks
    ((2, 60, 45), (1, 5, 5), (1, 10, 15), {"y": 2, "x": 2}),  # inner chunks the factors do not divide
    ((2, 33, 33), (1, 5, 5), None, {"y": 2, "x": 2}),  # chunks the factors do not divide
    ((4, 36, 36), (2, 6, 6), (2, 18, 18), {"c": 2, "y": 3, "x": 3}),
], ids=["edges", "odd-inner", "odd-chunks", "factor-3"])
def test_copied_level_0_reduces_each_inner_chunk_as_the_whole_would(method, shape, chunks, shards, factors,
                                                                     monkeypatch):
    """Copied level-0 objects are reduced one inner chunk at a time (or whole, where the factors do
    not divide the inner chunks): the levels equal the reference, missing objects and inner chunks
    (the fill value) included."""
    x = np.random.default_rng(5).integers(1, 6, size=shape).astype("u1")
    x[tuple(slice(0, n) for n in shards or chunks)] = 0  # a whole shard (or chunk) of fill value: not stored
    x[-1, -8:, :8] = 0  # an inner chunk of fill value, or part of one
    axes = ["c", "y", "x"]
    src = CountingStore(MappingStore({}, "src.zarr"))
    dz.write(da.from_array(x, chunks=shards or chunks), src, chunks=chunks, shards=shards)
    assert src.inner.get("c/0/0/0") is None
    dst = MappingStore({}, "dst.zarr")
    encoded: list[tuple[int, ...]] = []
    original = graph.write_region
    monkeypatch.setattr(graph, "write_region",
                        lambda spec, *a, **k: encoded.append(spec.shape) or original(spec, *a, **k))
    with dask.config.set(scheduler="threads"):
        dz.write_pyramid(dz.read(src), dst, levels=3, axes=axes, factors=factors, chunks=chunks, shards=shards,
                         method=method)
    assert encoded and shape not in encoded  # level 0 copied, never encoded
    f = tuple(factors.get(a, 1) for a in axes)
    for got, want in zip(dz.read_pyramid(dst), reference(x, f, 3, method)):
        np.testing.assert_array_equal(got.compute(), want)


def test_stages_plan_the_issues_layout():
    plan = plan_pyramid((2, 15360, 15360), 1, (1, 2, 2), 5, (1, 512, 512), (1, 4096, 4096), 128 * 2**20)
    assert [(s.first, s.last, s.block) for s in plan.stages] == [(0, 1, (1, 8192, 8192)), (2, 4, (1, 3840, 3840))]


def test_graph_builds_in_constant_time():
    """10**6 base chunks: the whole pyramid job is prepared (levels begun, stages built) in < 0.1 s."""
    dz.init("memory://pyr/big-src.zarr", shape=(64000, 64000), dtype="u1", chunks=(64, 64), mode="w")
    src = dz.read("memory://pyr/big-src.zarr")
    assert np.prod(src.shape) // 64**2 == 10**6
    dz.write_pyramid(src[:640, :640], "memory://pyr/warm.zarr", levels=2, chunks=64, mode="w", compute=False)
    start = time.perf_counter()
    job = dz.write_pyramid(src, "memory://pyr/big.zarr", levels=6, chunks=64, mode="w", compute=False)
    took = time.perf_counter() - start
    assert took < 0.1, took
    assert job is not None


def test_stage_layers_are_blockwise():
    """No per-chunk Python at build time: each stage is one Blockwise layer, materialised lazily."""
    from dask.blockwise import Blockwise

    data = da.zeros((6400, 6400), dtype="u1", chunks=(64, 6400))
    plan = plan_pyramid(data.shape, 1, (2, 2), 3, (64, 64), None, 1 << 14)
    assert len(plan.stages) > 1
    from dask_zarrio.layout.write_plan import WritePlan
    from dask_zarrio.metadata import ArraySpec
    from dask_zarrio.metadata.create import new_array_metadata

    writers = []
    for lv in plan.levels:
        spec = ArraySpec.from_metadata(new_array_metadata(shape=lv.shape, dtype=np.dtype("u1"), chunk_shape=lv.chunks))
        writers.append((spec, MappingStore({}), WritePlan(((1,),) * 2, lv.unit, (slice(0, 1),) * 2, lv.shape)))
    stages = build_stages(data, plan, writers, "mean", "t")
    for stage in stages:
        assert isinstance(stage.dask.layers[stage.name], Blockwise)


def test_resume_writes_only_what_is_missing(tmp_path):
    x = np.random.default_rng(2).integers(0, 255, size=(64, 64)).astype("u1")
    url = str(tmp_path / "r.zarr")
    dz.write_pyramid(x, url, levels=3, chunks=(16, 16), compute=False)  # begun, never run: journals only
    with pytest.raises(dz.ArrayNotFoundError):
        dz.read_pyramid(url)
    dz.write_pyramid(x, url, levels=3, chunks=(16, 16), resume=True)
    for got, want in zip(dz.read_pyramid(url), reference(x, (2, 2), 3, "mean")):
        np.testing.assert_array_equal(got.compute(), want)
    counting = CountingStore(MappingStore({}, "x"))
    dz.write_pyramid(x, counting, levels=3, chunks=(16, 16))
    counting.sets.clear()
    dz.write_pyramid(x, counting, levels=3, chunks=(16, 16), resume=True)
    assert not [k for k in counting.sets if "/c/" in k]


def test_region_update_rewrites_only_what_it_touches():
    x = np.random.default_rng(3).integers(0, 255, size=(64, 64)).astype("u1")
    store = CountingStore(MappingStore({}, "g.zarr"))
    dz.write_pyramid(x, store, levels=3, chunks=(16, 16))
    store.sets.clear()
    patch = np.full((16, 16), 7, "u1")
    dz.write_pyramid(patch, store, region=(slice(16, 32), slice(32, 48)))
    x[16:32, 32:48] = 7
    for got, want in zip(dz.read_pyramid(store), reference(x, (2, 2), 3, "mean")):
        np.testing.assert_array_equal(got.compute(), want)
    written = sorted(k for k in store.sets if "/c/" in k)
    assert written == ["0/c/1/2", "1/c/0/1", "2/c/0/0"], written


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"method": "median"}, "method='median'"),
    ({"convention": "ome-zarr-0.6"}, "convention='ome-zarr-0.6'"),
    ({"axes": ["y"]}, "axes=\\['y'\\]"),
    ({"factors": {"q": 2}}, "names axes \\['q'\\]"),
    ({"factors": 1}, "more than 1"),
    ({"convention": "ome-zarr-0.4", "shards": (8, 8)}, "need Zarr v3"),
    ({"levels": 0}, "levels=0"),
])
def test_refused_arguments(kwargs, match):
    with pytest.raises(ZarrioError, match=match):
        dz.write_pyramid(np.zeros((16, 16), "u1"), "memory://pyr/bad.zarr", mode="w", **kwargs)


def test_existing_group_is_refused_without_mode_w():
    dz.write_pyramid(np.zeros((8, 8), "u1"), "memory://pyr/exists.zarr", levels=2, mode="w")
    with pytest.raises(dz.ContainsArrayError, match="already exists"):
        dz.write_pyramid(np.zeros((8, 8), "u1"), "memory://pyr/exists.zarr", levels=2)


def test_transforms_and_attributes():
    dz.write_pyramid(np.zeros((4, 8, 8), "u2"), "memory://pyr/t.zarr", levels=3, axes=["z", "y", "x"],
                     factors={"z": 2, "y": 2, "x": 2}, scale=[2.0, 0.5, 0.5], translation=[10, 0, 0],
                     units={"z": "micrometer"}, mode="w")
    group, pyramid = dz.pyramid.open_pyramid("memory://pyr/t.zarr")
    assert [lv.scale for lv in pyramid.levels] == [(2.0, 0.5, 0.5), (4.0, 1.0, 1.0), (8.0, 2.0, 2.0)]
    assert pyramid.levels[2].translation == (10 + 2.0 * 1.5, 0.75, 0.75)
    assert pyramid.axes[0].unit == "micrometer"
    assert [x.shape for x in dz.read_pyramid("memory://pyr/t.zarr")] == [(4, 8, 8), (2, 4, 4), (1, 2, 2)]


def test_multiscales_convention_layout():
    dz.write_pyramid(np.ones((8, 8), "f4"), "memory://pyr/m.zarr", levels=3, convention="multiscales", mode="w")
    attrs = dz.open_group("memory://pyr/m.zarr").attrs
    assert attrs["zarr_conventions"][0]["uuid"] == "d35379db-88df-4056-af3a-620245f8e347"
    layout = attrs["multiscales"]["layout"]
    assert [e["asset"] for e in layout] == ["0", "1", "2"]
    assert layout[2] == {"asset": "2", "derived_from": "1", "transform": {"scale": [2.0, 2.0],
                         "translation": [0.5, 0.5]}, "resampling_method": "average"}
    _, pyramid = dz.pyramid.open_pyramid("memory://pyr/m.zarr")
    assert pyramid.levels[2].scale == (4.0, 4.0) and pyramid.levels[2].translation == (1.5, 1.5)
    assert [a.name for a in pyramid.axes] == ["y", "x"]
