"""RedisStore: chunks and metadata as Redis strings, keys prefixed by the node path.

``redis://host:port/db/grp/a.zarr`` is database ``db`` (default 0) of the server,
every key of the node stored as ``grp/a.zarr/<key>``. ``rediss://`` uses TLS. The
password comes from ``storage_options={"password": ...}`` (or ``username`` too), else
the ``REDISCLI_AUTH`` environment variable of each process (then no secret travels
in a pickled store at all); a password written in the URL is moved out of it. It
never shows in ``repr``, task names, logs or errors.

One round trip per request: ``get_many`` is one ``MGET`` for all the chunks of a task,
``set_many`` one pipelined batch of ``SET``s, a byte range and a conditional write are
Lua scripts run by the server (the range cut there, compare-and-set atomic). redis-py's
own retries are switched off: :mod:`dask_zarrio.store.support.retry` retries dropped connections and
timeouts with the same config keys as every other store, then raises
:class:`~dask_zarrio.errors.StoreError` naming the URL. Needs ``pip install
'dask_zarrio[redis]'``.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import unquote, urlsplit

from ...errors import ZarrioError
from ..base import Buffer, member_path, redact_url, too_large
from ..support.retry import RetryPolicy
from ..support.server import ServerStore, require, url_segments

__all__ = ["RedisStore"]

#: Python slicing of one string, on the server: ``false`` (nil) when the key is absent.
_RANGE_LUA = """
local n = redis.call('STRLEN', KEYS[1])
if n == 0 and redis.call('EXISTS', KEYS[1]) == 0 then return false end
local s = tonumber(ARGV[1])
local len = tonumber(ARGV[2])
if s < 0 then s = math.max(0, n + s) end
local e = n
if len >= 0 then e = math.min(n, s + len) end
if s >= e then return '' end
return redis.call('GETRANGE', KEYS[1], s, e - 1)
"""

#: Compare-and-set: ARGV[1] '0' = only where no key is, else only where the value is ARGV[2].
_SWAP_LUA = """
local cur = redis.call('GET', KEYS[1])
if ARGV[1] == '0' then
  if cur then return 0 end
elseif (not cur) or cur ~= ARGV[2] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[3])
return 1
"""

#: GET of each key whose value has at most ARGV[1] bytes (STRLEN first, on the server):
#: the value, ``false`` (nil) when absent, or the size (an integer) when over the limit.
_BOUNDED_GET_LUA = """
local limit = tonumber(ARGV[1])
local out = {}
for i, key in ipairs(KEYS) do
  local n = redis.call('STRLEN', key)
  if n > limit then
    out[i] = n
  else
    local v = redis.call('GET', key)
    if v then out[i] = v else out[i] = false end
  end
