"""The ``dz`` command: look inside Zarr stores, check them, choose codecs.

Every command is a thin layer over a public library function (``dz.info``,
``dz.verify``, ``dz.advise``, ``dz.tree``, ``dz.consolidate``, ``dz.read``) and shares
the conventions set up here: ``--storage-option key=value`` (repeatable, values
parsed as JSON when they parse), ``--scheduler`` on commands that compute, ``--json``
on read-only ones, ``--debug`` for tracebacks, ``--allow-pickle`` where data is decoded
(off: untrusted data is never executed). dz's errors print as one line with their hint,
in the command line's spelling (:func:`cli_spelling`), and exit with status 2; no
message shows a credential. A closed output pipe (``dz ls URL | head -1``) ends the
command quietly, as other Unix tools end. New commands
register on :data:`main` with the decorators below; ``copy``, ``rechunk`` and ``plan``
(:mod:`.moving`) add ``--target-option`` for the destination.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click

from ..store.base import redact_url
from ..store.support.failures import secret_values

__all__ = [
    "allow_pickle_option", "cli_spelling", "main", "scheduler_option", "storage_options", "target_options",
    "url_argument",
]

#: The exit status of a command whose output pipe closed: 128 + SIGPIPE, as a shell reports ``ls | head -1``.
BROKEN_PIPE_STATUS = 141
#: The library's advice (keyword arguments) -> the same advice as options of the command line.
_CLI_SPELLINGS = [
    (re.compile(r"pass allow_pickle=True"), "pass --allow-pickle"),
    (re.compile(r"storage_options=\{'anon': True\}"), "--storage-option anon=true"),
    (re.compile(r"storage_options=\{'key': \.\.\., 'secret': \.\.\.\}"),
     "--storage-option key=... --storage-option secret=..."),
]


def _parse_options(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} must be key=value, e.g. --storage-option anon=true", param=param)
        try:
            options[key] = json.loads(raw)
        except ValueError:
            options[key] = raw  # a plain string: a region name, a profile
    # --storage-option and --target-option both add theirs: no message may show either.
    ctx.meta["dz.secrets"] = [*ctx.meta.get("dz.secrets", []), *secret_values(options)]
    return options


def _set_debug(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        ctx.meta["dz.debug"] = True


def storage_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``--storage-option key=value`` (repeatable) -> ``storage_options`` dict; and ``--debug``."""
    fn = click.option(
        "--storage-option", "storage_options", multiple=True, callback=_parse_options, metavar="KEY=VALUE",
        help="fsspec storage option (repeatable); the value is parsed as JSON when it parses.",
    )(fn)
    return click.option(
        "--debug", is_flag=True, expose_value=False, callback=_set_debug, is_eager=True,
        help="Show the full traceback of an error.",
    )(fn)


def target_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``--target-option key=value`` (repeatable) -> ``target_options``: the destination's filesystem."""
    return click.option(
        "--target-option", "target_options", multiple=True, callback=_parse_options, metavar="KEY=VALUE",
        help="fsspec option for DST (repeatable), as --storage-option is for SRC.",
    )(fn)


def url_argument(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The ``URL`` argument: any path or URL ``dz.read`` takes."""
    return click.argument("url")(fn)


def allow_pickle_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``--allow-pickle``: decode chunks whose codec unpickles them (``allow_pickle=True``); off by default."""
    return click.option(
        "--allow-pickle", is_flag=True,
        help="Decode chunks stored with the pickle codec. Unpickling runs code stored in the data: "
        "only for stores you trust.",
    )(fn)


def cli_spelling(text: str) -> str:
    """The library's advice in ``text`` as the command line spells it.

    Examples
    --------
    >>> cli_spelling("codec 'pickle' ... Only if you trust the store, pass allow_pickle=True")
    "codec 'pickle' ... Only if you trust the store, pass --allow-pickle"
    """
    for pattern, spelling in _CLI_SPELLINGS:
        text = pattern.sub(spelling, text)
    return text


def quiet_broken_pipe() -> None:
    """The reader of stdout has gone: send what is still buffered nowhere, and exit as Unix tools do.

    Python's advice (the ``signal`` module's docs, "Note on SIGPIPE"): point stdout at
    devnull so that the flush at exit does not fail again.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real file descriptor (an in-process runner): nothing to flush
        pass
    sys.exit(BROKEN_PIPE_STATUS)


def json_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``--json``: machine-readable output (schemas in the "Command line" docs page)."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")(fn)


def scheduler_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``--scheduler ADDRESS|threads|processes|sync`` and ``--quiet`` for computing commands."""
    fn = click.option(
        "--scheduler", default=None, metavar="ADDRESS|threads|processes|sync",
        help="Where the work runs: a local scheduler, or a dask.distributed scheduler's address.",
    )(fn)
    return click.option("--quiet", "-q", is_flag=True, help="No progress bar.")(fn)


@contextmanager
def scheduler(address: str | None) -> Iterator[str | None]:
    """The ``scheduler=`` to pass on: a local name, or ``None`` inside a client of ``address``."""
    if address is None or address in ("threads", "processes", "sync", "synchronous", "single-threaded"):
        yield address
        return
    from distributed import Client

    with Client(address):
        yield None


def progress_mode(quiet: bool) -> bool | str:
    """A rich progress bar on a terminal, unless ``--quiet``; nothing when piped."""
    return "rich" if not quiet and sys.stderr.isatty() else False


def echo_json(doc: Any) -> None:
    """Print ``doc`` as indented JSON."""
    click.echo(json.dumps(doc, indent=2, default=str))


class DzGroup(click.Group):
    """Turns dz's errors (and any other) into one line and exit status 2, unless ``--debug``."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except BrokenPipeError:
            quiet_broken_pipe()
        except Exception as e:  # noqa: BLE001 (every failure ends as one line, status 2)
            sub = ctx.meta
            if sub.get("dz.debug") or ctx.params.get("debug"):
                raise
            secrets = sub.get("dz.secrets", [])
            text = cli_spelling(redact_url(str(e), secrets)) or type(e).__name__
            ours = isinstance(e, ValueError) and type(e).__module__.startswith("dask_zarrio")
            kind = "" if ours else f"{type(e).__name__}: "
            click.echo(f"dz: error: {kind}{text}", err=True)
            ctx.exit(2)


@click.group(cls=DzGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--debug", is_flag=True, help="Show the full traceback of an error.")
@click.version_option(package_name="dask_zarrio", prog_name="dz")
def main(debug: bool) -> None:
    """dz: look inside Zarr (v2, v3) and N5 stores, check them, choose codecs, copy and rechunk."""


def run() -> None:
    """The ``dz`` command as a process of its own (the console script and ``python -m``).

    Where icechunk was used, the process ends with ``os._exit`` once its output is flushed:
    icechunk's Rust runtime can still be running a task on one of its own threads while the
    interpreter shuts down, and then aborts the process (SIGABRT, exit status 134) after dz has
    done its work and printed its result (a few runs in a hundred on a busy machine; the PyO3 and
    Tokio shutdown race that lancedb/lancedb#4175 describes). ``main`` itself, as tests call it
    in-process, never exits the interpreter.
    """
    try:
        main()
    except SystemExit as done:
        if "icechunk" not in sys.modules:
            raise
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
        if done.code is not None and not isinstance(done.code, int):
            print(done.code, file=sys.stderr)
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


from . import commands, moving, pyramid  # noqa: E402,F401  (register the commands on main)
