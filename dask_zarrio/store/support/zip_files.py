"""What a ZIP archive needs beyond :mod:`zipfile`: one writer process, bounded inflating.

:class:`~dask_zarrio.store.backends.zip_store.ZipStore` calls these: :func:`claim_writer`
before each write (an OS lock that refuses a second writer process), :func:`inflate` to
read a compressed member without inflating more than the read path allows (issue 28).
"""

from __future__ import annotations

import os
import zipfile

from ...errors import StoreError
from ..base import TooLarge

try:
    import fcntl
except ImportError:  # Windows: no flock; one writer process stays the user's promise there
    fcntl = None  # type: ignore[assignment]

__all__ = ["WRITERS", "claim_writer", "inflate"]

#: The archives this process writes: path -> (pid, descriptor holding the OS lock, inode locked).
WRITERS: dict[str, tuple[int, int, int]] = {}
#: An archive with no member: its end-of-central-directory record alone.
_EMPTY_ARCHIVE = b"PK\x05\x06" + bytes(18)


def claim_writer(path: str) -> None:
    """Take (or keep) the OS lock that makes this process the archive's one writer.

    An exclusive ``flock`` on the archive itself, taken at the first write and held until
    the process exits or calls ``ZipStore.close()``: another process (another program, not
    only this one's workers) that writes the same archive is refused instead of both
    rewriting the central directory and losing members. A missing archive is created
    empty under the lock, so readers never see a half-made file. Called under the
    archive's thread lock.
    """
    if fcntl is None:
        return
    pid = os.getpid()
    held = WRITERS.get(path)
    try:
        inode: int | None = os.stat(path).st_ino
    except FileNotFoundError:
        inode = None
    if held is not None and held[0] == pid:
        if held[2] == inode:
            return
        os.close(held[1])  # the archive was replaced (pack): lock the new file
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise StoreError(
            f"PUT zip://{path}: another process is writing this archive (it holds its lock); a ZIP "
            "archive has one writer process at a time, and two would lose each other's members. "
            "Nothing was written: wait until the other writer exits (or calls ZipStore.close()), or "
            "write a folder and pack it with dask_zarrio.store.backends.zip_store.pack"
        ) from None
    if os.fstat(fd).st_size == 0:
        os.write(fd, _EMPTY_ARCHIVE)
    WRITERS[path] = (pid, fd, os.fstat(fd).st_ino)


#: How much of a compressed member is inflated at a time.
_PIECE = 2**20


def inflate(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int | None) -> bytearray:
    """A compressed member's bytes, inflated a piece at a time and refused (:class:`TooLarge`)
    as soon as they pass ``limit``: a member whose stream inflates beyond what its header
    says (or beyond the limit) never costs more than the limit and a piece.

    zipfile itself stops at the header's size and checks the CRC at the end, so a header
    that lies low fails there (``BadZipFile``); one that lies high was refused by the caller.
    """
    if info.compress_size > os.path.getsize(zf.filename or ""):
        raise zipfile.BadZipFile(f"member {info.filename!r} claims {info.compress_size} compressed bytes, "
                                 "more than the archive holds")
    cap = info.file_size if limit is None else min(info.file_size, limit)
    out = bytearray()
    with zf.open(info) as f:
        while True:
            piece = f.read(min(_PIECE, cap + 1 - len(out)))
            if not piece:
                return out
            out += piece
            if len(out) > cap:
                if limit is not None and len(out) > limit:
                    raise TooLarge(None)
                raise zipfile.BadZipFile(f"member {info.filename!r} inflates past the {info.file_size} bytes "
                                         "its header records")
