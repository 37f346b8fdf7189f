"""Private symbols of other packages that dask_zarrio still needs, imported in one place.

Each import says why no public API serves. ``tests/test_compat.py`` imports this
module and checks each symbol's behaviour, so that a release that moves one fails
there, loudly, rather than deep inside a graph or an xarray write.
"""

from __future__ import annotations

from typing import Any

# dask: the write graph is one Blockwise layer whose tasks get their block's region
# from an ArraySliceDep, computed only when the graph is materialised. The public
# alternatives are O(n) to build (``map_blocks(block_info=...)`` makes one dict per
# block up front) or ship the whole chunk layout inside every task (``block_id``).
from dask.blockwise import blockwise as core_blockwise
from dask.layers import ArraySliceDep

__all__ = ["ArraySliceDep", "core_blockwise", "xarray_fill_value_coder", "xarray_encode_variable"]


def xarray_fill_value_coder() -> Any:
    """xarray's ``FillValueCoder``: how ``to_zarr`` writes a v2 ``_FillValue``.

    Used so that ``write_dataset`` writes attributes exactly as ``xr.open_zarr``
    decodes them; xarray exports no public form of it. Imported lazily: xarray is
    an optional dependency.
    """
    from xarray.backends.zarr import FillValueCoder

    return FillValueCoder


def xarray_encode_variable() -> Any:
    """xarray's ``encode_zarr_variable``: the CF encoding ``to_zarr`` applies per variable."""
    from xarray.backends.zarr import encode_zarr_variable

    return encode_zarr_variable
