"""Every operation on every kind of array (issue 27): chunk grids, formats and data types
reach read, write, region write, append, copy, rechunk, verify and plan alike.

Each family is a small array stored one way; each operation runs on it and the data
read back must equal the expected numpy array. Combinations a format cannot store
(shards or irregular chunks outside Zarr v3, strings and structs in N5) must fail
with a clear :class:`dask_zarrio.ZarrioError`, never skip.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import dask.array as da
import numpy as np
import pytest
from conftest import assert_same

import dask_zarrio as dz

SHAPE = (16, 16)
N = SHAPE[0] * SHAPE[1]
STRUCT = np.dtype([("a", "<i4"), ("b", "<f8")])


def _values(kind: str, offset: int = 0) -> np.ndarray:
    """``SHAPE`` distinct, non-fill values of ``kind`` (``offset`` gives other ones)."""
    n = np.arange(N) + 1 + offset
    if kind == "fixed":
        return np.array([f"s{i}" for i in n], "<U5").reshape(SHAPE)
    if kind == "variable":
        return np.array(["x" * (i % 4) + str(i) for i in n], object).reshape(SHAPE)
    if kind == "struct":
        out = np.zeros(N, STRUCT)
        out["a"], out["b"] = n, n / 2
        return out.reshape(SHAPE)
    return n.astype("i4").reshape(SHAPE)


@dataclass(frozen=True)
class Family:
    """How an array of this family is written, and what an undecoded copy of it does."""

    kind: str
    write: dict[str, Any] = field(default_factory=dict)
    #: The pass kind of ``dz.copy`` with nothing changed: "copy" (stored bytes), or
    #: "decode" where bytes cannot be proved to read the same (N5's short edge blocks,
    #: strings and structs).
    undecoded: str = "copy"
    #: The target chunks of a rechunk: each axis regular.
    chunks: tuple[int, ...] = (16, 1)


FAMILIES = {
    "regular-v3": Family("int", {"chunks": (2, 16)}),
    "rectilinear-v3": Family("int", {"chunks": ((1, 3, 2, 3, 3, 2, 2), (6, 10))}),
    "sharded-v3": Family("int", {"chunks": (2, 8), "shards": (4, 16)}),
    "rectilinear-sharded-v3": Family("int", {"chunks": (2, 8), "shards": ((2, 4, 2, 6, 2), 16)}),
    "v2": Family("int", {"chunks": (2, 16), "zarr_format": 2}),
    "n5": Family("int", {"chunks": (2, 16), "zarr_format": "n5"}, undecoded="decode"),
    "fixed-strings": Family("fixed", {"chunks": (2, 16)}, undecoded="decode"),
    "variable-strings": Family("variable", {"chunks": (2, 16)}, undecoded="decode"),
    "struct": Family("struct", {"chunks": (2, 16)}, undecoded="decode"),
}


def _stored(family: Family, url: str) -> np.ndarray:
    data = _values(family.kind)
    dz.write(data, url, **family.write)
    return data


def _read(url: str) -> np.ndarray:
    return np.asarray(dz.read(url).compute())


def op_read(family: Family, src: str, tmp: Any) -> tuple[np.ndarray, np.ndarray]:
    # Blocks that cut stored chunks (and shards) and a slice: partial reads of every kind
    data = _values(family.kind)
    return np.asarray(dz.read(src, chunks=(5, 7))[1:14, 3:15].compute()), data[1:14, 3:15]


def op_write(family: Family, src: str, tmp: Any) -> tuple[np.ndarray, np.ndarray]:
    data = _values(family.kind, 1000)
    url = str(tmp / "w.zarr")  # dask blocks that cut the stored chunks: the plan aligns them
    dz.write(da.from_array(data, chunks=(5, 7)), url, **family.write)
    return _read(url), data


def op_region(family: Family, src: str, tmp: Any) -> tuple[np.ndarray, np.ndarray]:
    expected = _values(family.kind)
    patch = _values(family.kind, 1000)[3:10, 2:13]
    expected[3:10, 2:13] = patch  # edges inside chunks: read, merged and rewritten
    dz.write(da.from_array(patch, chunks=(4, 5)), src, region=(slice(3, 10), slice(2, 13)), mode="r+")
    return _read(src), expected


def op_append(family: Family, src: str, tmp: Any) -> tuple[np.ndarray, np.ndarray]:
    # Blocks of whole inner chunks: a rectilinear grid of shards grows by the appended blocks
    # (test_rectilinear.py checks that one splitting inner chunks is refused)
    more = _values(family.kind, 1000)[:6]
    dz.write(da.from_array(more, chunks=(4, 16)), src, mode="a", append_dim=0)
    return _read(src), np.concatenate([_values(family.kind), more])


def _copy(family: Family, src: str, tmp: Any, kind: str, **kw: Any) -> tuple[np.ndarray, np.ndarray]:
    url = str(tmp / "c.zarr")
    assert dz.plan("copy", src, url, **kw).arrays[0].passes[0].kind == kind
    dz.copy(src, url, **kw)
    assert dz.read(url).chunks == dz.read(src).chunks  # the grid is kept
    return _read(url), _values(family.kind)


def op_copy_undecoded(family: Family, src: str, tmp: Any) -> tuple[np.ndarray, np.ndarray]:
    return _copy(family, src, tmp, family.undecoded)


def op_copy_decoded(family: Family, src: str, tmp: Any) -> tuple[np.ndarray, np.ndarray]:
    return _copy(family, src, tmp, "decode", compressors=None)


def op_rechunk_one_pass(family: Family, src: str, tmp: Any) -> tuple[np.ndarray, np.ndarray]:
    url = str(tmp / "r.zarr")
    job = dz.rechunk(src, url, family.chunks, compute=False)
    assert job is not None and len(job.plan.passes) == 1
    job.compute()
    assert dz.read(url).chunksize == family.chunks
    return _read(url), _values(family.kind)


def op_rechunk_two_passes(family: Family, src: str, tmp: Any) -> tuple[np.ndarray, np.ndarray]:
    # The smallest max_mem that a plan fits is one that makes a task decode each source chunk
    # many times over: the plan goes through an intermediate array in temp.
    url, temp = str(tmp / "r.zarr"), str(tmp / "temp")
    for max_mem in range(256, 8192, 64):
        try:
            job = dz.rechunk(src, url, family.chunks, max_mem=max_mem, temp=temp, compute=False)
        except dz.ZarrioError:
            continue  # too small for one task
        assert job is not None
        if len(job.plan.passes) == 2:
            break
    else:
        pytest.fail("no max_mem gives a two-pass plan: the family's chunks no longer make one")
    job.compute()
    assert dz.read(url).chunksize == family.chunks
    return _read(url), _values(family.kind)


def op_verify(family: Family, src: str, tmp: Any) -> tuple[np.ndarray, np.ndarray]:
    report = dz.verify(src)
    assert report.problems == []
    counts = report.arrays["/"]
    assert counts["chunks_checked"] == counts["chunks_expected"] > 0
    return _read(src), _values(family.kind)


def op_plan(family: Family, src: str, tmp: Any) -> tuple[np.ndarray, np.ndarray]:
    for operation in ("copy", "rechunk"):
        plan = dz.plan(operation, src, str(tmp / "p.zarr"), chunks=family.chunks)
        assert plan.passes >= 1 and plan.tasks > 0 and plan.bytes_read > 0 and plan.bytes_written > 0
        assert plan.requests["get"] > 0 and plan.requests["put"] > 0
    assert not (tmp / "p.zarr").exists()  # a plan writes nothing
    return _read(src), _values(family.kind)


OPERATIONS: dict[str, Callable[[Family, str, Any], tuple[np.ndarray, np.ndarray]]] = {
    "read": op_read,
    "write": op_write,
    "region-write": op_region,
    "append": op_append,
    "copy-undecoded": op_copy_undecoded,
    "copy-decoded": op_copy_decoded,
    "rechunk-one-pass": op_rechunk_one_pass,
    "rechunk-two-passes": op_rechunk_two_passes,
    "verify": op_verify,
    "plan": op_plan,
}


@pytest.mark.parametrize("operation", list(OPERATIONS))
@pytest.mark.parametrize("name", list(FAMILIES))
def test_every_operation_on_every_family(tmp_path, name, operation):
    family = FAMILIES[name]
    src = str(tmp_path / "src.zarr")
    _stored(family, src)
    actual, expected = OPERATIONS[operation](family, src, tmp_path)
    assert_same(actual, expected)


#: What copying each family to each format gives: None (it works) or the error's words.
CROSSINGS: dict[tuple[str, int | str], str | None] = {
    ("regular-v3", 2): None, ("regular-v3", "n5"): None,
    ("rectilinear-v3", 2): "irregular chunk lengths need zarr_format=3",
    ("rectilinear-v3", "n5"): "irregular chunk lengths need zarr_format=3",
    ("sharded-v3", 2): "sharding needs zarr_format=3",
    ("sharded-v3", "n5"): "cannot store: shards",
    ("rectilinear-sharded-v3", 2): "sharding needs zarr_format=3",
    ("rectilinear-sharded-v3", "n5"): "cannot store: shards",
    ("v2", 3): None, ("v2", "n5"): None,
    ("n5", 2): None, ("n5", 3): None,
    ("fixed-strings", 2): None, ("fixed-strings", "n5"): "cannot store: dtype",
    ("variable-strings", 2): None, ("variable-strings", "n5"): "cannot store: dtype",
    ("struct", 2): None, ("struct", "n5"): "cannot store: dtype",
}


@pytest.mark.parametrize(("name", "zarr_format"), list(CROSSINGS))
def test_a_copy_to_another_format_works_or_says_why_not(tmp_path, name, zarr_format):
    family = FAMILIES[name]
    src, url = str(tmp_path / "src.zarr"), str(tmp_path / "c.zarr")
    data = _stored(family, src)
    error = CROSSINGS[name, zarr_format]
    if error is not None:
        with pytest.raises(dz.ZarrioError, match=error):
            dz.copy(src, url, zarr_format=zarr_format)
        with pytest.raises(dz.ZarrioError, match=error):  # writing it there directly: the same words
            dz.write(data, url, mode="w", **{**family.write, "zarr_format": zarr_format})
        return
    dz.copy(src, url, zarr_format=zarr_format)
    assert_same(_read(url), data)
