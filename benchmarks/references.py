"""Reading through kerchunk references vs the same data converted to native Zarr.

Two NetCDF4/HDF5 files (float32, shuffle + zlib, chunked), one kerchunk JSON reference
set stacking them along the first axis, and a native Zarr v2 copy written by
``dz.write`` with the same chunks and codecs. Times ``.sum()`` of both (rounds interleaved)
over row bands (the files' chunk order; one band straddles the files) and counts the requests
each block sends through the references (goal: at most the distinct source files it touches),
and again for half-width column blocks, whose chunks lie further apart in each file than the
coalescing gap. Needs the test extra (h5py, kerchunk); skipped with a note otherwise.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dask
import numpy as np

import dask_zarrio as dz
from dask_zarrio.store.backends.references import ReferenceStore

Cases = dict[str, tuple[Callable[[], object], Callable[[], object] | None]]


def make_files(scratch: Path, rows: int, cols: int, chunk: int) -> dict[str, Any]:
    """Two HDF5 files of ``rows`` x ``cols`` float32 and references stacking them (rows * 2)."""
    import h5py
    from kerchunk.hdf import SingleHdf5ToZarr

    refs: dict[str, Any] = {}
    for n, name in enumerate(("a", "b")):
        path = scratch / f"refs-{name}.h5"
        rng = np.random.default_rng(n)
        data = np.round(280 + rng.normal(0, 0.5, (rows, cols)), 2).astype("f4")
        with h5py.File(path, "w") as f:
            f.create_dataset(
                "v", data=data, chunks=(chunk, chunk), shuffle=True, compression="gzip", compression_opts=1
            )
        one = SingleHdf5ToZarr(str(path), inline_threshold=0).translate()["refs"]
        shift = n * (rows // chunk)
        for key, value in one.items():
            if key.startswith("v/") and isinstance(value, list):
                i, j = key[2:].split(".")
                refs[f"v/{int(i) + shift}.{j}"] = value
            elif n == 0:
                refs[key] = value
    meta = json.loads(refs["v/.zarray"])
    meta["shape"] = [2 * rows, cols]
    refs["v/.zarray"] = json.dumps(meta)
    return {"version": 1, "refs": refs}


def run(scratch: Path, rounds: int, interleaved: Callable[[Cases, int], dict[str, float]],
        rows: int = 4096, cols: int = 4096, chunk: int = 512) -> tuple[dict[str, float], list[str], int]:
    """(rows, notes, bytes): seconds per contender (dz through references first), and notes."""
    try:
        document = make_files(scratch, rows, cols, chunk)
    except ImportError as e:
        return {}, [f"note: references case skipped ({e}); pip install -e '.[test]'"], 0
    fo = scratch / "refs.json"
    fo.write_text(json.dumps(document))
    url, native = "reference://v", str(scratch / "refs-native.zarr")
    options = {"fo": str(fo)}
    # The same codecs (shuffle + zlib), so that the rows differ by the read path alone.
    dz.write(dz.read(url, storage_options=options), native, mode="w", zarr_format=2, chunks=(chunk, chunk),
             filters=[{"id": "shuffle", "elementsize": 4}], compressors={"id": "zlib", "level": 1})
    # Row bands, as the files lay their chunks out (C order): one band straddles the two files.
    bands = (chunk, *(2 * chunk,) * ((2 * rows - 2 * chunk) // (2 * chunk)), chunk)
    block: Any = (bands, cols)
    cases: Cases = {
        "dz.read(reference://).sum()": (
            lambda: dz.read(url, chunks=block, storage_options=options).sum().compute(), None),
        "dz.read(native copy).sum()": (lambda: dz.read(native, chunks=block).sum().compute(), None),
    }
    seconds = interleaved(cases, rounds)
    requests, touched = _requests_per_block(url, options, block, rows)
    strip_requests, strip_touched = _requests_per_block(url, options, (2 * rows, cols // 2), rows)
    ratio = seconds["dz.read(native copy).sum()"] / seconds["dz.read(reference://).sum()"]
    notes = [
        f"references: 2 HDF5 files of {rows}x{cols} float32 (shuffle+zlib, {chunk}x{chunk} chunks); "
        f"through references {ratio:.2f} x the native Zarr copy's speed (goal >= 0.9)",
        f"references: row-band blocks: {requests} requests for {len(bands)} blocks touching {touched} "
        f"(block, file) pairs (goal: requests <= pairs)",
        f"references: half-width column blocks: {strip_requests} requests for {strip_touched} (block, file) "
        "pairs: a file's chunks of one block lie more than coalesce-gap apart (raise "
        "dask_zarrio.references.coalesce-gap to read the gaps instead)",
    ]
    return seconds, notes, 2 * rows * cols * 4


def _requests_per_block(url: str, options: dict[str, Any], block: Any, rows: int) -> tuple[int, int]:
    """Requests sent through the references while reading every block once, and how many
    (block, source file) pairs there are (the first file holds rows ``[0, rows)``)."""
    sent: list[int] = []
    original = ReferenceStore._send

    def counting(self: ReferenceStore, requests: list[Any]) -> list[Any]:
        sent.append(len(requests))
        return original(self, requests)

    ReferenceStore._send = counting  # type: ignore[method-assign]
    try:
        x = dz.read(url, chunks=block, storage_options=options)
        with dask.config.set(scheduler="threads"):
            x.sum().compute()
    finally:
        ReferenceStore._send = original  # type: ignore[method-assign]
    starts = np.cumsum((0, *x.chunks[0]))
    files = sum(int(lo < rows) + int(hi > rows) for lo, hi in zip(starts[:-1], starts[1:]))
    return sum(sent), files * len(x.chunks[1])
