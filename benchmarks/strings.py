"""String arrays: 1 M short strings, 10 % missing, read and written by dz vs zarr-python + dask.

"Missing" is the fill value ``""``: Zarr has no null string, and ``""`` is what both
zarr-python (``dtype=str``) and dz write as the fill value of a ``string`` array, so a
missing element costs four bytes (its zero length) in the ``vlen-utf8`` layout.
The data is a dask array of Python ``str`` objects (what ``dz.read`` and ``xr.open_zarr``
give); zarr-python gets it as it takes it (``StringDType`` for ``da.to_zarr``, which cannot
auto-chunk object arrays). Reads count the missing elements, a reduction over every string.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dask
import dask.array as da
import numpy as np

import dask_zarrio as dz

Cases = dict[str, tuple[Callable[[], object], Callable[[], object] | None]]


def make_strings(n: int, chunk: int, missing: float = 0.1) -> da.Array:
    """``n`` short ids (``"id-123456"``) in blocks of ``chunk``, a ``missing`` share of them ``""``."""

    def block(i: int, size: int) -> np.ndarray:
        rng = np.random.default_rng(i)
        out = np.array([f"id-{v}" for v in rng.integers(0, 10**6, size)], dtype=object)
        out[rng.random(size) < missing] = ""
        return out

    sizes = [min(chunk, n - start) for start in range(0, n, chunk)]
    return da.concatenate([da.from_delayed(dask.delayed(block)(i, s), (s,), object) for i, s in enumerate(sizes)])


def string_rows(scratch: Path, rounds: int, interleaved: Callable[[Cases, int], dict[str, float]],
                n: int = 10**6, chunk: int = 62_500) -> tuple[dict[str, float], dict[str, float], list[str], int]:
    """(read rows, write rows, notes, bytes), seconds per contender, rounds interleaved; dz's row first.

    The bytes are those of the ``vlen-utf8`` layout before compression (4 + UTF-8 length
    per string), so that the tables' GB/s compare with the numeric ones.
    """
    source = make_strings(n, chunk).persist()
    ours, theirs = str(scratch / "strings-dz.zarr"), str(scratch / "strings-zarr.zarr")
    dz.write(source, ours, mode="w", chunks=(chunk,))
    missing = int((source == "").sum().compute())
    nbytes = sum(4 + len(v.encode()) for v in source.compute())
    notes = [f"strings: {n} short strings, {missing} missing (''), chunks of {chunk}, vlen-utf8 + zstd"]
    reads: Cases = {"dz.read(url) == '' .sum()": (lambda: (dz.read(ours) == "").sum().compute(), None)}
    writes: Cases = {"dz.write": (lambda: dz.write(source, ours, mode="w", chunks=(chunk,)), lambda: _clean(ours))}
    try:
        import zarr
    except ImportError:
        notes.append("note: zarr-python not installed")
        return interleaved(reads, rounds), interleaved(writes, rounds), notes, nbytes
    as_string_dtype = source.astype(np.dtypes.StringDType()).persist()

    def create_and_store() -> None:
        arr: Any = zarr.create_array(theirs, shape=(n,), chunks=(chunk,), dtype=str, overwrite=True)
        da.store(source, arr, lock=False)  # what da.to_zarr does for an existing, aligned array

    create_and_store()
    reads["da.from_zarr(url) == '' .sum()"] = (lambda: (da.from_zarr(theirs) == "").sum().compute(), None)
    reads["da.from_zarr(dz's url) == '' .sum()"] = (lambda: (da.from_zarr(ours) == "").sum().compute(), None)
    writes["da.to_zarr (StringDType blocks)"] = (
        lambda: da.to_zarr(as_string_dtype, theirs, overwrite=True), lambda: _clean(theirs))
    writes["zarr.create_array(dtype=str) + da.store"] = (create_and_store, lambda: _clean(theirs))
    read_rows, write_rows = interleaved(reads, rounds), interleaved(writes, rounds)
    if int((dz.read(theirs) == "").sum().compute()) != missing:
        raise AssertionError("dz reads a different number of missing strings from zarr-python's array")
    return read_rows, write_rows, notes, nbytes


def _clean(url: str) -> None:
    shutil.rmtree(url, ignore_errors=True)
