"""The chunk grid (grid.py): regions to chunk indices, clipped edge chunks, keys, coverage."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from dask_zarrio.layout.grid import ChunkGrid, ChunkKeyEncoding, chunks_in, covers


@given(st.integers(1, 50), st.integers(1, 9), st.data())
def test_chunks_in_is_exactly_the_chunks_a_region_touches(n, c, data):
    start = data.draw(st.integers(0, n))
    stop = data.draw(st.integers(start, n))
    got = [i for (i,) in chunks_in((slice(start, stop),), (c,))]
    assert got == sorted({k // c for k in range(start, stop)})


def test_grid_clips_edge_chunks_and_counts_them():
    grid = ChunkGrid((10, 7), (4, 3))
    assert grid.grid_shape == (3, 3) and grid.nchunks == 9
    assert grid.chunk_region((2, 2)) == (slice(8, 10), slice(6, 7))
    assert list(grid.chunks_in((slice(3, 5), slice(0, 1)))) == [(0, 0), (1, 0)]


def test_covers_is_inclusive_at_both_ends():
    assert covers((slice(0, 4),), (slice(0, 4),))
    assert not covers((slice(0, 4),), (slice(0, 5),))
    assert not covers((slice(1, 4), slice(0, 9)), (slice(0, 2), slice(0, 1)))


def test_key_encodings():
    assert ChunkKeyEncoding("c", "/").key((1, 2)) == "c/1/2"
    assert ChunkKeyEncoding(None, ".").key((1, 2)) == "1.2"
    assert ChunkKeyEncoding("c", ".").key(()) == "c"
    assert ChunkKeyEncoding(None, "/").to_json() == {"name": "v2", "configuration": {"separator": "/"}}


@given(st.lists(st.integers(1, 6), min_size=1, max_size=8), st.data())
def test_edges_answer_like_the_expanded_positions(sizes, data):
    from dask_zarrio.layout.grid import Edges, floor_bound, is_bound, next_bound

    edges = Edges(tuple(sizes))
    owner = [i for i, s in enumerate(sizes) for _ in range(s)]
    pos = data.draw(st.integers(0, sum(sizes) - 1))
    starts = [sum(sizes[:i]) for i in range(len(sizes))]
    assert edges.index(pos) == owner[pos]
    assert floor_bound(edges, pos) == starts[owner[pos]]
    assert next_bound(edges, pos) == starts[owner[pos]] + sizes[owner[pos]]
    assert is_bound(edges, pos) == (pos in starts)
    start = data.draw(st.integers(0, sum(sizes)))
    stop = data.draw(st.integers(start, sum(sizes)))
    got = [i for (i,) in chunks_in((slice(start, stop),), (edges,))]
    assert got == sorted({owner[k] for k in range(start, stop)})
