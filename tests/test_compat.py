"""The private symbols dask_zarrio borrows (dask_zarrio/_compat.py) still behave as it needs.

When a dask or xarray release moves or changes one of them, these tests fail here,
with the symbol's name, instead of a graph or an xarray write failing obscurely.
"""

from __future__ import annotations

import dask
import numpy as np
import pytest
from dask.highlevelgraph import HighLevelGraph

from dask_zarrio import _compat


def _slices(block, region):
    return region


def test_core_blockwise_with_array_slice_dep_gives_each_block_its_region():
    chunks = ((2, 3), (4,))
    layer = _compat.core_blockwise(
        _slices, "regions", (0, 1), None, None, _compat.ArraySliceDep(chunks), (0, 1), numblocks={},
    )
    graph = HighLevelGraph.from_collections("regions", layer, dependencies=[])
    got = dict(zip(sorted(graph.to_dict()), dask.get(graph, sorted(graph.to_dict()))))
    assert got[("regions", 1, 0)] == (slice(2, 5), slice(0, 4))
    # Built lazily: the layer knows its blocks without materialising one task per block.
    big = _compat.core_blockwise(
        _slices, "big", (0, 1), None, None, _compat.ArraySliceDep(((1,) * 1000, (1,) * 1000)), (0, 1),
        numblocks={},
    )
    assert not big.is_materialized()


def test_xarray_encoders_are_where_write_dataset_looks():
    xr = pytest.importorskip("xarray")
    coder = _compat.xarray_fill_value_coder()
    encoded = coder.encode(np.float32(np.nan), np.dtype("f4"))
    assert np.isnan(coder.decode(encoded, np.dtype("f4")))
    var = xr.Variable(("x",), np.arange(3.0), attrs={"units": "m"})
    out = _compat.xarray_encode_variable()(var, name="v", zarr_format=3)
    assert out.dims == ("x",) and out.attrs["units"] == "m"
