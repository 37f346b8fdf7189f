"""The planner's guarantees, as properties over random layouts (pure functions, no I/O)."""

from __future__ import annotations

from math import prod

from hypothesis import given, settings
from hypothesis import strategies as st

from dask_zarrio.planner import (
    WritePlan,
    misalignments,
    partial_units,
    plan_axis,
    plan_write,
    units_of,
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
    planned = plan_write(chunks, unit, itemsize, offset=offset, max_task_bytes=cap)
    # Blocks tile the region exactly: each element is written once.
    assert [sum(c) for c in planned] == [sum(c) for c in chunks]
    assert all(s > 0 for axis in planned for s in axis)
    # No interior block boundary inside a unit...
    assert list(misalignments(planned, unit, offset)) == []
    # ...so each unit touched by the region has one writing block (owners() raises otherwise).
    plan = WritePlan(planned, unit, offset, shape)
    region = tuple(slice(o, o + sum(c)) for o, c in zip(offset, chunks))
    assert set(plan.owners()) == set(units_of(region, unit))


@settings(max_examples=400, deadline=None)
@given(layouts())
def test_memory_cap_holds_unless_a_single_unit_exceeds_it(layout):
    chunks, unit, offset, shape, itemsize, cap = layout
    if cap is None:
        return
    planned = plan_write(chunks, unit, itemsize, offset=offset, max_task_bytes=cap)
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


def test_aligned_input_is_unchanged():
    chunks = ((40, 40, 20), (30, 30))
    assert plan_write(chunks, (20, 10), 8) == chunks


def test_irregular_dask_chunks():
    assert plan_axis((7, 5, 9, 3), 4) == (8, 4, 8, 4)


def test_partial_units_only_at_region_edges():
    # Region [3, 17) of an array of 20 in units of 5: units 0 and 3 are cut.
    assert partial_units((slice(3, 10),), (slice(3, 17),), (5,), (20,)) == [(0,)]
    assert partial_units((slice(10, 17),), (slice(3, 17),), (5,), (20,)) == [(3,)]
    # An edge chunk reaching past the array's end is not "cut" by the array's end.
    assert partial_units((slice(15, 18),), (slice(0, 18),), (5,), (18,)) == []
