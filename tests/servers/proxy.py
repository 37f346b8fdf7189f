"""An HTTP proxy on 127.0.0.1 that adds latency and faults in front of a test server.

For tests and benchmarks of what object stores do to us: each request can be
delayed, answered ``503 SlowDown``, cut off mid-body (a body shorter than its
``Content-Length``) or reset, at given rates and with a fixed seed. Counts what
it forwarded and what it broke.
"""

from __future__ import annotations

import http.client
import random
import socket
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["FaultyProxy"]


class FaultyProxy:
    """Forward to ``upstream`` (``http://host:port``), breaking some requests on purpose.

    Examples
    --------
    >>> with FaultyProxy("http://127.0.0.1:9", fail_rate=0.1) as proxy:
    ...     proxy.endpoint.startswith("http://127.0.0.1:")
    True
    """

    def __init__(
        self,
        upstream: str,
        *,
        latency: float = 0.0,
        fail_rate: float = 0.0,
        truncate_rate: float = 0.0,
        reset_rate: float = 0.0,
        seed: int = 0,
        cache: bool = False,
    ) -> None:
        host, port = upstream.removeprefix("http://").split(":")
        self.upstream = (host, int(port))
        self.latency, self.fail_rate = latency, fail_rate
        self.truncate_rate, self.reset_rate = truncate_rate, reset_rate
        #: Answer each GET (path and range) from memory once the upstream answered it: for
        #: read-only benchmarks, so that the upstream's own cost per request (moto: a few ms
        #: of CPU) does not hide the latency a client pays.
        self.cache = cache
        self._cache: dict[tuple[str, str | None], tuple[int, list[tuple[str, str]], bytes]] = {}
        self.counts: Counter[str] = Counter()
        #: Requests by ``"METHOD /path?query"`` (which keys an operation touched).
        self.paths: Counter[str] = Counter()
        #: S3 multipart requests by operation (CreateMultipartUpload, UploadPart, ...).
        self.multipart: Counter[str] = Counter()
        self.in_flight = 0
        self.max_in_flight = 0
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FaultyProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _draw(self) -> str:
        with self._lock:
            x = self._rng.random()
        if x < self.fail_rate:
            return "fail"
        if x < self.fail_rate + self.truncate_rate:
            return "truncate"
        if x < self.fail_rate + self.truncate_rate + self.reset_rate:
            return "reset"
        return "ok"

    def _count(self, what: str) -> None:
        with self._lock:
            self.counts[what] += 1

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                proxy._count(self.command)
                with proxy._lock:
                    proxy.paths[f"{self.command} {self.path}"] += 1
                operation = _multipart_operation(self.command, self.path)
                if operation:
                    with proxy._lock:
                        proxy.multipart[operation] += 1
                if proxy.latency:
                    time.sleep(proxy.latency)
                fate = proxy._draw()
                if fate == "fail":
                    proxy._count("injected-503")
                    payload = b"<Error><Code>SlowDown</Code><Message>Reduce your request rate.</Message></Error>"
                    self.send_response(503)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                if fate == "reset":
                    proxy._count("injected-reset")
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    self.close_connection = True
                    self.connection.close()
                    return
                status, answer_headers, data = self._answer(body)
                truncate = fate == "truncate" and self.command == "GET" and len(data) > 1 and status == 200
                self.send_response(status)
                for k, v in answer_headers:
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if truncate:
                    proxy._count("injected-truncation")
                    self.wfile.write(data[: len(data) // 2])
                    self.close_connection = True
                    return
                if self.command != "HEAD":
                    self.wfile.write(data)

            def _answer(self, body: bytes | None) -> tuple[int, list[tuple[str, str]], bytes]:
                """The upstream's answer (status, headers, body); a GET's from the cache once seen there."""
                key = (self.path, self.headers.get("Range"))
                if proxy.cache and self.command == "GET" and key in proxy._cache:
                    return proxy._cache[key]
                conn = http.client.HTTPConnection(*proxy.upstream, timeout=60)
                try:
                    headers = {k: v for k, v in self.headers.items()}
                    conn.request(self.command, self.path, body=body, headers=headers)
                    resp = conn.getresponse()
                    answer = (resp.status, resp.getheaders(), resp.read())
                finally:
                    conn.close()
                if proxy.cache and self.command == "GET":
                    proxy._cache[key] = answer
                return answer

            def _tracked(self) -> None:
                with proxy._lock:
                    proxy.in_flight += 1
                    proxy.max_in_flight = max(proxy.max_in_flight, proxy.in_flight)
                try:
                    self._forward()
                finally:
                    with proxy._lock:
                        proxy.in_flight -= 1

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _tracked

        return Handler


class _Server(ThreadingHTTPServer):
    # Clients open hundreds of connections at once (a many-variable open): the default
    # backlog of 5 would drop connection attempts, and a dropped SYN waits a second.
    request_queue_size = 1024


def _multipart_operation(command: str, path: str) -> str | None:
    """The S3 multipart operation a request is (``None`` for any other request)."""
    query = path.partition("?")[2]
    params = {p.partition("=")[0] for p in query.split("&") if p}
    if command == "POST" and "uploads" in params:
        return "CreateMultipartUpload"
    if "uploadId" not in params:
        return None
    return {"PUT": "UploadPart", "POST": "CompleteMultipartUpload", "DELETE": "AbortMultipartUpload"}.get(command)
