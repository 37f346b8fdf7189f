"""What users and store authors reuse in their own tests.

- :class:`CountingStore`: wraps a store and counts requests per key, to prove what a graph touches.
- :mod:`dask_zarrio.testing.strategies`: hypothesis strategies for dtypes, shapes and chunks.
- :mod:`dask_zarrio.testing.store_tests`: the contract every store must pass (``StoreTests``).

The last two import hypothesis and pytest, so they are imported by name, not from here. Test
servers (S3, fault-injecting proxy, network namespaces) live in the repository's ``tests/servers``.
"""

from __future__ import annotations

from .counting import CountingStore

__all__ = ["CountingStore"]
