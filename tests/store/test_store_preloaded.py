"""PreloadedStore: reads of held objects cost no request, bounds still hold, writes forget what they replace;
fetch_many / map_concurrently: one step's many small requests in flight together."""

from __future__ import annotations

import pickle
import threading
import time

import dask
import pytest

from dask_zarrio.errors import StoreError, ZarrioError
from dask_zarrio.store import MappingStore
from dask_zarrio.store.support.preloaded import PreloadedStore
from dask_zarrio.store.support.requests import fetch_many, map_concurrently
from dask_zarrio.testing import CountingStore


def _held() -> tuple[CountingStore, PreloadedStore]:
    inner = CountingStore(MappingStore({"a": b"stale", "b": b"22", "x/c": b"333"}))
    return inner, PreloadedStore(inner, {"a": b"0123456789", "gone": None, "x/c": b"held"})


def test_held_objects_are_answered_from_memory():
    inner, store = _held()
    assert store.get("a") == b"0123456789" and store.get("gone") is None
    assert store.get_many(["a", "b", "gone"]) == [b"0123456789", b"22", None]
    assert store.exists("a") and not store.exists("gone") and store.exists("b")
    assert store.get_range("a", 2, 3) == b"234" and store.get_range("a", -2) == b"89"
    assert store.get_ranges("a", [(0, 1), (9, 5)]) == [b"0", b"9"]
    assert store.get_range("gone", 0, 1) is None
    assert dict(inner.gets) == {"b": 1} and dict(inner.counters["exists"]) == {"b": 1}
    assert not inner.counters["get_range"]


@pytest.mark.parametrize("read", ["get", "get_many"])
def test_a_held_object_over_the_limit_is_refused(read):
    _, store = _held()
    with pytest.raises(StoreError, match="'a'|a"):
        store.get("a", limit=4) if read == "get" else store.get_many(["a"], limit=4)


@pytest.mark.parametrize("write", ["set", "set_many", "set_if_unchanged", "delete", "clear"])
def test_a_write_forgets_what_was_held(write):
    inner, store = _held()
    {"set": lambda: store.set("a", b"new"), "set_many": lambda: store.set_many({"a": b"new"}),
     "set_if_unchanged": lambda: store.set_if_unchanged("a", b"new", b"stale"),
     "delete": lambda: store.delete("a"), "clear": store.clear}[write]()
    assert store.get("a") == (None if write in ("delete", "clear") else b"new")


def test_children_hold_their_part_and_it_pickles():
    _, store = _held()
    child = store.child("x")
    assert child.objects == {"c": b"held"} and child.get("c") == b"held"
    again = pickle.loads(pickle.dumps(store))
    assert again.get("a") == b"0123456789" and again.describe() == store.describe()
    assert store.token() == store.inner.token() and store.location() == store.inner.location()
    assert store.list_dir() == ["a", "b", "x"] and store.parent() is None
    with pytest.raises(ZarrioError, match="member name"):
        store.child("../x")


class _Slow(MappingStore):
    """Overlaps requests; each get_many takes 0.1 s; records how many ran at once."""

    def __init__(self, data):
        super().__init__(data)
        self.lock, self.now, self.most, self.calls = threading.Lock(), 0, 0, 0

    @property
    def supports_concurrent_requests(self) -> bool:
        return True

    def get_many(self, keys, limit=None):
        with self.lock:
            self.now += 1
            self.calls += 1
            self.most = max(self.most, self.now)
        time.sleep(0.1)
        with self.lock:
            self.now -= 1
        return [self.get(k, limit) for k in keys]


def test_fetch_many_keeps_one_steps_requests_in_flight_together():
    """100 keys, 16 a call: 7 calls at once (one round trip), answers in order; a tighter
    metadata limit makes fewer calls of more keys each."""
    store = _Slow({f"k{i}": str(i).encode() for i in range(100)})
    t = time.perf_counter()
    assert fetch_many(store, [f"k{i}" for i in range(101)]) == [str(i).encode() for i in range(100)] + [None]
    assert time.perf_counter() - t < 0.35 and store.calls == 7 and store.most == 7
    store.calls = store.most = 0
    with dask.config.set({"dask_zarrio.metadata-requests-in-flight": 32}):
        fetch_many(store, [f"k{i}" for i in range(100)])
    assert store.calls == 2


def test_stores_that_answer_in_turn_are_asked_in_turn():
    store = CountingStore(MappingStore({"a": b"1"}))
    assert fetch_many(store, ["a", "b"]) == [b"1", None]
    assert map_concurrently(store, store.exists, ["a", "b"]) == [True, False]


@pytest.mark.parametrize("value", [0, -1, "many", 1.5, True])
def test_a_bad_metadata_requests_in_flight_is_named(value):
    store = _Slow({})
    with dask.config.set({"dask_zarrio.metadata-requests-in-flight": value}):
        with pytest.raises(ZarrioError, match="metadata-requests-in-flight"):
            fetch_many(store, ["a", "b"])
