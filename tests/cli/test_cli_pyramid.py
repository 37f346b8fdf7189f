"""``dz pyramid`` and what ``dz info``, ``dz tree`` and ``dz verify`` say of a pyramid (run in-process:
``dz_cli`` gives stdout, stderr and exit status as a process would; tests/cli/test_cli.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import zarr

import dask_zarrio as dz
from dask_zarrio.cli import pyramid as cli_pyramid
from dask_zarrio.pyramid.reduce import downsample
from tests.cli.test_cli import dz_cli, dz_json

IMAGE = np.random.default_rng(3).integers(0, 255, (2, 96, 64), dtype="u1")


@pytest.fixture
def source(tmp_path) -> str:
    """A stored (c, y, x) image with dimension names: what dz pyramid reads."""
    url = str(tmp_path / "src.zarr")
    dz.write(da.from_array(IMAGE, chunks=(1, 32, 32)), url, dimension_names=["c", "y", "x"])
    return url


@pytest.fixture
def pyramid(source, tmp_path) -> str:
    out = str(tmp_path / "p.zarr")
    done = dz_cli("pyramid", source, out, "--levels", "3", "--chunks", "1,16,16", "--shards", "1,32,32",
                  "--scale", "1,0.5,0.5", "--units", "y=micrometer,x=micrometer", "--quiet")
    assert done.returncode == 0, done.stderr
    return out


@pytest.mark.parametrize(("options", "fmt"), [
    (["--shards", "1,32,32"], 3),
    (["--convention", "ome-zarr-0.4"], 2),
    (["--convention", "multiscales"], 3),
    (["--method", "max", "--factors", "y=2,x=4"], 3),
])
def test_pyramid_writes_what_write_pyramid_writes(source, tmp_path, options, fmt):
    out = str(tmp_path / "p.zarr")
    done = dz_cli("pyramid", source, out, "--levels", "3", "--chunks", "1,16,16", *options)
    assert done.returncode == 0, done.stderr
    assert "3 levels" in done.stdout and "(c, y, x)" in done.stdout  # axes from the source's dimension names
    method = "max" if "max" in options else "mean"
    factors = (1, 2, 4) if "y=2,x=4" in options else (1, 2, 2)
    expected = [IMAGE, downsample(IMAGE, factors, method)]
    expected.append(downsample(expected[1], factors, method))
    got = dz.read_pyramid(out)
    for level, want in zip(got, expected):
        np.testing.assert_array_equal(level.compute(), want)
    assert zarr.open_group(out, mode="r").metadata.zarr_format == fmt


def test_pyramid_records_scale_units_and_axes(pyramid):
    ome = zarr.open_group(pyramid, mode="r").attrs["ome"]
    axes = ome["multiscales"][0]["axes"]
    assert [(a["name"], a["type"], a.get("unit")) for a in axes] == [
        ("c", "channel", None), ("y", "space", "micrometer"), ("x", "space", "micrometer")]
    scales = [d["coordinateTransformations"][0]["scale"] for d in ome["multiscales"][0]["datasets"]]
    assert scales == [[1, 0.5, 0.5], [1, 1, 1], [1, 2, 2]]
    assert zarr.open_array(f"{pyramid}/1", mode="r").metadata.dimension_names == ("c", "y", "x")


def test_pyramid_mode_resume_and_overwrite(pyramid, source):
    again = dz_cli("pyramid", source, pyramid, "--levels", "3", "--quiet")
    assert again.returncode == 2 and "--mode w (or --overwrite)" in again.stderr
    assert dz_cli("pyramid", source, pyramid, "--levels", "2", "--overwrite", "--quiet").returncode == 0
    assert len(dz.read_pyramid(pyramid)) == 2
    both = dz_cli("pyramid", source, pyramid, "--overwrite", "--mode", "w-")
    assert both.returncode == 2 and "--overwrite is --mode w" in both.stderr


def test_pyramid_resume_completes_an_interrupted_pyramid(pyramid, source):
    shutil.rmtree(Path(pyramid) / "2")
    (Path(pyramid) / "zarr.json").write_text(json.dumps({"zarr_format": 3, "node_type": "group"}))
    done = dz_cli("pyramid", source, pyramid, "--levels", "3", "--chunks", "1,16,16", "--shards", "1,32,32",
                  "--resume", "--quiet")
    assert done.returncode == 0, done.stderr
    np.testing.assert_array_equal(dz.read_pyramid(pyramid)[2].compute(),
                                  downsample(downsample(IMAGE, (1, 2, 2), "mean"), (1, 2, 2), "mean"))


@pytest.mark.parametrize(("options", "message"), [
    (["--factors", "2,2"], "--factors '2,2' must be one integer"),
    (["--factors", "q=2"], "names axes ['q']"),
    (["--scale", "1,a"], "--scale '1,a': write one number per axis"),
    (["--axes", "c,,x"], "--axes 'c,,x' has an empty name"),
    (["--axes", "y,x"], "names 2 axes, but the array has 3 dimensions"),
    (["--convention", "ome-zarr-0.4", "--shards", "1,32,32"], "need Zarr v3"),
])
def test_pyramid_refuses_bad_options_in_one_line(source, tmp_path, options, message):
    done = dz_cli("pyramid", source, str(tmp_path / "p.zarr"), *options)
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and not (tmp_path / "p.zarr").exists()


def test_pyramid_draws_a_progress_bar_on_a_terminal(source, tmp_path, monkeypatch):
    seen = {}
    real = cli_pyramid.write_pyramid

    def spy(*args, **kwargs):
        seen["progress"] = kwargs["progress"]
        return real(*args, **kwargs)

    monkeypatch.setattr(cli_pyramid, "write_pyramid", spy)
    monkeypatch.setattr(cli_pyramid, "progress_mode", lambda quiet: "rich" if not quiet else False)
    assert dz_cli("pyramid", source, str(tmp_path / "p.zarr"), "--levels", "2").returncode == 0
    assert seen["progress"] == "rich"
    assert dz_cli("pyramid", source, str(tmp_path / "q.zarr"), "--levels", "2", "-q").returncode == 0
    assert seen["progress"] is False


def test_info_and_tree_say_a_group_is_a_pyramid(pyramid):
    doc = dz_json("info", pyramid)["pyramids"]["/"]
    assert (doc["convention"], doc["axes"], doc["method"]) == ("ome-zarr-0.5", ["c", "y", "x"], "mean")
    assert [(lv["path"], lv["shape"], lv["scale"]) for lv in doc["levels"]] == [
        ("0", [2, 96, 64], [1, 0.5, 0.5]), ("1", [2, 48, 32], [1, 1, 1]), ("2", [2, 24, 16], [1, 2, 2])]
    table = dz_cli("info", pyramid).stdout
    assert "pyramid / (ome-zarr-0.5, axes c, y, x, mean)" in table and "(2, 24, 16)" in table
    line = "pyramid ome-zarr-0.5 (c, y, x), 3 levels: 0 (2, 96, 64) scale (1, 0.5, 0.5); 1 (2, 48, 32) scale (1, 1, 1)"
    first = dz_cli("tree", pyramid).stdout.splitlines()[0]
    assert line in first and first.endswith(str(dz.tree(pyramid)).splitlines()[0].split(" (group, v3)")[1])


def test_tree_names_a_nested_pyramid_and_no_other_group(pyramid, tmp_path):
    outer = str(tmp_path / "outer.zarr")
    dz.copy(pyramid, f"{outer}/image")
    dz.create_group(f"{outer}/plain", attributes={"title": "x"})
    lines = dz_cli("tree", outer).stdout.splitlines()
    image = next(line for line in lines if "image (group)" in line)
    assert "3 levels: 0 (2, 96, 64)" in image
    assert next(line for line in lines if "plain (group)" in line).endswith("attrs: title")
    assert str(dz.tree(outer)).splitlines()[1:] == lines[1:]
    assert set(dz_json("info", outer)["pyramids"]) == {"image"}


def _break(pyramid: str, how: str) -> str:
    root = Path(pyramid)
    doc = json.loads((root / "zarr.json").read_text())
    datasets = doc["attributes"]["ome"]["multiscales"][0]["datasets"]
    if how == "missing level":
        shutil.rmtree(root / "2")
        return "level '2': no array or group at that path"
    if how == "scales out of order":
        datasets[1]["coordinateTransformations"][0]["scale"] = [1, 0.25, 0.25]
        (root / "zarr.json").write_text(json.dumps(doc))
        return "is finer than the level before it"
    if how == "axes out of order":
        axes = doc["attributes"]["ome"]["multiscales"][0]["axes"]
        axes[0], axes[1] = axes[1], axes[0]
        (root / "zarr.json").write_text(json.dumps(doc))
        return "OME-Zarr orders time, then channel, then space"
    level = json.loads((root / "1" / "zarr.json").read_text())
    level["dimension_names"] = ["c", "row", "col"]
    (root / "1" / "zarr.json").write_text(json.dumps(level))
    return "dimension_names ['c', 'row', 'col'] differ from the axes"


def test_verify_passes_a_pyramid(pyramid):
    done = dz_cli("verify", pyramid)
    assert done.returncode == 0 and done.stdout.strip().endswith(": ok"), done.stdout


@pytest.mark.parametrize("how", ["missing level", "scales out of order", "axes out of order", "dimension names"])
def test_verify_reports_a_broken_pyramid(pyramid, how):
    message = _break(pyramid, how)
    done = dz_cli("verify", pyramid)
    assert done.returncode == 1 and message in done.stdout, done.stdout
    problems = dz_json_problems(pyramid)
    assert any(p["kind"] == "pyramid" and p["path"] == "/" and message in p["message"] for p in problems)


def dz_json_problems(url: str) -> list[dict]:
    done = dz_cli("verify", url, "--json")
    assert done.returncode == 1
    return json.loads(done.stdout)["problems"]
