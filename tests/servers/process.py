"""A test server as a child process: started on a free loopback port, waited for until it
answers, stopped by its own process id (terminate, then kill)."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Callable, Iterator

__all__ = ["free_port", "serving"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serving(name: str, args: list[str], answers: Callable[[], bool], where: str, timeout: float,
            poll: float = 0.1) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``args`` until the block ends, once ``answers()`` is true (an ``OSError`` from it
    means: not yet); ``RuntimeError`` naming ``name`` and ``where`` if it exits or stays silent.

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
                raise RuntimeError(f"{name} exited with code {proc.returncode} before answering")
            try:
                if answers():
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
