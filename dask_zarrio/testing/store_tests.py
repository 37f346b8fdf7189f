"""The contract every :class:`~dask_zarrio.store.Store` must pass, as a pytest base class.

zarr-python's ``zarr/testing/store.py`` ``StoreTests`` is the model: the tests write
and read through a *back door* (the mapping, the file system, a second S3 client)
so that a store cannot pass by agreeing with itself, and they are parametrized over
keys, value types and byte ranges.

Examples
--------
A test module for a new store subclasses :class:`StoreTests` (the subclass's name
starts with ``Test`` so pytest collects it)::

    class TestMappingStore(StoreTests):
        @pytest.fixture
        def store(self):
            return MappingStore({}, "root.zarr/node")

        def set_back_door(self, store, key, value):
            store.mapping[f"{store.root}/{key}"] = value

        def get_back_door(self, store, key):
            return store.mapping.get(f"{store.root}/{key}")
"""

from __future__ import annotations

import pickle
import threading
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import pytest

from ..errors import ZarrioError
from ..store import Buffer, Store

__all__ = ["RANGES", "VALUES", "StoreTests"]

#: Bytes every range test cuts: long enough that a range never equals the whole object.
DATA = bytes(range(256)) * 3

#: ``(start, length)`` pairs: from the start, from the end, past the end, empty.
RANGES: list[tuple[int, int | None]] = [
    (0, None), (5, None), (5, 10), (0, len(DATA)), (5, 0), (-3, None), (-10, 4), (-10, 10),
    (-10, 50), (-10_000, None), (-10_000, 4), (len(DATA) - 2, 100), (len(DATA), None),
    (len(DATA) + 10, None), (len(DATA) + 10, 5),
]

#: Every kind of value a store is handed: chunks arrive as numpy buffers, metadata as bytes.
VALUES: dict[str, Callable[[], Buffer]] = {
    "bytes": lambda: b"\x00zarr\xff" * 3,
    "bytearray": lambda: bytearray(b"\x01\x02\x03"),
    "memoryview": lambda: memoryview(b"view of bytes")[5:],
    "numpy-uint8": lambda: np.arange(7, dtype=np.uint8),
    "empty": lambda: b"",
}

#: Keys as the formats spell them: metadata at the root, chunk keys, deep nesting.
KEYS = ["zarr.json", ".zarray", "c/0/1", "a/b/c/d"]


def _cut(data: bytes, start: int, length: int | None) -> bytes:
    """What Python slicing gives for the range (the reference the stores must match)."""
    begin = start if start >= 0 else max(0, len(data) + start)
    return data[begin:] if length is None else data[begin : begin + length]


