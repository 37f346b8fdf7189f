"""Which files a reference set may read (kerchunk references are data, often downloaded).

A reference names any URL, so a reference set made by someone else could read
``/etc/passwd``, ``/dev/zero``, or a cloud metadata service on ``169.254.169.254``
(which hands out credentials) into the arrays it describes. :class:`TargetPolicy`
decides, before any byte of a target is read:

- **allowed by default**: files and URLs under the reference set's own folder (the
  folder its ``.json`` file or Parquet folder is in; local paths compared after
  ``realpath``, so symlinks and ``..`` leading out of it do not count), and remote URLs
  whose host is public: every address the host name resolves to must be global
  (not loopback, link-local, private, shared, reserved, multicast or unspecified).
  Object stores named by bucket (``s3://``, ``gs://``, ``az://``, …) reach the host
  the caller's own ``remote_options`` configure, so they are allowed;
- **allowed by the caller**: URLs under one of the prefixes of ``allowed_targets``
  (``["file:///data/", "http://127.0.0.1:8000/"]``), as Icechunk's virtual chunk
  containers authorize prefixes;
- **refused** otherwise: other local paths and devices, ``memory://`` outside the set's
  folder, hosts on non-public addresses, unknown protocols, and chained URLs
  (``simplecache::``, ``zip://…::``) wrapping any of these. Local targets must also be
  regular files (never a device or FIFO, even when allowed).

HTTP redirects are checked the same way (:meth:`TargetPolicy.redirect_guard`). Host
names are resolved when checked and again by the HTTP client; a DNS server that
answers differently the second time (DNS rebinding) is not caught here.
"""

from __future__ import annotations

import ipaddress
import os
import posixpath
import re
import socket
import stat
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote, urlsplit

from fsspec.implementations.local import LocalFileSystem
from fsspec.implementations.memory import MemoryFileSystem

from ...errors import StorePermissionError, ZarrioError, redact_url

__all__ = ["TargetPolicy", "canonical_url", "is_public_address"]

#: Protocols whose URL names the host to connect to: checked by address.
HOSTED = frozenset({"http", "https", "ftp", "sftp", "ssh", "webdav", "dav", "smb", "hdfs", "webhdfs"})
#: Protocols whose URL names a bucket: the host comes from the caller's remote_options.
BUCKETS = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "oci", "oss", "hf", "r2"})
#: Protocols that wrap the URL after "::" without naming another place.
WRAPPERS = frozenset({"simplecache", "filecache", "blockcache", "cached", "zip", "tar"})
#: "::" between the links of a chained URL, not inside an IPv6 address ("http://[::1]/").
_CHAIN = re.compile(r"::(?![^\[]*\])")
_DEFAULT_PORTS = {"http": 80, "https": 443, "ftp": 21, "sftp": 22, "ssh": 22}


def is_public_address(address: str) -> bool:
    """Whether ``address`` is a global unicast address (IPv4 embedded in IPv6 checked too).

    Examples
    --------
    >>> [is_public_address(a) for a in ("8.8.8.8", "127.0.0.1", "169.254.169.254", "::ffff:10.0.0.1", "fd00::1")]
    [True, False, False, False, False]
    """
    ip = ipaddress.ip_address(address.split("%")[0])
    embedded = [ip]
    if isinstance(ip, ipaddress.IPv6Address):
        embedded += [e for e in (ip.ipv4_mapped, ip.sixtofour, *(ip.teredo or ())) if e is not None]
    return all(e.is_global and not e.is_multicast for e in embedded)


def _protocol(url: str) -> tuple[str, str]:
    """``(protocol, url)`` of the innermost location of a (possibly chained) URL."""
    inner = _CHAIN.split(url)[-1]
    protocol = inner.partition("://")[0].lower() if "://" in inner else "file"
    return ("file" if protocol == "local" else protocol), inner


