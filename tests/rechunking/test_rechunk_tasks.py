"""A second-pass task consumes the intermediate chunks inside its block: it stores its
units, then its key, then deletes them; a run of it again stores nothing and keeps the
target as the first run left it, whichever step the first run stopped at."""

from __future__ import annotations

import numpy as np
import pytest

from dask_zarrio.metadata import ArraySpec
from dask_zarrio.metadata.create import new_array_metadata
from dask_zarrio.rechunking.tasks import consumed_key, rechunk_block
from dask_zarrio.store import MappingStore

DATA = np.arange(48, dtype="f4").reshape(6, 8)
#: The intermediate: rows of 4 (two chunks per row of 8), read by blocks of (6, 4).
MIDDLE = ArraySpec.from_metadata(new_array_metadata(shape=(6, 8), dtype=np.dtype("f4"), chunk_shape=(2, 4)))
TARGET = ArraySpec.from_metadata(new_array_metadata(shape=(6, 8), dtype=np.dtype("f4"), chunk_shape=(6, 2)))
BLOCK = (slice(0, 6), slice(0, 4))
OWNED = ["c/0/0", "c/1/0", "c/2/0"]


def _intermediate() -> dict[str, bytes]:
    out = {}
    for i in range(3):
        for j in range(2):
            out[f"c/{i}/{j}"] = bytes(MIDDLE.pipeline.encode(DATA[2 * i:2 * i + 2, 4 * j:4 * j + 4].copy()))
    return out


def _run(middle: dict, target: dict) -> int:
    return int(rechunk_block(MIDDLE, MappingStore(middle), TARGET, MappingStore(target), BLOCK, 2, None, True).sum())


def _values(target: dict) -> np.ndarray:
    return np.concatenate([TARGET.pipeline.decode(target[f"c/0/{k}"]) for k in range(2)], axis=1)


def test_a_task_deletes_the_chunks_inside_its_block_once_its_units_are_stored():
    middle, target = _intermediate(), {}
    assert _run(middle, target) == 2
    np.testing.assert_array_equal(_values(target), DATA[:, :4])
    # the other block's chunks stay for the task that reads them; this block's key is there
    assert sorted(middle) == sorted({".dz-consumed-0.0", "c/0/1", "c/1/1", "c/2/1"})


@pytest.mark.parametrize("left", [[], ["c/1/0"], OWNED],
                         ids=["all deleted", "killed while deleting", "killed before deleting"])
def test_a_task_run_again_after_its_key_is_stored_only_finishes_deleting(left):
    middle, target = _intermediate(), {}
    _run(middle, target)
    stored = dict(target)
    for key in left:  # what the first run had not deleted yet when it stopped
        middle[key] = _intermediate()[key]
    assert _run(middle, target) == 0
    assert target == stored  # deleted chunks are not taken for the fill value and written over the units
    assert not set(OWNED) & set(middle)


def test_chunks_missing_without_the_key_are_the_fill_value():
    # Chunks of only the fill value are not stored: without the task's key, a missing chunk is
    # one of those, and the task writes its units.
    middle, target = _intermediate(), {}
    del middle["c/1/0"]
    assert consumed_key(BLOCK) not in middle and _run(middle, target) == 2
    expected = DATA[:, :4].copy()
    expected[2:4] = 0
    np.testing.assert_array_equal(_values(target), expected)


def test_a_task_without_consume_deletes_nothing():
    middle, target = _intermediate(), {}
    rechunk_block(MIDDLE, MappingStore(middle), TARGET, MappingStore(target), BLOCK, 2)
    assert middle == _intermediate()