class StoreTests:
    """Base class of every store's contract tests; each store's test module subclasses it.

    Every store added to dask_zarrio (and every store written for it elsewhere) gets
    a test class deriving from this one; the contract is what the rest of the
    package relies on, so a store that passes it works everywhere a store is taken.

    Subclasses provide

    - a ``store`` fixture: an empty store rooted **below** the top of its storage
      (e.g. at ``root.zarr/node``), so that ``parent()`` exists and ``clear()`` can be
      shown to spare the store's siblings;
    - :meth:`set_back_door` and :meth:`get_back_door`, which write and read an object
      under the store's root without calling the store under test;

    and may set :attr:`secrets` (credentials the store was opened with, which must
    never show) and :attr:`pickle_shares_data` (``False`` where a pickled copy holds a
    copy of the data, as a pickled ``dict`` does).

    Capabilities the store declares as unsupported (``supports_deletes``,
    ``supports_listing``) skip the tests that need them.
    """

    #: Strings that must never appear in ``repr``, ``describe`` or ``token``.
    secrets: ClassVar[tuple[str, ...]] = ()
    #: Whether a store that went through pickle sees (and writes) the same objects.
    pickle_shares_data: ClassVar[bool] = True

    @pytest.fixture
    def store(self) -> Store:
        """The empty store under test (subclasses override this fixture)."""
        raise NotImplementedError(f"{type(self).__name__} must define a 'store' fixture")

    def set_back_door(self, store: Store, key: str, value: bytes) -> None:
        """Write ``value`` under ``key`` of ``store``'s root, not through ``store``."""
        raise NotImplementedError(f"{type(self).__name__} must define set_back_door")

    def get_back_door(self, store: Store, key: str) -> bytes | None:
        """The bytes under ``key`` of ``store``'s root (``None`` if absent), not through ``store``."""
        raise NotImplementedError(f"{type(self).__name__} must define get_back_door")

    def _require(self, store: Store, capability: str) -> None:
        if not getattr(store, capability):
            pytest.skip(f"{type(store).__name__} declares {capability} = False")

    # -- capabilities -------------------------------------------------------------------

    @pytest.mark.parametrize(
        "capability",
        [
            "supports_partial_reads", "supports_concurrent_requests", "supports_listing", "supports_deletes",
            "supports_conditional_writes", "supports_node_replace", "supports_multiprocess_writes",
        ],
    )
    def test_capabilities_are_declared_as_bools(self, store: Store, capability: str) -> None:
        assert isinstance(getattr(store, capability), bool)

    # -- get, set, exists ---------------------------------------------------------------

    def test_get_of_a_missing_key_is_none(self, store: Store) -> None:
        assert store.get("missing") is None
        assert not store.exists("missing")

    @pytest.mark.parametrize("key", KEYS)
    def test_get_reads_what_the_back_door_wrote(self, store: Store, key: str) -> None:
        self.set_back_door(store, key, b"written behind its back")
        assert store.get(key) == b"written behind its back"
        assert store.exists(key)

    @pytest.mark.parametrize("kind", list(VALUES))
    @pytest.mark.parametrize("key", ["zarr.json", "a/b/c"])
    def test_set_writes_what_the_back_door_reads(self, store: Store, key: str, kind: str) -> None:
        value = VALUES[kind]()
        expected = bytes(memoryview(value).cast("B"))
        store.set(key, value)
        assert self.get_back_door(store, key) == expected
        got = store.get(key)
        assert got is not None and bytes(got) == expected

    def test_set_replaces_the_whole_object(self, store: Store) -> None:
        store.set("k", b"a long first version")
        store.set("k", b"short")
        assert self.get_back_door(store, "k") == b"short"

    def test_a_prefix_of_keys_is_no_object(self, store: Store) -> None:
        self.set_back_door(store, "a/b/c", b"1")
        assert store.get("a/b") is None
        assert not store.exists("a/b")
        assert store.get_range("a/b", 0, 1) is None

    def test_get_many_keeps_order_and_gives_none_for_missing(self, store: Store) -> None:
        keys = [f"c/{i}" for i in range(40)]
        for i, key in enumerate(keys):
            if i % 3:
                self.set_back_door(store, key, f"chunk {i}".encode())
        got = store.get_many(keys)
        assert len(got) == len(keys)
        for i, value in enumerate(got):
            expected = None if i % 3 == 0 else f"chunk {i}".encode()
            assert (None if value is None else bytes(value)) == expected, keys[i]

    # -- byte ranges --------------------------------------------------------------------

    @pytest.mark.parametrize("start,length", RANGES)
    def test_get_range_cuts_like_python_slicing(self, store: Store, start: int, length: int | None) -> None:
        self.set_back_door(store, "c/0", DATA)
        assert store.get_range("c/0", start, length) == _cut(DATA, start, length)

    @pytest.mark.parametrize("start,length", [(0, None), (0, 0), (0, 5), (-5, None)])
    def test_get_range_of_an_empty_object_is_empty(self, store: Store, start: int, length: int | None) -> None:
        self.set_back_door(store, "e", b"")
        assert store.get_range("e", start, length) == b""

    def test_get_ranges_in_order(self, store: Store) -> None:
        self.set_back_door(store, "shard", DATA)
        ranges = [(start, length) for start, length in RANGES if length is not None]
        assert store.get_ranges("shard", ranges) == [_cut(DATA, s, n) for s, n in ranges]

    def test_ranges_of_a_missing_key_are_none(self, store: Store) -> None:
        assert store.get_range("missing", 0, 4) is None
        assert store.get_ranges("missing", [(0, 4), (4, 4)]) is None

    # -- set_many, delete, clear --------------------------------------------------------

    def test_set_many_writes_every_value(self, store: Store) -> None:
        items = {f"c/{i}/{kind}": VALUES[kind]() for i in range(8) for kind in VALUES}
        store.set_many(items)
        for key, value in items.items():
            assert self.get_back_door(store, key) == bytes(memoryview(value).cast("B"))

    def test_set_parts_writes_each_object_joined(self, store: Store) -> None:
        """An object given in pieces (a shard's inner chunks and index) is stored as their join."""
        items = {
            "c/0/0": [VALUES[kind]() for kind in VALUES],
            "c/0/1": [b"one piece"],
            "c/1/0": [b"", np.arange(6, dtype="<u2").reshape(2, 3), b"", memoryview(b"tail")],
        }
        store.set_parts({k: list(v) for k, v in items.items()})
        for key, parts in items.items():
            assert self.get_back_door(store, key) == b"".join(bytes(memoryview(p).cast("B")) for p in parts)

    def test_delete_removes_one_key(self, store: Store) -> None:
        self._require(store, "supports_deletes")
        self.set_back_door(store, "c/0/0", b"0")
        self.set_back_door(store, "c/0/1", b"1")
        store.delete("c/0/0")
        assert self.get_back_door(store, "c/0/0") is None
        assert self.get_back_door(store, "c/0/1") == b"1"

    def test_delete_of_a_missing_key_is_fine(self, store: Store) -> None:
        self._require(store, "supports_deletes")
        store.delete("missing")
        store.delete("missing/nested")

    def test_clear_removes_only_what_is_under_the_root(self, store: Store) -> None:
        self._require(store, "supports_deletes")
        parent = store.parent()
        assert parent is not None, "the store fixture must be rooted below the top"
        # The sibling's name starts with this store's name: a clear that matches on a
        # string prefix instead of a path would take it too.
        sibling = parent.child(store.name + "2")
        for key in ("zarr.json", "c/0/0", "a/b/c"):
            self.set_back_door(store, key, b"mine")
        self.set_back_door(sibling, "zarr.json", b"sibling")
        self.set_back_door(parent, "zarr.json", b"parent")
        store.clear()
        assert all(self.get_back_door(store, k) is None for k in ("zarr.json", "c/0/0", "a/b/c"))
        assert self.get_back_door(sibling, "zarr.json") == b"sibling"
        assert self.get_back_door(parent, "zarr.json") == b"parent"
        store.clear()  # clearing an empty store is fine

    # -- listing ------------------------------------------------------------------------

    def test_is_empty(self, store: Store) -> None:
        self._require(store, "supports_listing")
        assert store.is_empty()
        self.set_back_door(store, "a/b", b"1")
        assert not store.is_empty()
        if store.supports_deletes:
            store.clear()
            assert store.is_empty()

    def test_list_dir_names_the_level_below_the_root(self, store: Store) -> None:
        self._require(store, "supports_listing")
        assert store.list_dir() == []
        for key in ("zarr.json", "c/0/0", "c/1/0", "g/zarr.json"):
            self.set_back_door(store, key, b"1")
        assert store.list_dir() == ["c", "g", "zarr.json"]
        assert store.child("c").list_dir() == ["0", "1"]

    def test_list_keys_names_every_object_at_any_depth(self, store: Store) -> None:
        """What ``mode="w"`` walks before it deletes anything: every object, no folders."""
        self._require(store, "supports_listing")
        assert store.list_keys() == []
        keys = ["zarr.json", "c/0/0", "c/1/0", "g/zarr.json", "g/h/.zarray", "notes.txt"]
        for key in keys:
            self.set_back_door(store, key, b"1")
        assert store.list_keys() == sorted(keys)
        assert store.child("g").list_keys() == ["h/.zarray", "zarr.json"]

    # -- conditional writes -------------------------------------------------------------

    def test_set_if_unchanged_creates_only_where_nothing_is(self, store: Store) -> None:
        assert store.set_if_unchanged("zarr.json", b"first", None) is True
        assert self.get_back_door(store, "zarr.json") == b"first"
        assert store.set_if_unchanged("zarr.json", b"second", None) is False
        assert self.get_back_door(store, "zarr.json") == b"first"

    @pytest.mark.parametrize("kind", ["bytes", "numpy-uint8", "empty"])
    def test_set_if_unchanged_replaces_what_it_expected(self, store: Store, kind: str) -> None:
        self.set_back_door(store, "g/zarr.json", b"v1")
        value = VALUES[kind]()
        assert store.set_if_unchanged("g/zarr.json", value, b"v1") is True
        assert self.get_back_door(store, "g/zarr.json") == bytes(memoryview(value).cast("B"))

    @pytest.mark.parametrize("expected", [b"v0", b"v1 but longer", b""])
    def test_set_if_unchanged_leaves_a_changed_object_alone(self, store: Store, expected: bytes) -> None:
        self.set_back_door(store, "zarr.json", b"v1")
        assert store.set_if_unchanged("zarr.json", b"mine", expected) is False
        assert self.get_back_door(store, "zarr.json") == b"v1"
        # Expecting an object where there is none is a lost race too.
        assert store.set_if_unchanged("missing.json", b"mine", b"v1") is False
        assert self.get_back_door(store, "missing.json") is None

    @pytest.mark.parametrize("initial", [None, b"v0"])
    def test_of_racing_conditional_writers_exactly_one_wins(self, store: Store, initial: bytes | None) -> None:
        """Where declared atomic, exactly one wins; else (compare, then set) at least one does,
        and the object holds a winner's whole value."""
        if initial is not None:
            self.set_back_door(store, "zarr.json", initial)
        writers = 8
        barrier = threading.Barrier(writers)
        results: list[bool] = [False] * writers

        def race(i: int) -> None:
            barrier.wait()
            results[i] = store.set_if_unchanged("zarr.json", f"writer {i}".encode(), initial)

        threads = [threading.Thread(target=race, args=(i,)) for i in range(writers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        winners = [f"writer {i}".encode() for i, won in enumerate(results) if won]
        assert len(winners) == 1 if store.supports_conditional_writes else len(winners) >= 1, results
        assert self.get_back_door(store, "zarr.json") in winners

    # -- navigation, names, tokens ------------------------------------------------------

    @pytest.mark.parametrize("name", ["..", "../x", "a/../../x", ".", "a//b", "/etc", "a\\b", "a\x00b", ""])
    def test_child_refuses_names_that_leave_the_node(self, store: Store, name: str) -> None:
        """No member name resolves outside the store's root (member_path is the one check)."""
        with pytest.raises(ZarrioError, match="member name"):
            store.child(name)

    def test_replace_node_swaps_a_staged_sibling_in(self, store: Store) -> None:
        """What ``mode="w"`` relies on to keep the old array readable until the new one is whole;
        a store that does not declare it refuses, changing nothing."""
        self.set_back_door(store, "old/zarr.json", b"old")
        self.set_back_door(store, "old/c/0", b"0")
        self.set_back_door(store, "new/zarr.json", b"new")
        if not store.supports_node_replace:
            with pytest.raises(NotImplementedError, match="supports_node_replace"):
                store.child("old").replace_node(store.child("new"))
            assert store.get("old/zarr.json") == b"old" and store.get("new/zarr.json") == b"new"
            return
        store.child("old").replace_node(store.child("new"))
        assert store.get("old/zarr.json") == b"new"
        assert store.get("old/c/0") is None
        assert store.child("new").is_empty()
        assert store.list_dir() == ["old"]

    def test_child_parent_and_name(self, store: Store) -> None:
        self.set_back_door(store, "x/y/k", b"deep")
        child = store.child("x")
        assert child.name == "x"
        assert store.child("x/y").name == "y"
        assert child.get("y/k") == b"deep"
        assert child.child("y").get("k") == b"deep"
        back = child.parent()
        assert back is not None
        assert back.get("x/y/k") == b"deep"
        assert back.describe() == store.describe()
        assert back.token() == store.token()

    def test_describe_and_repr_show_the_location_and_no_secrets(self, store: Store) -> None:
        where = store.describe("c/0/1")
        assert where.endswith("c/0/1")
        assert where.startswith(store.describe())
        assert store.describe() in repr(store)
        texts = [repr(store), where, store.token(), repr(store.child("a")), store.child("a").token()]
        for secret in self.secrets:
            assert all(secret not in text for text in texts), secret

    def test_token_is_stable_and_distinct_for_distinct_roots(self, store: Store) -> None:
        assert store.token() == store.token()
        assert store.child("a").token() == store.child("a").token()
        tokens = {store.token(), store.child("a").token(), store.child("b").token(), store.child("a/b").token()}
        assert len(tokens) == 4

    # -- pickling -----------------------------------------------------------------------

    @pytest.mark.parametrize("operation", ["get", "get_many", "get_range", "exists", "list_dir", "describe", "set"])
    def test_a_pickled_store_behaves_the_same(self, store: Store, operation: str) -> None:
        self.set_back_door(store, "zarr.json", b'{"zarr_format": 3}')
        self.set_back_door(store, "c/0", DATA)
        clone = pickle.loads(pickle.dumps(store))
        assert type(clone) is type(store)
        checks: dict[str, Callable[[Store], Any]] = {
            "get": lambda s: s.get("zarr.json"),
            "get_many": lambda s: [None if v is None else bytes(v) for v in s.get_many(["c/0", "missing"])],
            "get_range": lambda s: s.get_range("c/0", 10, 20),
            "exists": lambda s: (s.exists("c/0"), s.exists("missing")),
            "list_dir": lambda s: s.list_dir() if s.supports_listing else None,
            "describe": lambda s: (s.describe("c/0"), repr(s), s.name),
        }
        if operation == "set":
            clone.set("from-clone", b"1")
            assert (self.get_back_door(store, "from-clone") == b"1") is self.pickle_shares_data
        else:
            assert checks[operation](clone) == checks[operation](store)
