"""xarray's own Zarr backend tests, run through dask_zarrio (issue 29).

``TestDaskZarrioDirectoryStore`` is xarray's ``TestZarrDirectoryStore`` (class ``ZarrBase``,
for Zarr formats 2 and 3, from the installed xarray), test bodies unchanged, with every
write routed to :func:`dask_zarrio.write_dataset` (``save`` and the bodies' own
``Dataset.to_zarr``/``DataArray.to_zarr``) and every read to ``engine="dask_zarrio"``
(``open``, ``xr.open_zarr``, ``xr.open_dataset(engine="zarr")``). xarray's unmodified
class runs beside it, for the comparison count (marked ``slow``: ``-m 'not slow'`` leaves it out).

:data:`KNOWN_DIFFERENCES` lists the tests dz fails on purpose, each a difference from
``to_zarr`` that docs/formats.md ("Differences from to_zarr") explains; they are
``xfail(strict=True)``, so that one that starts passing shows up. :data:`READER_OWNED` is
temporary: read-side features under way in ``dask_zarrio/xarray/backend.py`` (issue 29's
reading half); it empties as they land.
"""

from __future__ import annotations

import contextlib
import importlib.util
from typing import Any

import pytest

xr = pytest.importorskip("xarray")
zarr = pytest.importorskip("zarr")
xb = pytest.importorskip("xarray.tests.test_backends")

import xarray.backends.api as xr_api  # noqa: E402
import xarray.backends.writers as xr_writers  # noqa: E402
from xarray.tests.conftest import time_unit, use_dask  # noqa: E402,F401  (fixtures the suite's tests take)

from dask_zarrio.xarray.writer import write_dataset  # noqa: E402

#: The fixture that runs every test for Zarr formats 2 and 3, as xarray runs them.
default_zarr_format = xb.default_zarr_format

#: test id (as pytest names it in this class) -> why dz differs from to_zarr there, on purpose.
KNOWN_DIFFERENCES = {
    **{f"test_chunk_encoding_with_dask[{f}]": (
        "dask chunks that do not fit the stored chunks (irregular, or several dask chunks per stored chunk) are "
        "rechunked by dz's planner so that every stored chunk has one writer, where to_zarr refuses them "
        "(ValueError) unless safe_chunks=False, which then writes racily") for f in (2, 3)},
    "test_shard_encoding_with_dask[3]": (
        "the same with shards: dask chunks that split shards are rechunked to whole shards where to_zarr raises"),
}

#: Test name (all its parameters) or test id -> the read-side feature it waits for (issue 29, being
#: built in xarray/backend.py).
READER_OWNED = {
    **dict.fromkeys(("test_load", "test_dataset_compute", "test_dataset_caching"),
                    "the engine without chunks= gives lazily indexed BackendArrays, loaded into numpy"),
    "test_roundtrip_None_variable": "a nameless DataArray's array (__xarray_dataarray_variable__) read back as None",
    **dict.fromkeys(("test_compressor_encoding", "test_shard_encoding[3]", "test_zarr_fill_value_in_encoding_on_read",
                     "test_check_encoding_is_consistent_after_append"),
                    "encodings read back: compressors, filters, serializer, shards, fill_value"),
    "test_non_existent_store": "a missing store is reported as xarray's engines word it",
    "test_read_non_consolidated_warning": "a RuntimeWarning where consolidated metadata is missing",
    **dict.fromkeys((
        "test_write_region", "test_write_region_mode", "test_roundtrip_consolidated", "test_zarr_fill_value_setting",
        "test_attributes", "test_write_read_select_write", "test_roundtrip_boolean_dtype",
        "test_roundtrip_boolean_dtype_legacy_int8", "test_region_scalar", "test_open_zarr_use_cftime",
        "test_chunk_auto_with_small_dask_chunks",
    ), "open options of the zarr engine: consolidated=, use_zarr_fill_value_as_mask=, zarr_format="),
}

#: xarray's async test needs an async test plugin (pytest-asyncio or anyio), which is not installed here.
_NO_ASYNC = not any(importlib.util.find_spec(m) for m in ("pytest_asyncio", "anyio"))


def marks_for(item: pytest.Item) -> list[pytest.MarkDecorator]:
    """The marks of one collected test of this module (applied by tests/xarray/conftest.py)."""
    name = item.name
    if name.startswith("test_load_async") and _NO_ASYNC:
        return [pytest.mark.skip(reason="needs an async test plugin (pytest-asyncio or anyio)")]
    if item.cls is not TestDaskZarrioDirectoryStore:  # xarray's own engine: only the comparison count
        return [pytest.mark.slow]
    if name in KNOWN_DIFFERENCES:
        return [pytest.mark.xfail(strict=True, reason=KNOWN_DIFFERENCES[name])]
    why = READER_OWNED.get(name, READER_OWNED.get(name.split("[")[0]))
    if why is not None:
        return [pytest.mark.xfail(strict=False, reason=f"read side, under way: {why}")]
    return []


_original_open_dataset = xr_api.open_dataset


def _routed_open_dataset(filename_or_obj: Any, *args: Any, engine: Any = None, **kwargs: Any) -> Any:
    """``xr.open_dataset`` (and so ``xr.open_zarr``) with the zarr engine replaced by dask_zarrio's."""
    if engine in (None, "zarr"):
        engine = "dask_zarrio"
    return _original_open_dataset(filename_or_obj, *args, engine=engine, **kwargs)


def _routed_to_zarr(dataset: Any, store: Any = None, mode: Any = None, group: Any = None, encoding: Any = None,
                    **kwargs: Any) -> Any:
    """``to_zarr`` (``xarray.backends.writers.to_zarr``, behind ``Dataset.to_zarr`` and
    ``DataArray.to_zarr``) as :func:`write_dataset`."""
    # to_zarr passes its defaults along; they mean write_dataset's defaults (dz re-aligns misaligned
    # dask chunks where to_zarr refuses them: a documented difference), so only other values go on.
    if kwargs.get("safe_chunks") is True:
        del kwargs["safe_chunks"]
    if kwargs.get("align_chunks") is False:
        del kwargs["align_chunks"]
    if kwargs.get("zarr_format") is None:
        kwargs["zarr_format"] = zarr.config.get("default_zarr_format")
    kwargs.pop("chunkmanager_store_kwargs", None)
    return write_dataset(dataset, store, mode=mode, group=group, encoding=encoding, **kwargs)


class TestDaskZarrioDirectoryStore(xb.TestZarrDirectoryStore):
    """xarray's ``TestZarrDirectoryStore``, reading and writing through dask_zarrio."""

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


#: xarray's own class, unmodified: zarr-python's engine on the same tests, for the comparison count.
TestZarrDirectoryStore = xb.TestZarrDirectoryStore
