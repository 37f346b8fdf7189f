"""SQLiteStore: a whole hierarchy in one SQLite database file (stdlib ``sqlite3`` only).

Objects are rows of a table ``zarr(k TEXT PRIMARY KEY, v BLOB)``, the layout zarr 2's
``SQLiteStore`` used, so its files read here. Concurrency:

- the database is in WAL mode: readers never wait for a writer, and many reader
  processes share one file;
- each process and thread has its own connection, opened on first use (a pickled
  store carries the path only), with a ``busy_timeout``;
- each write (a task's ``set_many``, a delete, a conditional write) is one
  ``BEGIN IMMEDIATE`` transaction: it takes the database's write lock up front, so
  writers queue instead of deadlocking, and it is retried with jittered backoff while
  the database stays locked. Parallel writers (threads, processes, a distributed
  cluster on one machine) therefore work, one transaction at a time; a database that
  stays locked past the retries is a :class:`~dask_zarrio.errors.StoreError` naming
  it, never a bare ``sqlite3.OperationalError``.

SQLite's locking needs a local file system: do not put the file on NFS.
"""

from __future__ import annotations

import os
import re
import sqlite3
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from ...errors import StoreError
from ..base import Buffer, same_bytes
from ..support.keyvalue import KeyValueStore, PerProcess, TooLarge
from ..support.retry import RetryPolicy

__all__ = ["SQLiteStore"]

T = TypeVar("T")

#: zarr 2's SQLiteStore table name; another may be chosen with ``?table=``.
DEFAULT_TABLE = "zarr"
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
#: How long one statement waits for another connection's lock before reporting "locked".
BUSY_TIMEOUT_MS = 10_000


def _connect(path: str) -> sqlite3.Connection:
    # isolation_level=None: transactions are begun explicitly (BEGIN IMMEDIATE).
    # check_same_thread=False is safe: connections are per thread (PerProcess).
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    # WAL: readers do not block writers nor writers readers. Persistent in the file.
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


_CONNECTIONS: PerProcess[sqlite3.Connection] = PerProcess(_connect, per_thread=True)


def _locked(exc: BaseException) -> bool:
    text = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text)


