"""Writing to Icechunk: dz.write into a repository vs dz's plain write vs icechunk's dask path.

Three contenders write the same dask array, rounds interleaved, one local-filesystem
repository each round (created untimed):

- ``dz.write (plain folder)``: dz's own write of a Zarr v3 array to a local folder;
- ``dz.write (icechunk, one commit)``: the same write into an Icechunk repository (a
  fork per task, merged, one commit);
- ``icechunk.dask.store_dask + commit``: icechunk's documented dask path (zarr-python
  creates the array in a fork, ``store_dask`` writes and merges, then the commit).

The issue's goal: dz into Icechunk >= 0.9 x dz's plain write, and faster than store_dask.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np

import dask_zarrio as dz

Cases = dict[str, tuple[Callable[[], object], Callable[[], object] | None]]


def icechunk_rows(scratch: Path, source: da.Array, chunks: tuple[int, ...], rounds: int,
                  interleaved: Callable[[Cases, int], dict[str, float]]) -> tuple[dict[str, float], list[str]]:
    """(seconds per contender, notes); dz's plain write first, then dz into icechunk."""
    try:
        import icechunk
        import zarr
        from icechunk.dask import store_dask
    except ImportError:
        return {}, ["note: icechunk not installed; the icechunk case skipped (pip install 'dask_zarrio[icechunk]')"]
    plain, repos = scratch / "plain.zarr", scratch / "icechunk"
    state: dict[str, Any] = {}

    def fresh_repo(name: str) -> Callable[[], None]:
        def setup() -> None:
            shutil.rmtree(repos / name, ignore_errors=True)
            state[name] = icechunk.Repository.create(icechunk.local_filesystem_storage(str(repos / name)))
        return setup

    def theirs() -> None:
        session = state["ic"].writable_session("main")
        fork = session.fork()
        arr = zarr.create_array(fork.store, name="a", shape=source.shape, chunks=chunks, dtype=source.dtype)
        session.merge(store_dask(sources=[source], targets=[arr]))
        session.commit("store_dask")

    cases: Cases = {
        "dz.write (plain folder)": (lambda: dz.write(source, str(plain), chunks=chunks, mode="w"), None),
        "dz.write (icechunk, one commit)": (
            lambda: dz.write(source, (state["dz"], "a"), chunks=chunks, commit="dz"), fresh_repo("dz")),
        "icechunk.dask.store_dask + commit": (theirs, fresh_repo("ic")),
    }
    rows = interleaved(cases, rounds)
    got = dz.read((state["dz"], "a")).compute()
    want = zarr.open_array(state["ic"].readonly_session("main").store, path="a", mode="r")[...]
    if not np.array_equal(got, want):
        raise AssertionError("dz and store_dask committed different data")
    notes = [f"icechunk: {source.nbytes / 2**20:.0f} MiB in {int(np.prod(source.numblocks))} blocks, "
             f"chunks {chunks}, icechunk {icechunk.__version__}, local-filesystem storage"]
    return rows, notes
