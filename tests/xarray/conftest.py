"""Hooks that xarray's own backend tests need when they run here (:mod:`.test_xarray_suite`)."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "skip_if_param(reason, condition, **params): xarray's own test mark")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``skip_if_param(default_zarr_format=3, reason=..., condition=...)``, as xarray's root conftest
    reads it (xarray ships the mark in its tests, not the hook): the test is skipped for the
    parameters named."""
    for item in items:
        marks_for = getattr(getattr(item, "module", None), "marks_for", None)
        if marks_for is not None:  # test_xarray_suite.py: its known differences
            for mark in marks_for(item):
                item.add_marker(mark)
        params = getattr(getattr(item, "callspec", None), "params", {})
        for mark in item.iter_markers(name="skip_if_param"):
            wanted = {k: v for k, v in mark.kwargs.items() if k not in ("reason", "condition")}
            if mark.kwargs.get("condition", True) and all(params.get(k, object()) == v for k, v in wanted.items()):
                item.add_marker(pytest.mark.skip(reason=mark.kwargs.get("reason", "")))
