"""A group of hundreds of members makes a child store per member: each must cost next to nothing."""

from __future__ import annotations

import inspect

import fsspec
import pytest

from dask_zarrio.store import FsspecStore
from dask_zarrio.store.support import s3_requests


@pytest.mark.parametrize("protocol", ["memory", "file", "s3"])
def test_child_stores_do_not_inspect_the_filesystem_again(monkeypatch, protocol, tmp_path):
    """What s3fs's ``_cat_file`` takes is asked once per filesystem class, not once per store
    (``inspect.signature`` costs ~0.3 ms: 80 ms for an open of 273 variables)."""
    fs = fsspec.filesystem(protocol, **({"anon": True, "skip_instance_cache": True} if protocol == "s3" else {}))
    root = FsspecStore(fs, str(tmp_path / "g.zarr") if protocol == "file" else "/bucket/g.zarr")
    calls = []
    real = inspect.signature
    monkeypatch.setattr(s3_requests.inspect, "signature", lambda *a, **k: calls.append(a) or real(*a, **k))
    children = [root.child(f"v{i}") for i in range(100)]
    again = FsspecStore(fs, root.root)
    assert calls == []
    assert {c._cat_kwargs == root._cat_kwargs == again._cat_kwargs for c in children} == {True}
    assert root._cat_kwargs == ({"max_concurrency": 1} if protocol == "s3" else {})
