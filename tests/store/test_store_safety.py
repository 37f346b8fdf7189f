"""Nothing escapes (issue 14): credentials never reach a message, repr, task name or log
line; a refusal from the store is a StorePermissionError naming the key and the
operation, never retried; conditional writes on S3 are checked by the server.

Servers are all on 127.0.0.1: a port nothing listens on, a tiny HTTP server answering
one status to everything, and the moto S3 server of tests/servers."""

from __future__ import annotations

import logging
import os
import stat
import sys
import threading
import traceback
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import dask
import dask.array as da
import fsspec
import numpy as np
import pytest
from fsspec.implementations.memory import MemoryFileSystem

import dask_zarrio as dz
from dask_zarrio.errors import StoreError, StorePermissionError, ZarrioError, redact_url
from dask_zarrio.store import FsspecStore, open_store
from dask_zarrio.store.support.retry import RetryPolicy
from tests.servers.s3 import s3_options

PASSWORD = "hunter2-not-for-logs"
KEY, SECRET = "AKIASAFETYTESTKEY", "SAFETYTESTSECRETVALUE"


@contextmanager
def answering(status: int, body: bytes = b"") -> Iterator[str]:
    """An HTTP server on 127.0.0.1 that answers ``status`` to every request; yields host:port."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

        def _answer(self) -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Content-Type", "application/xml")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _answer

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def everything_said(exc: BaseException, caplog: pytest.LogCaptureFixture) -> str:
    """The whole traceback as Python prints it (chained causes included) plus our log lines.

    fsspec's own DEBUG lines (logger ``fsspec.http``) quote request URLs as given: a
    third-party logger, off unless a user turns DEBUG on for it, not ours to filter.
    """
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("dask_zarrio"))
    return "".join(traceback.format_exception(exc)) + repr(exc) + ours


# -- credentials --------------------------------------------------------------------------


@pytest.mark.parametrize("url,shown", [
    ("http://user:pw@host/a.zarr", "http://user:***@host/a.zarr"),
    ("simplecache::https://u:p@ss@h:8/x", "simplecache::https://u:***@h:8/x"),
    ("s3://bucket/a.zarr", "s3://bucket/a.zarr"),
    ("memory://x/me@example.org/a", "memory://x/me@example.org/a"),
    ("https://h/a.zarr?X-Amz-Signature=abc&part=1", "https://h/a.zarr?X-Amz-Signature=***&part=1"),
    ("error at URL('http://u:pw@h/k') and ftp://a:b@c", "error at URL('http://u:***@h/k') and ftp://a:***@c"),
])
def test_redact_url_hides_passwords_and_signed_query_parameters(url, shown):
    assert redact_url(url) == shown


@pytest.mark.parametrize("chained", [False, True])
def test_a_refused_connection_never_shows_the_password(chained, caplog, refused_port):
    """Nothing listens on the port: the retries give up with a StoreError naming the URL."""
    url = f"http://user:{PASSWORD}@127.0.0.1:{refused_port}/a.zarr"
    url = f"simplecache::{url}" if chained else url
    caplog.set_level(logging.DEBUG)
    with dask.config.set({"dask_zarrio.retry.attempts": 2, "dask_zarrio.retry.base-delay": 0}):
        with pytest.raises((StoreError, ZarrioError)) as info:
            dz.read(url)
    text = everything_said(info.value, caplog)
    assert PASSWORD not in text
    assert "user:***@127.0.0.1" in str(info.value)


@pytest.mark.parametrize("chained", [False, True])
def test_a_404_names_the_location_without_the_password(chained, caplog):
    caplog.set_level(logging.DEBUG)
    with answering(404) as host:
        url = f"http://user:{PASSWORD}@{host}/a.zarr"
        with pytest.raises(FileNotFoundError) as info:
            dz.read(f"simplecache::{url}" if chained else url)
    assert PASSWORD not in everything_said(info.value, caplog)
    assert f"user:***@{host}" in str(info.value)


def test_an_http_store_shows_no_password_in_repr_describe_token_or_task_names():
    store = open_store(f"http://user:{PASSWORD}@127.0.0.1:9/g.zarr")
    texts = [repr(store), store.describe("c/0"), store.token(), repr(store.child("a")), store.child("a").describe()]
    assert all(PASSWORD not in t for t in texts)
    assert store.describe("zarr.json") == "http://user:***@127.0.0.1:9/g.zarr/zarr.json"


def test_the_url_type_error_shows_no_password():
    with pytest.raises(TypeError) as info:
        open_store(b"http://u:" + PASSWORD.encode() + b"@h/x")
    assert PASSWORD not in str(info.value)


class LeakyFS(MemoryFileSystem):
    """A filesystem whose errors quote its own credentials (some clients do)."""

    protocol = "leaky"

    def cat_file(self, path: str, start: Any = None, end: Any = None, **kwargs: Any) -> bytes:
        raise OSError(f"request to {path} with token={self.storage_options['token']} failed")


def test_storage_option_secrets_are_scrubbed_from_store_errors(caplog):
    fs = LeakyFS(token="tok-" + SECRET, skip_instance_cache=True)
    store = FsspecStore(fs, "/leaky/a.zarr", RetryPolicy(attempts=2, base_delay=0))
    with pytest.raises(StoreError) as info:
        store.get("zarr.json")
    assert SECRET not in everything_said(info.value, caplog)
    assert "token=***" in str(info.value) and "leaky/a.zarr/zarr.json" in str(info.value)


def test_storage_option_secrets_never_shown_on_s3(s3_endpoint, bucket, caplog):
    """Write, read, a missing array and a missing bucket: no message or log line shows the keys."""
    caplog.set_level(logging.DEBUG)
    options = s3_options(s3_endpoint, key=KEY, secret=SECRET)
    x = da.arange(8, chunks=4)
    dz.write(x, f"s3://{bucket}/a.zarr", storage_options=options)
    y = dz.read(f"s3://{bucket}/a.zarr", storage_options=options)
    assert all(KEY not in str(k) and SECRET not in str(k) for k in y.__dask_keys__())
    assert KEY not in repr(y) and SECRET not in repr(y)
    for missing in (f"s3://{bucket}/nothing.zarr", f"s3://no-such-bucket-{uuid.uuid4().hex[:8]}/a.zarr"):
        with pytest.raises(FileNotFoundError) as info:
            dz.read(missing, storage_options=options)
        text = everything_said(info.value, caplog)
        assert KEY not in text and SECRET not in text


# -- permissions --------------------------------------------------------------------------


class DenyingFS(MemoryFileSystem):
    """Every request refused, as a filesystem answers a key without the rights to it."""

    protocol = "denying"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.calls = 0

    def _deny(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        raise PermissionError(13, "Access Denied")

    cat_file = pipe_file = ls = rm = rm_file = find = isfile = exists = _deny


@pytest.mark.parametrize("operation,call", [
    ("read", lambda s: s.get("c/0/0")),
    ("read", lambda s: s.get_range("c/0/0", 0, 4)),
    ("write", lambda s: s.set("c/0/0", b"x")),
    ("read", lambda s: s.set_if_unchanged("zarr.json", b"x", b"y")),  # compares first
    ("list", lambda s: s.list_dir()),
    ("list", lambda s: s.list_keys()),
    ("delete", lambda s: s.delete("c/0/0")),
    ("delete", lambda s: s.clear()),
])
def test_a_refusal_is_a_store_permission_error_naming_key_and_operation(operation, call):
    fs = DenyingFS(skip_instance_cache=True)
    store = FsspecStore(fs, "/denied/a.zarr", RetryPolicy(attempts=5, base_delay=0))
    with pytest.raises(StorePermissionError) as info:
        call(store)
    message = str(info.value)
    assert isinstance(info.value, PermissionError) and isinstance(info.value, StoreError)
    assert f"cannot {operation} denying://denied/a.zarr" in message
    assert "credentials" in message
    assert fs.calls == 1, "a permission error is not transient: it must not be retried"


def test_dz_read_and_write_raise_permission_errors_from_the_store():
    mapper = fsspec.FSMap("/denied/b.zarr", DenyingFS(skip_instance_cache=True), check=False, create=False)
    with pytest.raises(StorePermissionError, match="cannot (read|list)"):
        dz.read(mapper)
    with pytest.raises(StorePermissionError, match="cannot (read|list|write|delete)"):
        dz.write(np.ones(4), mapper, mode="w")


LOCKED_OUT = """
import os, sys
import dask, dask.array as da
import dask_zarrio as dz
from dask_zarrio.errors import StorePermissionError
locked, readonly = sys.argv[1], sys.argv[2]
if os.geteuid() == 0:  # root may read every folder: act as nobody, as a user would be
    os.setegid(65534)
    os.seteuid(65534)
