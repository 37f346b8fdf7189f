"""The Azure Blob emulator for tests: npm's ``azurite`` (blob service only) on 127.0.0.1.

``scripts/install-test-servers.sh`` installs it into the repository's ignored
``.servers/`` folder; where it (or Node.js) is missing the tests that need it skip,
saying so. Started on a free port, data in memory, stopped by its own process id.
"""

from __future__ import annotations

import contextlib
import shutil
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.servers.process import serving_on_free_port

__all__ = ["ACCOUNT", "ACCOUNT_KEY", "azure_options", "azurite", "azurite_binary", "connection_string"]

#: Azurite's well-known development account (public, documented by Microsoft).
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

_LOCAL = Path(__file__).resolve().parents[2] / ".servers" / "node_modules" / ".bin" / "azurite-blob"


def azurite_binary() -> str | None:
    """The ``azurite-blob`` executable (project-local first), or ``None``; Node.js is needed too."""
    if shutil.which("node") is None:
        return None
    if _LOCAL.exists():
        return str(_LOCAL)
    return shutil.which("azurite-blob")


@contextlib.contextmanager
def azurite(timeout: float = 60.0) -> Iterator[str]:
    """Run ``azurite-blob`` on a free loopback port; yields its blob endpoint URL.

    Examples
    --------
    >>> import fsspec
    >>> with azurite() as endpoint:
    ...     fs = fsspec.filesystem("az", **azure_options(endpoint))
    ...     fs.mkdir("doc"); _ = fs.pipe_file("doc/k", b"v"); fs.cat_file("doc/k")
    b'v'
    """
    binary = azurite_binary()
    if binary is None:
        raise RuntimeError("azurite is not installed: run scripts/install-test-servers.sh")

    def endpoint(port: int) -> str:
        return f"http://127.0.0.1:{port}/{ACCOUNT}"

    def answers(port: int) -> bool:
        try:
            urllib.request.urlopen(f"{endpoint(port)}?comp=list", timeout=1).close()
        except urllib.error.HTTPError:
            pass  # it answers (403 without a signature): up
        return True

    def args(port: int) -> list[str]:
        return [binary, "--blobHost", "127.0.0.1", "--blobPort", str(port), "--inMemoryPersistence",
                "--skipApiVersionCheck", "--loose", "--silent"]

    with serving_on_free_port("azurite", args, answers, endpoint, timeout) as port:
        yield endpoint(port)


def connection_string(endpoint: str) -> str:
    """The connection string of the development account at ``endpoint``."""
    return (
        f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
        f"BlobEndpoint={endpoint};"
    )


def azure_options(endpoint: str, **extra: Any) -> dict[str, Any]:
    """``storage_options`` for adlfs against the emulator (no instance cache between tests)."""
    options: dict[str, Any] = {"connection_string": connection_string(endpoint), "skip_instance_cache": True}
    options.update(extra)
    return options
