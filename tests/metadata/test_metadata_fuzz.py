"""Fuzzed metadata documents: every mutation of a valid document reads or raises a ZarrioError.

Valid v2, v3, sharded v3 and N5 arrays are written with their chunks; then one field
of the metadata document is dropped or replaced (wrong types, nested junk, huge and
negative integers) and ``dz.read(...).compute()`` must either give an array of the
declared shape and dtype or raise a :class:`~dask_zarrio.errors.ZarrioError`, quickly.
zarr-python has the same class of bugs (OverflowError from fill values:
zarr-python#1981, #342); the hand-picked cases are in tests/test_metadata_hostile.py.
"""

from __future__ import annotations

import json
import time
from functools import cache
from typing import Any

import dask.array as da
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dask_zarrio as dz
from dask_zarrio.errors import ZarrioError

#: (zarr_format, dz.write keywords, metadata key) of each fuzzed layout.
LAYOUTS = {
    "v2": (2, {"chunks": (2, 4)}, ".zarray"),
    "v3": (3, {"chunks": (2, 4)}, "zarr.json"),
    "v3-sharded": (3, {"chunks": (2, 2), "shards": (4, 4)}, "zarr.json"),
    "n5": ("n5", {"chunks": (2, 4)}, "attributes.json"),
}
#: Computing is skipped above this (the lazy array's shape and dtype are still checked).
MAX_COMPUTE_BYTES = 64 * 2**20

EXTREME_INTS = st.sampled_from([0, -1, -(2**63), 2**31, 2**32 + 1, 2**63 - 1, 2**63, 2**64, 10**30, 10**400])
SCALARS = st.one_of(
    st.none(), st.booleans(), st.text(max_size=6), EXTREME_INTS, st.integers(-3, 70),
    st.floats(allow_nan=True, allow_infinity=True),
    # Values valid somewhere else in a document, so that mutations also reach deeper checks.
    st.sampled_from(["<M8[s]", "<f8", "|S3", "float64", "complex64", "r16", "NaN", "0x7fc00001", "bytes"]),
)
JUNK = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=4), inner, max_size=3)), max_leaves=6)


@cache
def _valid(layout: str) -> tuple[dict[str, bytes], dict[str, Any]]:
    """The written store of ``layout`` (chunks included) and its metadata document."""
    fmt, kwargs, key = LAYOUTS[layout]
    mapping: dict[str, bytes] = {}
    data = da.arange(48, dtype="i4").reshape(6, 8).rechunk((2, 4))
    dz.write(data, mapping, zarr_format=fmt, **kwargs)
    return mapping, json.loads(mapping[key])


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON document: dict keys and list indices, nested."""
    out = [prefix] if prefix else []
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _paths(v, (*prefix, i))
    return out


def _mutate(doc: Any, path: tuple[Any, ...], value: Any, drop: bool) -> Any:
    doc = json.loads(json.dumps(doc))
    parent = doc
    for part in path[:-1]:
        parent = parent[part]
    if drop:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return doc


@st.composite
def mutations(draw: Any, layout: str) -> tuple[dict[str, Any], tuple[tuple[Any, ...], ...]]:
    _, doc = _valid(layout)
    paths = []
    for _ in range(draw(st.integers(1, 2))):  # two at once reach pairs: dtype with fill_value
        path = draw(st.sampled_from(_paths(doc)))
        doc = _mutate(doc, path, draw(JUNK), drop=draw(st.booleans()))
        paths.append(path)
    return doc, tuple(paths)


def _check(layout: str, doc: dict[str, Any]) -> None:
    mapping, _ = _valid(layout)
    store = dict(mapping)
    store[LAYOUTS[layout][2]] = json.dumps(doc).encode()
    start = time.perf_counter()
    try:
        x = dz.read(store)
        if x.nbytes <= MAX_COMPUTE_BYTES:
            out = x.compute()
            assert out.shape == x.shape and out.dtype == x.dtype
        assert all(isinstance(n, int) for n in x.shape)
    except ZarrioError:
        pass
    assert time.perf_counter() - start < 10, doc


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_mutated_document_reads_or_raises_zarrio_error(layout):
    @settings(max_examples=200, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(mutation=mutations(layout))
    def run(mutation: tuple[dict[str, Any], tuple[tuple[Any, ...], ...]]) -> None:
        _check(layout, mutation[0])

    run()


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_unmutated_document_reads_back(layout):
    mapping, _ = _valid(layout)
    assert (dz.read(dict(mapping)).compute() == np.arange(48, dtype="i4").reshape(6, 8)).all()
