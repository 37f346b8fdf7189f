"""Local folders without fsspec on the hot paths: atomic writes, locked conditional writes.

:class:`~dask_zarrio.store.FsspecStore` calls these for ``file://`` paths. Writes go
through a temporary file and a rename, so readers never see half an object; a
conditional write holds an exclusive lock file beside the key while it compares and
writes, so two processes of one machine (or of an NFS client set, where ``O_EXCL`` is
atomic: NFSv3 and later) never both win.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from ...errors import StoreError
from ...memory.buffers import read_file
from ..base import Buffer, TooLarge, same_bytes

__all__ = [
    "IOV_MAX", "LOCK_PREFIX", "STALE_LOCK_SECONDS", "atomic_copy", "atomic_write", "list_keys", "read_local",
    "read_range", "replace_folder", "set_if_unchanged", "write_pieces",
]

#: Lock files are named ``.dz-lock-<key's name>`` beside the key: the ``.dz-`` prefix marks
#: dask_zarrio's own objects, which ``mode="w"`` may delete with the node.
LOCK_PREFIX = ".dz-lock-"
#: A lock older than this was left by a writer that died between taking and releasing it
#: (the compare and write it guards take milliseconds) and may be broken.
STALE_LOCK_SECONDS = 60.0
#: How long a conditional write waits for another writer's lock before giving up.
LOCK_WAIT_SECONDS = 30.0


def read_local(path: str, limit: int | None = None) -> Buffer | None:
    """The file's bytes (big files page-aligned, :func:`dask_zarrio.memory.buffers.read_file`), ``None`` if absent.

    With ``limit``, a file of more bytes raises :class:`TooLarge` (its ``stat`` size, before
    it is read; or, grown since, after ``limit + 1`` bytes).
    """
    try:
        size = os.stat(path).st_size if limit is not None else 0
        if limit is not None and size > limit:
            raise TooLarge(size)
        data = read_file(path, limit)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None
    if limit is not None and memoryview(data).nbytes > limit:
        raise TooLarge(None)
    return data


def read_range(path: str, start: int, length: int | None) -> bytes:
    """Bytes ``[start, start + length)`` of the file at ``path`` (``start < 0``: from the end).

    A range past the end gives what lies inside the file (``b""`` from beyond it), as a
    ranged GET of an object store does: an offset from a lying shard index (2**50) is
    never handed to ``seek``, where the kernel refuses it with ``EINVAL``, an ``OSError``
    that looks like a flaky disk and would be retried. The caller sees short bytes and
    reports the corrupt index. ``FileNotFoundError`` propagates.

    Examples
    --------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "x")
    >>> open(path, "wb").write(b"abcdef")
    6
    >>> read_range(path, 2, 3), read_range(path, -2, None), read_range(path, 2**50, 8)
    (b'cde', b'ef', b'')
    """
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        first = max(0, size + start) if start < 0 else start
        if first >= size:
            return b""
        f.seek(first)
        return f.read() if length is None else f.read(min(length, size - first))


@contextmanager
def _replacing(path: str) -> Iterator[int]:
    """A new temporary file beside ``path`` (its descriptor), renamed to ``path`` when the
    block ends and deleted when it raises: readers never see a half-written object."""
    folder = os.path.dirname(path)
    # Not tempfile.mkstemp: it creates files 0600, readable by their owner only; a
    # shared array must get the permissions the umask gives any new file (0644 usually).
    tmp = os.path.join(folder, f".tmp-{uuid.uuid4().hex}")
    flags = os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(tmp, flags, 0o666)
    except FileNotFoundError:
        # The folder is made only when missing: an mkdir that finds it there costs as
        # much as the write of a small chunk (it was half of an undecoded copy's time).
        os.makedirs(folder, exist_ok=True)
        fd = os.open(tmp, flags, 0o666)
    try:
        try:
            yield fd
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_write(path: str, value: Buffer | list[Buffer]) -> None:
    """Write via a temporary file and rename, so readers never see a half-written object.

    ``value`` may be a list of pieces, written in order and never joined in memory.

    Examples
    --------
    >>> import tempfile
    >>> path = f"{tempfile.mkdtemp()}/k"
    >>> atomic_write(path, [b"ab", bytearray(b""), memoryview(b"cd")]); open(path, "rb").read()
    b'abcd'
    """
    with _replacing(path) as fd:
        if isinstance(value, list):
            write_pieces(fd, value)
        else:
            with open(fd, "wb", closefd=False) as f:
                f.write(memoryview(value).cast("B"))


#: The most buffers one ``writev`` takes (POSIX guarantees at least 16; Linux allows 1024).
IOV_MAX = min(1024, (os.sysconf("SC_IOV_MAX") if hasattr(os, "sysconf") else 16) or 16)


def write_pieces(fd: int, pieces: list[Buffer]) -> None:
    """Write ``pieces`` to ``fd`` in order: ``os.writev`` batches of at most :data:`IOV_MAX`,
    resuming after a short write (a signal) mid-piece; ``os.write`` where there is no ``writev``."""
    views = [v for v in (memoryview(p).cast("B") for p in pieces) if v.nbytes]
    writev = getattr(os, "writev", None)
    i = 0
    while i < len(views):
        done = writev(fd, views[i : i + IOV_MAX]) if writev is not None else os.write(fd, views[i])
        while done and i < len(views):
            if done >= views[i].nbytes:
                done -= views[i].nbytes
                i += 1
            else:
                views[i], done = views[i][done:], 0


#: errno values of a kernel copy that this pair of files or this kernel cannot do: copy
#: through user space instead (as shutil falls back from sendfile).
_NO_KERNEL_COPY = {errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EBADF, errno.EPERM}


def _copy_fd(src: int, dst: int) -> None:
    """Everything from ``src`` to ``dst`` in the kernel (no pass through Python's memory)."""
    copied = 0
    try:
        while n := os.copy_file_range(src, dst, 1 << 30):
            copied += n
        return
    except (AttributeError, OSError) as e:  # no copy_file_range (macOS), or not for these files
        if isinstance(e, OSError) and (e.errno not in _NO_KERNEL_COPY or copied):
            raise
    while block := os.read(src, 1 << 24):
        os.write(dst, block)


def atomic_copy(source: str, path: str) -> bool:
    """Copy the file ``source`` to ``path`` in the kernel, via a temporary file and a rename
    as :func:`atomic_write`; ``False`` (nothing written) when ``source`` does not exist.

    An undecoded copy of an array between local folders moves each object's bytes from
    file to file: reading them into Python and writing them out again took 3x the CPU of
    a plain file copy.

    Examples
    --------
    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> atomic_write(f"{d}/a", b"xyz"); atomic_copy(f"{d}/a", f"{d}/b/c"), open(f"{d}/b/c", "rb").read()
    (True, b'xyz')
    >>> atomic_copy(f"{d}/missing", f"{d}/d")
    False
    """
    try:
        src = os.open(source, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return False
    try:
        with _replacing(path) as dst:
            _copy_fd(src, dst)
    finally:
        os.close(src)
    return True


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None


def set_if_unchanged(path: str, value: Buffer, expected: bytes | None) -> bool:
    """Store ``value`` at ``path`` if the file still holds ``expected`` (``None``: no file).

    Takes ``.dz-lock-<name>`` beside ``path`` with ``O_CREAT | O_EXCL`` (atomic: exactly
    one process creates it), compares, writes atomically, and removes the lock in
    ``finally``. A lock older than :data:`STALE_LOCK_SECONDS` is broken: its writer died.
    Breaking is itself unguarded, so the guarantee holds as long as no live writer keeps
    a lock that long.

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "zarr.json")
    >>> set_if_unchanged(p, b"v1", None), set_if_unchanged(p, b"v2", b"old"), set_if_unchanged(p, b"v2", b"v1")
    (True, False, True)
    """
    folder, name = os.path.split(path)
    os.makedirs(folder, exist_ok=True)
    lock = os.path.join(folder, LOCK_PREFIX + name)
    _acquire(lock)
    try:
        if not same_bytes(_read(path), expected):
            return False
        atomic_write(path, value)
        return True
    finally:
        try:
            os.unlink(lock)
        except FileNotFoundError:
            pass


def _acquire(lock: str) -> None:
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    delay = 0.001
    while True:
        try:
            os.close(os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
            return
        except FileExistsError:
            pass
        try:
            if time.time() - os.stat(lock).st_mtime > STALE_LOCK_SECONDS:
                os.unlink(lock)
                continue
        except FileNotFoundError:
            continue  # released meanwhile: try again at once
        if time.monotonic() > deadline:
            raise StoreError(
                f"the lock file {lock!r} has been held for over {LOCK_WAIT_SECONDS:.0f} s by another "
                "writer; if no other write to this array is running, delete the lock file"
            )
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def list_keys(root: str) -> list[str]:
    """Every file below the folder ``root`` as ``/``-joined keys relative to it, sorted."""
    return sorted(list_sizes(root))


def list_sizes(root: str) -> dict[str, int]:
    """Every file below the folder ``root`` (``/``-joined keys relative to it) with its size."""
    try:
        # os.stat, not os.path.isdir: a folder that cannot be reached must raise, not read as empty.
        if not stat.S_ISDIR(os.stat(root).st_mode):
            return {}  # a file: no key below the node
    except (FileNotFoundError, NotADirectoryError):
        return {}
    keys: dict[str, int] = {}

    def fail(exc: OSError) -> None:
        # os.walk skips folders it cannot read unless told otherwise: a listing that
        # must see everything (mode="w" checks it deletes only Zarr objects) raises.
        raise exc

    for folder, _, files in os.walk(root, onerror=fail):
        rel = os.path.relpath(folder, root)
        for name in files:
            key = name if rel == "." else f"{rel}/{name}"
            try:
                keys[key.replace(os.sep, "/")] = os.stat(os.path.join(folder, name)).st_size
            except FileNotFoundError:
                continue  # removed since the folder was listed (a lock file, a staged node)
    return dict(sorted(keys.items()))


def replace_folder(target: str, staged: str) -> None:
    """Rename ``staged`` to ``target``; the old ``target`` is renamed aside first, then deleted.

    Readers see the old folder, then (after a moment without either) the new one,
    never a mix. If the second rename fails, the old folder is put back.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> (d / "a").mkdir(); (d / "a" / "old").touch(); (d / "new").mkdir(); (d / "new" / "x").touch()
    >>> replace_folder(str(d / "a"), str(d / "new")); sorted(p.name for p in d.rglob("*"))
    ['a', 'x']
    """
    aside = None
    if os.path.lexists(target):
        aside = os.path.join(os.path.dirname(target), f".dz-old-{uuid.uuid4().hex}-{os.path.basename(target)}")
        os.rename(target, aside)
    try:
        os.rename(staged, target)
    except BaseException:
        if aside is not None:
            os.rename(aside, target)
        raise
    if aside is not None:
        shutil.rmtree(aside)
