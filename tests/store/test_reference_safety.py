"""Nothing read outside (issue 28): a kerchunk reference set is data, so what it may read is bounded.

By default its targets are remote URLs of public hosts and files under its own folder;
anything else (other local files, devices, loopback/link-local/private hosts, chained
URLs wrapping them) is a StorePermissionError naming the key and ``allowed_targets``,
raised before a byte of the target is read: the HTTP server here (127.0.0.1, started by
the tests) counts requests, and ``/dev/zero`` or a FIFO would never end. Byte ranges are
bounded by what the array's chunk can be, encoded, before reading.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import dask
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from click.testing import CliRunner

import dask_zarrio as dz
from dask_zarrio.cli import main
from dask_zarrio.errors import StoreError, StorePermissionError, ZarrioError
from dask_zarrio.store import open_store

pytestmark = pytest.mark.timeout(60)  # a refused target that is read anyway would hang (/dev/zero, a FIFO)

VALUES = np.arange(8, dtype="<i4")
META = {"shape": [8], "chunks": [4], "dtype": "<i4", "fill_value": None, "order": "C", "filters": None,
        "compressor": None, "zarr_format": 2}


class Served:
    """An HTTP server on 127.0.0.1 serving ``data`` (ranges too), or redirecting to ``redirect``."""

    def __init__(self, data: bytes, redirect: str | None = None) -> None:
        self.requests: list[str] = []
        served = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def do_GET(self) -> None:  # noqa: N802
                served.requests.append(self.path)
                if redirect is not None:
                    self.send_response(302)
                    self.send_header("Location", redirect)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body, status = data, 200
                if "Range" in self.headers:
                    first, _, last = self.headers["Range"].removeprefix("bytes=").partition("-")
                    body, status = data[int(first): int(last) + 1 if last else None], 206
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_HEAD = do_GET

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]

    def url(self, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}"


@contextmanager
def serving(data: bytes, redirect: str | None = None) -> Iterator[Served]:
    served = Served(data, redirect)
    thread = threading.Thread(target=served.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        served.server.shutdown()
        served.server.server_close()


@pytest.fixture
def server() -> Iterator[Served]:
    with serving(VALUES.tobytes()) as s:
        yield s


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    """``refs/`` (where the references go) and ``outside/``, each holding ``data.bin``."""
    inside, outside = tmp_path / "refs", tmp_path / "outside"
    for folder in (inside, outside):
        folder.mkdir()
        (folder / "data.bin").write_bytes(VALUES.tobytes())
    (inside / "link.bin").symlink_to(outside / "data.bin")
    (inside / "sub").mkdir()
    os.mkfifo(outside / "fifo")  # opening it for reading blocks until someone writes
    return inside, outside


def references(folder: Path, url: str, meta: dict[str, Any] | None = None, spans: Any = None) -> str:
    """A kerchunk JSON file in ``folder`` whose chunks of array ``a`` are the two halves of ``url``.

    Beside it, ``array.json`` holds the same array at its root (what ``dz.read(url, format=...)`` reads).
    """
    spans = spans or [(0, 16), (16, 16)]
    refs: dict[str, Any] = {".zarray": json.dumps(meta or META), ".zattrs": json.dumps({"_ARRAY_DIMENSIONS": ["x"]})}
    for i, span in enumerate(spans):
        refs[f"{i}"] = [url, *span] if span is not None else [url]
    (folder / "array.json").write_text(json.dumps({"version": 1, "refs": refs}))
    grouped = {".zgroup": json.dumps({"zarr_format": 2}), **{f"a/{k}": v for k, v in refs.items()}}
    where = folder / "refs.json"
    where.write_text(json.dumps({"version": 1, "refs": grouped}))
    return str(where)


def read(where: str, how: str = "reference_url", allowed: Any = None) -> np.ndarray:
    """Array ``a`` of the references at ``where``, through one of dz's entry points."""
    options = {} if allowed is None else {"allowed_targets": allowed}
    with dask.config.set(scheduler="sync"):  # a read that blocks (a FIFO) is interrupted by the timeout
        return _read(where, how, options)


def _read(where: str, how: str, options: dict[str, Any]) -> np.ndarray:
    allowed = options.get("allowed_targets")
    if how == "format":
        return dz.read(str(Path(where).parent / "array.json"), format="kerchunk", storage_options=options).compute()
    if how == "reference_url":
        return dz.read("reference://a", storage_options={"fo": where, **options}).compute()
    if how == "open_group":
        return dz.open_group(where, format="kerchunk", storage_options=options)["a"].compute()
    if how == "xarray":
        return xr.open_dataset(where, engine="dask_zarrio", format="kerchunk", storage_options=options)["a"].values
    args = ["cat", "reference://a", "--json", "--storage-option", f"fo={where}"]
    if allowed is not None:
        args += ["--storage-option", f"allowed_targets={json.dumps(allowed)}"]
    result = CliRunner().invoke(main, args)
    if result.exit_code:
        raise StorePermissionError(result.output) if "allowed_targets" in result.output else ZarrioError(result.output)
    return np.asarray(json.loads(result.output)["data"])


