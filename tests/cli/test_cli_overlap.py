"""``dz copy``/``dz rechunk``/``dz plan`` refuse overlapping locations, and a refused group copy
leaves nothing that blocks the corrected command (issue 28, "Nothing lost")."""

from __future__ import annotations

import re

import dask.array as da
import numpy as np
import pytest
from click.testing import CliRunner

import dask_zarrio as dz
from dask_zarrio.cli import main
from dask_zarrio.store import open_store

DATA = np.arange(64 * 64, dtype="i8").reshape(64, 64)


def _dz(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args])


def _snapshot(url: str) -> dict[str, bytes]:
    store = open_store(url)
    return {k: bytes(store.get(k) or b"") for k in store.list_keys()}


@pytest.fixture
def group(tmp_path) -> str:
    g = str(tmp_path / "g.zarr")
    dz.create_group(g)
    dz.write(da.from_array(DATA, chunks=(1, 64)), f"{g}/a", chunks=(1, 64))
    dz.write(da.arange(8, chunks=4), f"{g}/b", chunks=4)
    return g


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["copy", "{g}", "{g}", "--overwrite"], "is the source"),
        (["copy", "{g}", "{g}/backup"], "lies inside the source"),
        (["copy", "{g}", "{d}/./g.zarr/", "--overwrite"], "is the source"),
        (["copy", "{g}/a", "{g}", "--overwrite"], "contains the source"),
        (["rechunk", "{g}/a", "{d}//g.zarr/a", "--chunks", "8,8", "--overwrite"], "is the source"),
        (["rechunk", "{g}/a", "{d}/g.zarr/b/../a", "--chunks", "8,8", "--overwrite"], "is the source"),
        (["rechunk", "{g}/a", "file://{g}/a", "--chunks", "8,8", "--overwrite"], "is the source"),
        (["rechunk", "{g}/a", "{d}/out.zarr", "--chunks", "64,1", "--max-mem", "4KiB", "--temp", "{g}"],
         "the temp .*g.zarr contains the source"),
        (["rechunk", "{g}/a", "{d}/out.zarr", "--chunks", "64,1", "--max-mem", "4KiB", "--temp", "{d}/out.zarr"],
         "the temp .*out.zarr is the target"),
        (["copy", "{g}", "{d}/out.zarr", "--chunks", "64,1", "--max-mem", "4KiB", "--temp", "{d}"],
         "the temp .* contains the source"),
        (["plan", "copy", "{g}", "{g}/x"], "lies inside the source"),
        (["plan", "rechunk", "{g}/a", "{d}/./g.zarr/a", "--chunks", "8,8", "--overwrite"], "is the source"),
        (["copy", "{g}", "{d}/.dz-staging-g.zarr"], "dask_zarrio's own"),
    ],
)
def test_overlapping_locations_are_refused_and_nothing_changes(tmp_path, group, args, message):
    before = _snapshot(str(tmp_path))
    done = _dz(*(a.format(g=group, d=tmp_path) for a in args))
    assert done.exit_code == 2 and "dz: error: " in done.output, done.output
    assert re.search(message, done.output), done.output
    assert _snapshot(str(tmp_path)) == before
    np.testing.assert_array_equal(dz.read(f"{group}/a").compute(), DATA)


@pytest.mark.parametrize("where", ["local", "memory", "sqlite"])
def test_a_refused_group_copy_leaves_nothing_that_blocks_the_corrected_command(tmp_path, where, request):
    tag = request.node.name.replace("[", "-").rstrip("]")
    root = {"local": str(tmp_path), "memory": f"memory://{tag}", "sqlite": f"sqlite://{tmp_path}/d.db?path="}[where]
    sep = "" if where == "sqlite" else "/"
    g, out = f"{root}{sep}g.zarr", f"{root}{sep}out.zarr"
    dz.create_group(g)
    dz.write(da.arange(8, chunks=4), f"{g}/a", chunks=4)
    dz.write(da.arange(8, chunks=4), f"{g}/s", chunks=2, shards=4)  # sharded: no Zarr v2 form
    done = _dz("copy", g, out, "--zarr-format", "2")
    assert done.exit_code == 2 and "sharding needs zarr_format=3" in done.output, done.output
    assert open_store(out).is_empty()  # nothing made: no group, no member of it
    done = _dz("copy", g, out, "--zarr-format", "3")
    assert done.exit_code == 0, done.output
    assert dz.read(f"{out}/s").compute().tolist() == list(range(8))
