"""Pyramids as the OME-Zarr tools see them: ome-zarr-models' pydantic models (0.4, 0.5) and its
``validate`` command, ome-zarr-py's Reader, ngff-zarr's from_ngff_zarr, zarr-python on every level."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import dask_zarrio as dz

zarr = pytest.importorskip("zarr")
ome_models = pytest.importorskip("ome_zarr_models")

AXES = {2: ["y", "x"], 3: ["z", "y", "x"], 4: ["c", "z", "y", "x"], 5: ["t", "c", "z", "y", "x"]}
SHAPES = {2: (37, 50), 3: (5, 37, 50), 4: (2, 5, 37, 50), 5: (2, 2, 5, 37, 50)}


def _image(ndim: int, method: str) -> np.ndarray:
    rng = np.random.default_rng(ndim)
    high = 4 if method == "mode" else 255
    return rng.integers(0, high, SHAPES[ndim]).astype("u1" if method == "mode" else "u2")


def _write(tmp_path, ndim: int, method: str, convention: str, sharded: bool) -> str:
    url = str(tmp_path / f"img-{ndim}-{method}-{convention}-{sharded}.zarr")
    chunks = (1,) * (ndim - 2) + (8, 16)
    shards = (1,) * (ndim - 2) + (16, 32) if sharded else None
    units = {"x": "micrometer", "y": "micrometer"}
    dz.write_pyramid(_image(ndim, method), url, levels=3, method=method, axes=AXES[ndim], units=units,
                     chunks=chunks, shards=shards, convention=convention, scale=[0.5] * ndim)
    return url


CASES = [(ndim, method, convention, sharded)
         for ndim in (2, 3, 4, 5) for method in ("mean", "mode")
         for convention, sharded in (("ome-zarr-0.5", False), ("ome-zarr-0.5", True), ("ome-zarr-0.4", False))]


@pytest.mark.parametrize(("ndim", "method", "convention", "sharded"), CASES)
def test_pydantic_models_and_zarr_python(tmp_path, ndim, method, convention, sharded):
    url = _write(tmp_path, ndim, method, convention, sharded)
    fmt = 2 if convention == "ome-zarr-0.4" else 3
    group = zarr.open_group(url, mode="r", zarr_format=fmt)
    if fmt == 3:
        from ome_zarr_models.v05 import Image
    else:
        from ome_zarr_models.v04 import Image
    image = Image.from_zarr(group)
    datasets = image.attributes.ome.multiscales[0].datasets if fmt == 3 else image.attributes.multiscales[0].datasets
    assert [d.path for d in datasets] == ["0", "1", "2"]
    for level, ours in zip(["0", "1", "2"], dz.read_pyramid(url)):
        np.testing.assert_array_equal(group[level][...], ours.compute())
        if fmt == 3:
            assert group[level].metadata.dimension_names == tuple(AXES[ndim])
            assert (group[level].shards is not None) == sharded


@pytest.mark.parametrize("convention", ["ome-zarr-0.5", "ome-zarr-0.4"])
def test_validate_command(tmp_path, convention):
    url = _write(tmp_path, 4, "mean", convention, convention == "ome-zarr-0.5")
    cli = [sys.executable, "-c", "from ome_zarr_models._cli import main; main()", "validate", url]
    done = subprocess.run(cli, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "Valid" in done.stdout, done.stdout + done.stderr


@pytest.mark.parametrize("convention", ["ome-zarr-0.5", "ome-zarr-0.4"])
def test_ome_zarr_py_reader(tmp_path, convention):
    pytest.importorskip("ome_zarr")
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader

    url = _write(tmp_path, 3, "mean", convention, False)
    node = next(iter(Reader(parse_url(url))()))
    ours = dz.read_pyramid(url)
    assert [tuple(d.shape) for d in node.data] == [x.shape for x in ours]
    np.testing.assert_array_equal(np.asarray(node.data[2]), ours[2].compute())


@pytest.mark.parametrize("convention", ["ome-zarr-0.5", "ome-zarr-0.4"])
def test_ngff_zarr_reads_it(tmp_path, convention):
    ngff_zarr = pytest.importorskip("ngff_zarr")
    url = _write(tmp_path, 4, "mean", convention, convention == "ome-zarr-0.5")
    multiscales = ngff_zarr.from_ngff_zarr(url)
    assert len(multiscales.images) == 3
    level = multiscales.images[1]
    assert level.scale == {"c": 0.5, "z": 0.5, "y": 1.0, "x": 1.0}
    assert level.translation["x"] == 0.25  # half a level-0 pixel: the mean of two
    np.testing.assert_array_equal(np.asarray(level.data), dz.read_pyramid(url)[1].compute())
