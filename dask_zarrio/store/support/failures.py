"""What a store's failures become: permission refusals named as such, credentials never shown.

Every store translates the exceptions of its requests through :func:`store_error`, with the
credential values :func:`secret_values` finds in its ``storage_options``.
"""

from __future__ import annotations

import errno
import re
from collections.abc import Iterable, Iterator
from typing import Any

from ...errors import StoreError, StorePermissionError, ZarrioError, redact_url

__all__ = ["secret_values", "store_error"]


#: What each request name of the stores' messages does, for permission errors.
_OPERATIONS = {"OPEN": "open", "GET": "read", "HEAD": "read", "PUT": "write", "DELETE": "delete", "LIST": "list"}


#: storage_options entries whose values are credentials (s3fs ``key``/``secret``/``token``,
#: botocore's ``aws_secret_access_key``, gcsfs ``token``, adlfs ``sas_token``/``account_key``/
#: ``connection_string``, which holds the account key).
_SECRET_OPTION = re.compile(r"key|secret|token|password|credential|sas|signature|connection_string", re.IGNORECASE)


def secret_values(options: Any) -> Iterator[str]:
    """String values under credential-like keys of ``options`` (storage_options), nested too.

    Examples
    --------
    >>> list(secret_values({"key": "AKIA", "client_kwargs": {"aws_secret_access_key": "s"}, "anon": False}))
    ['AKIA', 's']
    """
    if isinstance(options, dict):
        for name, value in options.items():
            if isinstance(value, str) and _SECRET_OPTION.search(str(name)):
                yield value
            else:
                yield from secret_values(value)


#: botocore's exceptions for credentials it could not find (or found in part): said how to give them.
_NO_CREDENTIALS = {"NoCredentialsError", "PartialCredentialsError"}


def _where(what: str) -> tuple[str, str]:
    """``"GET (range) s3://b/a.zarr/c/0"`` -> ``("read", "s3://b/a.zarr/c/0")``: the operation and the key."""
    verb, _, where = what.partition(" ")
    if where.startswith("("):
        where = where.partition(") ")[2]
    return _OPERATIONS.get(verb, verb.lower()), where


def store_error(exc: BaseException, what: str, secrets: Iterable[str] = ()) -> BaseException | None:
    """The error to raise instead of ``exc`` from request ``what`` (``"GET s3://b/a/c/0"``).

    Credentials botocore could not find become a :class:`~dask_zarrio.errors.StorePermissionError`
    saying how to give them. A refusal (``PermissionError``, ``EACCES``/``EPERM``, HTTP 403) becomes a
    :class:`~dask_zarrio.errors.StorePermissionError` naming the operation, the key and
    what to check; an error whose text shows a credential (URL password, one of
    ``secrets``) becomes a :class:`~dask_zarrio.errors.StoreError` with it redacted.
    ``None``: raise ``exc`` itself.

    Examples
    --------
    >>> print(store_error(PermissionError(13, "Permission denied"), "PUT file:///data/a.zarr/zarr.json"))
    permission denied: cannot write file:///data/a.zarr/zarr.json (PermissionError: [Errno 13] ...
    """
    text = str(exc)
    if isinstance(exc, ZarrioError):
        # Already ours (retries given up, ...): only a credential in its text is changed.
        clean = redact_url(text, secrets)
        return None if clean == text else type(exc)(clean)
    status = getattr(exc, "status", None) or getattr(exc, "code", None)
    refused = isinstance(exc, PermissionError) or status == 403 or (
        isinstance(exc, OSError) and exc.errno in (errno.EACCES, errno.EPERM)
    )
    if any(cls.__name__ in _NO_CREDENTIALS for cls in type(exc).__mro__):
        operation, where = _where(what)
        return StorePermissionError(
            f"no credentials: cannot {operation} {redact_url(where, secrets)} "
            f"({type(exc).__name__}: {redact_url(text, secrets)}). For a public bucket pass "
            "storage_options={'anon': True}; else give credentials: the environment variables "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a profile named in AWS_PROFILE, or "
            "storage_options={'key': ..., 'secret': ...}"
        )
    if refused:
        operation, where = _where(what)  # "GET (range) s3://b/a.zarr/c/0": the verb names the operation
        return StorePermissionError(
            f"permission denied: cannot {operation} {redact_url(where, secrets)} "
            f"({type(exc).__name__}: {redact_url(text, secrets)}). Check the credentials "
            "(storage_options, environment, instance role) and the access rights of this "
            "key's folder or bucket for this operation",
        )
    if redact_url(text, secrets) != text:
        return StoreError(f"{redact_url(what, secrets)} failed: {type(exc).__name__}: {redact_url(text, secrets)}")
    return None
