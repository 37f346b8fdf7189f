"""The rechunk planner: every task fits max_mem, blocks are whole target units, and
the plan decodes the source no more than it must (pure functions, no I/O)."""

from __future__ import annotations

from math import prod

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dask_zarrio as dz
from dask_zarrio.layout.align import align_pass
from dask_zarrio.layout.grid import Edges, axis_chunk_sizes
from dask_zarrio.layout.rechunk_plan import (
    FIRST_PASS_SHARE,
    choose_block,
    decoded_elements,
    plan_copy,
    plan_rechunk,
    task_memory,
)
from dask_zarrio.rechunking.rechunk import parse_max_mem


@st.composite
def layouts(draw):
    ndim = draw(st.integers(1, 3))
    shape = tuple(draw(st.integers(1, 400)) for _ in range(ndim))
    source = tuple(draw(st.integers(1, n)) for n in shape)
    target = tuple(draw(st.integers(1, n)) for n in shape)
    itemsize = draw(st.sampled_from([1, 4, 8]))
    need = task_memory(target, source, target, itemsize, 1)
    max_mem = need + draw(st.integers(0, 4 * itemsize * prod(shape)))
    return shape, source, target, itemsize, max_mem


@settings(max_examples=300, deadline=None)
@given(layouts())
def test_every_task_fits_max_mem_and_writes_whole_units(layout):
    shape, source, target, itemsize, max_mem = layout
    plan = plan_rechunk(shape, itemsize, source, target, max_mem)
    assert plan.peak_memory <= max_mem
    assert plan.passes[-1].unit == target and plan.passes[0].source == source
    for p in plan.passes:
        assert p.task_memory <= max_mem
        for b, u, n in zip(p.block, p.unit, shape):
            assert b % u == 0 or b == n  # whole units, or the whole axis
        assert p.bytes_read >= itemsize * prod(shape)
    if len(plan.passes) == 2:  # taken only when it decodes and encodes less
        one = plan_rechunk(shape, itemsize, source, target, max_mem, intermediate=False).passes[0]
        assert sum(p.bytes_read + p.bytes_written for p in plan.passes) < one.bytes_read + one.bytes_written


