"""The planner's guarantees, as properties over random layouts (pure functions, no I/O)."""

from __future__ import annotations

from itertools import accumulate, product
from math import prod

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dask_zarrio.layout.grid import chunks_in
from dask_zarrio.layout.write_plan import (
    WritePlan,
    aligned_read_chunks,
    default_read_chunks,
    misalignments,
    normalize_region,
    plan_axis,
    plan_write,
)


@st.composite
def layouts(draw):
    ndim = draw(st.integers(1, 3))
    unit = tuple(draw(st.integers(1, 9)) for _ in range(ndim))
    offset = tuple(draw(st.integers(0, 12)) for _ in range(ndim))
    chunks = []
    for _ in range(ndim):
        sizes = draw(st.lists(st.integers(1, 15), min_size=1, max_size=8))
        chunks.append(tuple(sizes))
    shape = tuple(o + sum(c) + draw(st.integers(0, 5)) for o, c in zip(offset, chunks))
    itemsize = draw(st.sampled_from([1, 4, 8]))
    cap = draw(st.one_of(st.none(), st.integers(1, 4000)))
    return tuple(chunks), unit, offset, shape, itemsize, cap


@settings(max_examples=400, deadline=None)
@given(layouts())
def test_every_unit_has_exactly_one_owner_and_every_element_one_writer(layout):
    chunks, unit, offset, shape, itemsize, cap = layout
    region = _region(chunks, offset)
    plan = plan_write(chunks, unit, itemsize, target=region, shape=shape, max_task_bytes=cap)
    planned = plan.chunks
    # Blocks tile the region exactly: each element is written once.
    assert [sum(c) for c in planned] == [sum(c) for c in chunks]
    assert all(s > 0 for axis in planned for s in axis)
    # No interior block boundary inside a unit...
    assert list(misalignments(planned, unit, offset)) == []
    # ...so each unit touched by the region has one writing block (_owners raises otherwise).
    assert set(_owners(plan)) == set(chunks_in(region, unit))


@settings(max_examples=400, deadline=None)
@given(layouts())
def test_memory_cap_holds_unless_a_single_unit_exceeds_it(layout):
    chunks, unit, offset, shape, itemsize, cap = layout
    if cap is None or not list(misalignments(chunks, unit, offset)):
        return  # aligned input is kept as the user gave it (see the test below)
    planned = plan_write(chunks, unit, itemsize, target=_region(chunks, offset), shape=shape, max_task_bytes=cap).chunks
    biggest = prod(max(c) for c in planned) * itemsize
    if biggest > cap:
        # Then no largest block along any axis can be cut at a unit boundary.
        for axis, sizes in enumerate(planned):
            pos = 0
            for size in sizes:
                if size == max(sizes):
                    lo, hi = offset[axis] + pos, offset[axis] + pos + size
                    assert hi - lo <= unit[axis] or not any(
                        b % unit[axis] == 0 for b in range(lo + 1, hi)
                    )
                pos += size


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(1, 20), min_size=1, max_size=10), st.integers(1, 10), st.integers(0, 10))
def test_aligned_boundaries_are_kept_and_others_move_to_nearest(sizes, unit, offset):
    planned = plan_axis(sizes, unit, offset)
    out_bounds = set()
    pos = 0
    for s in planned[:-1]:
        pos += s
        out_bounds.add(pos)
    pos = 0
    n = sum(sizes)
    for s in sizes[:-1]:
        pos += s
        if (offset + pos) % unit == 0:
            assert pos in out_bounds
        else:
            off = (offset + pos) % unit
            nearest = pos - off if off <= unit - off else pos - off + unit
            assert nearest in out_bounds or not 0 < nearest < n


def _region(chunks, offset):
    return tuple(slice(o, o + sum(c)) for o, c in zip(offset, chunks))


def test_aligned_input_is_unchanged_whatever_the_cap():
    # The user's layout is already safe: the cap only shapes blocks the planner merges.
    chunks = ((40, 40, 20), (30, 30))
    plan = plan_write(chunks, (20, 10), 8, target=_region(chunks, (0, 0)), shape=(100, 60), max_task_bytes=64)
    assert plan.chunks == chunks


def test_irregular_dask_chunks():
    assert plan_axis((7, 5, 9, 3), 4) == (8, 4, 8, 4)


def _owners(plan: WritePlan) -> dict:
    """unit index -> the one block that writes it; fails if a unit has two writers."""
    owner: dict = {}
    starts = [list(accumulate(sizes, initial=o)) for sizes, o in zip(plan.chunks, plan.offset)]
    for index in product(*(range(len(c)) for c in plan.chunks)):
        region = tuple(slice(starts[a][i], starts[a][i + 1]) for a, i in enumerate(index))
        if any(r.stop == r.start for r in region):
            continue
        for u in chunks_in(region, plan.unit):
            assert u not in owner, f"unit {u} written by blocks {owner[u]} and {index}"
            owner[u] = index
    return owner


def _partial_units(plan: WritePlan, block: tuple) -> list:
    """Units of ``block`` that the write covers only in part (as write_region decides)."""
    return [
        i for i in chunks_in(block, plan.unit)
        if not plan.covers_unit(tuple(
            slice(j * u, min((j + 1) * u, n)) for j, u, n in zip(i, plan.unit, plan.shape)
        ))
    ]


