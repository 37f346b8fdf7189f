"""``dz.advise``: which codecs suit this array, measured on a sample of its own chunks.

Candidate pipelines (numcodecs filters and a compressor, as ``dz.write`` takes them)
encode and decode the same sample of decoded chunks; the table gives the compression
ratio, encode and decode speed, and for lossy filters the largest error, sorted by the
objective. Only candidates whose decoded sample equals the original (lossless), or
stays within ``lossy_tolerance`` (quantize, bitround), are listed.
"""

from __future__ import annotations

import json
import math
import shlex
import time
from dataclasses import dataclass, field
from typing import Any

import numcodecs
import numpy as np

from ..errors import ZarrioError
from ..graph.tasks import read_chunk_at
from ..metadata import ArraySpec
from .info import classify_keys, open_node, require_array

__all__ = ["Advice", "advise", "candidates"]

OBJECTIVES = ("ratio", "encode", "decode", "balanced")
_MB = 1e6


def candidates(
    dtype: np.dtype[Any], lossy_tolerance: float | None = None, max_abs: float = 1.0
) -> list[tuple[list[Any], Any]]:
    """(filters, compressor) pairs to try: blosc lz4/zstd/zlib × shuffle/bitshuffle × levels, zstd, gzip.

    With ``lossy_tolerance`` on a float dtype, quantize and bitround filters (sized so
    the absolute error stays within it, for values up to ``max_abs``) before zstd and blosc.

    Examples
    --------
    >>> len(candidates(np.dtype("i4"))), len(candidates(np.dtype("f4"), 0.01)) > 24
    (24, True)
    """
    from numcodecs import GZip, Zstd
    from numcodecs.blosc import BITSHUFFLE, SHUFFLE, Blosc

    out: list[tuple[list[Any], Any]] = [
        ([], Blosc(cname=cname, clevel=level, shuffle=shuffle))
        for cname in ("lz4", "zstd", "zlib") for shuffle in (SHUFFLE, BITSHUFFLE) for level in (1, 5, 9)
    ]
    out += [([], Zstd(level=level)) for level in (1, 3, 9)]
    out += [([], GZip(level=level)) for level in (1, 5, 9)]
    if lossy_tolerance is not None and dtype.kind == "f":
        from numcodecs import BitRound, Quantize

        digits = max(0, math.ceil(-math.log10(lossy_tolerance)))
        mantissa = {2: 10, 4: 23, 8: 52}[dtype.itemsize]
        keep = min(mantissa, max(1, math.ceil(math.log2(max(max_abs, lossy_tolerance) / lossy_tolerance))))
        lossy = [Quantize(digits=digits, dtype=dtype.str), BitRound(keepbits=keep)]
        out += [([f], c) for f in lossy for c in (Zstd(level=3), Blosc(cname="zstd", clevel=5, shuffle=BITSHUFFLE))]
    return out


def _label(filters: list[Any], compressor: Any) -> str:
    def one(codec: Any) -> str:
        config = codec.get_config()
        name = config.pop("id")
        config.pop("blocksize", None)
        config.pop("typesize", None)
        shuffle = {0: "noshuffle", 1: "shuffle", 2: "bitshuffle", -1: "autoshuffle"}
        if "shuffle" in config:
            config["shuffle"] = shuffle.get(config["shuffle"], config["shuffle"])
        return f"{name}({', '.join(f'{k}={v}' for k, v in config.items())})"

    return " | ".join(one(c) for c in [*filters, compressor])


def measure(filters: list[Any], compressor: Any, sample: list[np.ndarray]) -> dict[str, Any]:
    """Ratio, encode/decode MB/s and largest absolute error of one pipeline on ``sample``."""
    raw = sum(a.nbytes for a in sample)
    start = time.perf_counter()
    encoded = []
    for arr in sample:
        data: Any = arr
        for f in filters:
            data = f.encode(data)
        encoded.append(compressor.encode(np.ascontiguousarray(data)))
    encode_s = time.perf_counter() - start
    start = time.perf_counter()
    error = 0.0
    for arr, enc in zip(sample, encoded):
        # Every candidate filter keeps the dtype, so the compressor gives back elements of it.
        out: Any = np.frombuffer(memoryview(compressor.decode(enc)).cast("B"), dtype=arr.dtype)
        for f in reversed(filters):
            out = f.decode(out)
        back = np.asarray(out, dtype=arr.dtype).reshape(arr.shape)
        if arr.dtype.kind == "f":
            diff = np.abs(back.astype("f8") - arr.astype("f8"))
            error = max(error, float(np.nanmax(diff)) if diff.size else 0.0)
        elif not np.array_equal(back, arr):
            error = math.inf
    decode_s = time.perf_counter() - start
    stored = sum(len(e) for e in encoded)
    return {
        "pipeline": _label(filters, compressor),
        "filters": [f.get_config() for f in filters],
        "compressor": compressor.get_config(),
        "stored_bytes": stored,
        "ratio": round(raw / stored, 3) if stored else math.inf,
        "encode_mb_s": round(raw / _MB / max(encode_s, 1e-9), 1),
        "decode_mb_s": round(raw / _MB / max(decode_s, 1e-9), 1),
        "max_error": error,
    }


