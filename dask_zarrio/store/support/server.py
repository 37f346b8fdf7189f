"""What the database-backed stores (Redis, MongoDB) share: one URL, a key prefix, a lazy client.

A :class:`ServerStore` is rooted at a node path that prefixes every key it stores
(``grp/a.zarr/c/0``), like :class:`~dask_zarrio.store.MappingStore` over a dict. It
pickles by constructor arguments (URL, node path, ``storage_options``, retry policy):
a worker opens its own client on first use (one per process and server, cached
here), so no socket or connection pool ever travels in a task. Every request goes
through :meth:`ServerStore._call`: the subclass's client errors are translated into
built-in ``ConnectionError``/``PermissionError`` (which :mod:`dask_zarrio.store.support.retry`
retries or refuses), and what is left after the retries becomes a
:class:`~dask_zarrio.errors.StoreError` naming the request's URL with no password.
"""

from __future__ import annotations

import importlib
import os
import posixpath
import socket
import threading
from abc import abstractmethod
from collections.abc import Callable
from functools import lru_cache
from types import ModuleType
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

from dask.base import tokenize

from ...errors import MissingDependencyError, ZarrioError
from ..base import FORBIDDEN_CHARACTERS, Store, join_key, member_path, node_path, redact_url
from ..locations import Location, path_segments
from .failures import secret_values, store_error
from .retry import RetryPolicy

__all__ = ["Credentials", "ServerStore", "require", "url_segments"]

T = TypeVar("T")

#: One client per (process, store class, URL, options): children and pickled copies of a
#: store reuse it; a forked worker (another pid) opens its own.
_CLIENTS: dict[tuple[Any, ...], Any] = {}
_CLIENTS_LOCK = threading.Lock()


