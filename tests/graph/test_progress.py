"""The progress display of ``graph.progress.compute`` on a distributed client."""

from __future__ import annotations

import importlib.util
from typing import Any

import dask.array as da
import pytest

from dask_zarrio.graph import progress


class _Client:
    """Just enough of a distributed client: compute gives the collections, gather computes them."""

    def compute(self, collections: list[Any]) -> list[Any]:
        return collections

    def gather(self, futures: list[Any]) -> list[Any]:
        return [f.compute(scheduler="sync") for f in futures]


@pytest.mark.parametrize("widgets", [True, False], ids=["ipywidgets", "no-ipywidgets"])
def test_distributed_progress_needs_no_widget_library(monkeypatch: pytest.MonkeyPatch, widgets: bool) -> None:
    """In a Jupyter kernel distributed.progress picks its widget, which imports ipywidgets: without
    ipywidgets the text bar is asked for, so dz.write(progress=True) does not fail after submitting."""
    import distributed

    seen: dict[str, Any] = {}
    monkeypatch.setattr(progress, "active_client", lambda: _Client())
    monkeypatch.setattr(distributed, "progress", lambda futures, **kw: seen.update(kw))
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: (object() if widgets else None) if name == "ipywidgets" else real_find_spec(name, *a),
    )
    (total,) = progress.compute(da.arange(6, chunks=3).sum(), progress=True)
    assert total == 15
    assert seen == {"notebook": None if widgets else False}
