"""dask_zarrio: Zarr v2/v3 arrays compiled straight into Dask task graphs.

Examples
--------
>>> import dask.array as da, dask_zarrio as dz
>>> dz.write(da.arange(6, chunks=3), "memory://doc/init.zarr", mode="w")
>>> dz.read("memory://doc/init.zarr").compute()
array([0, 1, 2, 3, 4, 5])
"""

from __future__ import annotations

from . import config  # registers the dask_zarrio.* defaults with dask.config
from .api import init, read, write
from .errors import (
    ArgumentTypeError,
    ArrayNotFoundError,
    ChunkDecodeError,
    ConcurrentWriteError,
    ContainsArrayError,
    IncompleteWriteError,
    MetadataError,
    MisalignedWriteError,
    MissingDependencyError,
    MissingVariableError,
    StoreError,
    StorePermissionError,
    UnknownCodecError,
    UnsafeCodecError,
    ZarrioError,
    ZarrioWarning,
)
from .hierarchy import Group, consolidate, create_group, open_group, tree
from .loading import load
from .pyramid import read_pyramid, write_pyramid
from .rechunking.copy import copy, rechunk_dataset
from .rechunking.rechunk import Rechunk, rechunk
from .tools.advise import advise
from .tools.info import info
from .tools.plan import Plan, plan
from .tools.verify import verify
from .xarray.backend import open_dataset
from .xarray.writer import write_dataset

__all__ = [
    "ArgumentTypeError",
    "ArrayNotFoundError",
    "Group",
    "advise",
    "info",
    "Plan",
    "plan",
    "verify",
    "StoreError",
    "StorePermissionError",
    "consolidate",
    "create_group",
    "open_dataset",
    "open_group",
    "tree",
    "ChunkDecodeError",
    "ConcurrentWriteError",
    "ContainsArrayError",
    "IncompleteWriteError",
    "MetadataError",
    "MisalignedWriteError",
    "MissingDependencyError",
    "MissingVariableError",
    "UnknownCodecError",
    "UnsafeCodecError",
    "ZarrioError",
    "ZarrioWarning",
    "copy",
    "init",
    "load",
    "read",
    "Rechunk",
    "rechunk",
    "rechunk_dataset",
    "write",
    "write_dataset",
    "read_pyramid",
    "write_pyramid",
    "config",
]

__version__ = "0.1.0"
