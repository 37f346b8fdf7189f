"""xarray's own Zarr backend tests, run through dask_zarrio (issue 29)."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest

xr = pytest.importorskip("xarray")
zarr = pytest.importorskip("zarr")
xb = pytest.importorskip("xarray.tests.test_backends")

import xarray.backends.api as xr_api  # noqa: E402
import xarray.backends.writers as xr_writers  # noqa: E402

from dask_zarrio.xarray.writer import write_dataset  # noqa: E402

_original_open_dataset = xr_api.open_dataset


def _routed_open_dataset(filename_or_obj: Any, *args: Any, engine: Any = None, **kwargs: Any) -> Any:
    if engine in (None, "zarr"):
        engine = "dask_zarrio"
    return _original_open_dataset(filename_or_obj, *args, engine=engine, **kwargs)


def _routed_to_zarr(dataset: Any, store: Any = None, mode: Any = None, group: Any = None, encoding: Any = None,
                    **kwargs: Any) -> Any:
    if kwargs.get("zarr_format") is None:
        kwargs["zarr_format"] = zarr.config.get("default_zarr_format")
    kwargs.pop("chunkmanager_store_kwargs", None)
    return write_dataset(dataset, store, mode=mode, group=group, encoding=encoding, **kwargs)


class TestDaskZarrioDirectoryStore(xb.TestZarrDirectoryStore):
    @pytest.fixture(autouse=True)
    def _route(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(xr_api, "open_dataset", _routed_open_dataset)
        monkeypatch.setattr(xr, "open_dataset", _routed_open_dataset)
        monkeypatch.setattr(xb, "open_dataset", _routed_open_dataset)
        monkeypatch.setattr(xr_writers, "to_zarr", _routed_to_zarr)

    def save(self, dataset: Any, store_target: Any, **kwargs: Any) -> Any:
        return _routed_to_zarr(dataset, store_target, **kwargs)

    @contextlib.contextmanager
    def open(self, path: Any, **kwargs: Any) -> Any:
        with _routed_open_dataset(path, engine="dask_zarrio", **kwargs) as ds:
            yield ds


TestZarrDirectoryStore = xb.TestZarrDirectoryStore
default_zarr_format = xb.default_zarr_format
from xarray.tests.conftest import time_unit, use_dask  # noqa: E402,F401  (fixtures of the suite)