def _paths(protocol: str, url: str) -> list[str]:
    """Every reading of ``url``'s path a filesystem or server may act on, normalised.

    Local paths are resolved (``~``, relative paths, ``..``, symlinks); remote ones are
    taken as written, percent-decoded, and with backslashes as slashes, so that a
    path is only "under" a prefix when it is under it however the server decodes it.
    """
    if protocol == "file":
        return [os.path.realpath(LocalFileSystem._strip_protocol(url))]
    if protocol == "memory":  # the memory filesystem keeps ".." as it is; refuse either reading outside
        raw = "/" + MemoryFileSystem._strip_protocol(url).lstrip("/")
        return sorted({raw, posixpath.normpath(raw)})
    raw = urlsplit(url).path
    readings = (raw, unquote(raw), unquote(raw).replace("\\", "/"))
    return sorted({posixpath.normpath("/" + r.lstrip("/")) for r in readings})


def _authority(protocol: str, url: str) -> str:
    if protocol in ("file", "memory"):
        return ""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    host = f"[{host}]" if ":" in host else host
    try:
        port = parts.port or _DEFAULT_PORTS.get(protocol)
    except ValueError:
        port = None
    return host if port is None else f"{host}:{port}"


def canonical_url(url: str) -> list[str]:
    """The readings of ``url`` as ``protocol://authority/path`` (see :func:`_paths`).

    Examples
    --------
    >>> canonical_url("HTTP://Example.com/a/%2e%2e/b")
    ['http://example.com:80/a/%2e%2e/b', 'http://example.com:80/b']
    """
    protocol, inner = _protocol(url)
    return [f"{protocol}://{_authority(protocol, inner)}{p}" for p in _paths(protocol, inner)]


def _under(readings: Iterable[str], prefixes: Iterable[str]) -> bool:
    """Whether every reading is one of ``prefixes`` or inside one (at a ``/`` boundary)."""
    prefixes = [p.rstrip("/") for p in prefixes]
    return all(any(r == p or r.startswith(p + "/") for p in prefixes) for r in readings)


