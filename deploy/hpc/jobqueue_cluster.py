"""dask-jobqueue clusters for SLURM and PBS that run dask_zarrio; pick with --scheduler.

    pip install dask-jobqueue dask_zarrio
    python jobqueue_cluster.py --scheduler slurm --jobs 8 --url /scratch/$USER/demo.zarr

Every worker job gets 2 threads and 8 GiB: keep dask chunks (array.chunk-size, default 128 MiB)
well under memory / threads, and let dz's per-task requests in flight
(dask config key dask_zarrio.requests-in-flight, 16) match what the filesystem or object store takes.
"""

from __future__ import annotations

import argparse

import dask.array as da
from distributed import Client

import dask_zarrio as dz
from dask_zarrio.memory.allocator import WORKER_ENV


def make_cluster(kind: str, jobs: int):  # type: ignore[no-untyped-def]
    """A SLURMCluster or PBSCluster with the settings this example documents."""
    from dask_jobqueue import PBSCluster, SLURMCluster

    # Workers reuse freed chunk-sized buffers (dask_zarrio.memory.allocator; deploy/README.md).
    malloc = [f"export {k}={v}" for k, v in WORKER_ENV.items()]
    common = dict(cores=2, processes=1, memory="8GiB", walltime="01:00:00",
                  local_directory="$TMPDIR", job_extra_directives=[], job_script_prologue=malloc)
    cluster = SLURMCluster(queue="normal", **common) if kind == "slurm" else PBSCluster(queue="workq", **common)
    cluster.scale(jobs=jobs)
    return cluster


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scheduler", choices=["slurm", "pbs"], required=True)
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument("--url", required=True)
    args = parser.parse_args()
    with make_cluster(args.scheduler, args.jobs) as cluster, Client(cluster) as client:
        print(client.dashboard_link)
        x = da.random.default_rng(0).standard_normal((40_000, 40_000), chunks=4096)
        dz.write(x, args.url, mode="w")
        print(float(dz.read(args.url).mean().compute()))


if __name__ == "__main__":
    main()
