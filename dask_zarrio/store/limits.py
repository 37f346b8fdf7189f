"""How big a stored object may be: what a store refuses before reading it (issue 28).

The read path gives :meth:`~dask_zarrio.store.Store.get` and ``get_many`` a ``limit``:
a chunk's size through its codecs' worst expansion, or :data:`MAX_METADATA_BYTES` for a
metadata document. A store that can tell an object's size cheaply refuses a bigger one
unread (:class:`TooLarge` inside it, :func:`too_large` out of it); the others check
what they got (:func:`within_limit`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import StoreError

if TYPE_CHECKING:  # only for the type of the argument that names the location
    from .base import Store

__all__ = ["MAX_METADATA_BYTES", "TooLarge", "too_large", "within_limit"]

#: The most bytes a metadata document (``zarr.json``, ``.zarray``, ``.zmetadata``,
#: ``attributes.json``, consolidated metadata included) may have: 16 MiB, what some
#: twenty thousand consolidated arrays take, far below what would exhaust a worker.
MAX_METADATA_BYTES = 16 * 2**20


class TooLarge(Exception):
    """A backend's signal, inside a store: the object has ``size`` bytes (``None``: more than
    asked, size unknown), over the limit. The store turns it into :func:`too_large`'s error."""

    def __init__(self, size: int | None) -> None:
        super().__init__(size)
        self.size = size


def too_large(store: Store, key: str, size: int | None, limit: int) -> StoreError:
    """The error for an object of ``size`` bytes (``None``: more than ``limit``, size unknown).

    Examples
    --------
    >>> from dask_zarrio.store import MappingStore
    >>> str(too_large(MappingStore({}), "c/0", 10, 4)).split(";")[0]
    'GET <dict>/c/0 refused: the object holds 10 bytes, more than the 4 bytes it can hold'
    """
    amount = f"more than the {limit} bytes" if size is None else f"{size} bytes, more than the {limit} bytes"
    return StoreError(
        f"GET {store.describe(key)} refused: the object holds {amount} it "
        "can hold; it was not read. It is corrupt, a decompression bomb, or was written with other "
        "metadata (chunk shape, dtype, codecs): rewrite it, or delete it to read the fill value"
    )


def within_limit(store: Store, key: str, data: Any, limit: int | None) -> Any:
    """``data`` (an object ``get`` fetched), refused by :func:`too_large` if it has more than ``limit`` bytes.

    For stores that learn an object's size only by reading it: the check after the fact. A
    store that read at most ``limit + 1`` bytes (a ranged GET) got exactly that many from any
    larger object, so that length says "more than ``limit``", not the object's size.

    Examples
    --------
    >>> from dask_zarrio.store import MappingStore
    >>> within_limit(MappingStore({}), "k", b"abc", 3), within_limit(MappingStore({}), "k", None, 0)
    (b'abc', None)
    """
    if data is not None and limit is not None:
        size = memoryview(data).nbytes
        if size > limit:
            raise too_large(store, key, None if size == limit + 1 else size, limit)
    return data
