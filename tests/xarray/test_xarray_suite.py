"""xarray's own Zarr backend tests, run through dask_zarrio (issue 29).

``TestDaskZarrioDirectoryStore`` is xarray's ``TestZarrDirectoryStore`` (class ``ZarrBase``,
for Zarr formats 2 and 3, from the installed xarray), test bodies unchanged, with every
write routed to :func:`dask_zarrio.write_dataset` (``save`` and the bodies' own
``Dataset.to_zarr``/``DataArray.to_zarr``) and every read to ``engine="dask_zarrio"``
(``open``, ``xr.open_zarr``, ``xr.open_dataset(engine="zarr")``). It runs in CI: about 25 s on
one core (30 to 70 s on a loaded machine), no server or cluster per test.

:data:`KNOWN_DIFFERENCES` lists the tests dz fails on purpose, each a difference from
``to_zarr``/``open_zarr`` that docs/formats.md ("Differences from to_zarr") explains; they
are ``xfail(strict=True)``, so that one that starts passing shows up. Other xfails and skips
are xarray's own marks (netCDF-only tests, its known failures), as in its own run.

The comparison count: xarray's unmodified class (zarr-python's engine on the same tests) runs as
``TestZarrDirectoryStore`` only with ``DZ_XARRAY_BASELINE=1``; otherwise one skipped test stands
for it (it only gives the numbers to compare with, and would double the time in CI). Both classes
in one run, with a table of outcomes per class and Zarr format at the end (printed by
tests/xarray/conftest.py whenever this module runs)::

    DZ_XARRAY_BASELINE=1 python -m pytest -n 0 -p no:cacheprovider -q tests/xarray/test_xarray_suite.py
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
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

#: test id (as pytest names it in this class) -> why dz differs from to_zarr/open_zarr there, on purpose.
KNOWN_DIFFERENCES = {
    **{f"test_chunk_encoding_with_dask[{f}]": (
        "dask chunks that do not fit the stored chunks (irregular, or several dask chunks per stored chunk) are "
        "rechunked by dz's planner so that every stored chunk has one writer, where to_zarr refuses them "
        "(ValueError) unless safe_chunks=False, which then writes racily") for f in (2, 3)},
    "test_shard_encoding_with_dask[3]": (
        "the same with shards: dask chunks that split shards are rechunked to whole shards where to_zarr raises"),
    **{f"test_zarr_fill_value_setting[2-{t}]": (
        "use_zarr_fill_value_as_mask=False is honoured for Zarr v2 (the fill value is not a _FillValue); "
        "xarray's open_dataset ignores an explicit value (pydata/xarray#10269) and the test relies on that")
       for t in ("int", "float")},
}

#: Set to run xarray's own class too, for the comparison count (module docstring).
BASELINE = os.environ.get("DZ_XARRAY_BASELINE", "") not in ("", "0")

#: xarray's async test needs an async test plugin (pytest-asyncio or anyio), which is not installed here.
_NO_ASYNC = not any(importlib.util.find_spec(m) for m in ("pytest_asyncio", "anyio"))


def marks_for(item: pytest.Item) -> list[pytest.MarkDecorator]:
    """The marks of one collected test of this module (applied by tests/xarray/conftest.py)."""
    name = item.name
    if name.startswith("test_load_async") and _NO_ASYNC:
        return [pytest.mark.skip(reason="needs an async test plugin (pytest-asyncio or anyio)")]
    if item.cls is not TestDaskZarrioDirectoryStore:  # xarray's own class, or its placeholder
        return []
    if name in KNOWN_DIFFERENCES:
        return [pytest.mark.xfail(strict=True, reason=KNOWN_DIFFERENCES[name])]
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


if BASELINE:
    #: xarray's own class, unmodified: zarr-python's engine on the same tests, for the comparison count.
    TestZarrDirectoryStore = xb.TestZarrDirectoryStore
else:
    def test_xarray_own_engine_for_the_comparison_count() -> None:
        """Stands for xarray's own class, left out (not even collected) unless asked for."""
        pytest.skip("xarray's own engine (TestZarrDirectoryStore, the same tests through zarr-python) gives only the "
                    "comparison count and is left out: set DZ_XARRAY_BASELINE=1 to run it beside dz's")
