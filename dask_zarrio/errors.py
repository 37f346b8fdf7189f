"""The exceptions dask_zarrio raises.

Every error derives from :class:`ZarrioError`, itself a :class:`ValueError`, and
where a built-in exception has the same meaning the error subclasses it too, so
``except FileNotFoundError`` keeps working for code written against fsspec or
zarr-python. Messages quote the offending value with ``!r``, name the key or
metadata field, and say how to fix the problem.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = [
    "ArgumentTypeError",
    "ArrayNotFoundError",
    "ChunkDecodeError",
    "ConcurrentWriteError",
    "ContainsArrayError",
    "IncompleteWriteError",
    "MetadataError",
    "MisalignedWriteError",
    "MissingDependencyError",
    "MissingVariableError",
    "StoreError",
    "StorePermissionError",
    "UnknownCodecError",
    "UnsafeCodecError",
    "ZarrioError",
    "ZarrioWarning",
    "redact_url",
]


class ZarrioError(ValueError):
    """Base class of every error raised by dask_zarrio.

    Errors pickle by constructor arguments (the house's ``__reduce__`` habit), so one raised
    on a distributed worker reaches the client as its own class with its message. Without
    it, tblib (which distributed uses for worker errors) rebuilds an error through the
    first base's ``__new__``, and ``ValueError.__new__`` refuses a class that is also an
    :class:`OSError` (``StoreError``, ``ArrayNotFoundError``): the client got a plain
    ``Exception`` instead.
    """

    def __reduce__(self) -> tuple[type[ZarrioError], tuple[object, ...], dict[str, object] | None]:
        return type(self), self.args, (self.__dict__ or None)


class ArrayNotFoundError(ZarrioError, FileNotFoundError):
    """No array metadata at the URL; the message says what is there instead."""


class ArgumentTypeError(ZarrioError, TypeError):
    """An argument of a dask_zarrio call has a type it cannot take (``attributes="x"``).

    Also a :class:`TypeError`, what Python raises for a wrong type. A wrong *value* of the
    right type is a plain :class:`ZarrioError`.
    """


class MetadataError(ZarrioError):
    """A stored metadata document is not valid JSON or has an invalid field.

    Only for documents read from a store; a mistake in the arguments that describe a new
    array (``dz.write``, ``dz.init``) is a :class:`ZarrioError` (or :class:`ArgumentTypeError`).
    """


class UnknownCodecError(MetadataError):
    """A stored metadata document names a codec that dask_zarrio does not know."""


class UnsafeCodecError(ZarrioError, PermissionError):
    """The codec would execute code from the store (pickle) and was not opted in."""


class ChunkDecodeError(ZarrioError):
    """The bytes stored under a chunk key do not decode to a valid chunk."""


class ContainsArrayError(ZarrioError, FileExistsError):
    """Something already exists where ``mode="w-"`` was asked to create an array."""


class MisalignedWriteError(ZarrioError):
    """Dask blocks or a region do not cover whole storage chunks (or shards), so a write would race.

    Only for alignment; arguments of the wrong length or type are a :class:`ZarrioError`.
    """


class StoreError(ZarrioError, OSError):
    """A store request kept failing after its retries; the message names the key."""


class StorePermissionError(StoreError, PermissionError):
    """The store refused a request (HTTP 403, a folder without access rights); never retried.

    Both a :class:`StoreError` and a :class:`PermissionError`, so ``except PermissionError``
    written against fsspec keeps working. The message names the operation and the key.
    """


#: ``scheme://user:password@`` (the password may hold an unencoded ``@``; it ends at the
#: last ``@`` before the host's first ``/``).
_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s'\"]*):(?P<password>[^\s/'\"]*)@")
#: ``user:password@host`` in any text, with no scheme before it: botocore quotes the bucket of
#: ``s3://user:password@host/b`` as ``"user:password@host"``. The password ends at the last ``@``
#: before a space, quote or ``/``; what follows must start a host name.
_BARE_USERINFO = re.compile(r"(?P<head>[\w.%+~-]+):(?P<password>[^\s/'\"]+)@(?=[\w\[])")
#: Query parameters that carry credentials: presigned S3 URLs, Azure SAS tokens, OAuth tokens.
_SECRET_QUERY = re.compile(
    r"(?P<head>[?&](?:x-amz-signature|x-amz-credential|x-amz-security-token|x-goog-signature|x-goog-credential"
    r"|sig|signature|token|access_token|password|secret)=)[^&#\s'\"]*",
    re.IGNORECASE,
)


def redact_url(text: object, secrets: Iterable[str] = ()) -> str:
    """``text`` (a URL, or a message quoting URLs) with every credential replaced by ``***``.

    The one function through which every location reaches a message, repr, log line or
    task name: URL passwords (``scheme://user:***@host``, chained URLs included, and
    ``user:***@host`` without a scheme, as botocore quotes a bucket), secret
    query parameters (presigned URLs, SAS tokens) and the given ``secrets`` (the values of
    a store's ``storage_options`` such as ``key``/``secret``/``token``) are hidden.

    Examples
    --------
    >>> redact_url("simplecache::https://me:hunter2@example.org/a.zarr?sig=abc&x=1")
    'simplecache::https://me:***@example.org/a.zarr?sig=***&x=1'
    >>> redact_url('Invalid bucket name "me:hunter2@example.org"')
    'Invalid bucket name "me:***@example.org"'
    >>> redact_url("secret AKIA123 in a message", secrets=["AKIA123"])
    'secret *** in a message'
    """
    out = _USERINFO.sub(r"\g<head>:***@", str(text))
    out = _BARE_USERINFO.sub(r"\g<head>:***@", out)
    out = _SECRET_QUERY.sub(r"\g<head>***", out)
    # Longest first: a secret that contains another must not be left half shown.
    for secret in sorted({s for s in secrets if isinstance(s, str) and len(s) >= 4}, key=len, reverse=True):
        out = out.replace(secret, "***")
    return out


class IncompleteWriteError(ZarrioError):
    """A write that creates or replaces an array began there and has not finished.

    The array's metadata is committed only after all its data, so no reader sees a
    mix of old, new and fill values; the message says how to resume or restart.
    """


class ConcurrentWriteError(ZarrioError):
    """Another writer changed the array's metadata first (e.g. two appends at once).

    Nothing was written by the losing call; re-run it.
    """


class MissingDependencyError(ZarrioError, ImportError):
    """An optional package a store needs is not installed; the message gives the ``pip`` line.

    Also an :class:`ImportError`, so ``except ImportError`` around optional features works.
    """


class MissingVariableError(ZarrioError, KeyError):
    """A call names a variable that the Dataset does not have (``encoding={"nope": ...}``).

    Also a :class:`KeyError`, what ``Dataset.to_zarr`` raises there; its message reads as
    written (a plain ``KeyError`` would quote it).
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class ZarrioWarning(UserWarning):
    """What dask_zarrio warns a user about (a region write that cuts stored chunks ...).

    Sent through :func:`warnings.warn`, so that it can be filtered as xarray's and dask's
    warnings are (``warnings.filterwarnings("ignore", category=dz.ZarrioWarning)``), and
    logged on the ``dask_zarrio`` logger as well.
    """
