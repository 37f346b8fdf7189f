"""The array-like reader that read tasks go through: any index reads only its bounding box."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dask_zarrio as dz
from dask_zarrio.graph.tasks import ArrayReader, bounding_box, read_into
from dask_zarrio.metadata.node import read_array_metadata
from dask_zarrio.metadata.spec import ArraySpec
from dask_zarrio.store import MappingStore, open_store

DATA = np.arange(13 * 11, dtype="i4").reshape(13, 11)
_M: dict[str, bytes] = {}
dz.write(da.from_array(DATA, chunks=(4, 3)), _M, fill_value=-1)
READER = ArrayReader(ArraySpec.from_metadata(read_array_metadata(MappingStore(_M))), MappingStore(_M))


def _axis_index(n):
    return st.one_of(
        st.integers(-n, n - 1),
        st.builds(slice, st.one_of(st.none(), st.integers(-n - 2, n + 2)),
                  st.one_of(st.none(), st.integers(-n - 2, n + 2)),
                  st.one_of(st.none(), st.integers(1, 4), st.integers(-4, -1))),
        st.lists(st.integers(-n, n - 1), min_size=1, max_size=5).map(np.array),
    )


@settings(max_examples=300, deadline=None)
@given(i=_axis_index(13), j=_axis_index(11))
def test_reader_indexing_matches_numpy(i, j):
    if isinstance(i, np.ndarray) and isinstance(j, np.ndarray):
        j = slice(None)  # two fancy indexes broadcast together in numpy; dask never fuses that
    np.testing.assert_array_equal(READER[i, j], DATA[i, j])


def test_bounding_box_of_plain_slices_is_the_selection():
    assert bounding_box((slice(2, 5), slice(0, 11)), (13, 11)) == ((slice(2, 5), slice(0, 11)), None)


def test_ellipsis_and_missing_axes():
    np.testing.assert_array_equal(READER[..., 3], DATA[..., 3])
    np.testing.assert_array_equal(READER[5], DATA[5])


@pytest.mark.parametrize("zarr_format", [2, 3])
@pytest.mark.parametrize("rows,block,decoded_apart", [
    (100, (50, 7), 0),  # each chunk's place in the block is contiguous: all decoded in place
    (100, (30, 7), 2),  # the last blocks are one chunk each: decoded and handed out as they are
    (95, (30, 7), 2),  # the stored edge chunks hold 10 rows for 5: decoded, then the 5 copied
    (100, (30, 14), 20),  # chunks are 7 of 14 columns wide: decoded, then copied
])
def test_blocks_of_several_chunks_decode_in_place(zarr_format, rows, block, decoded_apart, monkeypatch, tmp_path):
    from dask_zarrio.codecs.pipeline import CodecPipeline, V2Pipeline

    data = np.random.default_rng(1).normal(size=(rows, 14)).astype("f4")
    url = str(tmp_path / "a.zarr")
    dz.write(da.from_array(data, chunks=(10, 7)), url, zarr_format=zarr_format)
    calls = []
    for cls in (CodecPipeline, V2Pipeline):
        original = cls.decode
        monkeypatch.setattr(cls, "decode", lambda self, d, _o=original: calls.append(1) or _o(self, d))
    np.testing.assert_array_equal(dz.read(url, chunks=block).compute(), data)
    assert len(calls) == decoded_apart


def test_corrupt_chunk_decoded_in_place_names_its_key(tmp_path):
    url = str(tmp_path / "a.zarr")
    dz.write(da.zeros((40, 5), chunks=(10, 5), dtype="f4") + 1, url)
    (tmp_path / "a.zarr" / "c" / "2" / "0").write_bytes(b"\x02\x01garbage" * 4)
    with pytest.raises(dz.ChunkDecodeError, match=r"a\.zarr/c/2/0"):
        dz.read(url, chunks=(40, 5)).compute()


@pytest.mark.parametrize("write", [
    {"chunks": (4, 3)},
    {"chunks": ((3, 6, 4), (2, 9))},  # rectilinear
    {"chunks": (2, 3), "shards": (4, 6)},  # parts of shards read by ranges
    {"chunks": (4, 3), "zarr_format": 2},
])
def test_read_into_writes_every_element_the_fill_value_where_nothing_is_stored(write, tmp_path):
    data = DATA.copy()
    data[4:9] = -1  # chunks (and shards) holding only the fill value are not stored
    dz.write(data, str(tmp_path / "a.zarr"), fill_value=-1, **write)
    store = open_store(str(tmp_path / "a.zarr"))
    assert store.supports_partial_reads  # local files: the parts of shards are read by ranges
    spec = ArraySpec.from_metadata(read_array_metadata(store))
    for region in [(slice(1, 12), slice(2, 10)), (slice(0, 13), slice(0, 11)), (slice(5, 7), slice(4, 5))]:
        out = np.full(tuple(r.stop - r.start for r in region), 12345, "i4")  # what an uninitialised buffer holds
        read_into(spec, store, region, out, 2)
        np.testing.assert_array_equal(out, data[region])