REFUSED_LOCAL = [
    "{outside}/data.bin",
    "file://{outside}/data.bin",
    "{inside}/../outside/data.bin",
    "file://{inside}/sub/../../outside/data.bin",
    "{inside}/link.bin",  # a symlink leading out of the folder
    "/etc/passwd",
    "/dev/zero",
    "{outside}/fifo",
    "~/.netrc",
    "simplecache::file://{outside}/data.bin",
    "zip://data.bin::file://{outside}/data.zip",
    "memory://reference-safety/data.bin",
    "reference://x::file://{inside}/data.bin",  # a chain through a protocol that may read anything
    "nope://host/data.bin",
]


@pytest.mark.parametrize("target", REFUSED_LOCAL)
def test_local_targets_outside_the_folder_are_refused_before_reading(folders, target):
    inside, outside = folders
    url = target.format(inside=inside, outside=outside)
    with pytest.raises(StorePermissionError, match=r"'a/\d' points at .*(allowed_targets|chained URL through)"):
        read(references(inside, url, spans=[None, None]))


REFUSED_HOSTS = [
    "{url}/data.bin",
    "http://localhost:{port}/data.bin",
    "http://127.1:{port}/data.bin",
    "http://2130706433:{port}/data.bin",
    "http://0x7f.0.0.1:{port}/data.bin",
    "http://0.0.0.0:{port}/data.bin",
    "http://[::ffff:127.0.0.1]:{port}/data.bin",
    "http://[::1]:{port}/data.bin",
    "http://public.example@127.0.0.1:{port}/data.bin",
    "HTTP://127.0.0.1:{port}/data.bin",
    "simplecache::{url}/data.bin",
    "blockcache::HTTP://127.0.0.1:{port}/data.bin",
    "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
    "http://10.1.2.3/data.bin",
    "http://192.168.0.1/data.bin",
    "https://100.64.0.1/data.bin",
    "ftp://127.0.0.1:{port}/data.bin",
]


@pytest.mark.parametrize("target", REFUSED_HOSTS)
def test_loopback_link_local_and_private_hosts_are_refused_before_any_request(folders, server, target):
    url = target.format(url=server.url(), port=server.port)
    with pytest.raises(StorePermissionError, match=r"'a/\d' points at .*not a public address.*allowed_targets"):
        read(references(folders[0], url))
    assert server.requests == []


@pytest.mark.parametrize("how", ["format", "reference_url", "open_group", "xarray", "cli"])
def test_every_entry_point_refuses_by_default_and_reads_once_allowed(folders, server, how):
    where = references(folders[0], f"{server.url()}/data.bin")
    with pytest.raises(StorePermissionError, match="allowed_targets"):
        read(where, how)
    assert server.requests == []
    np.testing.assert_array_equal(read(where, how, [f"{server.url()}/"]), VALUES)
    assert server.requests  # served once allowed


def test_urls_without_a_protocol_are_checked_as_remote_protocol_reads_them(folders, server, monkeypatch):
    """Relative to the working directory they would look like files inside the references' folder."""
    inside, _ = folders
    monkeypatch.chdir(inside)
    where = references(inside, f"127.0.0.1:{server.port}/data.bin")
    options = {"fo": where, "remote_protocol": "http"}
    with pytest.raises(StorePermissionError, match="not a public address"):
        dz.read("reference://a", storage_options=options).compute(scheduler="sync")
    assert server.requests == []
    allowed = {**options, "allowed_targets": [f"{server.url()}/"]}
    np.testing.assert_array_equal(dz.read("reference://a", storage_options=allowed).compute(), VALUES)
    assert server.requests


@pytest.mark.parametrize("allowed", [
    "{url}/", "{url}", "{url}/data.bin", ["{url}/"], ["http://127.0.0.1:{port}/"], ["{outside}", "{url}/"],
])
def test_allowed_targets_spellings(folders, server, allowed):
    def fill(text: str) -> str:
        return text.format(url=server.url(), port=server.port, outside=folders[1])

    allowed = fill(allowed) if isinstance(allowed, str) else [fill(a) for a in allowed]
    np.testing.assert_array_equal(read(references(folders[0], f"{server.url()}/data.bin"), allowed=allowed), VALUES)


