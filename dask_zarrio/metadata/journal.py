"""The write journal: the record of a write that creates or replaces an array.

A new array's metadata is committed only after all of its data (so that no
reader, dask_zarrio or another, ever sees a mix of old values, new values and
fill). Until then the node holds :data:`JOURNAL_KEY`, a small JSON document with
the metadata the write will commit and when it began. :func:`read_node` finds it
where metadata is missing and raises :class:`IncompleteWriteError`, and
``dz.write(..., resume=True)`` reads it to continue the write.

The journal also records which command line began the write (:data:`WRITING_COMMAND`,
set by ``dz copy``/``dz rechunk``), so that the advice a later reader gets is spelled
the way the write was started: ``--resume``/``--overwrite`` for a command, keyword
arguments for a Python call.
"""

from __future__ import annotations

import json
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ..errors import IncompleteWriteError, MetadataError
from ..store import Store
from .spec import ArrayMetadata

__all__ = ["JOURNAL_KEY", "WRITING_COMMAND", "WriteJournal", "begin_write", "end_write", "pending_write"]

#: Where the journal lives, inside the array's node ("." keeps it out of member listings).
JOURNAL_KEY = ".dz-write.json"
#: The ``dz`` command writing in this context (``"dz rechunk"``), ``None`` for a Python call.
#: Only the command's name is recorded: its arguments may hold credentials.
WRITING_COMMAND: ContextVar[str | None] = ContextVar("dask_zarrio_writing_command", default=None)


@dataclass(frozen=True)
class WriteJournal:
    """An unfinished write: the metadata it will commit, and when it began (UTC, ISO 8601).

    Examples
    --------
    >>> j = WriteJournal.from_dict({"started": "2026-01-01T00:00:00+00:00", "metadata": {"zarr_format": 3}})
    >>> j.to_dict()["metadata"]
    {'zarr_format': 3}
    """

    started: str
    metadata: dict[str, Any]
    command: str | None = None  # the dz command that began it ("dz rechunk"), None for a Python call

    @classmethod
    def from_dict(cls, doc: object) -> WriteJournal:
        """Parse a journal document; anything malformed is a :class:`MetadataError`."""
        if (not isinstance(doc, dict) or not isinstance(doc.get("metadata"), dict)
                or not isinstance(doc.get("started"), str)):
            raise MetadataError(
                f"{JOURNAL_KEY} must be an object with 'started' (a string) and 'metadata' (an "
                f"object), not {doc!r}; delete it and rewrite the array with mode='w'"
            )
        command = doc.get("command")
        # Shown in advice: only a dz command name is taken from the store, never other text.
        known = isinstance(command, str) and command.replace(" ", "").isalpha() and command.startswith("dz ")
        return cls(doc["started"], doc["metadata"], command if known else None)

    def to_dict(self) -> dict[str, Any]:
        """The JSON document."""
        doc = {"dask_zarrio": "write journal", "started": self.started, "metadata": self.metadata}
        return doc if self.command is None else {**doc, "command": self.command}

    def message(self, store: Store) -> str:
        """What a reader is told: which write did not finish, and how to finish it, as it was begun.

        Examples
        --------
        >>> from dask_zarrio.store import MappingStore
        >>> j = WriteJournal("2026-01-01T00:00:00+00:00", {}, "dz rechunk")
        >>> j.message(MappingStore({})).rsplit(". ", 1)[1][:60]
        'Re-run the same dz rechunk command with --resume to write on'
        """
        if self.command is not None:
            return (
                f"the array at {store.describe()} is incomplete: a {self.command} begun at {self.started} has "
                "not finished (it failed, was interrupted or is still running); its metadata is committed only "
                f"after all its data. Re-run the same {self.command} command with --resume to write only what "
                "is missing, or with --overwrite to start over"
            )
        return (
            f"the array at {store.describe()} is incomplete: a dz.write begun at {self.started} "
            f"has not finished (it failed, was interrupted, is still running, or was built with "
            f"compute=False and not computed yet); its metadata is committed only after all its "
            "data. Re-run the same dz.write with resume=True to write only what is missing, or "
            "with mode='w' to start over"
        )


def begin_write(store: Store, meta: ArrayMetadata) -> None:
    """Record that a write of ``meta`` begins at ``store`` (before any of its data).

    Examples
    --------
    >>> from dask_zarrio.store import MappingStore
    >>> from dask_zarrio.metadata.create import new_array_metadata
    >>> import numpy as np
    >>> m = {}
    >>> begin_write(MappingStore(m), new_array_metadata(shape=(2,), dtype=np.dtype("i1"), chunk_shape=(2,)))
    >>> pending_write(MappingStore(m)).metadata["shape"]
    [2]
    """
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    doc = WriteJournal(started, json.loads(json.dumps(meta.to_dict(), default=str)), WRITING_COMMAND.get()).to_dict()
    store.set(JOURNAL_KEY, json.dumps(doc, indent=2).encode())


def pending_write(store: Store) -> WriteJournal | None:
    """The unfinished write recorded at ``store``, or ``None``.

    Examples
    --------
    >>> from dask_zarrio.store import MappingStore
    >>> pending_write(MappingStore({})) is None
    True
    """
    raw = store.get(JOURNAL_KEY)
    if raw is None:
        return None
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise MetadataError(
            f"{store.describe(JOURNAL_KEY)} is not valid JSON ({e}); delete it and rewrite the array with mode='w'"
        ) from e
    return WriteJournal.from_dict(doc)


def end_write(store: Store) -> None:
    """The write finished and its metadata is committed: remove the journal.

    Examples
    --------
    >>> from dask_zarrio.store import MappingStore
    >>> m = {JOURNAL_KEY: b"{}"}
    >>> end_write(MappingStore(m)); m
    {}
    """
    store.delete(JOURNAL_KEY)


def incomplete(store: Store) -> IncompleteWriteError | None:
    """The error for a node that holds a journal but no metadata, else ``None``."""
    journal = pending_write(store)
    return None if journal is None else IncompleteWriteError(journal.message(store))
