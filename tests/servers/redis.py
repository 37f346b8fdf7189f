"""A real Redis server for tests: Debian's ``redis-server`` on 127.0.0.1, and a connection cutter.

``scripts/install-test-servers.sh`` installs it; where it is missing the tests that
need it skip, saying so. Started on a free port with no persistence, stopped by its
own process id.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import threading
from collections.abc import Iterator
from typing import Any

from tests.servers.process import serving_on_free_port

__all__ = ["CuttingProxy", "redis_server", "redis_server_binary"]


def redis_server_binary() -> str | None:
    """The ``redis-server`` executable, or ``None`` when it is not installed."""
    return shutil.which("redis-server")


@contextlib.contextmanager
def redis_server(password: str | None = None, timeout: float = 20.0) -> Iterator[int]:
    """Run ``redis-server`` on a free loopback port (no disk persistence); yields the port.

    Examples
    --------
    >>> import redis
    >>> with redis_server() as port:
    ...     redis.Redis(port=port).ping()
    True
    """
    binary = redis_server_binary()
    if binary is None:
        raise RuntimeError("redis-server is not installed: run scripts/install-test-servers.sh")

    def args(port: int) -> list[str]:
        extra = ["--requirepass", password] if password else []
        return [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--daemonize", "no", *extra]

    def answers(port: int) -> bool:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return bool(s.recv(64))  # +PONG, or -NOAUTH: either way it answers

    with serving_on_free_port("redis-server", args, answers, lambda port: f"port {port}", timeout, poll=0.05) as port:
        yield port


class CuttingProxy:
    """A TCP forwarder to ``127.0.0.1:upstream`` that kills its first ``cuts`` connections
    once ``after`` bytes of a reply went back: a connection dropped in the middle of a read.

    Examples
    --------
    >>> with CuttingProxy(9, cuts=0) as proxy:
    ...     proxy.port > 0
    True
    """

    def __init__(self, upstream: int, *, cuts: int = 1, after: int = 1000) -> None:
        self.upstream, self.cuts_left, self.after = upstream, cuts, after
        self.cut = 0
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._closed = False

    def __enter__(self) -> CuttingProxy:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._closed = True
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                doomed = self.cuts_left > 0
                self.cuts_left -= doomed
            upstream = socket.create_connection(("127.0.0.1", self.upstream))
            threading.Thread(target=self._pipe, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, doomed), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, doomed: bool) -> None:
        sent = 0
        try:
            while data := source.recv(65536):
                if doomed and sent + len(data) > self.after:
                    sink.sendall(data[: max(0, self.after - sent)])
                    with self._lock:
                        self.cut += 1
                    break
                sink.sendall(data)
                sent += len(data)
        except OSError:
            pass
        for s in (source, sink):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()