@pytest.mark.parametrize("allowed", ["{url}/other/", "http://127.0.0.1:1/", "{url}/data", "https://{host}/"])
def test_an_allowed_prefix_allows_nothing_beside_it(folders, server, allowed):
    allowed = allowed.format(url=server.url(), host=f"127.0.0.1:{server.port}")
    with pytest.raises(StorePermissionError, match="allowed_targets"):
        read(references(folders[0], f"{server.url()}/data.bin"), allowed=[allowed])
    assert server.requests == []


@pytest.mark.parametrize("target", ["{inside}/data.bin", "file://{inside}/data.bin", "{inside}/sub/../data.bin",
                                    "{outside}/data.bin"])
def test_files_under_the_folder_or_allowed_are_read(folders, target):
    inside, outside = folders
    url = target.format(inside=inside, outside=outside)
    allowed = [str(outside)] if "outside" in target else None
    np.testing.assert_array_equal(read(references(inside, url), allowed=allowed), VALUES)


def test_local_paths_must_be_regular_files_even_when_allowed(folders):
    inside, _ = folders
    os.mkfifo(inside / "fifo")
    with pytest.raises(StorePermissionError, match="not a regular file"):
        read(references(inside, str(inside / "fifo"), spans=[None, None]))
    with pytest.raises(StorePermissionError, match="not a regular file"):
        read(references(inside, "/dev/zero", spans=[None, None]), allowed=["/dev/"])


def test_a_redirect_to_a_host_not_allowed_is_refused(folders, server):
    with serving(b"", redirect=f"{server.url()}/data.bin") as front:
        where = references(folders[0], f"{front.url()}/data.bin")
        with pytest.raises(StorePermissionError, match="redirect"):
            read(where, allowed=[f"{front.url()}/"])
        assert front.requests and server.requests == []
        np.testing.assert_array_equal(read(where, allowed=[f"{front.url()}/", f"{server.url()}/"]), VALUES)


def test_public_hosts_are_allowed(folders, monkeypatch):
    """A host whose every address is public passes; one public and one private address does not."""
    import socket

    answers = {"public.example": ["93.184.215.14"], "mixed.example": ["93.184.215.14", "127.0.0.1"]}

    def resolve(host: str, *args: Any, **kwargs: Any) -> list[Any]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, 0)) for a in answers[host]]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    from dask_zarrio.store.support.reference_targets import TargetPolicy

    policy = TargetPolicy(str(folders[0] / "refs.json"))
    assert policy.check("https://public.example/f.nc", "a/0") == "https://public.example/f.nc"
    assert policy.check("s3://bucket/f.nc", "a/0") == "s3://bucket/f.nc"
    with pytest.raises(StorePermissionError, match="127.0.0.1"):
        policy.check("https://mixed.example/f.nc", "a/0")


def test_allowed_targets_must_be_prefixes():
    with pytest.raises(ZarrioError, match="allowed_targets"):
        open_store("reference://", {"fo": {}, "allowed_targets": [3]})


# -- bounded ranges ----------------------------------------------------------------------------


@pytest.mark.parametrize("span", [(0, 2**40), (2**62, 2**62), (0, 70_000), (16, 65_601)])
def test_ranges_longer_than_a_chunk_can_be_are_refused_before_reading(folders, span):
    """A chunk of four int32 without codecs is at most 65,600 bytes (2 n + 64 KiB, generously); the
    read path's own bound (the codec chain's, 16 bytes here) refuses it first where it is given."""
    inside, _ = folders
    either = r"a/1.*(asks for \d+ bytes.*more than a chunk of its array can be|holds \d+ bytes, more than the 16)"
    with pytest.raises(StoreError, match=either):
        read(references(inside, str(inside / "data.bin"), spans=[(0, 16), span]))


def test_a_whole_file_larger_than_a_chunk_can_be_is_refused(folders):
    inside, _ = folders
    (inside / "big.bin").write_bytes(b"\0" * 200_000)
    with pytest.raises(StoreError, match=r"'a/\d' is the whole of .*big\.bin, which has more than the 65600 bytes"):
        read(references(inside, str(inside / "big.bin"), spans=[None, None]))


def test_without_a_bound_from_the_metadata_max_range_bounds(folders):
    inside, _ = folders
    meta = {**META, "dtype": "|O", "filters": [{"id": "vlen-utf8"}]}
    where = references(inside, str(inside / "data.bin"), meta=meta, spans=[(0, 2**40), (0, 16)])
    store = open_store(where, format="kerchunk")
    with pytest.raises(StoreError, match=r"'a/0' asks for 1099511627776 bytes.*max-range"):
        store.get("a/0")
    with dask.config.set({"dask_zarrio.references.max-range": 8}):
        with pytest.raises(StoreError, match=r"'a/1' asks for 16 bytes.*max-range \(8 bytes\)"):
            store.get("a/1")
        assert store.get("a/.zarray") is not None  # inline metadata is not a range


