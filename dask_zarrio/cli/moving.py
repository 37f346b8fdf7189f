"""The commands that move data: copy, rechunk, and plan (their dry run).

``dz copy`` and ``dz rechunk`` are :func:`dask_zarrio.copy` and
:func:`dask_zarrio.rechunk`; ``dz plan`` is :func:`dask_zarrio.plan` with the same
options, printing what they would do and what its requests would cost.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click
import dask

from ..errors import ContainsArrayError, ZarrioError
from ..hierarchy import consolidate
from ..metadata.group import GroupMetadata
from ..metadata.journal import WRITING_COMMAND
from ..metadata.node import read_node
from ..rechunking.copy import copy
from ..rechunking.rechunk import rechunk
from ..store import open_store
from ..tools.plan import OPERATIONS, S3_STANDARD_PRICES, plan, price_per_1000
from . import (
    echo_json,
    json_option,
    main,
    progress_mode,
    scheduler_option,
    storage_options,
    target_options,
)
from . import scheduler as _scheduler

KEEP = "keep"


def parse_chunks(text: str, option: str = "--chunks") -> Any:
    """``"time=-1,lat=24"`` -> a dict by name (or axis number); ``"100,24,24"`` -> a tuple;
    ``"-1"``, ``"auto"``, ``"keep"`` as they are.

    Examples
    --------
    >>> parse_chunks("time=-1,lat=24"), parse_chunks("100, 24, auto"), parse_chunks("0=5")
    ({'time': -1, 'lat': 24}, (100, 24, 'auto'), {0: 5})
    """
    text = text.strip()
    if text in ("auto", KEEP):
        return text

    def entry(value: str) -> int | str:
        value = value.strip()
        if value == "auto":
            return value
        try:
            return int(value)
        except ValueError:
            raise ZarrioError(
                f"{option} {text!r}: {value!r} is not a length; write lengths per axis (\"100,24,24\"), "
                "or by dimension name (\"time=-1,lat=24\"; -1 is the whole axis)"
            ) from None

    parts = [p for p in text.split(",") if p.strip()]
    if not parts:
        raise ZarrioError(f"{option} {text!r} is empty; write e.g. \"100,24,24\" or \"time=-1,lat=24\"")
    if all("=" in p for p in parts):
        out: dict[Any, Any] = {}
        for p in parts:
            key, _, value = p.partition("=")
            key = key.strip()
            out[int(key) if key.lstrip("-").isdigit() else key] = entry(value)
        return out
    if any("=" in p for p in parts):
        raise ZarrioError(f"{option} {text!r} mixes name=length and plain lengths; use one form")
    values = tuple(entry(p) for p in parts)
    return values[0] if len(values) == 1 and values[0] == -1 else values


def parse_codecs(text: str | None, option: str) -> Any:
    """A ``--compressors``/``--filters`` value: JSON (a numcodecs config ``{"id": ...}``, a
    Zarr v3 codec ``{"name": ...}``, or a list of them), a codec name, or ``none``.

    Examples
    --------
    >>> parse_codecs('{"id": "zstd", "level": 3}', "--compressors"), parse_codecs("none", "--filters")
    ({'id': 'zstd', 'level': 3}, None)
    """
    if text is None:
        return KEEP
    if text.strip().lower() in ("none", "null", "[]"):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        if text.replace(".", "").replace("_", "").isalnum():
            return text  # a codec name: "zstd"
        raise ZarrioError(
            f"{option} {text!r} is not JSON; pass a numcodecs config such as "
            "'{\"id\": \"zstd\", \"level\": 3}' (as dz advise prints it), a codec name, or none"
        ) from None
    if not isinstance(value, (dict, list, str)):
        raise ZarrioError(f"{option} {text!r} must be a codec config, a list of them, or a name")
    return value


def _format(value: str | None) -> int | str | None:
    return None if value is None else ("n5" if value == "n5" else int(value))


def layout_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The target's layout and codecs, and the memory contract: shared by copy, rechunk, plan."""
    options = [
        click.option("--zarr-format", type=click.Choice(["2", "3", "n5"]), default=None,
                     help="The target's format (default: the source's)."),
        click.option("--shards", default=None, help='Shard shape (Zarr v3), as --chunks; "none" for no sharding.'),
        click.option("--compressors", default=None,
                     help="JSON: a numcodecs config or Zarr v3 codec (or a list), a name, or none, as "
                     "compressors= takes it. Default: the source's."),
        # The spelling before compressors= (issue 32): still taken, not shown.
        click.option("--compressor", "old_compressor", default=None, hidden=True, deprecated="use --compressors"),
        click.option("--filters", default=None, help="JSON list of filter configs, or none. Default: the source's."),
        click.option("--max-mem", default="256MiB", show_default=True, help="Most decoded bytes one task may hold."),
        click.option("--temp", default=None, metavar="URL",
                     help="Where an intermediate array may go (default: beside a local target)."),
        click.option("--resume", is_flag=True, help="Continue an interrupted copy/rechunk to the same target."),
        click.option("--mode", type=click.Choice(["w-", "w", "a"]), default=None,
                     help="As mode= in Python: w- refuses an existing DST (the default), w replaces it, "
                     "a (dz copy of a group) adds to it."),
        click.option("--overwrite", is_flag=True, help="Short for --mode w."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def parse_key_encoding(text: str) -> Any:
    """``--chunk-key-encoding``: ``keep``, or a name with an optional separator (``default``,
    ``v2``, ``default:.``, ``v2:/``), as ``dz.copy``/``dz.rechunk`` take it.

    Examples
    --------
    >>> parse_key_encoding("keep"), parse_key_encoding("v2:/")
    ('keep', {'name': 'v2', 'separator': '/'})
    """
    if text == KEEP:
        return KEEP
    name, _, separator = text.partition(":")
    if name not in ("default", "v2") or separator not in ("", ".", "/"):
        raise ZarrioError(
            f"--chunk-key-encoding {text!r} must be keep, default or v2, optionally with a separator "
            "after a colon: 'default:.' or 'v2:/'"
        )
    return {"name": name, "separator": separator} if separator else name


key_encoding_option = click.option(
    "--chunk-key-encoding", "chunk_key_encoding", default=KEEP, show_default=True,
    help="The target's chunk keys: keep (the source's, where the format can say so; v2 -> v3 keeps v2 keys, "
         "as zarr migrate v3 does), default (v3's c/0/0), v2, or either with a separator: default:. or v2:/.",
)


def _arguments(layout: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of ``dz.copy``/``dz.rechunk``/``dz.plan`` from :func:`layout_options` and ``--chunks``."""
    chunks, shards, old = layout["chunks"], layout["shards"], layout["old_compressor"]
    if layout["compressors"] is not None and old is not None:
        raise ZarrioError("give --compressors only (--compressor is its old spelling)")
    if layout["mode"] not in (None, "w") and layout["overwrite"]:
        raise ZarrioError(f"--overwrite is --mode w: give one, not it and --mode {layout['mode']}")
    return {
        "chunks": KEEP if chunks is None else parse_chunks(chunks),
        "shards": KEEP if shards is None else (None if shards.lower() == "none" else parse_chunks(shards, "--shards")),
        "compressors": parse_codecs(layout["compressors"] if old is None else old,
                                    "--compressors" if old is None else "--compressor"),
        "filters": parse_codecs(layout["filters"], "--filters"),
        "zarr_format": _format(layout["zarr_format"]),
        "max_mem": layout["max_mem"], "temp": layout["temp"], "resume": layout["resume"],
        "mode": "w" if layout["overwrite"] else (layout["mode"] or "w-"),
    }


@contextmanager
def _running(address: str | None) -> Iterator[None]:
    """Run the computation on ``--scheduler``: a local one by name, or a client of an address.

    The library's advice to pass ``mode='w'`` is ``--mode w`` here (``--overwrite`` for short),
    and the error keeps its class.
    """
    ctx = click.get_current_context(silent=True)
    # A journal left by an interrupted run advises this command's --resume, not dz.write(resume=True).
    token = WRITING_COMMAND.set(f"dz {ctx.info_name}" if ctx is not None and ctx.info_name else None)
    try:
        with _scheduler(address) as where, dask.config.set(scheduler=where) if where else dask.config.set({}):
            yield
    except ContainsArrayError as e:
        text = re.sub(r"pass mode='w' to replace it, mode='r\+' \(or 'a'\) to write into it,",
                      "pass --mode w (or --overwrite) to replace it (--resume to finish an interrupted run into it),",
                      str(e))
        text = text.replace("pass mode='w' (dz: --overwrite)", "pass --mode w (or --overwrite)")
        raise type(e)(text) from e
    finally:
        WRITING_COMMAND.reset(token)


def _is_group(url: str, options: dict[str, Any]) -> bool:
    return isinstance(read_node(open_store(url, options)), GroupMetadata)


@main.command("copy")
@click.argument("src")
@click.argument("dst")
@click.option(
    "--chunks", default=None, help='Target chunks: "100,24,24", "time=-1,lat=24", -1 or auto. Default: the source\'s.'
)
@layout_options
@key_encoding_option
@click.option(
    "--consolidate", "consolidated", is_flag=True, help="Write consolidated metadata at DST (a group) afterwards."
)
@scheduler_option
@storage_options
@target_options
def copy_command(src: str, dst: str, chunk_key_encoding: str, consolidated: bool, scheduler: str | None, quiet: bool,
                 storage_options: dict[str, Any], target_options: dict[str, Any], **layout: Any) -> None:
    """Copy an array or a whole group, converting format, chunks, shards or codecs.

    With the same grid and codecs the stored bytes are copied undecoded (also v2 to v3).
    """
    args = _arguments(layout)
    progress: Any = progress_mode(quiet)  # "rich" on a terminal: progress.compute draws it
    with _running(scheduler):
        copy(src, dst, **args, chunk_key_encoding=parse_key_encoding(chunk_key_encoding),
             storage_options=storage_options, target_options=target_options, progress=progress)
    target = open_store(dst, target_options)
    if consolidated and _is_group(dst, target_options):
        consolidate(target)
    if not quiet:
        click.echo(f"copied {open_store(src, storage_options).describe()} to {target.describe()}")


@main.command("rechunk")
@click.argument("src")
@click.argument("dst")
@click.option("--chunks", required=True, help='Target chunks: "100,24,24", "time=-1,lat=24", -1 or auto.')
@layout_options
@key_encoding_option
@scheduler_option
@storage_options
@target_options
def rechunk_command(src: str, dst: str, chunk_key_encoding: str, scheduler: str | None, quiet: bool,
                    storage_options: dict[str, Any], target_options: dict[str, Any], **layout: Any) -> None:
    """Rewrite an array in new chunks, no task holding more than --max-mem of decoded data."""
    args = _arguments(layout)
    if args["shards"] == KEEP:
        args["shards"] = None
    progress: Any = progress_mode(quiet)
    with _running(scheduler):
        rechunk(src, dst, chunk_key_encoding=parse_key_encoding(chunk_key_encoding),
                storage_options=storage_options, target_options=target_options, progress=progress, **args)
    if not quiet:
        click.echo(
            f"rechunked {open_store(src, storage_options).describe()} to {open_store(dst, target_options).describe()}"
        )


@main.command("plan")
@click.argument("operation", type=click.Choice(OPERATIONS))
@click.argument("src")
@click.argument("dst")
@click.option("--chunks", default=None, help="Target chunks, as dz copy/rechunk take them.")
@layout_options
@click.option(
    "--threads", type=click.IntRange(min=1), default=None, help="Threads per worker (default: the CPU count)."
)
@click.option(
    "--get-price", default=str(S3_STANDARD_PRICES["get"]), show_default=True, help="US$ per 1000 GET requests."
)
@click.option(
    "--put-price", default=str(S3_STANDARD_PRICES["put"]), show_default=True, help="US$ per 1000 PUT requests."
)
@click.option(
    "--list-price", default=str(S3_STANDARD_PRICES["list"]), show_default=True, help="US$ per 1000 LIST requests."
)
@json_option
@storage_options
@target_options
def plan_command(operation: str, src: str, dst: str, threads: int | None, get_price: str, put_price: str,
                 list_price: str, as_json: bool, storage_options: dict[str, Any], target_options: dict[str, Any],
                 **layout: Any) -> None:
    """A dry run of copy, rechunk or write (SRC read as an array): passes, tasks, requests, bytes,
    peak memory and request cost. Nothing is written."""
    args = _arguments(layout)
    prices = {"get": price_per_1000(get_price), "put": price_per_1000(put_price), "list": price_per_1000(list_price)}
    done = plan(operation, src, dst, **args, threads=threads, prices=prices, storage_options=storage_options,
                target_options=target_options)
    if as_json:
        echo_json(done.to_dict())
    else:
        click.echo(str(done))
