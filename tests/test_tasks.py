"""The array-like reader that read tasks go through: any index reads only its bounding box."""

from __future__ import annotations

import dask.array as da
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import dask_zarrio as dz
from dask_zarrio.metadata.node import read_array_metadata
from dask_zarrio.metadata.spec import ArraySpec
from dask_zarrio.store import MappingStore
from dask_zarrio.tasks import ArrayReader, bounding_box

DATA = np.arange(13 * 11, dtype="i4").reshape(13, 11)
_M: dict[str, bytes] = {}
dz.write(da.from_array(DATA, chunks=(4, 3)), _M, fill_value=-1)
READER = ArrayReader(ArraySpec.from_metadata(read_array_metadata(MappingStore(_M))), MappingStore(_M))


def _axis_index(n):
    return st.one_of(
        st.integers(-n, n - 1),
        st.builds(slice, st.one_of(st.none(), st.integers(-n - 2, n + 2)), st.one_of(st.none(), st.integers(-n - 2, n + 2)),
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
