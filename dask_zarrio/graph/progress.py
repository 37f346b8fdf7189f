"""Computing with a progress bar: ``dz.write(progress=True)`` and the ``dz`` command.

On the local schedulers (threads, processes) dask's callbacks drive the bar: dask's
own ``ProgressBar`` for notebooks, or a ``rich`` bar for the command line. When a
``dask.distributed`` client is active, the graph goes to it and
``distributed.progress`` follows the futures (the scheduler knows what finished).
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dask
from dask.callbacks import Callback
from dask.diagnostics import ProgressBar

__all__ = ["RichProgress", "active_client", "compute", "on_distributed", "runs_in_this_process"]


def active_client() -> Any | None:
    """The current ``dask.distributed`` client, or ``None`` (none made, or distributed missing)."""
    try:
        from distributed import default_client
    except ImportError:  # pragma: no cover - distributed is a runtime dependency
        return None
    try:
        return default_client()
    except ValueError:
        return None


def on_distributed() -> bool:
    """Whether ``dask.compute`` would run on a ``dask.distributed`` client: one is active and
    no other scheduler is configured.

    Examples
    --------
    >>> with dask.config.set(scheduler="threads"):
    ...     on_distributed()
    False
    """
    scheduler = dask.config.get("scheduler", None)
    return active_client() is not None and scheduler in (None, "dask.distributed", "distributed")


def _host_and_pid() -> tuple[str, int]:
    import os
    import socket

    return socket.gethostname(), os.getpid()


def runs_in_this_process() -> bool:
    """Whether ``dask.compute`` would run tasks in this process (threads, sync, a threads-only cluster).

    Decided as ``dask.compute`` decides: the configured scheduler, else an active
    distributed client (asked where its workers run: a ``LocalCluster(processes=False)``
    runs here), else the threads a dask array computes with by default.

    Examples
    --------
    >>> with dask.config.set(scheduler="threads"):
    ...     runs_in_this_process()
    True
    >>> with dask.config.set(scheduler="processes"):
    ...     runs_in_this_process()
    False
    """
    from concurrent.futures import ThreadPoolExecutor

    import dask.local
    import dask.threaded

    configured = dask.config.get("scheduler", None)
    if isinstance(configured, ThreadPoolExecutor):
        return True
    get = dask.base.get_scheduler()
    if get is None or get in (dask.threaded.get, dask.local.get_sync):
        return True
    client = getattr(get, "__self__", None)
    if client is None or not hasattr(client, "run"):
        return False  # "processes", a process pool, or a scheduler we cannot ask
    return set(client.run(_host_and_pid).values()) <= {_host_and_pid()}


class RichProgress(Callback):
    """A ``rich`` progress bar over a local-scheduler computation's tasks.

    Examples
    --------
    >>> import dask.array as da
    >>> with RichProgress("summing", disable=True):
    ...     int(da.ones(10, chunks=2).sum().compute())
    10
    """

    def __init__(self, description: str = "computing", *, disable: bool = False) -> None:
        super().__init__()
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self._bar = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            disable=disable, transient=False, console=_console(),
        )
        self._description = description
        self._task: Any = None

    def _start_state(self, dsk: Any, state: dict[str, Any]) -> None:
        total = sum(len(state[k]) for k in ("ready", "waiting", "running", "finished"))
        self._bar.start()
        self._task = self._bar.add_task(self._description, total=total)

    def _posttask(self, key: Any, result: Any, dsk: Any, state: dict[str, Any], worker_id: Any) -> None:
        self._bar.advance(self._task)

    def _finish(self, dsk: Any, state: dict[str, Any], errored: bool) -> None:
        self._bar.stop()


def _console() -> Any:
    from rich.console import Console

    return Console(file=sys.stderr)


@contextmanager
def _bar(progress: bool | str) -> Iterator[None]:
    if progress == "rich":
        with RichProgress():
            yield
    elif progress:
        with ProgressBar():
            yield
    else:
        yield


def compute(*collections: Any, progress: bool | str = False, scheduler: str | None = None) -> tuple[Any, ...]:
    """``dask.compute(*collections)``, with a progress bar when ``progress`` is true.

    Parameters
    ----------
    collections
        Dask collections (arrays, delayed objects, bags).
    progress
        ``False``: none; ``True``: dask's ``ProgressBar`` (or ``distributed.progress``
        when a distributed client is active); ``"rich"``: a ``rich`` bar on stderr.
    scheduler
        Passed to ``dask.compute`` (``"threads"``, ``"processes"``, ``"sync"``); with
        ``None`` an active distributed client runs the graph.

    Examples
    --------
    >>> import dask.array as da
    >>> compute(da.arange(4, chunks=2).sum())
    (np.int64(6),)
    """
    client = active_client() if progress and scheduler is None else None
    if client is not None:
        from distributed import progress as follow

        futures = client.compute(list(collections))
        # In a Jupyter kernel distributed picks its widget, which needs ipywidgets: without it
        # the call would fail after the work was submitted, so fall back to the text bar.
        follow(futures, notebook=None if importlib.util.find_spec("ipywidgets") else False)
        return tuple(client.gather(futures))
    with _bar(progress):
        return tuple(dask.compute(*collections, scheduler=scheduler))
