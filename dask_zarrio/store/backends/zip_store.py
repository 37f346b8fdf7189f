"""ZipStore: a hierarchy shipped as one ZIP archive, the layout of zarr-python's ``ZipStore``.

Members are named by their keys (``zarr.json``, ``c/0/0``) and stored uncompressed
(chunks are compressed by their codecs already), so zarr-python's archives read here
and ours read there.

Reading is concurrent: every thread of every process has its own view of the
archive (its central directory, re-read when the file changes), and a byte range of
an uncompressed member is read with one ``pread`` at its offset, never the whole member.

Writing happens in **one process**: a ZIP archive has one central directory, at its
end, which every write rewrites. Threads of that process write through one lock; a
write from any other process (a ``processes`` or distributed scheduler's worker) is
refused with a :class:`~dask_zarrio.errors.StoreError` that says what to do instead:
write a folder in parallel, then :func:`pack` it into an archive. Another program writing the same archive
is refused too: the writing process holds an exclusive ``flock`` on it from its first
write until it exits or calls :meth:`ZipStore.close`.

A ZIP has no delete: deleting or overwriting a member (``mode="w"``, a region write
rewriting a chunk, the write journal's removal) drops it from the central directory
and leaves its bytes in the file as dead space, so every ZIP reader sees exactly the
live members. :func:`pack` of the archive into a new one reclaims that space. Do not
read an archive from another process while it is being written.
"""

from __future__ import annotations

import os
import socket
import struct
import threading
import time
import zipfile
import zlib
from collections.abc import Iterable
from typing import Any

from ...errors import StoreError
from ..base import Buffer, same_bytes, slice_bytes
from ..support.keyvalue import KeyValueStore, PerProcess, TooLarge, to_bytes
from ..support.zip_files import WRITERS, claim_writer, inflate

__all__ = ["ZipStore", "pack"]

#: One lock per archive in this process: writes, and readers (re)opening the archive
#: (a half-written archive has no central directory).
_LOCKS: dict[str, threading.RLock] = {}
_LOCKS_GUARD = threading.Lock()


def _lock(path: str) -> threading.RLock:
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(path, threading.RLock())


def _this_process() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class _View:
    """One thread's open archive and the file state it was read at."""

    def __init__(self, path: str) -> None:
        self.signature: tuple[int, ...] = ()
        self.zf: zipfile.ZipFile | None = None
        self.offsets: dict[str, int] = {}
        self.path = path

    def refresh(self) -> zipfile.ZipFile | None:
        """The archive as it is now (``None`` when there is no file)."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            self.close()
            return None
        signature = (st.st_ino, st.st_size, st.st_mtime_ns)
        if signature != self.signature or self.zf is None:
            with _lock(self.path):
                self.close()
                self.zf = zipfile.ZipFile(self.path, "r")
                self.signature = signature
        return self.zf

    def data_offset(self, info: zipfile.ZipInfo) -> int:
        """Where an uncompressed member's bytes begin (after its local header)."""
        offset = self.offsets.get(info.filename)
        if offset is None:
            assert self.zf is not None and self.zf.fp is not None
            header = os.pread(self.zf.fp.fileno(), 30, info.header_offset)
            if len(header) < 30 or header[:4] != b"PK\x03\x04":
                raise zipfile.BadZipFile(f"member {info.filename!r} has no local header")
            name_length, extra_length = struct.unpack("<HH", header[26:30])
            offset = self.offsets[info.filename] = info.header_offset + 30 + name_length + extra_length
        return offset

    def close(self) -> None:
        if self.zf is not None:
            self.zf.close()
        self.zf, self.offsets, self.signature = None, {}, ()


_VIEWS: PerProcess[_View] = PerProcess(_View, per_thread=True)


