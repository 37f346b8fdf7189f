"""Opening reference sets: a JSON document parsed once per process, a Parquet folder read lazily.

The reference store keeps only the location of its references; the first task in a
process that needs them opens them here, and a few stay open for the next.

A Parquet reference folder's members (``.zmetadata``, ``<array>/refs.<n>.parq``) are
data like the references in them: each is read with at most
``dask_zarrio.references.max-range`` bytes, and in a local folder it must be a regular
file inside the folder (a symlink to ``/dev/zero`` or ``/etc/passwd`` is refused).
"""

from __future__ import annotations

import io
import json
import os
import stat
import threading
from collections import OrderedDict
from collections.abc import Callable
from functools import partial
from typing import Any

import fsspec
from dask.base import tokenize
from fsspec.compression import compr
from fsspec.core import url_to_fs
from fsspec.implementations.local import LocalFileSystem
from fsspec.utils import infer_compression

from ...errors import StoreError, StorePermissionError, ZarrioError, redact_url
from .failures import secret_values
from .reference_bounds import fallback_bound
from .reference_sets import JsonReferences, ParquetReferences, ReferenceSet
from .retry import RetryPolicy

__all__ = ["load_references"]

#: Reference sets parsed in this process, by location: a few, least recently used go first.
_SETS: OrderedDict[str, ReferenceSet] = OrderedDict()
_SETS_KEPT = 4
_SETS_LOCK = threading.Lock()


def load_references(fo: str, target_options: dict[str, Any], retry: RetryPolicy) -> ReferenceSet:
    """The reference set at ``fo``, parsed once per process (JSON) or opened lazily (Parquet).

    Examples
    --------
    >>> import fsspec
    >>> fsspec.filesystem("memory").pipe("/doc/refs.json", b'{"a/0": "base64:AAE="}')
    >>> load_references("memory://doc/refs.json", {}, RetryPolicy()).lookup("a/0")
    b'\\x00\\x01'
    """
    name = tokenize(fo, target_options)
    with _SETS_LOCK:
        if name in _SETS:
            _SETS.move_to_end(name)
            return _SETS[name]
        refs = _open(fo, target_options, retry)
        _SETS[name] = refs
        while len(_SETS) > _SETS_KEPT:
            _SETS.popitem(last=False)
        return refs


def _open(fo: str, target_options: dict[str, Any], retry: RetryPolicy) -> ReferenceSet:
    fs, root = url_to_fs(fo, **target_options)
    where = redact_url(fo, list(secret_values(target_options)))
    read: Callable[[str], bytes | None] = partial(_read_member, fs, root, retry, where)
    if ".json" not in root.rpartition("/")[2] and read(".zmetadata") is not None:
        return ParquetReferences(read, where)
    data = _read_document(fs, root, retry, where)  # one GET, never a HEAD first
    if data is None:
        raise StoreError(
            f"no references at {where}: give the path of a kerchunk .json file or Parquet reference folder"
        )
    compression = infer_compression(root)
    if compression is not None:
        with compr[compression](io.BytesIO(data), mode="rb") as f:
            data = f.read()
    try:
        document = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ZarrioError(f"the references at {where} are not JSON ({e}); is it a kerchunk reference file?") from e
    return JsonReferences(document)


def _read_document(fs: fsspec.AbstractFileSystem, path: str, retry: RetryPolicy, where: str) -> bytes | None:
    """The JSON document the caller named, whole."""
    def read() -> bytes | None:
        try:
            return bytes(fs.cat_file(path))
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None

    return retry.call(read, f"GET {where}")


def _read_member(fs: fsspec.AbstractFileSystem, root: str, retry: RetryPolicy, where: str, name: str) -> bytes | None:
    """A member of a Parquet reference folder: inside it, a regular file, and at most ``max-range`` bytes."""
    path = f"{root.rstrip('/')}/{name}"
    most = fallback_bound()
    if isinstance(fs, LocalFileSystem):
        _check_local_member(root, path, where, name)

    def read() -> bytes | None:
        try:
            return bytes(fs.cat_file(path, start=0, end=most + 1))
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None

    data = retry.call(read, f"GET {where}/{name}")
    if data is not None and len(data) > most:
        raise StoreError(
            f"{where}/{name} has more than {most} bytes (dask_zarrio.references.max-range): a reference "
            "record file is far smaller; the reference folder is corrupt or malicious"
        )
    return data


def _check_local_member(root: str, path: str, where: str, name: str) -> None:
    real, folder = os.path.realpath(path), os.path.realpath(root)
    if not real.startswith(folder.rstrip(os.sep) + os.sep):
        raise StorePermissionError(
            f"{where}/{name} leads to {real!r}, outside the reference folder (a symlink or '..'): a reference "
            "folder's members must lie inside it; the reference folder is corrupt or malicious"
        )
    try:
        mode = os.stat(real).st_mode
    except OSError:
        return  # missing: the read says so
    if not stat.S_ISREG(mode):
        raise StorePermissionError(
            f"{where}/{name} is not a regular file (a device, FIFO or socket); the reference folder is corrupt "
            "or malicious"
        )
