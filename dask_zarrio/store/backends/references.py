"""Virtual Zarr stores: kerchunk references into the byte ranges of archival files.

:class:`ReferenceStore` reads a kerchunk JSON document or a Parquet reference folder
(:mod:`dask_zarrio.store.support.reference_sets`) as a read-only store, so ``dz.read``, groups
and the xarray engine read NetCDF/HDF5/GRIB files as Zarr arrays. What travels in the
graph is the location of the references, never the references themselves: each process
parses a JSON document once and keeps it (a few documents at most), and reads only the
Parquet record files its keys fall in.

``get_many`` (one call per dask block) groups the block's chunks by source file and
merges byte ranges whose gap is at most the config key
``dask_zarrio.references.coalesce-gap`` into one request, then sends the requests of
all files concurrently, each retried by :mod:`dask_zarrio.store.support.retry`: a block costs one
request per source file it touches when its chunks lie close together.

A reference set is data, often downloaded: before any byte of a target is read, its URL
passes :class:`~dask_zarrio.store.support.reference_targets.TargetPolicy` (remote URLs of
public hosts and files under the set's own folder, or what ``allowed_targets`` allows) and
its length :mod:`~dask_zarrio.store.support.reference_bounds` (at most what the array's
chunk can be, encoded).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import partial
from typing import Any

import fsspec
import fsspec.asyn
from dask.base import tokenize
from dask.utils import parse_bytes
from fsspec.core import split_protocol

from ... import config
from ...errors import StoreError, StorePermissionError, ZarrioError
from ..base import Buffer, Store, join_key, member_path, redact_url, too_large, within_limit
from ..support.failures import secret_values
from ..support.reference_bounds import DOCUMENTS, chunk_bound, fallback_bound
from ..support.reference_loading import load_references
from ..support.reference_sets import JsonReferences, Reference, ReferenceSet
from ..support.reference_targets import TargetPolicy
from ..support.remote_ranges import acat_range
from ..support.requests import gather_requests
from ..support.retry import RetryPolicy, config_number

__all__ = ["ReferenceStore", "coalesce_ranges"]

#: storage_options a ``reference://`` URL takes (fsspec's ReferenceFileSystem names).
OPTIONS = ("fo", "target_options", "remote_options", "remote_protocol", "target_protocol", "allowed_targets")

def coalesce_ranges(ranges: list[tuple[int, int]], gap: int) -> list[tuple[int, int, list[int]]]:
    """Merge ``(offset, length)`` ranges of one file whose gap is at most ``gap`` bytes.

    Returns ``(start, end, members)`` per request, ``members`` indexing ``ranges``.

    Examples
    --------
    >>> coalesce_ranges([(100, 10), (0, 10), (12, 5), (5000, 1)], gap=100)
    [(0, 110, [1, 2, 0]), (5000, 5001, [3])]
    """
    order = sorted(range(len(ranges)), key=lambda i: ranges[i][0])
    out: list[tuple[int, int, list[int]]] = []
    for i in order:
        offset, length = ranges[i]
        if out and offset - out[-1][1] <= gap:
            start, end, members = out[-1]
            out[-1] = (start, max(end, offset + length), [*members, i])
        else:
            out.append((offset, offset + length, [i]))
    return out


class ReferenceStore(Store):
    """Read-only store over kerchunk references (JSON v0/v1 or a Parquet reference folder).

    Parameters
    ----------
    fo
        Location of the references: a ``.json`` file (compressed ``.json.gz``/``.zst`` too)
        or a Parquet reference folder, any fsspec URL; or the parsed document itself (a
        dict: it then travels in the graph, so prefer a location for big ones).
    path
        The node below the references' root (``"group/array"``).
    target_options
        fsspec options to read the references themselves.
    remote_options, remote_protocol
        fsspec options for the files the references point into; ``remote_protocol``
        also serves references whose URLs have no protocol.
    allowed_targets
        URL prefixes the references may read besides remote URLs of public hosts and files
        under the references' own folder, e.g. ``["file:///data/", "http://127.0.0.1:8000/"]``
        (:class:`~dask_zarrio.store.support.reference_targets.TargetPolicy`). Anything else is
        a :class:`~dask_zarrio.errors.StorePermissionError` before a byte of it is read.

    Examples
    --------
    >>> refs = {"version": 1, "refs": {".zgroup": '{"zarr_format": 2}',
    ...     "a/.zarray": {"shape": [2], "chunks": [2], "dtype": "<i2", "fill_value": 0, "order": "C",
    ...                   "filters": None, "compressor": None, "zarr_format": 2},
    ...     "a/0": "base64:AQACAA=="}}
    >>> import dask_zarrio as dz
    >>> dz.read(ReferenceStore(refs, "a")).compute().tolist()
    [1, 2]
    """

    def __init__(
        self,
        fo: str | dict[str, Any],
        path: str = "",
        *,
        target_options: dict[str, Any] | None = None,
        remote_options: dict[str, Any] | None = None,
        remote_protocol: str | None = None,
        retry: RetryPolicy | None = None,
        allowed_targets: str | Sequence[str] | None = None,
    ) -> None:
        if not isinstance(fo, (str, dict)):
            raise ZarrioError(
                f"fo={fo!r} must be the URL of kerchunk references (JSON or Parquet folder) or a dict of them"
            )
        self.fo = fo
        self.path = member_path(path) if path else ""
        self.target_options = dict(target_options or {})
        self.remote_options = dict(remote_options or {})
        self.remote_protocol = remote_protocol
        self._retry = retry
        self._set: ReferenceSet | None = JsonReferences(fo) if isinstance(fo, dict) else None
        self._fss: dict[str, fsspec.AbstractFileSystem] = {}
        self.allowed_targets = [allowed_targets] if isinstance(allowed_targets, str) else list(allowed_targets or [])
        self.policy = TargetPolicy(fo if isinstance(fo, str) else None, self.allowed_targets)
        self._bounds: dict[str, int | None] = {}

    @classmethod
    def from_url(cls, url: str, storage_options: dict[str, Any] | None) -> ReferenceStore:
        """``reference://group/array`` with ``storage_options={"fo": ..., "remote_options": ...}``.

        Examples
        --------
        >>> ReferenceStore.from_url("reference://grp/a", {"fo": "s3://b/refs.json"})
        ReferenceStore('reference://grp/a (references at s3://b/refs.json)')
        """
        options = dict(storage_options or {})
        unknown = sorted(set(options) - set(OPTIONS))
        if unknown or "fo" not in options:
            raise ZarrioError(
                f"a reference:// URL takes storage_options {list(OPTIONS)}; got {sorted(options)!r}: give "
                "the references' location as storage_options={'fo': 'refs.json'} (or use "
                "dz.read('refs.json', format='kerchunk'))"
            )
        options.pop("target_protocol", None)  # the fo URL names its protocol
        fo = options.pop("fo")
        return cls(fo, url.partition("://")[2].strip("/"), **options)

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            _rebuild, (self.fo, self.path, self.target_options, self.remote_options, self.remote_protocol, self._retry,
                       self.allowed_targets)
        )

    # -- capabilities -------------------------------------------------------------------
    @property
    def supports_concurrent_requests(self) -> bool:
        # get_many fetches the byte ranges of all source files at once.
        return True

    @property
    def supports_listing(self) -> bool:
        # Metadata keys are listed; Parquet reference sets do not list chunk keys.
        return True

    @property
    def retry(self) -> RetryPolicy:
        return self._retry if self._retry is not None else RetryPolicy.from_config()

    # -- resolving ----------------------------------------------------------------------
    def references(self) -> ReferenceSet:
        """The reference set, parsed once per process (shared by every store on it)."""
        if self._set is None:
            assert isinstance(self.fo, str)  # a dict was parsed by __init__
            self._set = load_references(self.fo, self.target_options, self.retry)
        return self._set

    def _filesystem(self, url: str) -> tuple[fsspec.AbstractFileSystem, str]:
        protocol, path = split_protocol(url)
        protocol = protocol or self.remote_protocol or "file"
        if protocol not in self._fss:
            options = {} if protocol == "file" else dict(self.remote_options)
            if protocol in ("http", "https"):  # where a redirect leads is checked like a reference
                client = dict(options.get("client_kwargs") or {})
                client["trace_configs"] = [*client.get("trace_configs", []), self.policy.redirect_guard()]
                options["client_kwargs"] = client
            self._fss[protocol] = fsspec.filesystem(protocol, **options)
        fs = self._fss[protocol]
        return fs, fs._strip_protocol(url if "://" in url else path)

    def get(self, key: str, limit: int | None = None) -> bytes | None:
        value = self.get_many([key], limit)[0]
        return None if value is None else bytes(memoryview(value).cast("B"))

    def exists(self, key: str) -> bool:
        return self.references().lookup(join_key(self.path, key)) is not None

    def get_many(self, keys: list[str], limit: int | None = None) -> list[Buffer | None]:
        refs = self.references().lookup_many([join_key(self.path, k) for k in keys])
        out: list[Buffer | None] = [None] * len(keys)
        by_file: dict[str, list[int]] = {}
        for i, ref in enumerate(refs):
            if limit is not None and isinstance(ref, tuple) and ref[2] is not None and ref[2] > limit:
                raise too_large(self, keys[i], ref[2], limit)  # the reference's length: refused unread
            if isinstance(ref, bytes):
                out[i] = within_limit(self, keys[i], ref, limit)
            elif ref is not None:
                by_file.setdefault(ref[0], []).append(i)
        if by_file:
            for i, data in self._fetch(keys, refs, by_file).items():
                out[i] = within_limit(self, keys[i], data, limit)
        return out

    def _bound(self, key: str) -> tuple[int, bool]:
        """The most bytes ``key``'s reference may ask for, and whether its array's metadata said so."""
        folder, _, name = key.rpartition("/")
        if name in DOCUMENTS:
            return fallback_bound(), False
        if folder not in self._bounds:  # every chunk key of an array has the same bound
            refs = self.references()

            def document(name: str) -> bytes | None:
                value = refs.lookup(name)
                return value if isinstance(value, bytes) else None

            self._bounds[folder] = chunk_bound(key, document)
        bound = self._bounds[folder]
        return (fallback_bound(), False) if bound is None else (bound, True)

    def _span(self, key: str, url: str, offset: int, length: int | None) -> int:
        """The most bytes ``key``'s reference may read: refused before reading when it asks for more."""
        bound, from_metadata = self._bound(key)
        if length is None or (length <= bound and offset + length < 2**63):
            return bound
        limit = (f"a chunk of its array can be, encoded ({bound} bytes)" if from_metadata else
                 f"dask_zarrio.references.max-range ({bound} bytes) allows where the metadata gives no bound")
        raise StoreError(
            f"reference {key!r} asks for {length} bytes at offset {offset} of {redact_url(url)}, more than {limit}; "
            "the references are corrupt, malicious or made for other metadata: regenerate them"
        )

    def _fetch(self, keys: list[str], refs: list[Reference | None], by_file: dict[str, list[int]]) -> dict[int, Buffer]:
        """The referenced bytes of ``keys``: coalesced requests per file, all files at once."""
        gap = parse_bytes(config.get("references.coalesce-gap"))
        names = [join_key(self.path, k) for k in keys]
        spans: dict[int, tuple[int, int | None, int]] = {}
        files: dict[str, list[int]] = {}
        for url, members in by_file.items():  # every target checked before any is read
            # A URL without a protocol is read with remote_protocol's filesystem: check it as that.
            full = url if "://" in url or not self.remote_protocol else f"{self.remote_protocol}://{url}"
            files.setdefault(self.policy.check(full, names[members[0]]), []).extend(members)
            for i in members:
                ref = refs[i]
                assert isinstance(ref, tuple)
                spans[i] = (ref[1] or 0, ref[2], self._span(names[i], url, ref[1] or 0, ref[2]))
        requests: list[tuple[str, int, int | None, list[int]]] = []
        for url, members in files.items():
            # A whole file is read up to one byte past its bound: more means too big.
            requests.extend((url, 0, spans[i][2] + 1, [i]) for i in members if spans[i][1] is None)
            ranged = [i for i in members if spans[i][1] is not None]
            merged = coalesce_ranges([(spans[i][0], spans[i][1] or 0) for i in ranged], gap)
            requests.extend((url, start, end, [ranged[j] for j in group]) for start, end, group in merged)
        out: dict[int, Buffer] = {}
        for (url, start, _, members), blob in zip(requests, self._send(requests)):
            for i in members:
                out[i] = self._piece(names[i], url, start, spans[i], blob)
        return out

    @staticmethod
    def _piece(key: str, url: str, start: int, span: tuple[int, int | None, int], blob: Buffer | None) -> Buffer:
        """``key``'s bytes of ``blob`` (the request from ``start``), or the error saying what is wrong."""
        offset, length, bound = span
        if blob is not None and length is None and memoryview(blob).nbytes > bound:
            raise StoreError(
                f"reference {key!r} is the whole of {redact_url(url)}, which has more than the {bound} bytes a "
                "chunk of its array can be; the references are corrupt or malicious: regenerate them"
            )
        at = offset - start
        piece = blob if blob is None or length is None else memoryview(blob)[at : at + length]
        if piece is None or (length is not None and len(piece) != length):
            raise StoreError(
                f"reference {key!r} points at bytes {offset}..{offset + (length or 0)} of {redact_url(url)}, which "
                f"{'does not exist' if blob is None else 'is shorter'}: the source file moved or "
                "changed since the references were made; regenerate them (or fix remote_protocol/remote_options)"
            )
        return piece

    def _send(self, requests: list[tuple[str, int, int | None, list[int]]]) -> list[Buffer | None]:
        """Bytes ``[start, end)`` of each request's file: async filesystems concurrently."""
        retry = self.retry
        secrets = list(secret_values(self.remote_options))
        out: list[Buffer | None] = [None] * len(requests)
        by_loop: dict[Any, list[tuple[int, tuple[str, Any]]]] = {}
        for n, (url, start, end, _) in enumerate(requests):
            fs, path = self._filesystem(url)
            length = None if end is None else end - start
            what = f"GET (range) {redact_url(url, secrets)}"
            if getattr(fs, "async_impl", False):
                by_loop.setdefault(fs.loop, []).append((n, (what, partial(acat_range, fs, path, start, length))))
            else:
                out[n] = _read_sync(fs, path, start, end, retry, what)
        limit = int(config_number("requests-in-flight", integer=True, minimum=1))
        for loop, calls in by_loop.items():
            blobs = fsspec.asyn.sync(loop, gather_requests, [c for _, c in calls], retry, limit, secrets)
            for (n, _), blob in zip(calls, blobs):
                out[n] = blob
        return out

    # -- read-only ----------------------------------------------------------------------
    def _refuse(self, what: str) -> StorePermissionError:
        return StorePermissionError(
            f"cannot {what} {self.describe()}: references are read-only (they point into archival "
            "files); write a native copy with dz.copy(src, 'out.zarr') or dz.write(dz.read(src), ...)"
        )

    def set(self, key: str, value: Buffer) -> None:
        raise self._refuse(f"write {key!r} in")

    def delete(self, key: str) -> None:
        raise self._refuse(f"delete {key!r} in")

    def clear(self) -> None:
        raise self._refuse("clear")

    # -- listing and navigation ---------------------------------------------------------
    def _below(self) -> list[str]:
        prefix = f"{self.path}/" if self.path else ""
        return [k[len(prefix):] for k in self.references().keys() if k.startswith(prefix)]

    def is_empty(self) -> bool:
        return not self._below()

    def list_dir(self) -> list[str]:
        return sorted({k.split("/", 1)[0] for k in self._below()})

    def list_keys(self) -> list[str]:
        return sorted(self._below())

    def child(self, path: str) -> ReferenceStore:
        return self._with_path(join_key(self.path, member_path(path)))

    def parent(self) -> ReferenceStore | None:
        if not self.path:
            return None
        return self._with_path(self.path.rpartition("/")[0])

    def _with_path(self, path: str) -> ReferenceStore:
        store = ReferenceStore(
            self.fo if isinstance(self.fo, str) else {}, path, target_options=self.target_options,
            remote_options=self.remote_options, remote_protocol=self.remote_protocol, retry=self._retry,
            allowed_targets=self.allowed_targets,
        )
        store.fo, store._set, store.policy = self.fo, self._set, self.policy
        return store

    @property
    def name(self) -> str:
        return self.path.rpartition("/")[2]

    def describe(self, key: str = "") -> str:
        where = redact_url(self.fo, list(secret_values(self.target_options))) if isinstance(self.fo, str) else "<dict>"
        return f"reference://{join_key(self.path, key)} (references at {where})"

    def token(self) -> str:
        fo = self.fo if isinstance(self.fo, str) else tokenize(json.dumps(self.fo, sort_keys=True, default=str))
        return tokenize(
            "ReferenceStore", fo, self.path, self.target_options, self.remote_options, self.remote_protocol,
            self.allowed_targets,
        )


def _rebuild(fo: Any, path: str, target_options: dict[str, Any], remote_options: dict[str, Any],
             remote_protocol: str | None, retry: RetryPolicy | None, allowed_targets: list[str]) -> ReferenceStore:
    return ReferenceStore(fo, path, target_options=target_options, remote_options=remote_options,
                          remote_protocol=remote_protocol, retry=retry, allowed_targets=allowed_targets)


def _read_sync(fs: fsspec.AbstractFileSystem, path: str, start: int, end: int | None, retry: RetryPolicy,
               what: str) -> bytes | None:
    def read() -> bytes | None:
        try:
            with fs.open(path, "rb") as f:
                f.seek(start)
                return f.read() if end is None else f.read(end - start)
        except FileNotFoundError:
            return None

    return retry.call(read, what)