@settings(max_examples=200, deadline=None)
@given(layouts())
def test_decoded_elements_counts_the_chunks_each_block_overlaps(layout):
    shape, source, target, _, _ = layout
    block = target
    expected = 1
    for n, b, s in zip(shape, block, source):
        expected *= sum(((min(lo + b, n) - 1) // s - lo // s + 1) * s for lo in range(0, n, b))
    assert decoded_elements(shape, block, source) == expected


def test_maps_to_time_series_take_an_intermediate_pass_within_64mib():
    """The issue's case: (1, 192, 384) float32 maps to (2920, 24, 24) series."""
    plan = plan_rechunk((2920, 192, 384), 4, (1, 192, 384), (2920, 24, 24), 64 * 2**20)
    single = plan_rechunk((2920, 192, 384), 4, (1, 192, 384), (2920, 24, 24), 64 * 2**20, intermediate=False)
    assert len(plan.passes) == 2 and plan.peak_memory <= 64 * 2**20
    nbytes = 4 * 2920 * 192 * 384
    assert single.passes[0].bytes_read > 10 * nbytes  # one pass decodes the maps over and over
    assert all(p.bytes_read < 1.05 * nbytes for p in plan.passes)  # each pass decodes them once
    assert "pass 2" in str(plan) and "peak" in str(plan)


def test_blocks_grow_to_decode_each_source_chunk_once_when_memory_allows():
    assert choose_block((100, 100), (1, 100), (100, 1), 4, 2**20) == (100, 100)
    assert plan_rechunk((100, 100), 4, (1, 100), (100, 1), 2**20).passes[0].bytes_read == 40000


def test_a_target_unit_that_cannot_fit_is_refused_with_the_memory_it_needs():
    with pytest.raises(dz.ZarrioError, match="raise max_mem to at least"):
        plan_rechunk((1000, 1000), 8, (10, 10), (1000, 1000), 2**20)


def test_undecoded_passes_hold_whole_units_within_max_mem():
    p = plan_copy((1000, 1000), (10, 1000), (10, 1000), 8, 2**20, "copy")
    assert p.block[0] % 10 == 0 and p.task_memory <= 2**20 and p.tasks == -(-1000 // p.block[0])


@pytest.mark.parametrize("max_mem", ["256MiB", "1GiB", "64GiB"])
def test_a_large_max_mem_is_a_cap_that_still_leaves_tasks_for_every_thread(max_mem):
    """max_mem larger than the array once planned one task (one thread busy); now every pass of
    the issue's case keeps at least 16 tasks, each within max(array / 16, 64 MiB)."""
    limit = parse_max_mem(max_mem)
    p = plan_rechunk((2920, 192, 384), 4, (1, 192, 384), (2920, 24, 24), limit)
    assert p.max_mem == limit and p.peak_memory <= 64 * 2**20
    assert all(q.tasks >= 16 for q in p.passes), [q.tasks for q in p.passes]


def test_a_target_unit_larger_than_the_spread_is_planned_within_max_mem():
    """A 128 MiB target chunk does not fit the 64 MiB spread: the plan uses max_mem instead."""
    p = plan_rechunk((64, 1024, 1024), 4, (1, 1024, 1024), (32, 1024, 1024), 2**30)
    assert [q.unit for q in p.passes] == [(32, 1024, 1024)] and p.peak_memory > 128 * 2**20


@pytest.mark.parametrize(("days", "max_mem"), [(2920, 64 * 2**20), (11680, 256 * 2**20)])
def test_the_intermediate_is_cut_to_the_second_pass_without_ragged_padding(days, max_mem):
    # The room kept for intermediate chunks (max_mem / 8 each) is a bound: with their real size
    # known, the second pass's blocks take the rest. With 11680 days they stopped at 72 of 192
    # rows, and the third row of intermediate chunks was stored padded to 72: 12.5 % more written.
    shape = (days, 192, 384)
    p = plan_rechunk(shape, 4, (1, 192, 384), (days, 24, 24), max_mem)
    first, last = p.passes
    assert first.unit[1:] == last.block[1:] and shape[1] % first.unit[1] == 0 and shape[2] % first.unit[2] == 0
    assert first.bytes_written <= 1.01 * 4 * prod(shape)  # only the time axis' last chunk is padded
    assert p.peak_memory <= max_mem


@pytest.mark.parametrize(("days", "max_mem", "objects"), [(2920, 64 * 2**20, 26 * 32), (11680, 256 * 2**20, 32 * 32)])
def test_first_pass_blocks_take_a_share_of_max_mem_for_fewer_larger_intermediate_objects(days, max_mem, objects):
    # Each intermediate object is a file created, written back and deleted (a PUT and a DELETE on
    # an object store). First-pass blocks of max_mem / 8 made 1120 objects of 2920 maps and 4128
    # of 11680, where their intermediate chunks needed a thirtieth of the room kept for them.
    shape = (days, 192, 384)
    first, last = plan_rechunk(shape, 4, (1, 192, 384), (days, 24, 24), max_mem).passes
    assert prod(-(-n // u) for n, u in zip(shape, first.unit)) <= objects
    assert 4 * prod(first.block) <= FIRST_PASS_SHARE * max_mem and max(first.task_memory, last.task_memory) <= max_mem
    assert first.unit[1:] == last.block[1:]  # each intermediate chunk is read by one second-pass task


@settings(max_examples=60, deadline=None)
@given(
    edges=st.lists(st.integers(1, 6), min_size=1, max_size=12),
    source=st.integers(1, 8),
    max_mem=st.integers(100, 2000),
)
def test_blocks_aligned_to_a_rectilinear_target_are_whole_chunks_within_the_plan(edges, source, max_mem):
    n = sum(edges)
    units = (Edges(tuple(edges)), 3)
    shape = (n, 7)
    try:
        planned = plan_copy(shape, (source, 3), (max(edges), 3), 1, max_mem, "copy")
    except dz.ZarrioError:
        return
    aligned = align_pass(planned, units, shape)
    blocks = aligned.block
    assert [sum(b) for b in blocks] == list(shape) and aligned.tasks == prod(len(b) for b in blocks)
    for axis_blocks, unit, n_axis, most in zip(blocks, units, shape, planned.block):
        bounds = {0}
        for size in axis_chunk_sizes(unit, n_axis):
            bounds.add(max(bounds) + size)
        pos = 0
        for b in axis_blocks:  # each block starts and ends on a chunk boundary, no longer than planned
            assert pos in bounds and pos + b in bounds
            assert b <= most or b in axis_chunk_sizes(unit, n_axis)
            pos += b
