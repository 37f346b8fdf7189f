"""``dz copy``, ``dz rechunk`` and ``dz plan`` on local folders and S3 (moto), run in-process
(``dz_cli``: stdout, stderr and exit status as a process gives them; tests/cli/test_cli.py)."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import dask
import dask.array as da
import numpy as np
import pytest
import zarr

import dask_zarrio as dz
from dask_zarrio.rechunking import tasks as rechunk_tasks
from tests.cli.test_cli import dz_cli, dz_json
from tests.servers.s3 import s3_options

DATA = np.arange(40 * 12 * 16, dtype="f4").reshape(40, 12, 16)


@pytest.fixture
def dataset(tmp_path) -> str:
    """A Zarr v2 group written by zarr-python: a (time, lat, lon) map per time step, and its time axis."""
    url = str(tmp_path / "ds.zarr")
    g = zarr.open_group(url, mode="w", zarr_format=2, attributes={"title": "demo"})
    t = g.create_array("temp", shape=DATA.shape, chunks=(1, 12, 16), dtype="f4", dimension_names=None,
                       attributes={"_ARRAY_DIMENSIONS": ["time", "lat", "lon"], "units": "K"})
    t[:] = DATA
    sub = g.create_group("coords", attributes={"k": 1})
    time = sub.create_array("time", shape=(40,), chunks=(10,), dtype="i8", attributes={"_ARRAY_DIMENSIONS": ["time"]})
    time[:] = np.arange(40)
    return url


def test_copy_converts_a_v2_group_to_v3_that_zarr_python_reads_identically(dataset, tmp_path):
    out = str(tmp_path / "v3.zarr")
    done = dz_cli("copy", dataset, out, "--zarr-format", "3", "--consolidate")
    assert done.returncode == 0, done.stderr
    g = zarr.open_group(out, mode="r", use_consolidated=True)
    assert (g.metadata.zarr_format, g.attrs["title"], g["coords"].attrs["k"]) == (3, "demo", 1)
    assert g.metadata.consolidated_metadata is not None
    assert g["temp"].metadata.dimension_names == ("time", "lat", "lon") and g["temp"].attrs["units"] == "K"
    np.testing.assert_array_equal(g["temp"][...], DATA)
    np.testing.assert_array_equal(g["coords/time"][...], np.arange(40))
    assert "copied" in done.stdout and dz_cli("copy", dataset, out, "--quiet").returncode == 2  # exists: refused


@pytest.mark.parametrize(("option", "files", "encoding"), [
    ([], ["0.0.0", "1.0.0"], {"name": "v2", "configuration": {"separator": "."}}),  # v2 keys kept by default
    (["--chunk-key-encoding", "default"], ["c/0/0/0", "c/1/0/0"],
     {"name": "default", "configuration": {"separator": "/"}}),
    (["--chunk-key-encoding", "default:."], ["c.0.0.0", "c.1.0.0"],
     {"name": "default", "configuration": {"separator": "."}}),
])
def test_copy_to_v3_keeps_or_changes_the_chunk_keys(dataset, tmp_path, option, files, encoding):
    out = tmp_path / "v3.zarr"
    done = dz_cli("copy", f"{dataset}/temp", str(out), "--zarr-format", "3", *option)
    assert done.returncode == 0, done.stderr
    assert json.loads((out / "zarr.json").read_text())["chunk_key_encoding"] == encoding
    stored = sorted(str(f.relative_to(out)) for f in out.rglob("*") if f.is_file() and f.name != "zarr.json")
    assert len(stored) == 40 and stored[:2] == files
    np.testing.assert_array_equal(zarr.open_array(str(out), mode="r")[...], DATA)


@pytest.mark.parametrize(
    ("chunks", "max_mem", "expected"),
    [("time=-1,lat=6", "64KiB", (40, 6, 16)), ("20,4,-1", "64KiB", (20, 4, 16)), ("-1", "1MiB", (40, 12, 16))],
)
def test_rechunk_by_name_or_axis(dataset, tmp_path, chunks, max_mem, expected):
    out = str(tmp_path / "r.zarr")
    temp = str(tmp_path / "tmp.zarr")
    done = dz_cli("rechunk", f"{dataset}/temp", out, "--chunks", chunks, "--max-mem", max_mem, "--temp", temp)
    assert done.returncode == 0, done.stderr
    z = zarr.open_array(out, mode="r")
    assert z.chunks == expected and z.metadata.zarr_format == 2
    np.testing.assert_array_equal(z[...], DATA)
    assert not (tmp_path / "tmp.zarr").exists() or not any((tmp_path / "tmp.zarr").iterdir())


def test_copy_applies_the_line_dz_advise_prints(tmp_path):
    src, out = str(tmp_path / "s.zarr"), str(tmp_path / "best.zarr")
    x = np.sin(np.linspace(0, 20, 4000)).reshape(40, 100)
    dz.write(da.from_array(x, chunks=(10, 100)), src, chunks=(10, 100))
    advice = dz_json("advise", src, "--sample", "2", "--lossy-tolerance", "0.001")
    args = shlex.split(advice["command"].replace("DEST", shlex.quote(out)))
    assert args[:2] == ["dz", "copy"]
    done = dz_cli(*args[1:], "--shards", "20,100")
    assert done.returncode == 0, done.stderr
    z = zarr.open_array(out, mode="r")
    assert z.shards == (20, 100) and np.abs(z[...] - x).max() <= 0.001
    assert dz.info(out)["stored_chunk_bytes"] < dz.info(src)["stored_chunk_bytes"]


def test_copy_resumes_after_an_interrupted_copy(dataset, tmp_path, monkeypatch):
    out = str(tmp_path / "c.zarr")
    real = rechunk_tasks.read_into

    def failing(spec, store, region, out_, fetch):
        if spec.shape == DATA.shape and region[1].start == 5:
            raise RuntimeError("injected failure")
        return real(spec, store, region, out_, fetch)

    with monkeypatch.context() as patched:  # undone before dz runs (in this process) below
        patched.setattr(rechunk_tasks, "read_into", failing)
        with dask.config.set(scheduler="sync"), pytest.raises(RuntimeError):
            dz.copy(dataset, out, chunks={"time": -1, "lat": 1, "lon": 1}, max_mem="16KiB")
    with pytest.raises(dz.IncompleteWriteError):
        dz.read(f"{out}/temp")
    kept = {p: p.stat().st_mtime_ns for p in Path(out, "temp").rglob("*") if p.is_file() and not p.name.startswith(".")}
    refused = dz_cli("copy", dataset, out, "--chunks", "time=-1,lat=1,lon=1", "--max-mem", "16KiB")
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1
    done = dz_cli("copy", dataset, out, "--chunks", "time=-1,lat=1,lon=1", "--max-mem", "16KiB", "--resume")
    assert done.returncode == 0, done.stderr
    np.testing.assert_array_equal(zarr.open_array(f"{out}/temp", mode="r")[...], DATA)
    assert kept and all(p.stat().st_mtime_ns == t for p, t in kept.items())  # written once, not again


def test_plan_prints_parses_and_writes_nothing(dataset, tmp_path):
    out = tmp_path / "never.zarr"
    text = dz_cli("plan", "rechunk", f"{dataset}/temp", str(out), "--chunks", "time=-1,lat=1,lon=1",
                  "--max-mem", "8KiB", "--threads", "4")
    assert text.returncode == 0, text.stderr
    assert "2 passes" in text.stdout and "requests: GET" in text.stdout and "request cost: $" in text.stdout
    prices = ("--put-price", "1", "--get-price", "0", "--list-price", "0")
    doc = dz_json("plan", "copy", dataset, str(out), "--zarr-format", "3", *prices)
    assert sorted(a["path"] for a in doc["arrays"]) == ["coords/time", "temp"]
    assert doc["cost"]["total"] == pytest.approx(doc["requests"]["put"] / 1000)
    assert {p["kind"] for a in doc["arrays"] for p in a["passes"]} == {"copy"}  # same codecs: bytes copied
    assert dz_json("plan", "write", f"{dataset}/temp", str(out), "--chunks", "40,12,16")["requests"]["put"] == 1 + 2
    assert not out.exists() and not any(p.name.startswith(".dz") for p in tmp_path.iterdir())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["rechunk", "{src}/temp", "{dst}", "--chunks", "time=x"], "not a length"),
        (["rechunk", "{src}", "{dst}", "--chunks", "1"], "no array"),
        (["copy", "{src}", "{dst}", "--compressors", "{{not json"], "is not JSON"),
        (["plan", "copy", "{src}", "{src}"], "is the source"),
        (["copy", "{src}", "{src}"], "is the source"),
        (["copy", "{src}", "{dst}/../ds.zarr", "--overwrite"], "is the source"),
        (["plan", "rechunk", "{src}/temp", "{dst}", "--chunks", "40,12,16", "--max-mem", "1KiB"], "max_mem"),
        (["plan", "copy", "{src}", "{dst}", "--get-price", "free"], "US dollars"),
        (["copy", "{src}", "{dst}", "--chunk-key-encoding", "v2:|"], "must be keep, default or v2"),
    ],
)
def test_errors_are_one_line_with_status_2(dataset, tmp_path, args, message):
    done = dz_cli(*(a.format(src=dataset, dst=tmp_path / "out.zarr") for a in args))
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr


def test_s3_copy_rechunk_plan_never_print_credentials(dataset, s3_endpoint, bucket):
    opts = s3_options(s3_endpoint, key="AKIAVERYSECRETKEY", secret="VERYSECRETSECRET")
    target = [f"--target-option={k}={json.dumps(v)}" for k, v in opts.items()]
    source = [f"--storage-option={k}={json.dumps(v)}" for k, v in opts.items()]
    copied = dz_cli("copy", dataset, f"s3://{bucket}/c.zarr", "--zarr-format", "3", *target)
    assert copied.returncode == 0, copied.stderr
    where = (f"s3://{bucket}/c.zarr/temp", f"s3://{bucket}/r.zarr", "--chunks", "-1,3,3", *source, *target)
    planned = dz_cli("plan", "rechunk", *where)
    rechunked = dz_cli("rechunk", *where)
    refused = dz_cli("rechunk", *where)
    assert planned.returncode == 0 and rechunked.returncode == 0 and refused.returncode == 2, rechunked.stderr
    assert "GET" in planned.stdout and "already exists" in refused.stderr
    arr = dz.read(f"s3://{bucket}/r.zarr", storage_options=opts)
    assert arr.chunksize == (40, 3, 3)
    np.testing.assert_array_equal(arr.compute(), DATA)
    for done in (copied, planned, rechunked, refused):
        assert "VERYSECRET" not in done.stdout + done.stderr
