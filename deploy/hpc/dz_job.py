"""Write and read an array with dask_zarrio on whatever Dask cluster the batch job started.

Usage (inside a batch job, see run_dz.sbatch / run_dz.pbs):
    python dz_job.py --scheduler-file $SCHED --url /scratch/$USER/demo.zarr --gb 20
"""

from __future__ import annotations

import argparse
import time

import dask.array as da
import numpy as np
from distributed import Client

import dask_zarrio as dz


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scheduler-file", required=True)
    parser.add_argument("--url", required=True, help="where to write (a path on the shared filesystem, or s3://...)")
    parser.add_argument("--gb", type=float, default=4.0)
    args = parser.parse_args()
    client = Client(scheduler_file=args.scheduler_file)
    print("dashboard:", client.dashboard_link)
    side = int(np.sqrt(args.gb * 1e9 / 4))
    x = da.random.default_rng(0).standard_normal((side, side), chunks=4096, dtype=np.float32)
    t = time.perf_counter()
    dz.write(x, args.url, mode="w", chunks=(4096, 4096))
    print(f"write: {x.nbytes / (time.perf_counter() - t) / 1e9:.2f} GB/s")
    t = time.perf_counter()
    total = float(dz.read(args.url).sum().compute())
    print(f"read + sum: {x.nbytes / (time.perf_counter() - t) / 1e9:.2f} GB/s (sum {total:.3f})")
    same = float(x.sum().compute()) == total
    print("identical:", same)
    client.close()
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
