"""The write journal: what a reader is told about an unfinished write."""

from __future__ import annotations

import json

import numpy as np
import pytest

import dask_zarrio as dz
from dask_zarrio.metadata.create import new_array_metadata
from dask_zarrio.metadata.journal import (
    JOURNAL_KEY,
    WriteJournal,
    begin_write,
    end_write,
    pending_write,
)
from dask_zarrio.metadata.node import read_node
from dask_zarrio.metadata.writer import write_node
from dask_zarrio.store import MappingStore

META = new_array_metadata(shape=(4,), dtype=np.dtype("<i2"), chunk_shape=(2,))


def test_journal_round_trip_and_life_cycle():
    store = MappingStore({}, "a.zarr")
    begin_write(store, META)
    journal = pending_write(store)
    assert journal is not None and journal.metadata == json.loads(json.dumps(META.to_dict()))
    assert WriteJournal.from_dict(journal.to_dict()) == journal
    with pytest.raises(dz.IncompleteWriteError, match=r"a\.zarr is incomplete: a dz\.write begun at"):
        read_node(store)
    write_node(store, META)  # committed after the data, before the journal goes
    assert read_node(store) == META
    end_write(store)
    assert pending_write(store) is None and read_node(store) == META


@pytest.mark.parametrize("raw", [b"{", b"[]", b'{"started": 1, "metadata": {}}', b'{"started": "t", "metadata": 3}'])
def test_a_malformed_journal_is_a_metadata_error(raw):
    store = MappingStore({JOURNAL_KEY: raw})
    with pytest.raises(dz.MetadataError, match=r"\.dz-write\.json"):
        read_node(store)
