"""Azure Blob Storage through adlfs (``az://container/path``, ``abfs://``): what fsspec lacks.

:class:`~dask_zarrio.store.FsspecStore` serves adlfs like any async filesystem (one
GET per chunk, concurrent batches, retries). Two things need the blob client itself:

- **Ranges.** Azure has no suffix range (``bytes=-n``, the last bytes of a shard index)
  and answers ``416`` past the end, where Python slicing gives ``b""``: a negative
  start first asks for the blob's size.
- **Conditional writes.** ``upload_blob`` takes ``If-None-Match: *`` (``overwrite=False``)
  and ``If-Match: <ETag>`` (``etag=``, ``match_condition=IfNotModified``), checked by
  the service, so a compare-and-swap of a metadata document is atomic across machines.

Credentials come from ``storage_options`` (``connection_string``, ``account_name`` with
``account_key``/``sas_token``/``credential``) or adlfs's environment variables
(``AZURE_STORAGE_CONNECTION_STRING``, ``AZURE_STORAGE_ACCOUNT_NAME`` and
``AZURE_STORAGE_ACCOUNT_KEY``...). Needs ``pip install 'dask_zarrio[azure]'``.
"""

from __future__ import annotations

from typing import Any

import fsspec
import fsspec.asyn

from ..base import same_bytes

__all__ = ["acat_range", "is_azure", "set_if_unchanged"]


def is_azure(fs: fsspec.AbstractFileSystem) -> bool:
    """Whether ``fs`` is adlfs's blob filesystem (with a ``service_client``).

    Examples
    --------
    >>> is_azure(fsspec.filesystem("memory"))
    False
    """
    return type(fs).__name__ == "AzureBlobFileSystem" and hasattr(fs, "service_client")


def _status(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None)
    return status if isinstance(status, int) else None


async def acat_range(fs: Any, path: str, start: int, length: int | None) -> bytes:
    """Bytes ``[start, start + length)`` of a blob as Python slicing cuts them
    (``FileNotFoundError`` when it is absent)."""
    if start < 0:
        size = int((await fs._info(path))["size"])
        start = max(0, size + start)
    if length == 0:
        if not await fs._isfile(path):
            raise FileNotFoundError(path)
        return b""
    try:
        return bytes(await fs._cat_file(path, start=start, end=None if length is None else start + length))
    except Exception as exc:  # noqa: BLE001 (only "range not satisfiable" is an answer)
        if _status(exc) != 416:
            raise
        if not await fs._isfile(path):
            raise FileNotFoundError(path) from None
        return b""


async def _set_if_unchanged(fs: Any, path: str, data: bytes, expected: bytes | None) -> bool:
    from azure.core import MatchConditions
    from azure.core.exceptions import (
        ResourceExistsError,
        ResourceModifiedError,
        ResourceNotFoundError,
    )

    container, blob, _ = fs.split_path(path)
    try:
        async with fs.service_client.get_blob_client(container=container, blob=blob) as client:
            if expected is None:
                await client.upload_blob(data, overwrite=False, metadata={"is_directory": "false"})
                return True
            # Body and ETag from one GET: the ETag then names exactly the bytes compared.
            stream = await client.download_blob()
            current = await stream.readall()
            if not same_bytes(current, expected):
                return False
            await client.upload_blob(
                data, overwrite=True, etag=stream.properties.etag, match_condition=MatchConditions.IfNotModified,
                metadata={"is_directory": "false"},
            )
            return True
    except (ResourceExistsError, ResourceModifiedError, ResourceNotFoundError):
        return False  # another writer first (409/412), or the blob was deleted meanwhile
    except Exception as exc:  # noqa: BLE001
        if _status(exc) in (409, 412):
            return False
        raise
    finally:
        fs.invalidate_cache(path)


def set_if_unchanged(fs: fsspec.AbstractFileSystem, path: str, data: bytes, expected: bytes | None) -> bool:
    """Store ``data`` at ``path`` only if the blob still equals ``expected`` (``None``: absent).

    One GET (body and ETag), then one conditional PUT; ``False`` when the blob differs or
    the service refuses the precondition (a retried PUT that did land reads as lost: the
    caller rereads and finds its own document, as after any lost race).
    """
    return bool(fsspec.asyn.sync(fs.loop, _set_if_unchanged, fs, path, data, expected))