def require(module: str, extra: str) -> ModuleType:
    """Import an optional package, or raise an error giving the ``pip install`` line.

    Examples
    --------
    >>> require("json", "redis").__name__
    'json'
    >>> require("no_such_package_xyz", "redis")
    Traceback (most recent call last):
    ...
    dask_zarrio.errors.MissingDependencyError: this store needs the package 'no_such_package_xyz', ...
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"this store needs the package {module!r}, which is not installed: "
            f"pip install 'dask_zarrio[{extra}]'"
        ) from exc


def url_segments(url: str, path: str, example: str) -> list[str]:
    """The ``/``-separated segments of a server URL's ``path``, percent-decoded, none dropped.

    The raw ``url`` is checked first: ``urlsplit`` silently deletes newlines, carriage
    returns and tabs, so ``redis://h/0/g/a\\nb`` would name the sibling ``g/ab``. The
    segments after the database are a node path for :func:`~dask_zarrio.store.base.node_path`.

    Examples
    --------
    >>> url_segments("redis://h/0/g/a%20b/", "/0/g/a%20b/", "redis://host/0/node")
    ['0', 'g', 'a b', '']
    """
    if FORBIDDEN_CHARACTERS.search(url):
        raise ZarrioError(
            f"url={redact_url(url)!r} holds a control character, a backslash or another character no "
            f"member name may hold; write {example} with printable names"
        )
    inner = path[1:] if path.startswith("/") else path
    return [unquote(s) for s in inner.split("/")] if inner else []


class Credentials(dict):  # type: ignore[type-arg]
    """``storage_options`` whose ``repr`` hides credential values (a pickled store's arguments
    show in debuggers, dask dashboards and error reports).

    Examples
    --------
    >>> Credentials({"password": "hunter2", "socket_timeout": 5})
    Credentials({'password': '***', 'socket_timeout': 5})
    """

    def __repr__(self) -> str:
        secrets = list(secret_values(dict(self)))
        shown = {k: ("***" if isinstance(v, str) and v in secrets else v) for k, v in self.items()}
        return f"Credentials({shown!r})"


class ServerStore(Store):
    """Keys under a node path of a database server; subclasses supply the requests.

    Subclasses implement :meth:`_connect` (a client from ``self.url`` and
    ``self.options``), :meth:`_translate` (their client's errors to built-in ones) and
    the :class:`~dask_zarrio.store.Store` methods on full keys (:meth:`_path`).
    """

    def __init__(
        self, url: str, root: str = "", storage_options: dict[str, Any] | None = None, retry: RetryPolicy | None = None
    ) -> None:
        self.url = url.rstrip("/")
        self.root = node_path(root)
        self.options = Credentials(storage_options or {})
        self._retry = retry

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.url, self.root, self.options, self._retry))

    @property
    def retry(self) -> RetryPolicy:
        """The policy given to this store, else the one the config keys set right now."""
        return self._retry if self._retry is not None else RetryPolicy.from_config()

    @property
    def supports_listing(self) -> bool:
        # Keys are enumerated by prefix on the server (SCAN, a regex on _id).
        return True

    @property
    def supports_deletes(self) -> bool:
        return True

    @property
    def supports_conditional_writes(self) -> bool:
        # Both servers compare and set in one server-side step (a Lua script, an update
        # filtered on the old value).
        return True

    @abstractmethod
    def _connect(self) -> Any:
        """A new client for ``self.url`` (called once per process)."""

    def _translate(self, exc: BaseException) -> BaseException:
        """The built-in error meaning what the client's ``exc`` means (``exc`` if none)."""
        return exc

    def client(self) -> Any:
        """This process's client for the store's server (opened on first use)."""
        key = (os.getpid(), type(self).__name__, self.url, tokenize(dict(self.options)))
        with _CLIENTS_LOCK:
            if key not in _CLIENTS:
                _CLIENTS[key] = self._connect()
            return _CLIENTS[key]

    def _secrets(self) -> list[str]:
        return list(secret_values(dict(self.options)))

    def _call(self, what: str, key: str, fn: Callable[[Any], T]) -> T:
        """Run ``fn(client)`` with retries; errors named ``what <url of key>``, no password."""
        request = f"{what} {self.describe(key)}"

        def attempt() -> T:
            try:
                return fn(self.client())
            except Exception as exc:  # noqa: BLE001 (translated for the retry policy)
                translated = self._translate(exc)
                if translated is exc:
                    raise
                raise translated from exc

        try:
            return self.retry.call(attempt, request)
        except Exception as exc:  # noqa: BLE001
            error = store_error(exc, request, self._secrets())
            if error is None:
                raise
            raise error from None

    def _path(self, key: str) -> str:
        return join_key(self.root, key)

    def _prefix(self) -> str:
        return f"{self.root}/" if self.root else ""

    def list_dir(self) -> list[str]:
        return sorted({k.split("/", 1)[0] for k in self.list_keys()})

    def is_empty(self) -> bool:
        return not self.list_keys()

    def child(self, path: str) -> ServerStore:
        return type(self)(self.url, self._path(member_path(path)), self.options, self._retry)

    def parent(self) -> ServerStore | None:
        if not self.root:
            return None
        return type(self)(self.url, posixpath.dirname(self.root), self.options, self._retry)

    @property
    def name(self) -> str:
        return posixpath.basename(self.root)

    def _location(self) -> str:
        """The URL that :meth:`describe` puts the node path after."""
        return self.url

    def describe(self, key: str = "") -> str:
        path = self._path(key)
        return redact_url(f"{self._location()}/{path}" if path else self._location(), self._secrets())

    def location(self) -> Location:
        # One server and database (and MongoDB collection) is one key space, however its host
        # is spelled (localhost, 127.0.0.1) and with or without TLS (redis://, rediss://).
        parts = urlsplit(self._location())
        hosts = tuple(sorted(_server(h) for h in parts.netloc.rpartition("@")[2].split(",")))
        return Location((parts.scheme.rstrip("s"), hosts, parts.path.strip("/")), path_segments(self.root),
                        self.describe())

    def token(self) -> str:
        # The URL holds no password (it is moved to the options); options are hashed.
        return tokenize(type(self).__name__, self.url, self.root, dict(self.options))


@lru_cache(maxsize=64)
def _server(netloc: str) -> tuple[str, str]:
    """``host:port`` as ``(address, port)``: the host's address where it resolves (``localhost``
    and ``127.0.0.1`` are one server), else its lower-cased name."""
    host, _, port = netloc.rpartition(":") if netloc.rpartition(":")[2].isdigit() else (netloc, "", "")
    host = host.strip("[]").lower()
    try:
        host = str(socket.getaddrinfo(host, None)[0][4][0])
    except (OSError, UnicodeError, IndexError):
        pass
    return host, port