class ZipStore(KeyValueStore):
    """A node of a hierarchy in one ZIP archive; ``zip:///path/data.zip[?path=grp/arr]``.

    Parameters
    ----------
    path
        The archive (created by the first write; a missing one reads as empty).
    root
        The node's path inside the archive (``""``: the top, as zarr-python writes).
    writer
        ``"host:pid"`` of the one process allowed to write (default: the process that
        made the store); pickled along, so a worker process sees it is not that one.

    Examples
    --------
    >>> import tempfile, os
    >>> s = ZipStore(os.path.join(tempfile.mkdtemp(), "data.zip"))
    >>> s.set("zarr.json", b"{}"); s.set("zarr.json", b'{"a": 1}'); s.get("zarr.json"), s.list_keys()
    (b'{"a": 1}', ['zarr.json'])
    """

    scheme = "zip"

    def __init__(self, path: str, root: str = "", writer: str | None = None) -> None:
        super().__init__(path, root, writer=writer or _this_process())
        self.writer = self.options["writer"]

    @property
    def supports_multiprocess_writes(self) -> bool:
        """No: every write rewrites the archive's one central directory (see the module notes)."""
        return False

    def close(self) -> None:
        """Give up this process's claim to write the archive (its OS lock), so another may write it.

        A process holds the claim from its first write until it exits or calls this.

        Examples
        --------
        >>> import tempfile, os
        >>> s = ZipStore(os.path.join(tempfile.mkdtemp(), "data.zip"))
        >>> s.set("zarr.json", b"{}"); s.close(); s.get("zarr.json")
        b'{}'
        """
        with _lock(self.path):
            held = WRITERS.get(self.path)
            if held is not None and held[0] == os.getpid():
                del WRITERS[self.path]
                os.close(held[1])

    def token(self) -> str:
        # Which process may write does not change what the location holds.
        from dask.base import tokenize

        return tokenize(type(self).__name__, self.path, self.root)

    def __repr__(self) -> str:
        return f"ZipStore({self.describe()!r})"

    # -- reading -------------------------------------------------------------------------------

    def _view(self) -> tuple[_View, zipfile.ZipFile | None]:
        view = _VIEWS.get(self.path)
        try:
            return view, view.refresh()
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            view.close()
            raise StoreError(
                f"zip://{self.path} is not a readable ZIP archive ({type(exc).__name__}: {exc}); was it "
                "written by another process just now, truncated or corrupted? Re-create it with "
                "dask_zarrio.store.backends.zip_store.pack"
            ) from exc

    def _info(self, full: str) -> tuple[_View, zipfile.ZipInfo | None]:
        view, zf = self._view()
        if zf is None:
            return view, None
        try:
            return view, zf.getinfo(full)
        except KeyError:
            return view, None

    def _get(self, full: str, limit: int | None = None) -> Buffer | None:
        view, info = self._info(full)
        if info is None or view.zf is None:
            return None
        if limit is not None and info.file_size > limit:
            raise TooLarge(info.file_size)  # the central directory's size: refused unread
        if info.compress_type == zipfile.ZIP_STORED:
            return self._pread(view, info, 0, info.file_size)
        zf = view.zf
        return self._member(view, full, lambda: inflate(zf, info, limit))

    def _get_range(self, full: str, start: int, length: int | None) -> bytes | None:
        view, info = self._info(full)
        if info is None:
            return None
        if info.compress_type != zipfile.ZIP_STORED:
            data = self._get(full)
            return None if data is None else bytes(slice_bytes(data, start, length))
        size = info.file_size
        first = max(0, size + start) if start < 0 else min(start, size)
        count = size - first if length is None else max(0, min(length, size - first))
        return self._pread(view, info, first, count)

    def _pread(self, view: _View, info: zipfile.ZipInfo, start: int, count: int) -> bytes:
        def read() -> bytes:
            assert view.zf is not None and view.zf.fp is not None
            fd = view.zf.fp.fileno()
            offset = view.data_offset(info) + start
            if offset + count > os.fstat(fd).st_size:
                # A header claiming more than the file holds (a zip64 size of 2**40): never
                # asked of the kernel, which would allocate it first.
                raise zipfile.BadZipFile(
                    f"member {info.filename!r} claims {info.file_size} bytes, past the archive's end"
                )
            data = os.pread(fd, count, offset)
            if len(data) != count:
                raise zipfile.BadZipFile(f"member {info.filename!r} is cut short")
            return data

        return self._member(view, info.filename, read)

    def _member(self, view: _View, full: str, read: Any) -> Buffer:
        try:
            data = read()
            return data if isinstance(data, (bytes, bytearray)) else bytes(data)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, zlib.error, NotImplementedError) as exc:
            view.close()
            raise StoreError(
                f"GET zip://{self.path}/{full} failed ({type(exc).__name__}: {exc}): the archive is "
                "truncated or corrupted; re-create it with dask_zarrio.store.backends.zip_store.pack"
            ) from exc

    def _keys(self, prefix: str) -> list[str]:
        _, zf = self._view()
        if zf is None:
            return []
        return [n for n in zf.namelist() if n.startswith(prefix) and not n.endswith("/")]

    # -- writing -------------------------------------------------------------------------------

    def _check_writer(self, what: str) -> None:
        if self.writer != _this_process():
            raise StoreError(
                f"{what} zip://{self.path}: a ZIP archive is written by one process only (this store "
                f"was opened for writing in {self.writer}, this is {_this_process()}): a "
                "distributed or multi-process scheduler cannot write it. Write the data to a folder "
                "(or SQLite/LMDB) in parallel, then pack it: "
                "dask_zarrio.store.backends.zip_store.pack('data.zarr', 'data.zip'); or write with "
                "dask.config.set(scheduler='threads')"
            )

    def _write(self, puts: dict[str, bytes], deletes: Iterable[str]) -> None:
        self._check_writer("PUT" if puts else "DELETE")
        gone = set(deletes) | set(puts)
        with _lock(self.path):
            if not puts and not os.path.exists(self.path):
                return
            if os.path.exists(self.path) and os.path.getsize(self.path) and not zipfile.is_zipfile(self.path):
                # zipfile's mode "a" would append an archive to any file: refuse instead.
                raise StoreError(
                    f"PUT zip://{self.path}: the file exists and is not a ZIP archive; nothing was "
                    "written. Choose another path or move the file"
                )
            claim_writer(self.path)
            try:
                self._rewrite_directory(gone, puts)
            except (zipfile.BadZipFile, OSError) as exc:
                raise StoreError(
                    f"PUT zip://{self.path} failed ({type(exc).__name__}: {exc}); the archive may be "
                    "damaged: write a folder, then pack it with dask_zarrio.store.backends.zip_store.pack"
                ) from exc

    def _rewrite_directory(self, gone: set[str], puts: dict[str, bytes]) -> None:
        """Drop ``gone`` from the central directory, append ``puts``, write the directory."""
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        with zipfile.ZipFile(self.path, "a", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
            dropped = [info for info in zf.filelist if info.filename in gone]
            if not dropped and not puts:
                zf._didModify = False  # type: ignore[attr-defined]  # nothing to do: leave the file untouched
                return
            for info in dropped:
                zf.filelist.remove(info)
                del zf.NameToInfo[info.filename]
            if dropped:
                zf._didModify = True  # type: ignore[attr-defined]  # the directory changes even if nothing is appended
            for key, value in puts.items():
                info = zipfile.ZipInfo(key, date_time=time.localtime(time.time())[:6])
                info.compress_type = zipfile.ZIP_STORED
                info.external_attr = 0o644 << 16
                zf.writestr(info, value)

    def _set_if_unchanged(self, full: str, value: bytes, expected: bytes | None) -> bool:
        self._check_writer("PUT (conditional)")
        # Every write of the archive happens in this process, under this lock.
        with _lock(self.path):
            if not os.path.exists(self.path) or zipfile.is_zipfile(self.path):
                claim_writer(self.path)  # before comparing: no other process writes in between
            if not same_bytes(self._get(full), expected):
                return False
            self._write({full: value}, ())
            return True


def pack(source: Any, zip_path: str | os.PathLike[str]) -> ZipStore:
    """Pack a folder of Zarr data (or any store, an archive too) into a new ZIP archive.

    What to do instead of writing a ZIP from many processes: write a folder in
    parallel, then pack it. Packing an archive into a new one also reclaims the space
    of members that were deleted or overwritten. ``zip_path`` is replaced atomically.

    Parameters
    ----------
    source
        A folder path, URL or :class:`~dask_zarrio.store.Store`.
    zip_path
        The archive to write.

    Returns
    -------
    ZipStore
        The new archive, at its top.

    Examples
    --------
    >>> import tempfile, os, numpy as np, dask_zarrio as dz
    >>> d = tempfile.mkdtemp()
    >>> dz.write(np.arange(6), os.path.join(d, "a.zarr"), chunks=(2,))
    >>> z = pack(os.path.join(d, "a.zarr"), os.path.join(d, "a.zip"))
    >>> dz.read(f"zip://{d}/a.zip").compute().tolist()
    [0, 1, 2, 3, 4, 5]
    """
    from .. import open_store

    store = source if hasattr(source, "list_keys") else open_store(os.fspath(source))
    target = os.path.abspath(os.fspath(zip_path))
    tmp = f"{target}.dz-packing-{os.getpid()}"
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
            for key in store.list_keys():
                data = store.get(key)
                if data is not None:
                    info = zipfile.ZipInfo(key, date_time=time.localtime(time.time())[:6])
                    info.external_attr = 0o644 << 16
                    zf.writestr(info, to_bytes(data))
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return ZipStore(target)
