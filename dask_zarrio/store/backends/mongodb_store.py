"""MongoDBStore: one document per key in a collection, GridFS for values over 15 MiB.

``mongodb://host:port/db/grp/a.zarr?collection=NAME`` is collection ``NAME``
(default ``zarr``) of database ``db``, every key of the node stored as the document
``{"_id": "grp/a.zarr/<key>", "v": <bytes>}``. MongoDB refuses documents over 16 MiB:
bigger values go to GridFS (bucket ``<collection>_gridfs``) and the document holds
``{"gridfs": <file id>}`` instead. Other query parameters (``replicaSet``, ``tls``,
...) and ``storage_options`` go to ``pymongo.MongoClient``; a password in the URL is
moved into the options and never shows in ``repr``, task names, logs or errors.

**Tested against mongomock only**: no MongoDB server can be installed on the machines
that build dask_zarrio, so the adapter is checked with ``mongomock`` (an in-memory
imitation of pymongo), not against a real server. Compare-and-set is one
``find_one_and_update`` filtered on the old value (atomic on a server) for documents
below the GridFS size; metadata documents are far smaller. Needs ``pip install
'dask_zarrio[mongodb]'``.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from ...errors import ZarrioError
from ..base import Buffer, member_path, redact_url, same_bytes, too_large, within_limit
from ..support.server import ServerStore, require, url_segments

__all__ = ["GRIDFS_THRESHOLD", "MongoDBStore"]

#: Values larger than this go to GridFS (a document holds at most 16 MiB, BSON framing included).
GRIDFS_THRESHOLD = 15 * 2**20


def _bytes(value: Buffer) -> bytes:
    return bytes(memoryview(value).cast("B"))


class MongoDBStore(ServerStore):
    """A node of a MongoDB collection: ``mongodb://host:port/db/node/path?collection=NAME``.

    Examples
    --------
    >>> s = MongoDBStore.from_url("mongodb://me:hunter2@localhost:27017/science/g.zarr?collection=arrays")
    >>> s, s.options
    (MongoDBStore('mongodb://localhost:27017/science.arrays/g.zarr'),
     Credentials({'password': '***', 'username': 'me'}))
    """

    @classmethod
    def from_url(cls, url: str, storage_options: dict[str, Any] | None = None) -> MongoDBStore:
        """The store for ``mongodb://[user:password@]host[:port]/db[/node/path][?collection=NAME&...]``.

        Examples
        --------
        >>> MongoDBStore.from_url("mongodb://localhost/db").describe("zarr.json")
        'mongodb://localhost:27017/db.zarr/zarr.json'
        """
        example = "mongodb://host:port/db/node/path?collection=NAME"
        segments = url_segments(url, urlsplit(url).path, example)
        parts = urlsplit(url)
        if parts.scheme != "mongodb" or not parts.hostname or not segments or not segments[0]:
            raise ZarrioError(
                f"url={redact_url(url)!r} is no MongoDB URL; write mongodb://host:port/db/node/path?collection=NAME"
            )
        options = dict(storage_options or {})
        if parts.password is not None:
            options.setdefault("password", unquote(parts.password))
        if parts.username:
            options.setdefault("username", unquote(parts.username))
        query = dict(parse_qsl(parts.query))
        query.setdefault("collection", "zarr")
        # Every segment counts: an empty one ("g//a") is refused, not dropped.
        db, root = segments[0], member_path("/".join(segments[1:])) if any(segments[1:]) else ""
        hosts = parts.netloc.rpartition("@")[2]
        if ":" not in hosts:
            hosts += ":27017"
        return cls(f"mongodb://{hosts}/{db}?{urlencode(query)}", root, options)

    def _target(self) -> tuple[str, str, str]:
        """``(client URL, database, collection)`` from ``self.url``."""
        parts = urlsplit(self.url)
        query = dict(parse_qsl(parts.query))
        collection = query.pop("collection", "zarr")
        client_url = f"mongodb://{parts.netloc}/" + (f"?{urlencode(query)}" if query else "")
        return client_url, parts.path.strip("/"), collection

    def _location(self) -> str:
        client_url, db, collection = self._target()
        return f"{client_url.partition('/?')[0].rstrip('/')}/{db}.{collection}"

    def _connect(self) -> Any:
        pymongo = require("pymongo", "mongodb")
        client_url, _, _ = self._target()
        return pymongo.MongoClient(client_url, **self.options)

    def _translate(self, exc: BaseException) -> BaseException:
        errors = require("pymongo", "mongodb").errors
        if isinstance(exc, errors.OperationFailure) and getattr(exc, "code", None) in (13, 18):
            return PermissionError(f"{type(exc).__name__}: {exc}")  # Unauthorized, AuthenticationFailed
        if isinstance(exc, (errors.AutoReconnect, errors.NetworkTimeout, errors.ServerSelectionTimeoutError)):
            return ConnectionError(f"{type(exc).__name__}: {exc}")
        return exc

    def _collection(self, client: Any) -> Any:
        _, db, collection = self._target()
        return client[db][collection]

    def _gridfs(self, client: Any) -> Any:
        gridfs = require("gridfs", "mongodb")
        _, db, collection = self._target()
        return gridfs.GridFS(client[db], collection=f"{collection}_gridfs")

    def _value(self, client: Any, doc: dict[str, Any] | None, key: str = "", limit: int | None = None) -> bytes | None:
        """The bytes ``doc`` holds; over ``limit``, refused naming ``key`` (a GridFS file by
        the length its record gives, before a byte of it is read)."""
        if doc is None:
            return None
        if "gridfs" in doc:
            stream = self._gridfs(client).get(doc["gridfs"])
            if limit is not None and stream.length > limit:
                raise too_large(self, key, stream.length, limit)
            return bytes(stream.read())
        # A document holds at most 16 MiB: checked once it arrived.
        return within_limit(self, key, bytes(doc["v"]), limit)

    def get(self, key: str, limit: int | None = None) -> bytes | None:
        return self._call(
            "GET", key, lambda c: self._value(c, self._collection(c).find_one({"_id": self._path(key)}), key, limit)
        )

    def get_many(self, keys: list[str], limit: int | None = None) -> list[Buffer | None]:
        if not keys:
            return []
        paths = [self._path(k) for k in keys]

        def fetch(client: Any) -> list[bytes | None]:
            # One query for the batch: {"_id": {"$in": [...]}}.
            docs = {d["_id"]: d for d in self._collection(client).find({"_id": {"$in": paths}})}
            return [self._value(client, docs.get(p), k, limit) for k, p in zip(keys, paths)]

        return list(self._call(f"GET ({len(keys)} keys)", keys[0], fetch))

    def exists(self, key: str) -> bool:
        return bool(
            self._call("HEAD", key, lambda c: self._collection(c).count_documents({"_id": self._path(key)}, limit=1))
        )

    def _put(self, client: Any, path: str, data: bytes) -> None:
        """Store one value (GridFS when too big for a document); the old GridFS file goes after."""
        collection = self._collection(client)
        old = collection.find_one({"_id": path}, {"gridfs": 1})
        if len(data) > GRIDFS_THRESHOLD:
            file_id = self._gridfs(client).put(data, filename=path)
            collection.replace_one({"_id": path}, {"_id": path, "gridfs": file_id}, upsert=True)
        else:
            collection.replace_one({"_id": path}, {"_id": path, "v": data}, upsert=True)
        if old is not None and "gridfs" in old:
            self._gridfs(client).delete(old["gridfs"])

    def set(self, key: str, value: Buffer) -> None:
        data = _bytes(value)
        self._call("PUT", key, lambda c: self._put(c, self._path(key), data))

    def set_if_unchanged(self, key: str, value: Buffer, expected: bytes | None) -> bool:
        path, data = self._path(key), _bytes(value)

        def swap(client: Any) -> bool:
            collection = self._collection(client)
            if len(data) > GRIDFS_THRESHOLD or (expected is not None and len(expected) > GRIDFS_THRESHOLD):
                # Too big for one document: compare, then set (not atomic, as the base class).
                if not same_bytes(self._value(client, collection.find_one({"_id": path})), expected):
                    return False
                self._put(client, path, data)
                return True
            if expected is None:
                errors = require("pymongo", "mongodb").errors
                try:
                    collection.insert_one({"_id": path, "v": data})
                except errors.DuplicateKeyError:
                    return False
                return True
            found = collection.find_one_and_update({"_id": path, "v": expected}, {"$set": {"v": data}})
            return found is not None

        return bool(self._call("PUT (conditional)", key, swap))

    def _delete_paths(self, client: Any, query: dict[str, Any]) -> None:
        collection = self._collection(client)
        for doc in collection.find({**query, "gridfs": {"$exists": True}}, {"gridfs": 1}):
            self._gridfs(client).delete(doc["gridfs"])
        collection.delete_many(query)

    def delete(self, key: str) -> None:
        self._call("DELETE", key, lambda c: self._delete_paths(c, {"_id": self._path(key)}))

    def _below(self) -> dict[str, Any]:
        return {"_id": {"$regex": f"^{re.escape(self._prefix())}"}}

    def list_keys(self) -> list[str]:
        prefix = self._prefix()

        def listing(client: Any) -> list[str]:
            return sorted(d["_id"][len(prefix):] for d in self._collection(client).find(self._below(), {"_id": 1}))

        return list(self._call("LIST", "", listing))

    def clear(self) -> None:
        def remove(client: Any) -> None:
            self._delete_paths(client, self._below())
            if self.root:
                self._delete_paths(client, {"_id": self.root})

        self._call("DELETE (recursive)", "", remove)