class TargetPolicy:
    """The targets the references at ``fo`` may read; see the module's docstring.

    Examples
    --------
    >>> policy = TargetPolicy("/data/refs/a.json", ["http://127.0.0.1:8000/"])
    >>> policy.check("/data/refs/a.nc", "t/0"), policy.check("http://127.0.0.1:8000/x.nc", "t/0")
    ('file:///data/refs/a.nc', 'http://127.0.0.1:8000/x.nc')
    >>> policy.check("file:///etc/passwd", "t/0")
    Traceback (most recent call last):
    ...
    dask_zarrio.errors.StorePermissionError: reference 't/0' points at 'file:///etc/passwd', a local file outside ...
    """

    def __init__(self, fo: str | None, allowed_targets: str | Iterable[str] | None = None) -> None:
        if isinstance(allowed_targets, str):
            allowed_targets = [allowed_targets]
        allowed = list(allowed_targets or [])
        if not all(isinstance(a, str) and a for a in allowed):
            raise ZarrioError(
                f"allowed_targets={allowed_targets!r} must be a list of URL prefixes, e.g. "
                "['file:///data/', 'http://127.0.0.1:8000/']"
            )
        self.allowed = [c for a in allowed for c in canonical_url(a)]
        self.home: list[str] = []
        if fo is not None:
            protocol, inner = _protocol(fo)
            folder = inner.rstrip("/").rpartition("/")[0] if protocol != "file" else os.path.dirname(
                os.path.realpath(LocalFileSystem._strip_protocol(inner)))
            self.home = [f"{protocol}://{_authority(protocol, inner)}{p}" for p in _paths(protocol, folder or "/")]
            if protocol != "file" and "://" not in folder:
                self.home = []  # a bare name: no folder to speak of
        self._hosts: dict[str, str | None] = {}

    def check(self, url: str, key: str, what: str | None = None) -> str:
        """The URL to read for ``key``'s target ``url`` (local files: ``file://`` and the resolved path).

        Raises :class:`~dask_zarrio.errors.StorePermissionError` naming the key (or
        ``what``), the target and how to allow it when the policy refuses it.
        """
        what = what or f"reference {key!r}"
        protocol, inner = _protocol(url)
        wrappers = [part.partition("://")[0].lower() for part in _CHAIN.split(url)[:-1]]
        unknown = [w for w in wrappers if w not in WRAPPERS]
        if unknown:
            raise StorePermissionError(
                f"{what} points at {redact_url(url)!r}, a chained URL through {unknown[0]!r}: references are "
                f"read through {sorted(WRAPPERS)} only (another protocol may read anything); fix the reference set"
            )
        readings = canonical_url(url)
        trusted = _under(readings, self.allowed) or _under(readings, self.home)
        reason = None if trusted else self._reason(protocol, inner)
        if reason is not None:
            raise self.refusal(url, what, reason)
        if protocol == "file" and not wrappers:
            return "file://" + self._regular(readings[0][len("file://"):], url, what)
        return url

    def _reason(self, protocol: str, url: str) -> str | None:
        """Why a target outside the allowed prefixes and the references' folder is refused, if it is."""
        if protocol == "file":
            return "a local file outside the references' folder"
        if protocol == "memory":
            return "an in-process memory:// file outside the references' folder"
        if protocol in BUCKETS:
            return None
        if protocol in HOSTED:
            return self._host_reason(urlsplit(url).hostname or "")
        return f"a {protocol}:// URL, a protocol dask_zarrio does not know to be remote"

    def _host_reason(self, host: str) -> str | None:
        if host not in self._hosts:
            self._hosts[host] = _resolve(host)
        return self._hosts[host]

    def _regular(self, path: str, url: str, what: str) -> str:
        try:
            mode = os.stat(path).st_mode
        except OSError:
            return path  # missing: the read says so
        if not stat.S_ISREG(mode):
            raise StorePermissionError(
                f"{what} points at {redact_url(url)!r}, which is not a regular file (a device, FIFO "
                "or socket reads forever or blocks); references point into files: fix the reference set"
            )
        return path

    def refusal(self, url: str, what: str, reason: str) -> StorePermissionError:
        """The error for a refused target, with the ``allowed_targets`` entry that would allow it."""
        folder = canonical_url(_protocol(url)[1])[-1].rpartition("/")[0] + "/"
        return StorePermissionError(
            f"{what} points at {redact_url(url)!r}, {reason}: references may read remote URLs of "
            "public hosts and files under their own folder, and nothing else unless allowed (a reference "
            "set is data, and could read your files or a cloud metadata service). If you trust these "
            f"references, allow the target: storage_options={{'allowed_targets': [{redact_url(folder)!r}]}} "
            "(URL prefixes; CLI: --storage-option 'allowed_targets=[\"...\"]')"
        )

    def redirect_guard(self) -> Any:
        """An aiohttp ``TraceConfig`` that checks where each HTTP redirect leads, before following it."""
        import aiohttp

        async def on_redirect(session: Any, context: Any, params: Any) -> None:
            location = params.response.headers.get("Location", "")
            target = str(params.response.url.join(type(params.response.url)(location)))
            self.check(target, "", f"an HTTP redirect from {redact_url(str(params.url))!r}")

        trace = aiohttp.TraceConfig()
        trace.on_request_redirect.append(on_redirect)
        return trace


def _resolve(host: str) -> str | None:
    """Why ``host`` is not public, or ``None`` when every address it resolves to is."""
    if not host:
        return "a URL without a host"
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as e:
        return f"whose host {host!r} does not resolve ({e})"
    for info in infos:
        address = str(info[4][0])
        if not is_public_address(address):
            return f"whose host {host!r} resolves to {address}, not a public address (loopback, link-local, " \
                   "private or reserved)"
    return None