@pytest.mark.parametrize(("offset", "length"), [("-1", "16"), ("0", "-16")])
def test_generated_references_with_negative_ranges_are_refused(folders, offset, length):
    inside, _ = folders
    document = {"version": 1, "refs": {"a/.zarray": json.dumps(META)}, "gen": [{
        "key": "a/{{i}}", "url": str(inside / "data.bin"), "offset": offset, "length": length,
        "dimensions": {"i": {"stop": 2}}}]}
    with pytest.raises(ZarrioError, match=r"'a/0'.*offset and length integers >= 0"):
        open_store(document, format="kerchunk")


# -- Parquet reference folders -----------------------------------------------------------------


def parquet(folder: Path, paths: list[Any], offsets: list[int], sizes: list[int]) -> str:
    """fsspec's Parquet reference layout by hand: .zmetadata and a/refs.0.parq (record size 10)."""
    where = folder / "refs.parq"
    (where / "a").mkdir(parents=True)
    (where / ".zmetadata").write_text(json.dumps({"metadata": {".zgroup": {"zarr_format": 2}, "a/.zarray": META},
                                                  "record_size": 10}))
    frame = pd.DataFrame({"path": paths, "offset": offsets, "size": sizes, "raw": [None] * len(paths)})
    frame.to_parquet(where / "a" / "refs.0.parq", engine="fastparquet")
    return str(where)


def test_parquet_references_read_inside_and_refuse_outside(folders, server):
    inside, outside = folders
    data = str(inside / "data.bin")
    np.testing.assert_array_equal(read(parquet(inside, [data, data], [0, 16], [16, 16])), VALUES)
    for name, url in (("b", str(outside / "data.bin")), ("c", f"{server.url()}/data.bin"), ("d", "/dev/zero")):
        (inside / name).mkdir()
        with pytest.raises(StorePermissionError, match=r"'a/\d'.*allowed_targets"):
            read(parquet(inside / name, [url, url], [0, 16], [16, 16]))
    assert server.requests == []


@pytest.mark.parametrize(("offsets", "sizes", "error"), [
    ([0, 16], [16, 2**40], r"a/1.*(asks for|holds) 1099511627776 bytes"),
    ([0, -5], [16, 16], r"'a/1'.*offset and length integers >= 0"),
    ([0, 16], [16, -1], r"'a/1'.*offset and length integers >= 0"),
])
def test_parquet_ranges_are_bounded(folders, offsets, sizes, error):
    inside, _ = folders
    data = str(inside / "data.bin")
    with pytest.raises(ZarrioError, match=error):
        read(parquet(inside, [data, data], offsets, sizes))


@pytest.mark.parametrize("member", [".zmetadata", "a/refs.0.parq"])
def test_parquet_members_leading_out_of_the_folder_are_refused(folders, member):
    inside, outside = folders
    data = str(inside / "data.bin")
    where = Path(parquet(inside, [data, data], [0, 16], [16, 16]))
    (outside / "member").write_bytes((where / member).read_bytes())
    (where / member).unlink()
    (where / member).symlink_to(outside / "member")
    with pytest.raises(StorePermissionError, match="outside the reference folder"):
        read(str(where))
    (where / member).unlink()
    (where / member).symlink_to("/dev/zero")
    with pytest.raises(StorePermissionError, match="outside the reference folder|not a regular file"):
        read(str(where))


PEAK = """
import json, resource, sys
import dask_zarrio as dz
where = sys.argv[1]
store = dz.store.open_store(where, format="kerchunk")
store.get("a/.zarray")
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    store.get("a/0")
except dz.errors.StoreError as e:
    print(json.dumps({"error": str(e)[:80], "grew_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before}))
"""


def test_peak_memory_of_a_whole_file_reference_to_a_huge_file(folders):
    """A whole-file reference to a 256 MiB (sparse) file is refused after reading at most a chunk's bound."""
    import subprocess
    import sys

    inside, _ = folders
    with open(inside / "huge.bin", "wb") as f:
        f.truncate(256 * 2**20)
    where = references(inside, str(inside / "huge.bin"), spans=[None, None])
    out = subprocess.run([sys.executable, "-c", PEAK, where], capture_output=True, text=True, timeout=120, check=True)
    result = json.loads(out.stdout)
    assert "is the whole of" in result["error"]
    assert result["grew_kib"] < (2 * 65_600 + 8 * 2**20) // 1024, result  # twice the bound plus a small constant
