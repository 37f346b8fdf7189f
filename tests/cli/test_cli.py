"""The ``dz`` command against local folders and S3 (moto): run in-process with click's
``CliRunner`` (as a process would see it: stdout, stderr, exit status), and as a real
process where the process itself is what is tested (the installed entry point, exit
statuses, the traceback ``--debug`` prints)."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import subprocess
import sys
import traceback
import warnings
from collections.abc import Iterator
from pathlib import Path

import dask.array as da
import numcodecs
import numpy as np
import pytest
import zarr
from click.testing import CliRunner

import dask_zarrio as dz
from dask_zarrio.cli import main
from dask_zarrio.metadata import ArraySpec
from dask_zarrio.metadata.node import read_node
from dask_zarrio.store import open_store
from tests.servers.s3 import s3_options

ROOT = Path(__file__).resolve().parents[2]
DATA = np.arange(400, dtype="f8").reshape(20, 20)


@contextlib.contextmanager
def _as_a_process_reports() -> Iterator[None]:
    """Warnings and dask_zarrio's log records on ``sys.stderr``, as a fresh ``dz`` process
    prints them (Python's default warning filters; logging's last-resort handler), so that
    in-process runs see the same stderr: pytest would otherwise capture both."""
    handler = logging.StreamHandler()  # sys.stderr when emitting: the runner's
    handler.setLevel(logging.WARNING)
    logger = logging.getLogger("dask_zarrio")
    with warnings.catch_warnings():
        warnings.resetwarnings()
        for action, category in [("ignore", DeprecationWarning), ("ignore", PendingDeprecationWarning),
                                 ("ignore", ImportWarning), ("ignore", ResourceWarning)]:
            warnings.simplefilter(action, category)
        warnings.showwarning = lambda message, category, filename, lineno, file=None, line=None: sys.stderr.write(
            warnings.formatwarning(message, category, filename, lineno, line))
        logger.addHandler(handler)
        try:
            yield
        finally:
            logger.removeHandler(handler)


def dz_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """``dz ARGS`` in this process: its stdout, stderr and exit status; an exception that
    escapes (``--debug``) ends it with status 1 and its traceback on stderr, as in a process."""
    runner = CliRunner()
    with _as_a_process_reports():
        result = runner.invoke(main, list(args), prog_name="dz", catch_exceptions=True)
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += "".join(traceback.format_exception(result.exception))
    return subprocess.CompletedProcess(["dz", *args], result.exit_code, result.stdout, stderr)


def dz_process(*args: str, command: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    """``dz ARGS`` in a process of its own (``python -m dask_zarrio.cli`` unless ``command``),
    importing this checkout's package."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = command or [sys.executable, "-m", "dask_zarrio.cli"]
    return subprocess.run([*command, *args], capture_output=True, text=True, env=env, timeout=120)


