"""Huge, infinite and NaN sizes are a ZarrioError naming the argument, never an OverflowError (issue 28).

Every entry point that takes chunk or shard lengths or a memory budget: dz.write,
dz.init, dz.rechunk, dz.copy, dz.plan and the CLI.
"""

from __future__ import annotations

import dask.array as da
import pytest
from click.testing import CliRunner

import dask_zarrio as dz
from dask_zarrio.cli import main
from dask_zarrio.errors import ZarrioError

HUGE = 2**70


@pytest.fixture
def src(tmp_path) -> str:
    url = str(tmp_path / "src.zarr")
    dz.write(da.ones((4, 4), chunks=2), url)
    return url


def _data():
    return da.ones((4, 4), chunks=2)


#: (name of the argument the message must quote, call(src, dst)).
CASES = {
    "write-chunks": ("chunks", lambda s, d: dz.write(_data(), d, chunks=(HUGE, 2))),
    "write-chunks-product": ("chunks", lambda s, d: dz.write(_data(), d, chunks=(2**40, 2**40))),
    "write-chunks-bytes": ("chunks", lambda s, d: dz.write(_data(), d, chunks=(2**61, 2))),
    "write-chunks-rectilinear": ("chunks", lambda s, d: dz.write(_data(), d, chunks=((HUGE,), 2))),
    "write-shards": ("shards", lambda s, d: dz.write(_data(), d, chunks=(2, 2), shards=(2 * HUGE, 2))),
    "write-v2-chunks": ("chunks", lambda s, d: dz.write(_data(), d, chunks=(HUGE, 2), zarr_format=2)),
    "init-chunks": ("chunks", lambda s, d: dz.init(d, shape=(4, 4), dtype="f8", chunks=(HUGE, 2))),
    "rechunk-chunks": ("chunks", lambda s, d: dz.rechunk(s, d, chunks=(HUGE, 2))),
    "rechunk-chunks-dict": ("chunks", lambda s, d: dz.rechunk(s, d, chunks={0: HUGE})),
    "rechunk-shards": ("shards", lambda s, d: dz.rechunk(s, d, chunks=(2, 2), shards=(2 * HUGE, 2))),
    "rechunk-max_mem-inf": ("max_mem", lambda s, d: dz.rechunk(s, d, chunks=(4, 4), max_mem=float("inf"))),
    "rechunk-max_mem-nan": ("max_mem", lambda s, d: dz.rechunk(s, d, chunks=(4, 4), max_mem=float("nan"))),
    "rechunk-max_mem-inf-text": ("max_mem", lambda s, d: dz.rechunk(s, d, chunks=(4, 4), max_mem="inf GiB")),
    "copy-chunks": ("chunks", lambda s, d: dz.copy(s, d, chunks=(HUGE, 2))),
    "copy-shards": ("shards", lambda s, d: dz.copy(s, d, chunks=(2, 2), shards=(2 * HUGE, 2))),
    "copy-max_mem-inf": ("max_mem", lambda s, d: dz.copy(s, d, max_mem=float("inf"))),
    "plan-chunks": ("chunks", lambda s, d: dz.plan("rechunk", s, d, chunks=(HUGE, 2))),
    "plan-max_mem-inf": ("max_mem", lambda s, d: dz.plan("rechunk", s, d, chunks=(4, 4), max_mem=float("inf"))),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_huge_sizes_are_a_zarrio_error_naming_the_argument(src, tmp_path, case):
    argument, call = CASES[case]
    with pytest.raises(ZarrioError, match=f"{argument}="):
        call(src, str(tmp_path / "dst.zarr"))
    assert not (tmp_path / "dst.zarr").exists()  # refused before anything is written


@pytest.mark.parametrize("args", [
    ["rechunk", "--chunks", f"{HUGE},2"],
    ["rechunk", "--chunks", "4,4", "--max-mem", "inf"],
    ["copy", "--chunks", f"{HUGE},2"],
    ["copy", "--chunks", "2,2", "--shards", f"{2 * HUGE},2"],
    ["plan", "--chunks", f"{HUGE},2"],
])
def test_the_cli_says_which_option_is_too_large(src, tmp_path, args):
    command, *options = args
    positional = ["rechunk", src] if command == "plan" else [src]
    result = CliRunner().invoke(main, [command, *positional, str(tmp_path / "dst.zarr"), *options])
    assert result.exit_code == 2, result.output
    assert "Overflow" not in result.stderr and result.stderr.startswith("dz: error: ")
    assert result.stderr.count("\n") == 1
