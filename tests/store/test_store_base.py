"""The Store base class (dask_zarrio/store/base.py): its default methods pass the contract.

A store that implements only the abstract methods gets ``get_range``, ``get_ranges``,
``get_many``, ``exists`` and ``set_many`` from the base class; this minimal store over a
dict proves those defaults right, and that every capability defaults to the cautious
``False``.
"""

from __future__ import annotations

import posixpath
from typing import Any

import pytest
from dask.base import tokenize

from dask_zarrio.store import Store
from dask_zarrio.store.base import join_key, member_path, within_limit
from dask_zarrio.testing.store_tests import StoreTests


class _MinimalStore(Store):
    """Only the abstract methods, over a dict of full keys."""

    def __init__(self, data: dict[str, bytes], root: str) -> None:
        self.data, self.root = data, root

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.data, self.root))

    def get(self, key: str, limit: int | None = None) -> bytes | None:
        return within_limit(self, key, self.data.get(join_key(self.root, key)), limit)

    def set(self, key: str, value: Any) -> None:
        self.data[join_key(self.root, key)] = bytes(memoryview(value).cast("B"))

    def delete(self, key: str) -> None:
        self.data.pop(join_key(self.root, key), None)

    def _below(self) -> list[str]:
        return [k for k in self.data if k.startswith(self.root + "/")]

    def clear(self) -> None:
        for k in self._below():
            del self.data[k]

    def is_empty(self) -> bool:
        return not self._below()

    def list_dir(self) -> list[str]:
        return sorted({k[len(self.root) + 1 :].split("/")[0] for k in self._below()})

    def child(self, path: str) -> _MinimalStore:
        return _MinimalStore(self.data, join_key(self.root, member_path(path)))

    def parent(self) -> _MinimalStore | None:
        return _MinimalStore(self.data, posixpath.dirname(self.root)) if self.root else None

    @property
    def name(self) -> str:
        return posixpath.basename(self.root)

    def describe(self, key: str = "") -> str:
        return f"minimal://{join_key(self.root, key)}"

    def token(self) -> str:
        return tokenize("minimal", self.root)


class _DeclaredMinimalStore(_MinimalStore):
    # The contract tests that need listing and deletes run only where they are declared.
    supports_listing = True
    supports_deletes = True


class TestBaseDefaults(StoreTests):
    pickle_shares_data = False  # the dict is pickled by value

    @pytest.fixture
    def store(self) -> Store:
        return _DeclaredMinimalStore({}, "root.zarr/node")

    def set_back_door(self, store: Store, key: str, value: bytes) -> None:
        assert isinstance(store, _MinimalStore)
        store.data[join_key(store.root, key)] = value

    def get_back_door(self, store: Store, key: str) -> bytes | None:
        assert isinstance(store, _MinimalStore)
        return store.data.get(join_key(store.root, key))


def test_capabilities_default_to_the_cautious_answer():
    store = _MinimalStore({}, "a")
    assert not store.supports_partial_reads
    assert not store.supports_concurrent_requests
    assert not store.supports_listing
    assert not store.supports_deletes


@pytest.mark.parametrize("capability", ["supports_listing", "supports_deletes"])
def test_contract_skips_what_a_store_does_not_declare(capability):
    """The contract tests that need listing or deletes skip a store that declares neither.

    (Checked on the mechanism directly, so that the suite itself reports no skips: the
    same tests run on _DeclaredMinimalStore and on every real store.)
    """
    with pytest.raises(pytest.skip.Exception, match=f"declares {capability} = False"):
        StoreTests()._require(_MinimalStore({}, "root.zarr/node"), capability)
    StoreTests()._require(_DeclaredMinimalStore({}, "root.zarr/node"), capability)  # no skip
