"""The engine's lazily indexed arrays: what a variable opened without ``chunks=`` holds.

xarray wraps a :class:`LazyArray` as it wraps its own backends' arrays (``LazilyIndexedArray``,
then ``MemoryCachedArray``), so indexing a variable reads nothing until its values are
asked for; then only the chunks the selection touches are read, each decoded straight
into the result (:func:`dask_zarrio.graph.loading.load_selection`), and a full ``.load()``
allocates the variable once. With ``chunks=`` xarray makes a dask array whose tasks read
their block through the same :class:`LazyArray`.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from ..graph.loading import load_points, load_selection
from ..graph.tasks import ArrayReader
from ..metadata import ArraySpec
from ..store import Store

__all__ = ["LazyArray", "lazy_array"]


def _xarray_indexing() -> Any:
    from xarray.core import indexing

    return indexing


def _threads() -> int | None:
    """Threads for one read: all (dask's ``num_workers``, else the cores) when the caller is the
    main thread (``.load()``, ``.values``), one inside another pool (a dask task reading its
    block), which already runs as many reads as it has threads."""
    return None if threading.current_thread() is threading.main_thread() else 1


def lazy_array(spec: ArraySpec, store: Store, dtype: np.dtype[Any] | None = None) -> Any:
    """A :class:`LazyArray` (a subclass of xarray's ``BackendArray``, made when xarray is imported)."""
    return _lazy_class()(spec, store, dtype)


_CLASS: list[type] = []


def _lazy_class() -> type:
    if not _CLASS:
        from xarray.backends import BackendArray

        _CLASS.append(type("LazyArray", (LazyArray, BackendArray), {"__module__": __name__}))
    return _CLASS[0]


class LazyArray:
    """A stored array, read on indexing: basic, outer (orthogonal) and vectorized, as
    xarray's ``ZarrArrayWrapper`` (``IndexingSupport.VECTORIZED``).

    ``dtype`` (default the stored one) is what the values are given as: numpy's ``StringDType``
    for text, as xr.open_zarr gives it.

    Examples
    --------
    >>> import numpy as np, xarray as xr, dask_zarrio as dz
    >>> dz.write(np.arange(12).reshape(3, 4), "memory://doc/lazy.zarr", chunks=(1, 2), mode="w")
    >>> from dask_zarrio.api import open_array
    >>> store, meta = open_array("memory://doc/lazy.zarr")
    >>> a = lazy_array(ArraySpec.from_metadata(meta), store)
    >>> v = xr.Variable(("y", "x"), xr.core.indexing.LazilyIndexedArray(a))
    >>> v[1:, [0, 3]].values
    array([[ 4,  7],
           [ 8, 11]])
    """

    __slots__ = ("dtype", "reader", "shape", "spec", "store")

    def __init__(self, spec: ArraySpec, store: Store, dtype: np.dtype[Any] | None = None) -> None:
        self.spec, self.store = spec, store
        #: What ``dz.write`` looks for to refuse replacing the store it reads from.
        self.reader = ArrayReader(spec, store)
        self.shape = spec.shape
        self.dtype = spec.dtype if dtype is None else dtype

    def __repr__(self) -> str:
        return f"LazyArray({self.store.describe()}, shape={self.shape}, dtype={self.dtype})"

    def __reduce__(self) -> tuple[Any, ...]:
        # The class is made when xarray is imported (not importable by name): rebuilt through lazy_array.
        return lazy_array, (self.spec, self.store, self.dtype)

    def get_array(self) -> Any:
        """What xarray's zarr wrapper hands out here: the stored array (its spec and store)."""
        return self.spec, self.store

    def _as_dtype(self, value: np.ndarray) -> Any:
        return value if value.dtype == self.dtype else np.asarray(value, dtype=self.dtype)

    def _outer(self, key: tuple[Any, ...]) -> Any:
        return self._as_dtype(load_selection(self.spec, self.store, key, threads=_threads()))

    def _vectorized(self, key: tuple[Any, ...]) -> Any:
        """numpy's vectorized indexing, sliced axes moved to the end (xarray's ``VectorizedIndexer``)."""
        arrays = [np.asarray(k) for k in key if not isinstance(k, slice)]
        front = np.broadcast_shapes(*(a.shape for a in arrays)) if arrays else ()
        sliced = [np.arange(*k.indices(n)) for k, n in zip(key, self.shape) if isinstance(k, slice)]
        points, at = [], 0
        for k in key:
            if isinstance(k, slice):
                shape = [1] * (len(front) + len(sliced))
                shape[len(front) + at] = -1
                points.append(sliced[at].reshape(shape))
                at += 1
            else:
                points.append(np.asarray(k).reshape(np.asarray(k).shape + (1,) * len(sliced)))
        return self._as_dtype(load_points(self.spec, self.store, tuple(points), threads=_threads()))

    def __getitem__(self, key: Any) -> Any:
        indexing = _xarray_indexing()
        method = self._vectorized if isinstance(key, indexing.VectorizedIndexer) else self._outer
        value = indexing.explicit_indexing_adapter(key, self.shape, indexing.IndexingSupport.VECTORIZED, method)
        if self.dtype.kind == "T" and isinstance(value, str):
            return np.asarray(value, dtype=self.dtype)  # a 0-d text array stays text, as xarray's wrapper
        return value
