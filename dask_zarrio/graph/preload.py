"""Chunks an open reads ahead: small arrays read whole at once (xarray's index coordinates),
fetched together, so that loading them costs one round trip for all, not one or more each."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping

from ..errors import ZarrioError
from ..metadata.spec import ArrayMetadata, ArraySpec
from ..store import Store
from ..store.support.preloaded import PreloadedStore
from ..store.support.requests import fetch_many, map_concurrently
from .tasks import stored_limit

__all__ = ["MAX_PRELOAD_BYTES", "MAX_PRELOAD_CHUNKS", "preload_arrays"]

#: The largest array (decoded bytes) read ahead: its stored chunks travel in the read graph.
MAX_PRELOAD_BYTES = 64 * 2**20
#: The most stored chunks of one array read ahead.
MAX_PRELOAD_CHUNKS = 4096


def preload_arrays(
    arrays: Mapping[str, tuple[Store, ArrayMetadata]], *, allow_pickle: bool = False
) -> dict[str, Store]:
    """The stores of ``arrays`` (name -> (store, metadata)) with every stored chunk already
    fetched (:class:`~dask_zarrio.store.support.preloaded.PreloadedStore`), all the arrays'
    chunks in flight together where the stores overlap requests.

    Arrays of more than :data:`MAX_PRELOAD_BYTES` or :data:`MAX_PRELOAD_CHUNKS`, and arrays
    whose codecs cannot be used (refused later, by the read, as usual), keep their store.
    Each chunk is fetched within the bound the read graph gives it (its codecs' worst expansion).

    Examples
    --------
    >>> import numpy as np
    >>> from dask_zarrio.metadata.create import new_array_metadata
    >>> from dask_zarrio.store import MappingStore
    >>> meta = new_array_metadata(shape=(4,), dtype=np.dtype("i1"), chunk_shape=(2,), compressors=None)
    >>> held = preload_arrays({"x": (MappingStore({"c/0": b"\\x01\\x02"}), meta)})
    >>> held["x"].objects
    {'c/0': b'\\x01\\x02', 'c/1': None}
    """
    wanted: list[tuple[str, Store, list[str], int | None]] = []
    for name, (store, meta) in arrays.items():
        try:
            spec = ArraySpec.from_metadata(meta, allow_pickle=allow_pickle)
        except ZarrioError:
            continue
        if math.prod(spec.shape) * spec.dtype.itemsize > MAX_PRELOAD_BYTES or spec.grid.nchunks > MAX_PRELOAD_CHUNKS:
            continue
        indices = list(itertools.product(*(range(n) for n in spec.grid.grid_shape)))
        wanted.append((name, store, [spec.chunk_key(i) for i in indices], stored_limit(spec, indices)))
    if not wanted:
        return {name: store for name, (store, _) in arrays.items()}

    def fetch(item: tuple[str, Store, list[str], int | None]) -> PreloadedStore:
        _, store, keys, limit = item
        return PreloadedStore(store, dict(zip(keys, fetch_many(store, keys, limit))))

    held = dict(zip((w[0] for w in wanted), map_concurrently(wanted[0][1], fetch, wanted)))
    return {name: held.get(name, store) for name, (store, _) in arrays.items()}