calls = {
    "read": lambda: dz.read(locked).compute(),
    "mode-w": lambda: dz.write(da.ones(4, chunks=2), locked, mode="w"),
    "write": lambda: dz.write(da.ones(4, chunks=2) * 2, readonly, mode="r+"),
}
with dask.config.set(scheduler="synchronous"):
    for name, call in calls.items():
        try:
            call()
            print(name, "no error")
        except StorePermissionError as exc:
            print(name, str(exc).split(" (")[0])
"""


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_a_local_folder_without_rights_is_a_store_permission_error():
    """chmod 000 and a read-only folder, in a subprocess (as nobody when the tests run as root)."""
    import shutil
    import subprocess
    import tempfile
    from pathlib import Path

    # Not pytest's tmp_path: its parent is private to the user running the tests, so
    # nobody could not reach even the folders it is meant to be refused.
    tmp_path = Path(tempfile.mkdtemp(prefix="dz-permissions-"))
    os.chmod(tmp_path, 0o755)
    locked, readonly = str(tmp_path / "locked.zarr"), str(tmp_path / "readonly.zarr")
    dz.write(da.ones(4, chunks=2), locked)
    dz.write(da.ones(4, chunks=2), readonly)
    os.chmod(locked, 0)
    for folder in (readonly, os.path.join(readonly, "c")):
        os.chmod(folder, stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
    try:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        done = subprocess.run([sys.executable, "-c", LOCKED_OUT, locked, readonly], capture_output=True,
                              text=True, timeout=120, env=env)
    finally:
        for folder in (locked, readonly, os.path.join(readonly, "c")):
            os.chmod(folder, stat.S_IRWXU)
        shutil.rmtree(tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[:2] == [
        f"read permission denied: cannot read file://{locked}/zarr.json",
        f"mode-w permission denied: cannot list file://{locked}",
    ]
    assert lines[2] in {f"write permission denied: cannot write file://{readonly}/c/{i}" for i in (0, 1)}


ACCESS_DENIED = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code>'
    b"<Message>Access Denied</Message><RequestId>1</RequestId></Error>"
)


def test_s3_access_denied_is_a_store_permission_error_and_not_retried():
    """A server that answers 403 AccessDenied to everything, as S3 does to wrong credentials."""
    with answering(403, ACCESS_DENIED) as host:
        options = s3_options(f"http://{host}", key=KEY, secret=SECRET)
        options["config_kwargs"] = {"retries": {"max_attempts": 1}}
        with pytest.raises(StorePermissionError) as info:
            open_store("s3://bucket-x/a.zarr", options).get("zarr.json")
    message = str(info.value)
    assert "cannot read s3://bucket-x/a.zarr/zarr.json" in message
    assert KEY not in message and SECRET not in message


# -- conditional writes on S3 -------------------------------------------------------------


def test_s3_declares_conditional_writes_and_the_server_checks_them(s3_endpoint, bucket):
    """The PUT carries If-None-Match / If-Match: a writer behind the store's back makes it lose."""
    store = open_store(f"s3://{bucket}/a.zarr", s3_options(s3_endpoint))
    assert store.supports_conditional_writes
    other = fsspec.filesystem("s3", **s3_options(s3_endpoint))
    assert store.set_if_unchanged("zarr.json", b"v1", None)
    other.pipe_file(f"{bucket}/a.zarr/zarr.json", b"v1")  # same bytes, new ETag: still v1
    assert store.set_if_unchanged("zarr.json", b"v2", b"v1")
    assert other.cat_file(f"{bucket}/a.zarr/zarr.json") == b"v2"
    assert not store.set_if_unchanged("zarr.json", b"v3", b"v1")



def test_retries_treat_eacces_as_permanent_and_give_up_without_the_password():
    import errno

    from dask_zarrio.store.support.retry import is_transient

    assert not is_transient(OSError(errno.EACCES, "denied"))
    assert not is_transient(OSError(errno.EPERM, "not permitted"))
    calls = []

    def refused() -> None:
        calls.append(1)
        raise ConnectionRefusedError(f"cannot connect to http://u:{PASSWORD}@127.0.0.1:1/a")

    with pytest.raises(StoreError) as info:
        RetryPolicy(attempts=2, base_delay=0).call(refused, f"GET http://u:{PASSWORD}@127.0.0.1:1/a/zarr.json")
    assert len(calls) == 2
    text = "".join(traceback.format_exception(info.value))
    assert PASSWORD not in text and "u:***@127.0.0.1:1/a/zarr.json" in text
