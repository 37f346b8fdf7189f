"""One vocabulary in Python, on the command line and in the docs (issue 32): shapes as Python
tuples, sizes in IEC units (KiB, MiB), plurals, sharded arrays as ``chunks=(60,) shards=(120,)``
in ``dz.tree`` and ``dz tree``, one spelling per option; and what ``dz info``, ``dz cat`` and
``dz ls`` show of attributes, CF times, groups and prefixes that hold stores."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import dask.array as da
import numpy as np
import pytest

import dask_zarrio as dz
from tests.cli.test_cli import ROOT, dz_cli, dz_json
from tests.servers.s3 import s3_options

DOCS = ROOT / "docs"


@pytest.fixture
def sharded(tmp_path) -> str:
    url = str(tmp_path / "s.zarr")
    dz.create_group(url, attributes={"title": "demo", "history": "x" * 500})
    dz.write(da.arange(240, chunks=120), f"{url}/idx", chunks=60, shards=120, attributes={"units": "m"})
    return url


def test_python_and_cli_tree_say_the_same(sharded):
    python = str(dz.tree(sharded)).splitlines()
    cli = dz_cli("tree", sharded).stdout.splitlines()
    assert python[1:] == cli[1:]
    assert python[1] == "└── idx (240,) int64 chunks=(60,) shards=(120,) codecs=[bytes, zstd]"
    assert cli[0].endswith("(group, v3) attrs: history, title")


def test_shapes_sizes_and_plurals(sharded, tmp_path):
    out = dz_cli("info", sharded).stdout
    assert "(240,)" in out and "(240)" not in out
    assert "1 array, 0 groups" in out and "1 arrays" not in out
    assert re.search(r"\d KiB|\d B", out) and "kiB" not in out
    single = dz_cli("info", f"{sharded}/idx").stdout
    assert "(240,)" in single and "1.9 KiB decoded" in single
    big = str(tmp_path / "big.zarr")
    dz.write(da.zeros(300_000, chunks=150_000), big)
    assert "2.3 MiB decoded" in dz_cli("info", big).stdout
    verified = dz_cli("verify", sharded).stdout
    assert "1 array," in verified and "1 arrays" not in verified
    planned = dz_cli("plan", "rechunk", big, str(tmp_path / "one.zarr"), "--chunks", "300000").stdout
    assert "1 task of" in planned and "1 tasks" not in planned


def test_info_shows_attribute_values_truncated(sharded):
    group = dz_cli("info", sharded).stdout
    assert "title: 'demo'" in group and "history: 'xxx" in group and "x" * 200 not in group and "…" in group
    array = dz_cli("info", f"{sharded}/idx").stdout
    assert "units: 'm'" in array


@pytest.mark.parametrize("option", ["--compressors", "--compressor"])
def test_compressors_is_the_spelling_and_compressor_still_works(sharded, tmp_path, option):
    out = str(tmp_path / "c.zarr")
    done = dz_cli("copy", f"{sharded}/idx", out, option, '{"name": "gzip", "configuration": {"level": 1}}')
    assert done.returncode == 0, done.stderr
    assert '"gzip"' in json.dumps(dz.info(out)["codecs"])
    assert ("deprecated" in done.stderr) == (option == "--compressor")
    assert "--compressor " not in dz_cli("copy", "--help").stdout
    assert "--compressors" in dz_cli("copy", "--help").stdout


@pytest.mark.parametrize("command", [["copy"], ["rechunk", "--chunks", "30"]])
@pytest.mark.parametrize("replace", [["--mode", "w"], ["--overwrite"]])
def test_mode_w_and_overwrite_replace(sharded, tmp_path, command, replace):
    out = str(tmp_path / "m.zarr")
    first = dz_cli(command[0], f"{sharded}/idx", out, *command[1:])
    assert first.returncode == 0, first.stderr
    refused = dz_cli(command[0], f"{sharded}/idx", out, *command[1:])
    assert refused.returncode == 2 and "--mode w" in refused.stderr and "mode='w'" not in refused.stderr
    assert dz_cli(command[0], f"{sharded}/idx", out, *command[1:], *replace).returncode == 0


def test_advise_prints_the_compressors_spelling(tmp_path):
    url = str(tmp_path / "f.zarr")
    dz.write(da.from_array(np.sin(np.linspace(0, 20, 4000)), chunks=1000), url)
    assert "--compressors " in dz_json("advise", url, "--sample", "1")["command"]


def test_docs_use_one_spelling_per_option():
    text = "\n".join(p.read_text() for p in DOCS.glob("*.md"))
    assert not re.search(r"--compressor\b(?!s|`, its old spelling)", text)  # named once, as the old spelling
    assert "kiB" not in text and not re.search(r"\b1 arrays\b|\b1 groups\b", text)
    assert "--mode w" in (DOCS / "cli.md").read_text()


# --- dz cat: CF times, groups ---------------------------------------------------------------


@pytest.fixture
def times(tmp_path) -> str:
    url = str(tmp_path / "t.zarr")
    dz.create_group(url)
    dz.write(np.arange(3, dtype="i8"), f"{url}/time", attributes={"units": "days since 2000-01-01"},
             dimension_names=["time"])
    dz.write(np.arange(3, dtype="i8"), f"{url}/noleap",
             attributes={"units": "days since 2000-02-28", "calendar": "noleap"}, dimension_names=["t1"])
    dz.write(np.arange(3, dtype="i8"), f"{url}/hours", attributes={"units": "hours since 2000-01-01T06:00:00"},
             dimension_names=["t2"])
    return url


def test_cat_decodes_cf_times_as_xarray_does(times):
    xr = pytest.importorskip("xarray")
    out = dz_cli("cat", f"{times}/time").stdout
    assert "2000-01-01" in out and "2000-01-03" in out
    doc = dz_json("cat", f"{times}/time")
    expected = xr.open_zarr(times, consolidated=False)["time"].values  # xarray's own decoding
    assert [np.datetime64(v) for v in doc["data"]] == list(expected) and doc["dtype"] == str(expected.dtype)
    assert dz_json("cat", f"{times}/hours")["data"][1].startswith("2000-01-01T07")
    assert dz_cli("cat", f"{times}/time", "--raw").stdout.strip() == "[0 1 2]"


def test_cat_decodes_non_standard_calendars_with_cftime(times):
    pytest.importorskip("cftime")
    out = dz_cli("cat", f"{times}/noleap").stdout
    assert "2000-02-28" in out and "2000-03-01" in out and "2000-02-29" not in out  # no leap day


def test_cat_of_a_group_lists_its_members(times):
    done = dz_cli("cat", times)
    assert done.returncode == 0, done.stderr
    assert "time" in done.stdout and "noleap" in done.stdout and "dz.read" not in done.stdout + done.stderr
    assert "dz cat" in done.stdout


# --- dz ls over a prefix that holds stores ---------------------------------------------------


def _stores_under(write_url, options=None):
    dz.write(da.arange(10, chunks=5), write_url("a.zarr"), storage_options=options)
    dz.create_group(write_url("y2020/b.zarr"), storage_options=options)
    dz.write(da.arange(10, chunks=5), write_url("y2020/b.zarr/t"), storage_options=options)
    dz.write(da.arange(10, chunks=5), write_url("y2020/deep/er/c.zarr"), storage_options=options)


def test_ls_of_a_local_folder_lists_the_stores_under_it(tmp_path):
    _stores_under(lambda p: str(tmp_path / p))
    done = dz_cli("ls", str(tmp_path))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert any(line.startswith("a.zarr ") for line in lines) and any("y2020/b.zarr/" in line for line in lines)
    assert not any("c.zarr" in line for line in lines)  # deeper than the default depth
    deeper = dz_json("ls", str(tmp_path), "--depth", "4")
    assert [s["path"] for s in deeper["stores"]] == ["a.zarr", "y2020/b.zarr", "y2020/deep/er/c.zarr"]
    assert not deeper["truncated"]
    few = dz_json("ls", str(tmp_path), "--depth", "4", "--max-stores", "1")
    assert len(few["stores"]) == 1 and few["truncated"]


def test_ls_of_an_s3_prefix_lists_the_stores_under_it(s3_endpoint, bucket):
    opts = s3_options(s3_endpoint)
    _stores_under(lambda p: f"s3://{bucket}/prefix/{p}", opts)
    args = [f"--storage-option={k}={json.dumps(v)}" for k, v in opts.items()]
    doc = dz_json("ls", f"s3://{bucket}/prefix", *args)
    assert [(s["path"], s["node_type"]) for s in doc["stores"]] == [("a.zarr", "array"), ("y2020/b.zarr", "group")]
    empty = dz_cli("ls", f"s3://{bucket}/nothing", *args)
    assert empty.returncode == 2


# --- icechunk: quiet, and the URL as typed ---------------------------------------------------


def test_icechunk_commands_are_quiet_and_show_the_url_typed(tmp_path):
    pytest.importorskip("icechunk")
    url = f"icechunk://{tmp_path / 'repo'}"
    dz.write(da.arange(10, chunks=5), f"{url}?path=x")
    env = {k: v for k, v in os.environ.items() if k != "ICECHUNK_LOG"}
    env["PYTHONPATH"] = str(ROOT)
    for args in (["tree", url], ["info", f"{url}?path=x"]):
        done = subprocess.run([sys.executable, "-m", "dask_zarrio.cli", *args], capture_output=True, text=True,
                              env=env, timeout=120)
        assert done.returncode == 0 and done.stderr == "", done.stderr
        assert "not safe" not in done.stdout  # icechunk logs to stdout: it would also spoil dz ls | ...
        assert args[1] in done.stdout
    loud = subprocess.run([sys.executable, "-m", "dask_zarrio.cli", "tree", url], capture_output=True, text=True,
                          env={**env, "ICECHUNK_LOG": "warn"}, timeout=120)
    assert "not safe for concurrent commits" in loud.stdout + loud.stderr  # the user's own log filter is respected