end
return out
"""

#: Characters that SCAN's MATCH pattern treats as wildcards.
_GLOB = str.maketrans({c: "\\" + c for c in "\\*?[]"})


def _bytes(value: Buffer) -> bytes:
    return bytes(memoryview(value).cast("B"))


class RedisStore(ServerStore):
    """A node of a Redis database: ``redis://host:port/db/node/path``.

    Parameters
    ----------
    url
        ``redis://host:port/db`` (``rediss://`` for TLS), without the node path.
    root
        The node path, prefixing every key.
    storage_options
        ``password``, ``username`` and any other keyword of ``redis.Redis``
        (``socket_timeout``, ``ssl_ca_certs``, ...).
    retry
        A :class:`~dask_zarrio.store.support.retry.RetryPolicy`; default: the ``dask_zarrio.retry.*`` config keys.

    Examples
    --------
    >>> s = RedisStore.from_url("redis://:hunter2@127.0.0.1:6379/2/grp/a.zarr")
    >>> s, s.describe("c/0")
    (RedisStore('redis://127.0.0.1:6379/2/grp/a.zarr'), 'redis://127.0.0.1:6379/2/grp/a.zarr/c/0')
    >>> s.options
    Credentials({'password': '***'})
    """

    def __init__(
        self, url: str, root: str = "", storage_options: dict[str, Any] | None = None, retry: RetryPolicy | None = None
    ) -> None:
        super().__init__(url, root, storage_options, retry)
        self._scripts: dict[str, Any] = {}

    @classmethod
    def from_url(cls, url: str, storage_options: dict[str, Any] | None = None) -> RedisStore:
        """The store for ``redis://[user:password@]host[:port][/db[/node/path]]``.

        Examples
        --------
        >>> RedisStore.from_url("redis://localhost/a.zarr").describe()
        'redis://localhost:6379/0/a.zarr'
        """
        segments = url_segments(url, urlsplit(url).path, "redis://host:port/db/node/path")
        parts = urlsplit(url)
        if parts.scheme not in ("redis", "rediss") or not parts.hostname:
            raise ZarrioError(
                f"url={redact_url(url)!r} is no Redis URL; write redis://host:port/db/node/path"
            )
        options = dict(storage_options or {})
        if parts.password is not None:
            options.setdefault("password", unquote(parts.password))
        if parts.username:
            options.setdefault("username", unquote(parts.username))
        db = 0
        if segments and segments[0].isascii() and segments[0].isdigit():
            db = int(segments.pop(0))
        try:
            port = parts.port or 6379
        except ValueError as exc:
            raise ZarrioError(f"url={redact_url(url)!r} has an invalid port; write redis://host:6379/0") from exc
        # Every segment counts: an empty one ("g//a") is refused, not dropped.
        root = member_path("/".join(segments)) if any(segments) else ""
        return cls(f"{parts.scheme}://{parts.hostname}:{port}/{db}", root, options)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.url, self.root, self.options, self._retry))

    @property
    def supports_partial_reads(self) -> bool:
        # GETRANGE on the server (in a Lua script): only the bytes asked for travel.
        return True

    @property
    def supports_concurrent_requests(self) -> bool:
        # MGET and pipelines send every key of a batch in one round trip.
        return True

    def _connect(self) -> Any:
        redis = require("redis", "redis")
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        parts = urlsplit(self.url)
        options: dict[str, Any] = {"socket_connect_timeout": 10, "socket_timeout": 120}
        options.update(self.options)
        if "password" not in options and os.environ.get("REDISCLI_AUTH"):
            options["password"] = os.environ["REDISCLI_AUTH"]
        return redis.Redis(
            host=parts.hostname,
            port=parts.port,
            db=int(parts.path.strip("/") or 0),
            ssl=parts.scheme == "rediss",
            # Our RetryPolicy is the one that retries (config keys, StoreError at the end).
            retry=Retry(NoBackoff(), 0),
            **options,
        )

    def _translate(self, exc: BaseException) -> BaseException:
        errors = require("redis", "redis").exceptions
        if isinstance(exc, (errors.AuthenticationError, errors.NoPermissionError)):
            return PermissionError(f"{type(exc).__name__}: {exc}")
        if isinstance(exc, (errors.ConnectionError, errors.TimeoutError)):
            return ConnectionError(f"{type(exc).__name__}: {exc}")
        return exc

    def _script(self, client: Any, source: str) -> Any:
        # register_script only hashes the source; the server loads it on first NOSCRIPT.
        if source not in self._scripts:
            self._scripts[source] = client.register_script(source)
        return self._scripts[source]

    def get(self, key: str, limit: int | None = None) -> bytes | None:
        if limit is not None:
            return self.get_many([key], limit)[0]
        return self._call("GET", key, lambda c: c.get(self._path(key)))

    def get_many(self, keys: list[str], limit: int | None = None) -> list[Buffer | None]:
        if not keys:
            return []
        paths = [self._path(k) for k in keys]
        if limit is None:
            return list(self._call(f"MGET ({len(keys)} keys)", keys[0], lambda c: c.mget(paths)))
        # One round trip still: a script asks STRLEN and sends only the values within the limit.
        found = self._call(
            f"GET ({len(keys)} keys, bounded)", keys[0],
            lambda c: self._script(c, _BOUNDED_GET_LUA)(keys=paths, args=[limit]),
        )
        for key, value in zip(keys, found):
            if isinstance(value, int):
                raise too_large(self, key, value, limit)
        return list(found)

    def exists(self, key: str) -> bool:
        return bool(self._call("EXISTS", key, lambda c: c.exists(self._path(key))))

    def get_range(self, key: str, start: int, length: int | None = None) -> bytes | None:
        args = [start, -1 if length is None else length]
        return self._call(
            "GETRANGE", key, lambda c: self._script(c, _RANGE_LUA)(keys=[self._path(key)], args=args)
        )

    def get_ranges(self, key: str, ranges: list[tuple[int, int]]) -> list[bytes] | None:
        path = self._path(key)

        def fetch(client: Any) -> list[Any]:
            pipe = client.pipeline(transaction=False)
            script = self._script(client, _RANGE_LUA)
            for start, length in ranges:
                script(keys=[path], args=[start, -1 if length is None else length], client=pipe)
            return list(pipe.execute())

        parts = self._call("GETRANGE", key, fetch)
        return None if any(p is None for p in parts) else parts

    def set(self, key: str, value: Buffer) -> None:
        data = _bytes(value)
        self._call("SET", key, lambda c: c.set(self._path(key), data))

    def set_many(self, items: dict[str, Buffer]) -> None:
        if not items:
            return
        batch = {self._path(k): _bytes(v) for k, v in items.items()}
        # MSET: one round trip; idempotent, so a retry after a dropped reply is safe.
        self._call(f"MSET ({len(batch)} keys)", next(iter(items)), lambda c: c.mset(batch))

    def set_if_unchanged(self, key: str, value: Buffer, expected: bytes | None) -> bool:
        args = ["0" if expected is None else "1", b"" if expected is None else _bytes(expected), _bytes(value)]
        return bool(
            self._call(
                "SET (conditional)", key, lambda c: self._script(c, _SWAP_LUA)(keys=[self._path(key)], args=args)
            )
        )

    def delete(self, key: str) -> None:
        self._call("DEL", key, lambda c: c.delete(self._path(key)))

    def _scan(self, client: Any) -> list[str]:
        """Every key below the root (SCAN, no blocking KEYS), as keys relative to it."""
        prefix = self._prefix()
        found = client.scan_iter(match=prefix.translate(_GLOB) + "*", count=1000)
        return sorted(k.decode()[len(prefix):] for k in found)

    def list_keys(self) -> list[str]:
        return list(self._call("SCAN", "", self._scan))

    def clear(self) -> None:
        def remove(client: Any) -> None:
            paths = [self._path(k) for k in self._scan(client)]
            if self.root:
                paths.append(self.root)  # an object at the node's own path (MappingStore's rule)
            for i in range(0, len(paths), 1000):
                client.delete(*paths[i : i + 1000])

        self._call("DEL (recursive)", "", remove)
