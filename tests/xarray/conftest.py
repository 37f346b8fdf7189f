"""Hooks that xarray's own backend tests need when they run here (:mod:`.test_xarray_suite`), and the
table of their outcomes per class and Zarr format printed at the end of a run."""

from __future__ import annotations

from collections import Counter

import pytest

#: (class, Zarr format, outcome) -> tests, of test_xarray_suite.py in this run.
_SUITE_OUTCOMES: Counter[tuple[str, str, str]] = Counter()
_OUTCOMES = ("passed", "failed", "error", "xfailed", "xpassed", "skipped")


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


def _outcome(report: pytest.TestReport) -> str | None:
    """One test's outcome, from the report of the phase that decides it (setup or call)."""
    if report.when == "setup":
        return "skipped" if report.skipped else "error" if report.failed else None
    if report.when != "call":
        return None
    if hasattr(report, "wasxfail"):
        return "xfailed" if report.skipped else "xpassed"
    return report.outcome


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    parts = report.nodeid.split("::")
    outcome = _outcome(report)
    if outcome is None or len(parts) < 3 or not parts[0].endswith("test_xarray_suite.py"):
        return
    params = parts[-1].partition("[")[2].rstrip("]")
    _SUITE_OUTCOMES[(parts[1], f"v{params.split('-')[0]}" if params else "-", outcome)] += 1


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """``xarray's suite``: passed/xfailed/skipped ... per class and Zarr format (the issue's comparison)."""
    if not _SUITE_OUTCOMES:
        return
    terminalreporter.section("xarray's Zarr suite: outcomes per class and Zarr format")
    for cls, fmt in sorted({(c, f) for c, f, _ in _SUITE_OUTCOMES}):
        counts = ", ".join(f"{_SUITE_OUTCOMES[(cls, fmt, o)]} {o}" for o in _OUTCOMES if _SUITE_OUTCOMES[(cls, fmt, o)])
        terminalreporter.write_line(f"{cls} {fmt}: {counts}")
