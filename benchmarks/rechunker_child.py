"""The ``rechunker`` contender of the rechunk benchmark, run as ``python -m benchmarks.rechunker_child V2 OUT DAYS``.

rechunker 0.5.4 needs zarr-python 2, which cannot share the project's venv (zarr 3), so
``benchmarks/rechunk.py`` runs this under the python of ``.bench-venvs/rechunker`` (made by
``scripts/bench-rechunker-venv.sh``). Hence standard library, zarr 2, numcodecs, dask and
rechunker only: no ``dask_zarrio`` here, which is not installed in that venv.

It rechunks the v2 copy of the maps (blosc-zstd, what zarr 2 reads) to ``(DAYS, 24, 24)``
series with ``max_mem="256MB"`` on dask's threads (2), writing the target with the same
blosc-zstd as the source, as ``dz.rechunk`` does; the intermediate keeps rechunker's default
(zarr 2's blosc-lz4, as dz's own intermediate). Prints one JSON line, as every contender:
``{"seconds": ..., "peak": ...}``.
"""

from __future__ import annotations

import json
import shutil
import sys

import dask
import numcodecs
import zarr
from rechunker import rechunk

from benchmarks.memory import measure, warm_imports

MAX_MEM = "256MB"
THREADS = 2
SERIES = (24, 24)


def main(argv: list[str]) -> None:
    """``V2 OUT DAYS``: time the plan and its execution, print seconds and peak growth."""
    v2, out, days = argv[0], argv[1], int(argv[2])
    warm_imports()
    temp = out + ".tmp"  # beside the target, as dz.rechunk puts its intermediate
    shutil.rmtree(temp, ignore_errors=True)
    source = zarr.open_array(v2, mode="r")
    compressor = numcodecs.Blosc(cname="zstd", clevel=3, shuffle=numcodecs.Blosc.SHUFFLE)

    def work() -> None:
        # Planning (which creates the target and the intermediate) counts, as dz.rechunk's does.
        plan = rechunk(
            source, (days, *SERIES), MAX_MEM, out, target_options={"compressor": compressor}, temp_store=temp
        )
        plan.execute()

    with dask.config.set(scheduler="threads", num_workers=THREADS):
        seconds, peak = measure(work)
    # Deleting the intermediate is the user's job with rechunker (dz.rechunk does it inside its
    # call, so inside its time): left out of the clock, in rechunker's favour.
    shutil.rmtree(temp, ignore_errors=True)
    print(json.dumps({"seconds": seconds, "peak": peak}))


if __name__ == "__main__":
    main(sys.argv[1:])