@dataclass
class Advice:
    """The table of :func:`advise`, best first, and the ``dz copy`` line that applies the best."""

    url: str
    objective: str
    sampled_chunks: list[str]
    sample_bytes: int
    rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def best(self) -> dict[str, Any]:
        """The first row."""
        return self.rows[0]

    @property
    def command(self) -> str:
        """``dz copy`` with the best pipeline (DEST is for the user to choose)."""
        parts = ["dz", "copy", self.url, "DEST", "--compressors", json.dumps(self.best["compressor"])]
        if self.best["filters"]:
            parts += ["--filters", json.dumps(self.best["filters"])]
        return " ".join(shlex.quote(p) for p in parts)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable form (the ``dz advise --json`` schema)."""
        return {
            "url": self.url, "objective": self.objective, "sampled_chunks": self.sampled_chunks,
            "sample_bytes": self.sample_bytes, "rows": self.rows, "best": self.best, "command": self.command,
        }


def _score(rows: list[dict[str, Any]], objective: str) -> list[dict[str, Any]]:
    if objective == "balanced":
        top = {k: max(r[k] for r in rows) or 1.0 for k in ("ratio", "encode_mb_s", "decode_mb_s")}

        def key(r: dict[str, Any]) -> float:
            return -math.prod(r[k] / top[k] for k in top) ** (1 / 3)
    else:
        column = {"ratio": "ratio", "encode": "encode_mb_s", "decode": "decode_mb_s"}[objective]

        def key(r: dict[str, Any]) -> float:
            return -r[column]
    return sorted(rows, key=key)


def advise(
    url: Any,
    *,
    sample: int = 8,
    lossy_tolerance: float | None = None,
    objective: str = "ratio",
    storage_options: dict[str, Any] | None = None,
) -> Advice:
    """Try candidate codec pipelines on a sample of an array's stored chunks.

    Parameters
    ----------
    url
        An array (any URL :func:`dask_zarrio.read` takes).
    sample
        How many stored chunks (or shards) to decode and re-encode, spread evenly.
    lossy_tolerance
        For float arrays: also try quantize and bitround filters, keeping only those
        whose largest absolute error on the sample is at most this.
    objective
        Sort by ``"ratio"``, ``"encode"`` or ``"decode"`` speed, or ``"balanced"``
        (geometric mean of the three, each relative to the best).
    storage_options
        Options for the fsspec filesystem.

    Returns
    -------
    Advice
        ``rows`` (pipeline, filters, compressor, ratio, encode_mb_s, decode_mb_s,
        max_error), ``best`` and ``command``.

    Examples
    --------
    >>> import dask.array as da, dask_zarrio as dz
    >>> dz.write(da.arange(4000, chunks=1000) % 7, "memory://doc/advise.zarr", mode="w")
    >>> a = dz.advise("memory://doc/advise.zarr", sample=2)
    >>> len(a.rows), a.best["ratio"] > 10, a.command.startswith("dz copy memory://doc/advise.zarr DEST")
    (24, True, True)
    """
    if objective not in OBJECTIVES:
        raise ZarrioError(f"objective={objective!r} must be one of {OBJECTIVES}")
    if not isinstance(sample, int) or sample < 1:
        raise ZarrioError(f"sample={sample!r} must be a positive number of chunks")
    if lossy_tolerance is not None and not lossy_tolerance > 0:
        raise ZarrioError(f"lossy_tolerance={lossy_tolerance!r} must be a positive absolute error")
    store, node = open_node(url, storage_options)
    meta = require_array(node, store, "dz.advise")
    if meta.dtype.kind in "OUSV":
        raise ZarrioError(
            f"dz.advise measures numeric arrays; {store.describe()} holds {meta.dtype}: choose its codecs by hand"
        )
    stored = classify_keys(meta, store.list_keys()).chunks
    keys = list(stored)
    if not keys:
        raise ZarrioError(f"{store.describe()} has no stored chunks to sample; write data first")
    picked = [keys[round(i * (len(keys) - 1) / max(sample - 1, 1))] for i in range(min(sample, len(keys)))]
    picked = list(dict.fromkeys(picked))
    spec = ArraySpec.from_metadata(meta)
    chunks = [np.ascontiguousarray(read_chunk_at(spec, store, stored[k])) for k in picked]
    max_abs = max(float(np.nanmax(np.abs(c))) if c.size else 0.0 for c in chunks) if meta.dtype.kind == "f" else 1.0
    rows = [measure(f, c, chunks) for f, c in candidates(meta.dtype, lossy_tolerance, max_abs)]
    limit = lossy_tolerance or 0.0
    rows = [r for r in rows if r["max_error"] <= limit]
    advice = Advice(store.describe(), objective, picked, sum(c.nbytes for c in chunks), _score(rows, objective))
    numcodecs.get_codec(advice.best["compressor"])  # the best must rebuild from its config
    return advice
