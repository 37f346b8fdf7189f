"""A store that wraps another one (to count, or to keep writes aside): its name, location text, token
and capabilities are the wrapped store's.

Wrapping changes no capability: a wrapper declares what the wrapped store declares, so code
that consults them (partial reads, listing, conditional writes ...) behaves as it would
without the wrapper.
"""

from __future__ import annotations

from ..base import Store

__all__ = ["WrappingStore"]


class WrappingStore(Store):
    """Base of stores holding an ``inner`` store: its name, ``describe``, token and capabilities are ``inner``'s.

    Examples
    --------
    >>> from dask_zarrio.testing.counting import CountingStore
    >>> from dask_zarrio.store import open_store
    >>> CountingStore(open_store("memory://doc/wrapped.zarr")).supports_partial_reads
    True
    """

    inner: Store

    @property
    def name(self) -> str:
        return self.inner.name

    def describe(self, key: str = "") -> str:
        return self.inner.describe(key)

    def token(self) -> str:
        return self.inner.token()

    @property
    def supports_partial_reads(self) -> bool:
        return self.inner.supports_partial_reads

    @property
    def supports_concurrent_requests(self) -> bool:
        return self.inner.supports_concurrent_requests

    @property
    def supports_listing(self) -> bool:
        return self.inner.supports_listing

    @property
    def supports_deletes(self) -> bool:
        return self.inner.supports_deletes

    @property
    def supports_conditional_writes(self) -> bool:
        return self.inner.supports_conditional_writes

    @property
    def supports_multiprocess_writes(self) -> bool:
        return self.inner.supports_multiprocess_writes
