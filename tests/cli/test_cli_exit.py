"""``dz`` as a process: where icechunk was imported it ends with ``os._exit`` once its output is
flushed (icechunk's runtime can abort an interpreter shutting down; lancedb/lancedb#4175 is the
same PyO3/Tokio race), with the exit status click chose."""

from __future__ import annotations

import sys
import types

import pytest

from dask_zarrio import cli


class _Exited(Exception):
    pass


@pytest.mark.parametrize(("argv", "code"), [(["--version"], 0), (["info", "/nonexistent/x.zarr"], 2),
                                            (["no-such-command"], 2)])
@pytest.mark.parametrize("icechunk", [True, False], ids=["icechunk imported", "no icechunk"])
def test_exit_status_is_kept(monkeypatch: pytest.MonkeyPatch, argv: list[str], code: int, icechunk: bool) -> None:
    seen: list[int] = []

    def fake_exit(status: int) -> None:
        seen.append(status)
        raise _Exited

    monkeypatch.setattr(cli.os, "_exit", fake_exit)
    monkeypatch.setattr(sys, "argv", ["dz", *argv])
    if icechunk:
        monkeypatch.setitem(sys.modules, "icechunk", types.ModuleType("icechunk"))
    else:
        monkeypatch.delitem(sys.modules, "icechunk", raising=False)
    with pytest.raises(_Exited if icechunk else SystemExit) as done:
        cli.run()
    if icechunk:
        assert seen == [code]
    else:
        assert seen == [] and (done.value.code or 0) == code  # type: ignore[union-attr]