def test_partial_units_only_at_region_edges():
    # Region [3, 17) of an array of 20 in units of 5: units 0 and 3 are cut.
    plan = WritePlan(((7, 7),), (5,), (slice(3, 17),), (20,))
    assert _partial_units(plan, (slice(3, 10),)) == [(0,)]
    assert _partial_units(plan, (slice(10, 17),)) == [(3,)]
    assert list(plan.cut_edges()) == [(0, 3), (0, 17)]
    # An edge chunk reaching past the array's end is not "cut" by the array's end.
    whole = WritePlan(((18,),), (5,), (slice(0, 18),), (18,))
    assert _partial_units(whole, (slice(15, 18),)) == [] and list(whole.cut_edges()) == []


def test_write_runs_the_plan_the_planner_made(tmp_path, monkeypatch):
    """dz.write rechunks to exactly the planner's chunks (it used to recompute them)."""
    import dask.array as da

    import dask_zarrio as dz
    import dask_zarrio.api as api

    seen = []
    real = api.plan_write

    def spy(*args, **kwargs):
        plan = real(*args, **kwargs)
        seen.append(plan)
        return plan

    monkeypatch.setattr(api, "plan_write", spy)
    monkeypatch.setattr(api, "write_block", _checking(api.write_block, seen))
    dz.write(da.ones((100, 90), chunks=(25, 30)), str(tmp_path / "a.zarr"), chunks=(40, 45))
    assert seen and seen[0].chunks == ((40, 40, 20), (45, 45))


def _checking(write_block, seen):
    def wrapped(region, block, sink, spec, plan, delete_empty):
        assert plan is seen[-1] and block.shape == tuple(s.stop - s.start for s in region)
        assert any(block.shape[0] == c for c in plan.chunks[0])
        return write_block(region, block, sink, spec, plan, delete_empty)

    return wrapped


@pytest.mark.parametrize(
    "chunks,unit,shape,expected",
    [
        (((5, 5, 5, 5),), (10,), (20,), ((10, 10),)),
        (((15, 15),), (10,), (30,), ((10, 20),)),
        (((3, 4, 3),), (1,), (10,), ((3, 4, 3),)),
        (((7,),), (10,), (7,), ((7,),)),
        (((0,),), (3,), (0,), ((0,),)),
    ],
)
def test_aligned_read_chunks(chunks, unit, shape, expected):
    assert aligned_read_chunks(chunks, unit, shape) == expected


@pytest.mark.parametrize("shape,chunks,expected", [
    ((32768, 8192), (2048, 2048), (8192, 2048)),  # 16 MiB f4 chunks: 4 per block, stacked on axis 0
    ((4096, 8192), (2048, 2048), (2048, 2048)),  # 8 chunks: fewer than MIN_READ_BLOCKS, kept
    ((2048, 2**20), (2048, 2048), (2048, 8192)),  # axis 0 holds one chunk: grouped along axis 1
    ((100, 721, 1440), (1, 721, 1440), (6, 721, 1440)),  # daily maps: 6 days (24 MiB) per block
    ((10**6,), (10,), (62500,)),  # 1-D: at least 16 blocks
    ((), (), ()),
    ((0, 5), (3, 5), (3, 5)),
])
def test_default_read_chunks(shape, chunks, expected):
    assert default_read_chunks(shape, chunks, 4) == expected


def test_default_read_chunks_of_object_arrays_are_the_stored_chunks():
    assert default_read_chunks((1000,), (10,), 8, one_unit_per_block=True) == (10,)


@pytest.mark.parametrize("region,shape,expected", [
    (None, (4, 5), (slice(0, 4), slice(0, 5))),
    (slice(1, 3), (4, 5), (slice(1, 3), slice(0, 5))),
    ((slice(None), slice(-2, None)), (4, 5), (slice(0, 4), slice(3, 5))),
])
def test_normalize_region(region, shape, expected):
    assert normalize_region(region, shape) == expected


@pytest.mark.parametrize("region,match", [
    ((slice(0, 2), slice(0, 2), slice(0, 1)), "more entries"),
    ((slice(0, 4, 2),), "step 1"),
    ((3,), "must be a slice"),
    ((slice(0, 9),), "outside"),
])
def test_normalize_region_refuses(region, match):
    from dask_zarrio.errors import ZarrioError

    with pytest.raises(ZarrioError, match=match):
        normalize_region(region, (4, 5))


@given(st.lists(st.integers(1, 6), min_size=1, max_size=8), st.lists(st.integers(1, 5), min_size=1, max_size=10))
def test_plans_align_to_irregular_units(edges, blocks):
    from dask_zarrio.layout.grid import Edges

    n = min(sum(edges), sum(blocks))
    blocks = _clip(blocks, n)
    unit = (Edges(tuple(edges)),)
    plan = plan_write((blocks,), unit, 1, target=(slice(0, n),), shape=(n,))
    assert sum(plan.chunks[0]) == n
    assert not list(misalignments(plan.chunks, unit))


def _clip(blocks: list[int], n: int) -> tuple[int, ...]:
    out, pos = [], 0
    for b in blocks:
        if pos >= n:
            break
        out.append(min(b, n - pos))
        pos += b
    return tuple(out)
