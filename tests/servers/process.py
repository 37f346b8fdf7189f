"""A test server as a child process: started on a free loopback port, waited for until it
answers, stopped by its own process id (terminate, then kill).

Several pytest-xdist workers (and other test runs on the same machine) start servers at
the same time, so a port that was free when chosen can be taken before the server binds
it. :func:`serving_on_free_port` therefore counts a server as up only once its own
process listens on the port, and starts it again on another port when it exits first.
"""

from __future__ import annotations

import contextlib
import functools
import socket
import subprocess
import time
from collections.abc import Callable, Iterator

__all__ = ["ServerExited", "closed_port", "free_port", "serving", "serving_on_free_port"]


class ServerExited(RuntimeError):
    """The server's process ended before it answered (for one, its port was taken)."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def closed_port() -> Iterator[int]:
    """A loopback port that refuses connections until the block ends.

    The port stays bound (without ``SO_REUSEADDR``, never listening), so no server that
    another test or worker starts meanwhile can take it: a connection is refused for sure.

    Examples
    --------
    >>> with closed_port() as port:
    ...     socket.create_connection(("127.0.0.1", port), timeout=5)
    Traceback (most recent call last):
    ...
    ConnectionRefusedError: [Errno 111] Connection refused
    """
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield int(s.getsockname()[1])


def _listens(pid: int, port: int) -> bool:
    """Whether process ``pid`` or one of its children listens on TCP ``port``."""
    import psutil  # distributed's dependency, so always there with the test extra

    try:
        proc = psutil.Process(pid)
        for p in (proc, *proc.children(recursive=True)):
            if any(c.laddr and c.laddr.port == port and c.status == psutil.CONN_LISTEN
                   for c in p.net_connections(kind="tcp")):
                return True
    except psutil.Error:
        return False
    return False


@contextlib.contextmanager
def serving(name: str, args: list[str], answers: Callable[[], bool], where: str, timeout: float,
            poll: float = 0.1, port: int | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``args`` until the block ends, once ``answers()`` is true (an ``OSError`` from it
    means: not yet) and, given ``port``, the process itself listens on it (not another
    server that took the port first); :class:`ServerExited` if it exits before that,
    ``RuntimeError`` naming ``name`` and ``where`` if it stays silent for ``timeout`` s.

    Examples
    --------
    >>> import sys
    >>> with serving("python", [sys.executable, "-c", "import time; time.sleep(30)"], lambda: True, "-", 5) as proc:
    ...     proc.poll() is None
    True
    >>> proc.poll() is not None
    True
    """
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise ServerExited(f"{name} exited with code {proc.returncode} before answering on {where}")
            try:
                if answers() and (port is None or _listens(proc.pid, port)):
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not answer on {where} within {timeout} s")
            time.sleep(poll)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@contextlib.contextmanager
def serving_on_free_port(name: str, args: Callable[[int], list[str]], answers: Callable[[int], bool],
                         where: Callable[[int], str], timeout: float, poll: float = 0.1,
                         attempts: int = 3) -> Iterator[int]:
    """:func:`serving` on a free port (``args(port)``, ``answers(port)``); yields the port.

    A server that exits before answering (its port taken between :func:`free_port` and
    its bind) is started again on another port, ``attempts`` times in all.

    Examples
    --------
    >>> import sys
    >>> server = lambda port: [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    >>> up = lambda port: socket.create_connection(("127.0.0.1", port), timeout=1).close() is None
    >>> with serving_on_free_port("http.server", server, up, str, 30) as port:
    ...     port > 0
    True
    """
    for attempt in range(attempts):
        port = free_port()
        stack = contextlib.ExitStack()
        up = functools.partial(answers, port)
        try:
            stack.enter_context(serving(name, args(port), up, where(port), timeout, poll, port))
        except ServerExited:
            if attempt == attempts - 1:
                raise
            continue
        with stack:
            yield port
        return
