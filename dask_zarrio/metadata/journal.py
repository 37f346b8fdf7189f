"""The write journal: the record of a write that creates or replaces an array.

A new array's metadata is committed only after all of its data (so that no
reader, dask_zarrio or another, ever sees a mix of old values, new values and
fill). Until then the node holds :data:`JOURNAL_KEY`, a small JSON document with
the metadata the write will commit and when it began. :func:`read_node` finds it
where metadata is missing and raises :class:`IncompleteWriteError`, and
``dz.write(..., resume=True)`` reads it to continue the write.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ..errors import IncompleteWriteError, MetadataError
from ..store import Store
from .spec import ArrayMetadata

__all__ = ["JOURNAL_KEY", "WriteJournal", "begin_write", "end_write", "pending_write"]

#: Where the journal lives, inside the array's node ("." keeps it out of member listings).
JOURNAL_KEY = ".dz-write.json"


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

    @classmethod
    def from_dict(cls, doc: object) -> WriteJournal:
        """Parse a journal document; anything malformed is a :class:`MetadataError`."""
        if (not isinstance(doc, dict) or not isinstance(doc.get("metadata"), dict)
                or not isinstance(doc.get("started"), str)):
            raise MetadataError(
                f"{JOURNAL_KEY} must be an object with 'started' (a string) and 'metadata' (an "
                f"object), not {doc!r}; delete it and rewrite the array with mode='w'"
            )
        return cls(doc["started"], doc["metadata"])

    def to_dict(self) -> dict[str, Any]:
        """The JSON document."""
        return {"dask_zarrio": "write journal", "started": self.started, "metadata": self.metadata}

    def message(self, store: Store) -> str:
        """What a reader is told: which write did not finish, and how to finish it."""
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
    doc = WriteJournal(started, json.loads(json.dumps(meta.to_dict(), default=str))).to_dict()
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
