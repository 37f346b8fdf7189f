"""A real S3 server for tests and benchmarks: ``moto_server`` on 127.0.0.1.

Started as a child process on a free port, stopped by its own process id.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

__all__ = ["create_bucket", "free_port", "moto_server", "s3_options"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def moto_server(timeout: float = 30.0) -> Iterator[str]:
    """Run ``python -m moto.server`` on loopback; yields its endpoint URL.

    Examples
    --------
    >>> import dask.array as da, dask_zarrio as dz
    >>> with moto_server() as endpoint:
    ...     create_bucket(endpoint, "doc")
    ...     dz.write(da.ones(4, chunks=2), "s3://doc/a.zarr", storage_options=s3_options(endpoint))
    ...     int(dz.read("s3://doc/a.zarr", storage_options=s3_options(endpoint)).sum().compute())
    4
    """
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"moto_server exited with code {proc.returncode} before answering")
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"moto_server did not answer on {endpoint} within {timeout} s") from None
                time.sleep(0.1)
        yield endpoint
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def s3_options(endpoint: str, **extra: Any) -> dict[str, Any]:
    """``storage_options`` for s3fs against a local S3 server, with dummy credentials."""
    options: dict[str, Any] = {
        "key": "testing",
        "secret": "testing",
        "client_kwargs": {"endpoint_url": endpoint, "region_name": "us-east-1"},
        "skip_instance_cache": True,
        "use_listings_cache": False,
    }
    options.update(extra)
    return options


def create_bucket(endpoint: str, name: str) -> None:
    """Create a bucket on the local server with a plain PUT (moto needs no signature)."""
    request = urllib.request.Request(f"{endpoint}/{name}", method="PUT")
    urllib.request.urlopen(request, timeout=10).close()
