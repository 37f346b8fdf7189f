"""Rectilinear (variable) chunk grids: dz.write(chunks="dask" | per-axis lengths), reads, regions, appends.

zarr-python 3.1.6 cannot read rectilinear grids; the oracle is the zarr-python 3.4.2
golden stores (tests/fixtures/zarr34/cases_grids.py), compared here and in
tests/test_fixtures_zarr34.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import dask.array as da
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dask_zarrio as dz
from dask_zarrio.errors import MetadataError, ZarrioError
from dask_zarrio.metadata.v3 import ArrayMetadataV3

STORES = Path(__file__).resolve().parents[1] / "fixtures" / "zarr34" / "stores"


def _doc(path: Path) -> dict:
    return json.loads((path / "zarr.json").read_text())


def _blocks(draw: st.DrawFn, n: int) -> tuple[int, ...]:
    sizes: list[int] = []
    while sum(sizes) < n:
        sizes.append(min(draw(st.integers(1, 6)), n - sum(sizes)))
    return tuple(sizes)


@st.composite
def irregular_arrays(draw: st.DrawFn) -> da.Array:
    shape = draw(st.lists(st.integers(1, 14), min_size=1, max_size=3))
    blocks = tuple(_blocks(draw, n) for n in shape)
    data = np.arange(int(np.prod(shape)), dtype="i4").reshape(shape)
    return da.from_array(data, chunks=blocks)


@settings(max_examples=25, deadline=None)
@given(irregular_arrays())
def test_chunks_dask_stores_one_chunk_per_block_and_reads_back_identically(tmp_path_factory, x):
    url = str(tmp_path_factory.mktemp("r") / "a.zarr")
    dz.write(x, url, chunks="dask")
    back = dz.read(url)
    assert back.chunks == x.chunks  # read blocks follow the stored chunks: no rechunk either way
    np.testing.assert_array_equal(back.compute(), x.compute())
    stored = [p for p in Path(url).rglob("*") if p.is_file() and p.name != "zarr.json"]
    empty = sum(not x.blocks[i].compute().any() for i in np.ndindex(x.numblocks))  # fill only: not stored
    assert len(stored) == int(np.prod(x.numblocks)) - empty


@pytest.mark.parametrize(
    ("blocks", "grid"),
    [
        (((4, 4, 2), (3, 3)), {"name": "regular", "configuration": {"chunk_shape": [4, 3]}}),
        (((3, 5, 2), (3, 3)),
         {"name": "rectilinear", "configuration": {"kind": "inline", "chunk_shapes": [[3, 5, 2], 3]}}),
        (((2, 8), (1, 1, 1, 1, 1, 1)),
         {"name": "rectilinear", "configuration": {"kind": "inline", "chunk_shapes": [[2, 8], 1]}}),
    ],
)
def test_chunks_dask_writes_regular_grids_where_blocks_are_regular(tmp_path, blocks, grid):
    x = da.from_array(np.arange(60).reshape(10, 6), chunks=blocks)
    dz.write(x, str(tmp_path / "a.zarr"), chunks="dask")
    assert _doc(tmp_path / "a.zarr")["chunk_grid"] == grid
    np.testing.assert_array_equal(dz.read(str(tmp_path / "a.zarr")).compute(), x.compute())


def test_chunks_dask_writes_the_document_and_chunks_zarr_34_writes(tmp_path):
    # Blocks ((3, 5, 2), (4, 3)): axis 1 is regular, so it is stored as the step 4, as zarr-python
    # writes chunks=[[3, 5, 2], 4].
    golden = STORES / "rectilinear-step-axis"
    data = dz.read(str(golden)).compute()
    dz.write(da.from_array(data, chunks=((3, 5, 2), (4, 3))), str(tmp_path / "a.zarr"), chunks="dask")
    theirs = _doc(golden)
    assert theirs.pop("storage_transformers") == []
    assert _doc(tmp_path / "a.zarr") == theirs
    for chunk in (golden / "c").rglob("*"):
        if chunk.is_file():
            assert (tmp_path / "a.zarr" / chunk.relative_to(golden)).read_bytes() == chunk.read_bytes()


@pytest.mark.parametrize("zarr_format", [2, "n5"])
def test_formats_without_rectilinear_grids_refuse_irregular_chunks(tmp_path, zarr_format):
    x = da.ones((10,), chunks=((3, 7),))
    with pytest.raises(dz.ZarrioError, match="irregular chunk lengths need zarr_format=3") as info:
        dz.write(x, str(tmp_path / "a.zarr"), chunks="dask", zarr_format=zarr_format)
    assert not isinstance(info.value, MetadataError)


def test_chunks_dask_with_regular_blocks_is_fine_for_v2(tmp_path):
    x = da.ones((10,), chunks=4)
    dz.write(x, str(tmp_path / "a.zarr"), chunks="dask", zarr_format=2)
    assert json.loads((tmp_path / "a.zarr" / ".zarray").read_text())["chunks"] == [4]


def test_append_grows_a_rectilinear_axis_by_the_appended_blocks(tmp_path):
    url = str(tmp_path / "a.zarr")
    x = da.from_array(np.arange(80).reshape(10, 8), chunks=((3, 5, 2), (4, 4)))
    dz.write(x, url, chunks="dask")
    more = da.from_array(np.arange(32).reshape(4, 8) + 100, chunks=((1, 3), (8,)))
    dz.write(more, url, mode="a", append_dim=0)
    assert _doc(Path(url))["chunk_grid"]["configuration"]["chunk_shapes"] == [[3, 5, 2, 1, 3], 4]
    np.testing.assert_array_equal(dz.read(url).compute(), np.concatenate([x.compute(), more.compute()]))
    assert dz.read(url).chunks == ((3, 5, 2, 1, 3), (4, 4))


def test_append_along_a_step_axis_keeps_the_step(tmp_path):
    url = str(tmp_path / "a.zarr")
    x = da.from_array(np.arange(60).reshape(10, 6), chunks=((3, 5, 2), (4, 2)))
    dz.write(x, url, chunks="dask")
    more = da.from_array(np.ones((10, 5), dtype=x.dtype), chunks=((3, 5, 2), (5,)))
    dz.write(more, url, mode="a", append_dim=1)
    assert _doc(Path(url))["chunk_grid"]["configuration"]["chunk_shapes"] == [[3, 5, 2], 4]
    np.testing.assert_array_equal(dz.read(url).compute(), np.concatenate([x.compute(), more.compute()], axis=1))


@pytest.mark.parametrize("region", [(slice(3, 8),), (slice(2, 9),), (slice(0, 10),)])
def test_region_writes_into_irregular_chunks(tmp_path, region):
    url = str(tmp_path / "a.zarr")
    x = np.arange(10, dtype="i2")
    dz.write(da.from_array(x, chunks=((3, 5, 2),)), url, chunks="dask")
    n = region[0].stop - region[0].start
    part = da.from_array(np.full(n, -1, "i2"), chunks=1)  # misaligned blocks: the planner merges them
    dz.write(part, url, mode="r+", region=region)
    want = x.copy()
    want[region] = -1
    np.testing.assert_array_equal(dz.read(url).compute(), want)


def test_region_write_refuses_misaligned_blocks_with_align_raise(tmp_path):
    url = str(tmp_path / "a.zarr")
    dz.write(da.zeros(10, chunks=((3, 5, 2),)), url, chunks="dask")
    with pytest.raises(ZarrioError, match="falls inside the stored chunk \\[3, 8\\)"):
        dz.write(da.ones(10, chunks=5), url, mode="r+", align="raise")


@pytest.mark.parametrize("chunks", [None, 4, {0: 5, 1: 3}, "auto"])
def test_reads_any_blocks_from_zarr_34_rectilinear_stores(chunks):
    for name in ("rectilinear-2d", "rectilinear-sharded"):
        back = dz.read(str(STORES / name), chunks=chunks)
        full = dz.read(str(STORES / name)).compute()
        np.testing.assert_array_equal(back.compute(), full)
        np.testing.assert_array_equal(back[5:11, 3:6].compute(), full[5:11, 3:6])


def test_sharded_rectilinear_reads_follow_the_shards():
    back = dz.read(str(STORES / "rectilinear-sharded"))
    assert back.chunks == ((4, 8), (8,))
    np.testing.assert_array_equal(back[4:6, 2:4].compute(), np.arange(96, dtype="u2").reshape(12, 8)[4:6, 2:4])


def _meta(grid: object, shape: list[int]) -> dict:
    return {
        "zarr_format": 3, "node_type": "array", "shape": shape, "data_type": "int8", "chunk_grid": grid,
        "chunk_key_encoding": {"name": "default"}, "fill_value": 0,
        "codecs": [{"name": "bytes"}],
    }


@pytest.mark.parametrize(
    ("config", "match"),
    [
        ({"kind": "outline", "chunk_shapes": [[5]]}, "kind='outline' must be 'inline'"),
        ({"chunk_shapes": [[5]]}, "kind=None must be 'inline'"),
        ({"kind": "inline", "chunk_shapes": [[2, 2]]}, "sums to 4, less than the array's length 5"),
        ({"kind": "inline", "chunk_shapes": [[[1, 10**12]]]}, "expands to 1000000000000 chunk edges"),
        ({"kind": "inline", "chunk_shapes": [[0, 5]]}, r"chunk_shapes\[0\]\[0\]=0 must be a positive integer"),
        ({"kind": "inline", "chunk_shapes": [[[5, 1, 1]]]}, r"must be an edge length or a \[size, count\] pair"),
        ({"kind": "inline", "chunk_shapes": [5, 5]}, "must be a list of 1 entries"),
        ({"kind": "inline", "chunk_shapes": ["5"]}, "must be a positive integer"),
        ({"kind": "inline", "chunk_shapes": [[5]], "encoded_chunk_shapes": [5]},
         "encoded_chunk_shapes is not supported"),
    ],
)
def test_malformed_rectilinear_grids_fail_as_metadata_errors(config, match):
    with pytest.raises(MetadataError, match=match):
        ArrayMetadataV3.from_dict(_meta({"name": "rectilinear", "configuration": config}, [5]))


def _sharded(shapes: list, inner: list[int], shape: list[int]) -> dict:
    doc = _meta({"name": "rectilinear", "configuration": {"kind": "inline", "chunk_shapes": shapes}}, shape)
    doc["codecs"] = [{"name": "sharding_indexed", "configuration": {
        "chunk_shape": inner, "codecs": [{"name": "bytes"}],
        "index_codecs": [{"name": "bytes", "configuration": {"endian": "little"}}, {"name": "crc32c"}]}}]
    return doc


@pytest.mark.parametrize(
    ("shapes", "inner", "axis", "edge"),
    [
        ([[8, 6], 4], [4, 4], 0, 6),  # an explicit edge
        ([[8, 8], [[4, 1], [6, 2]]], [4, 4], 1, 6),  # a run-length encoded edge
        ([8, 6], [4, 4], 1, 6),  # a step axis
        ([[8, 12], [4, 12]], [4, 8], 1, 4),  # the smallest bad edge is named
    ],
)
def test_sharded_grids_whose_edges_split_inner_chunks_are_refused_when_parsed(tmp_path, shapes, inner, axis, edge):
    doc = _sharded(shapes, inner, [14, 16])
    match = rf"chunk_shapes\[{axis}\] has edge length {edge}, not a multiple of .* chunk_shape\[{axis}\]={inner[axis]}"
    with pytest.raises(MetadataError, match=match):
        ArrayMetadataV3.from_dict(doc)
    (tmp_path / "a.zarr").mkdir()
    (tmp_path / "a.zarr" / "zarr.json").write_text(json.dumps(doc))
    with pytest.raises(MetadataError, match=match):
        dz.read(str(tmp_path / "a.zarr"))


def test_sharded_grids_of_whole_inner_chunks_parse():
    meta = ArrayMetadataV3.from_dict(_sharded([[8, 4, 4], 8], [4, 4], [14, 16]))
    assert meta.chunk_edges == ((8, 4, 4), 8)


def test_an_append_that_would_split_inner_chunks_is_refused_before_writing(tmp_path):
    url = str(tmp_path / "a.zarr")
    dz.write(da.arange(12, chunks=((4, 8),)), url, chunks=(4,), shards=((4, 8),))
    before = sorted(p.name for p in (tmp_path / "a.zarr" / "c").iterdir())
    with pytest.raises(MetadataError, match="edge length 6, not a multiple of"):
        dz.write(da.arange(6, chunks=6), url, append_dim=0)
    assert dz.read(url).shape == (12,)
    assert sorted(p.name for p in (tmp_path / "a.zarr" / "c").iterdir()) == before


@pytest.mark.parametrize(
    "shapes",
    [[[3, 5, 2], 4], [[[4, 2], 2], [[1, 3], 3]], [[[4, 3]], [8]], [1, [[2, 5]]]],
)
def test_rectilinear_documents_round_trip(shapes):
    doc = _meta({"name": "rectilinear", "configuration": {"kind": "inline", "chunk_shapes": shapes}}, [10, 6])
    meta = ArrayMetadataV3.from_dict(doc)
    assert meta.to_dict()["chunk_grid"] == doc["chunk_grid"]


def test_a_grid_of_many_chunks_builds_in_chunks_per_axis(tmp_path):
    # 10**5 chunks per axis, 10**10 in all: only the per-axis edges are ever expanded.
    url = tmp_path / "a.zarr"
    url.mkdir()
    edges = [[[1, 50_000], [3, 50_000]]] * 2
    doc = _meta({"name": "rectilinear", "configuration": {"kind": "inline", "chunk_shapes": edges}}, [200_000] * 2)
    (url / "zarr.json").write_text(json.dumps(doc))
    x = dz.read(str(url))
    assert x.numblocks == (100_000, 100_000)
    assert x[199_999, :4].compute().tolist() == [0, 0, 0, 0]
