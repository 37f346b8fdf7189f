"""A real S3 server for tests and benchmarks: ``moto_server`` on 127.0.0.1.

Started as a child process on a free port, stopped by its own process id.
"""

from __future__ import annotations

import contextlib
import sys
import urllib.request
from collections.abc import Iterator
from typing import Any

from tests.servers.process import free_port, serving_on_free_port

__all__ = ["create_bucket", "free_port", "moto_server", "s3_options"]


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

    def endpoint(port: int) -> str:
        return f"http://127.0.0.1:{port}"

    def answers(port: int) -> bool:
        urllib.request.urlopen(f"{endpoint(port)}/moto-api/", timeout=1).close()
        return True

    def args(port: int) -> list[str]:
        return [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]

    with serving_on_free_port("moto_server", args, answers, endpoint, timeout) as port:
        yield endpoint(port)


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
