"""Re-blocked writes keep their blocks small (pure planner cases, no I/O): issue 31's case
and the cap as a property over random layouts."""

from __future__ import annotations

from math import prod

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dask_zarrio.layout.reblock import reblock_cap
from dask_zarrio.layout.write_plan import default_read_chunks, misalignments, plan_write

MiB = 2**20


def _whole(shape):
    return tuple(slice(0, n) for n in shape)


def _dask_chunks(shape, block):
    return tuple((b,) * (n // b) + ((n % b,) if n % b else ()) for n, b in zip(shape, block))


def test_issue_case_read_blocks_into_shards_are_one_shard_each():
    """2 x 15360² uint8 in 512² chunks, dz.read's default blocks (2, 15360, 512), into shards of
    (1, 4096, 4096): blocks of one shard (16 MiB), not of 8 shards (120 MiB)."""
    shape = (2, 15360, 15360)
    block = default_read_chunks(shape, (1, 512, 512), 1)
    assert block == (2, 15360, 512)
    plan = plan_write(_dask_chunks(shape, block), (1, 4096, 4096), 1, target=_whole(shape), shape=shape,
                      max_task_bytes=128 * MiB)
    assert plan.chunks == ((1, 1), (4096, 4096, 4096, 3072), (4096, 4096, 4096, 3072))


@pytest.mark.parametrize(("chunks", "unit", "expected"), [
    # source blocks larger than a unit: blocks as large as a source block at most
    (((6, 6),), (4,), ((4, 4, 4),)),
    # 30 -> 28 (a tie moves down), 3 -> 4: (28, 32) x (4, 2) blocks of 128 > 90 elements, split at unit
    # boundaries nearest their middles until none holds more than a source block (30 x 3)
    (((30, 30), (3, 3)), (4, 4), ((12, 16, 16, 16), (4, 2))),
    # source blocks smaller than a unit: one unit per block
    (((2,) * 8, (8,)), (4, 4), ((4, 4, 4, 4), (4, 4))),
])
def test_exact_plans(chunks, unit, expected):
    shape = tuple(sum(c) for c in chunks)
    assert plan_write(chunks, unit, 1, target=_whole(shape), shape=shape).chunks == expected


def test_aligned_blocks_larger_than_the_cap_are_kept():
    """Aligned input is the user's own layout: nothing is re-blocked, so nothing is capped."""
    chunks = ((8, 8), (8,))
    assert plan_write(chunks, (4, 4), 1, target=_whole((16, 8)), shape=(16, 8)).chunks == chunks


@st.composite
def misaligned(draw):
    ndim = draw(st.integers(1, 3))
    unit = tuple(draw(st.integers(1, 9)) for _ in range(ndim))
    chunks = tuple(tuple(draw(st.lists(st.integers(1, 15), min_size=1, max_size=8))) for _ in range(ndim))
    return chunks, unit, draw(st.sampled_from([1, 4, 8]))


@settings(max_examples=400, deadline=None)
@given(misaligned())
def test_reblocked_blocks_hold_at_most_a_unit_or_a_source_block(layout):
    chunks, unit, itemsize = layout
    shape = tuple(sum(c) for c in chunks)
    planned = plan_write(chunks, unit, itemsize, target=_whole(shape), shape=shape).chunks
    assert not list(misalignments(planned, unit))
    if not list(misalignments(chunks, unit)):
        assert planned == chunks
        return
    cap = reblock_cap(chunks, unit, itemsize)
    if prod(max(c) for c in planned) * itemsize > cap:
        # Then no largest block along any axis spans a unit boundary it could be cut at.
        for sizes, u in zip(planned, unit):
            starts = [sum(sizes[:i]) for i in range(len(sizes))]
            for start, size in zip(starts, sizes):
                if size == max(sizes):
                    assert not any(b % u == 0 for b in range(start + 1, start + size))