def dz_json(*args: str) -> dict:
    done = dz_cli(*args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture
def hierarchy(tmp_path) -> str:
    url = str(tmp_path / "g.zarr")
    dz.create_group(url, attributes={"title": "demo"})
    dz.write(da.from_array(DATA, chunks=10), f"{url}/temp", chunks=(5, 5), dimension_names=["y", "x"])
    dz.write(da.arange(100, chunks=10), f"{url}/sub/idx", chunks=5, shards=20)
    return url


@pytest.mark.parametrize("fmt", [2, 3])
def test_info_of_what_zarr_python_wrote(tmp_path, fmt):
    url = str(tmp_path / "a.zarr")
    z = zarr.create_array(url, shape=(20, 20), chunks=(5, 5), dtype="i4", fill_value=7, zarr_format=fmt,
                          dimension_names=["y", "x"] if fmt == 3 else None, attributes={"units": "K"})
    z[:10] = 1  # 8 of 16 chunks stored
    doc = dz_json("info", url)
    got = (doc["zarr_format"], doc["shape"], doc["chunks"], doc["dtype"], doc["fill_value"])
    assert got == (fmt, [20, 20], [5, 5], "int32", 7)
    assert (doc["chunks_present"], doc["chunks_expected"], doc["attributes"]) == (8, 16, {"units": "K"})
    files = [p for p in (tmp_path / "a.zarr").rglob("*") if p.is_file()]
    assert doc["stored_bytes"] == sum(p.stat().st_size for p in files)
    assert doc["compression_ratio"] == round(8 * 25 * 4 / doc["stored_chunk_bytes"], 3)
    assert doc["dimension_names"] == (["y", "x"] if fmt == 3 else None)


def test_group_info_tree_ls_du(hierarchy):
    doc = dz_json("info", hierarchy)
    assert sorted(doc["arrays"]) == ["sub/idx", "temp"] and doc["groups"] == ["sub"]
    assert (doc["arrays"]["sub/idx"]["chunks"], doc["arrays"]["sub/idx"]["shards"]) == ([5], [20])
    assert dz_json("ls", hierarchy)["members"][0] == {"path": "sub", "node_type": "group", "attributes": []}
    assert [n["path"] for n in dz_json("tree", hierarchy, "--depth", "1")["nodes"]] == ["sub", "temp"]
    du = dz_json("du", hierarchy)
    assert du["total"] == sum(p.stat().st_size for p in Path(hierarchy).rglob("*") if p.is_file())
    text = dz_cli("tree", hierarchy).stdout
    assert "│   └── idx (100,) int64 chunks=(5,) shards=(20,) codecs=[bytes, zstd]" in text
    assert "temp" in dz_cli("info", hierarchy).stdout


def test_cat_slices_and_refuses_too_much(hierarchy):
    doc = dz_json("cat", f"{hierarchy}/temp", "--slice", "0:2, :", "--max-items", "40")
    np.testing.assert_array_equal(doc["data"], DATA[0:2, :])
    assert dz_cli("cat", f"{hierarchy}/temp", "--slice", "3, 4").stdout.strip() == "64.0"
    refused = dz_cli("cat", f"{hierarchy}/temp", "--max-items", "10")
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1
    assert "400 elements" in refused.stderr and "--max-items" in refused.stderr and "Traceback" not in refused.stderr
    assert "Traceback" in dz_cli("cat", f"{hierarchy}/temp", "--max-items", "10", "--debug").stderr


def _corrupt(url: str) -> None:
    Path(url, "temp/c/0/1").write_bytes(b"garbage")
    shard = Path(url, "sub/idx/c/0")
    raw = bytearray(shard.read_bytes())
    layout = read_node(open_store(f"{url}/sub/idx")).codecs[0].layout((20,), np.dtype("i8"))
    index = np.array(layout.decode_index(raw[-layout.index_nbytes:]))
    index[0, 0] = len(raw) + 100  # an offset past the shard's end, with a valid crc32c
    raw[-layout.index_nbytes:] = bytes(layout.index.encode(index))
    shard.write_bytes(bytes(raw))
    Path(url, "temp/c/9").mkdir(parents=True)
    Path(url, "temp/c/9/9").write_bytes(b"x")


def test_verify_reports_every_problem(hierarchy):
    clean = dz_cli("verify", hierarchy)
    assert clean.returncode == 0 and "21 stored chunks checked: ok" in clean.stdout
    _corrupt(hierarchy)
    done = dz_cli("verify", hierarchy, "--json")
    assert done.returncode == 1
    found = {(p["kind"], p["path"], p["key"]) for p in json.loads(done.stdout)["problems"]}
    assert found == {
        ("corrupt_chunk", "temp", "c/0/1"), ("shard_index", "sub/idx", "c/0"), ("outside_grid", "temp", "c/9/9"),
    }
    assert dz_cli("verify", str(Path(hierarchy).parent / "missing.zarr")).returncode == 2


def test_verify_finds_stale_consolidated_metadata(hierarchy):
    dz.consolidate(hierarchy)
    assert dz_cli("verify", hierarchy).returncode == 0
    zarr.open_array(f"{hierarchy}/temp", mode="r+").attrs["units"] = "K"  # zarr-python: no reconsolidation
    shutil.rmtree(f"{hierarchy}/sub")
    done = dz_cli("verify", hierarchy, "--json")
    assert done.returncode == 1
    found = {(p["kind"], p["path"]) for p in json.loads(done.stdout)["problems"]}
    assert found == {("stale_consolidated", "temp"), ("stale_consolidated", "sub"), ("stale_consolidated", "sub/idx")}
    dz_cli("consolidate", hierarchy)
    assert dz_cli("verify", hierarchy).returncode == 0


def test_checksum_compares_copies_with_other_chunking_and_format(tmp_path):
    a, b, manifest = str(tmp_path / "a.zarr"), str(tmp_path / "b.zarr"), str(tmp_path / "sums.json")
    dz.write(da.from_array(DATA, chunks=5), a, chunks=(5, 5))
    z = zarr.create_array(b, shape=DATA.shape, chunks=(7, 3), dtype=">f8", zarr_format=2)
    z[:] = DATA  # written by zarr-python, big-endian, other chunks
    assert json.loads(dz_cli("verify", a, "--checksum", manifest, "--json").stdout)["checksum"] == "written"
    assert json.loads(dz_cli("verify", b, "--checksum", manifest, "--json").stdout)["checksum"] == "matched"
    z[3, 4] = -1
    done = dz_cli("verify", b, "--checksum", manifest)
    assert done.returncode == 1 and "first difference in elements ['0:20', '0:20']" in done.stdout


def test_advise_table_is_what_re_encoding_gives(tmp_path):
    url = str(tmp_path / "f.zarr")
    x = np.sin(np.linspace(0, 20, 4000)).reshape(40, 100)
    dz.write(da.from_array(x, chunks=(10, 100)), url, chunks=(10, 100))
    doc = dz_json("advise", url, "--sample", "2", "--lossy-tolerance", "0.001", "--objective", "ratio")
    assert [r["ratio"] for r in doc["rows"]] == sorted((r["ratio"] for r in doc["rows"]), reverse=True)
    assert any(r["filters"] for r in doc["rows"]) and all(r["max_error"] <= 0.001 for r in doc["rows"])
    store = open_store(url)
    spec = ArraySpec.from_metadata(read_node(store))
    sample = [spec.pipeline.decode(store.get(k)) for k in doc["sampled_chunks"]]
    for row in doc["rows"]:
        filters = [numcodecs.get_codec(f) for f in row["filters"]]
        encoded = []
        for chunk in sample:
            data = chunk
            for f in filters:
                data = f.encode(data)
            encoded.append(numcodecs.get_codec(row["compressor"]).encode(np.ascontiguousarray(data)))
        assert row["ratio"] == round(sum(c.nbytes for c in sample) / sum(len(e) for e in encoded), 3), row["pipeline"]
    assert doc["command"].startswith(f"dz copy {store.describe()} DEST --compressors ")
    assert "best: dz copy" in dz_cli("advise", url, "--sample", "1").stdout


def test_s3_info_and_verify_never_print_credentials(s3_endpoint, bucket):
    opts = s3_options(s3_endpoint, key="AKIAVERYSECRETKEY", secret="VERYSECRETSECRET")
    dz.write(da.from_array(DATA, chunks=10), f"s3://{bucket}/a.zarr", chunks=(5, 5), storage_options=opts)
    args = [f"--storage-option={k}={json.dumps(v)}" for k, v in opts.items()]
    doc = dz_json("info", f"s3://{bucket}/a.zarr", *args)
    assert (doc["chunks_present"], doc["url"]) == (16, f"s3://{bucket}/a.zarr")
    verified = dz_cli("verify", f"s3://{bucket}/a.zarr", *args)
    missing = dz_cli("info", f"s3://{bucket}/none.zarr", *args)
    assert verified.returncode == 0 and missing.returncode == 2 and "no array" in missing.stderr
    for out in (verified.stdout, verified.stderr, missing.stdout, missing.stderr, json.dumps(doc)):
        assert "VERYSECRET" not in out


def test_the_installed_dz_command_in_a_process_of_its_own(hierarchy):
    """What only a real process shows: the entry point pip installs runs, and the exit
    statuses and the traceback Python prints for ``--debug`` reach the shell."""
    script = Path(sys.executable).with_name("dz")
    if not script.exists():
        pytest.skip(f"no dz entry point next to {sys.executable}: pip install -e .")
    version = dz_process("--version", command=[str(script)])
    assert version.returncode == 0 and version.stdout.startswith("dz, version "), version.stderr
    Path(hierarchy, "temp/c/0/1").write_bytes(b"garbage")
    problems = dz_process("verify", hierarchy, command=[str(script)])
    assert problems.returncode == 1 and "corrupt_chunk" in problems.stdout
    refused = dz_process("cat", f"{hierarchy}/temp", "--max-items", "10")
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr
    debug = dz_process("cat", f"{hierarchy}/temp", "--max-items", "10", "--debug")
    assert debug.returncode == 1 and "Traceback" in debug.stderr and "--max-items" in debug.stderr


def test_bad_storage_option_is_a_usage_error(hierarchy):
    done = dz_cli("info", hierarchy, "--storage-option", "novalue")
    assert done.returncode == 2 and "key=value" in done.stderr


def test_write_progress_bar(tmp_path, capsys):
    dz.write(da.ones(10, chunks=5), str(tmp_path / "p.zarr"), progress=True)
    assert "[####" in capsys.readouterr().out and dz.read(str(tmp_path / "p.zarr")).sum().compute() == 10