class SQLiteStore(KeyValueStore):
    """A node of a hierarchy kept in one SQLite file; ``sqlite:///path/data.db[?table=NAME]``.

    Parameters
    ----------
    path
        The database file (created by the first write; a missing one reads as empty).
    root
        The node's path inside the database (``""``: the top).
    table
        The table holding the objects (``zarr``, as zarr 2 wrote).

    Examples
    --------
    >>> import tempfile, os
    >>> s = SQLiteStore(os.path.join(tempfile.mkdtemp(), "data.db"), "grp/arr")
    >>> s.set("c/0", b"abc"); s.get("c/0"), s.get_range("c/0", -2), s.parent().list_keys()
    (b'abc', b'bc', ['arr/c/0'])
    """

    scheme = "sqlite"

    def __init__(self, path: str, root: str = "", table: str = DEFAULT_TABLE) -> None:
        if not isinstance(table, str) or not _IDENTIFIER.fullmatch(table):
            raise StoreError(
                f"table={table!r} for {path!r} is not a plain SQL name: use letters, digits and '_' "
                f"(e.g. ?table={DEFAULT_TABLE})"
            )
        super().__init__(path, root, table=table)
        self.table = table

    @property
    def supports_node_replace(self) -> bool:
        # Renaming a node is one UPDATE of keys in one transaction: readers see the old
        # node or the new one, never a mix, and no value is copied.
        return True

    # -- connections and transactions ----------------------------------------------------------

    def _fail(self, exc: BaseException, what: str, full: str) -> StoreError:
        where = f"{self.scheme}://{self.path}" + (f"/{full}" if full else "")
        if _locked(exc):
            return StoreError(
                f"{what} {where} failed: the database stayed locked by other writers past "
                f"{BUSY_TIMEOUT_MS / 1000:.0f} s and the retries ({exc}); fewer parallel writers, or "
                "raise 'dask_zarrio.retry.attempts', let the writes through"
            )
        return StoreError(
            f"{what} {where} failed: {type(exc).__name__}: {exc}. Check that the file is a SQLite "
            f"database (not corrupt, not on a network file system) and that table {self.table!r} "
            "holds (k TEXT PRIMARY KEY, v BLOB)"
        )

    def _run(self, what: str, full: str, fn: Callable[[sqlite3.Connection], T], write: bool = False) -> T:
        """Run ``fn`` on this thread's connection; writes inside ``BEGIN IMMEDIATE`` … ``COMMIT``,
        retried while the database is locked; SQLite's errors become StoreErrors."""
        retry = RetryPolicy.from_config()
        for attempt in range(1, retry.attempts + 1):
            try:
                conn = _CONNECTIONS.get(self.path)
                if not write:
                    return fn(conn)
                self._ensure_table(conn)
                conn.execute("BEGIN IMMEDIATE")
                try:
                    result = fn(conn)
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                return result
            except sqlite3.Error as exc:
                if _locked(exc) and attempt < retry.attempts:
                    time.sleep(retry.delay(attempt))
                    continue
                if not write and "no such table" in str(exc):
                    raise _NoTable() from None
                raise self._fail(exc, what, full) from exc
        raise AssertionError("unreachable")

    def _ensure_table(self, conn: sqlite3.Connection) -> None:
        conn.execute(f"CREATE TABLE IF NOT EXISTS {self.table} (k TEXT PRIMARY KEY, v BLOB)")

    def _read(self, what: str, full: str, sql: str, args: tuple[Any, ...]) -> list[Any]:
        if not os.path.exists(self.path):
            return []  # reading must not create the file
        try:
            return self._run(what, full, lambda c: c.execute(sql.format(t=self.table), args).fetchall())
        except _NoTable:
            return []

    # -- primitives ----------------------------------------------------------------------------

    def _get(self, full: str, limit: int | None = None) -> Buffer | None:
        if limit is None:
            rows = self._read("GET", full, "SELECT v FROM {t} WHERE k = ?", (full,))
            return _blob(rows[0][0]) if rows else None
        # The value only when its length (which SQLite keeps in the record's header, no
        # page of the value read) is within the limit: one query, nothing big loaded.
        rows = self._read("GET", full, f"SELECT CASE WHEN {_LENGTH} <= ? THEN v END, {_LENGTH} FROM {{t}} WHERE k = ?",
                          (limit, full))
        if not rows:
            return None
        value, size = rows[0]
        if (size or 0) > limit:
            raise TooLarge(size)
        return b"" if value is None else _blob(value)

    def _get_range(self, full: str, start: int, length: int | None) -> bytes | None:
        # substr() on a BLOB cuts bytes, reading only the pages it needs; its negative
        # starts differ from Python slicing, so the first byte is computed here.
        first = "?" if start >= 0 else "max(length(v) + ?, 0)"
        cut = f"substr(v, {first} + 1)" if length is None else f"substr(v, {first} + 1, ?)"
        args = (start, full) if length is None else (start, length, full)
        rows = self._read("GET (range)", full, f"SELECT {cut} FROM {{t}} WHERE k = ?", args)
        if not rows:
            return None
        return b"" if rows[0][0] is None else _blob(rows[0][0])

    def _keys(self, prefix: str) -> list[str]:
        # A range on the primary key: an index seek, not a scan of the table.
        where, args = _prefix_range(prefix)
        rows = self._read("LIST", prefix, f"SELECT k FROM {{t}} WHERE {where} ORDER BY k", args)
        return [r[0] for r in rows]

    def _write(self, puts: dict[str, bytes], deletes: Iterable[str]) -> None:
        gone = list(deletes)
        first = next(iter(puts), gone[0] if gone else "")

        def write(conn: sqlite3.Connection) -> None:
            if gone:
                conn.executemany(f"DELETE FROM {self.table} WHERE k = ?", [(k,) for k in gone])
            if puts:
                conn.executemany(
                    f"INSERT INTO {self.table} (k, v) VALUES (?, ?) ON CONFLICT(k) DO UPDATE SET v = excluded.v",
                    list(puts.items()),
                )

        self._run("PUT" if puts else "DELETE", first, write, write=True)

    def _set_if_unchanged(self, full: str, value: bytes, expected: bytes | None) -> bool:
        def compare_and_set(conn: sqlite3.Connection) -> bool:
            row = conn.execute(f"SELECT v FROM {self.table} WHERE k = ?", (full,)).fetchone()
            if not same_bytes(None if row is None else _blob(row[0]), expected):
                return False
            conn.execute(
                f"INSERT INTO {self.table} (k, v) VALUES (?, ?) ON CONFLICT(k) DO UPDATE SET v = excluded.v",
                (full, value),
            )
            return True

        # The read happens inside BEGIN IMMEDIATE: no other writer between compare and set.
        return self._run("PUT (conditional)", full, compare_and_set, write=True)

    def replace_node(self, staged: Any) -> None:
        if not isinstance(staged, SQLiteStore) or (staged.path, staged.table) != (self.path, self.table):
            return super().replace_node(staged)
        old, new = f"{self.root}/", f"{staged.root}/"

        def swap(conn: sqlite3.Connection) -> None:
            where_old, args_old = _prefix_range(old)
            where_new, args_new = _prefix_range(new)
            conn.execute(f"DELETE FROM {self.table} WHERE {where_old}", args_old)
            conn.execute(
                f"UPDATE {self.table} SET k = ? || substr(k, ?) WHERE {where_new}", (old, len(new) + 1, *args_new)
            )

        self._run("RENAME", self.root, swap, write=True)

    def __repr__(self) -> str:
        table = "" if self.table == DEFAULT_TABLE else f", table={self.table!r}"
        return f"SQLiteStore({self.describe()!r}{table})"


#: A value's size in bytes: TEXT rows (written by other programs) count their UTF-8 bytes.
_LENGTH = "(CASE WHEN typeof(v) = 'text' THEN length(CAST(v AS BLOB)) ELSE length(v) END)"


def _prefix_range(prefix: str) -> tuple[str, tuple[str, ...]]:
    """The ``WHERE`` clause (and its arguments) of every key starting with ``prefix``, as a
    range on the primary key: ``k >= prefix AND k < the first string past all of them``.

    SQLite compares TEXT by its UTF-8 bytes, which sort as code points do: the bound is
    the prefix with its last character raised by one (trailing U+10FFFF, which has no
    successor, dropped first; surrogates, which UTF-8 cannot spell, skipped). A prefix
    of U+10FFFF only, or none, has no upper bound.

    Examples
    --------
    >>> _prefix_range("g/"), _prefix_range("a\U0010ffff"), _prefix_range("")
    (('k >= ? AND k < ?', ('g/', 'g0')), ('k >= ? AND k < ?', ('a\U0010ffff', 'b')), ('k >= ?', ('',)))
    """
    kept = prefix.rstrip("\U0010ffff")
    if not kept:
        return "k >= ?", (prefix,)
    code = ord(kept[-1]) + 1
    if 0xD800 <= code <= 0xDFFF:
        code = 0xE000
    return "k >= ? AND k < ?", (prefix, kept[:-1] + chr(code))


class _NoTable(Exception):
    """The database has no table of ours yet: it holds no object."""


def _blob(value: Any) -> bytes:
    # Rows written by other programs may hold TEXT instead of BLOB.
    return value.encode() if isinstance(value, str) else bytes(value)
