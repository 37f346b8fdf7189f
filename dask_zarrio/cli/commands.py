"""The read-only and checking commands: info, tree, ls, du, cat, verify, consolidate, advise."""

from __future__ import annotations

import sys
from typing import Any

import click
import numpy as np
from dask.utils import format_bytes

from ..api import read
from ..errors import ZarrioError
from ..hierarchy import Group, consolidate
from ..metadata.group import GroupMetadata
from ..tools.advise import OBJECTIVES, advise
from ..tools.info import format_label, info, layout, open_node, walk
from ..tools.verify import verify
from . import (
    allow_pickle_option,
    cli_spelling,
    echo_json,
    json_option,
    main,
    progress_mode,
    scheduler_option,
    storage_options,
    url_argument,
)
from . import scheduler as _scheduler


def _console() -> Any:
    from rich.console import Console

    return Console(soft_wrap=True, width=None if sys.stdout.isatty() else 120)


def _table(title: str | None, columns: list[str], rows: list[list[Any]]) -> None:
    from rich.table import Table

    table = Table(title=title, title_justify="left", box=None, header_style="bold")
    for c in columns:
        table.add_column(c, overflow="fold")
    for r in rows:
        table.add_row(*(str(v) for v in r))
    _console().print(table)


def _size(n: int | None) -> str:
    return "?" if n is None else format_bytes(n)


def _shape(v: list[int] | None) -> str:
    return "-" if v is None else "(" + ", ".join(map(str, v)) + ")"


def _codec_names(codecs: list[dict[str, Any]]) -> str:
    return ", ".join(str(c.get("name") or c.get("id") or c.get("type")) for c in codecs) or "none"


def _array_rows(i: dict[str, Any]) -> list[list[Any]]:
    ratio = "-" if i["compression_ratio"] is None else f"{i['compression_ratio']:g}"
    return [
        ["format", format_label(i["zarr_format"])], ["shape", _shape(i["shape"])], ["dtype", i["dtype"]],
        ["chunks", _shape(i["chunks"])], ["shards", _shape(i["shards"])], ["codecs", _codec_names(i["codecs"])],
        ["fill value", repr(i["fill_value"])], ["dimension names", i["dimension_names"] or "-"],
        ["attributes", ", ".join(sorted(i["attributes"])) or "-"],
        ["size", f"{_size(i['nbytes'])} decoded, {_size(i['stored_bytes'])} stored (ratio {ratio})"],
        ["chunks stored", f"{i['chunks_present']} of {i['chunks_expected']}"
         + (f" (+{i['keys_outside_grid']} outside the grid)" if i["keys_outside_grid"] else "")],
    ]


@main.command("info")
@url_argument
@json_option
@storage_options
def info_command(url: str, as_json: bool, storage_options: dict[str, Any]) -> None:
    """Format, shape, dtype, chunks, codecs, sizes of an array; a summary of a group's arrays.

    From metadata and one listing: no chunk is read.
    """
    doc = info(url, storage_options)
    if as_json:
        echo_json(doc)
        return
    if doc["node_type"] == "array":
        _table(doc["url"], ["", ""], _array_rows(doc))
        return
    head = f"{doc['url']} (group, {format_label(doc['zarr_format'])}{', consolidated' if doc['consolidated'] else ''})"
    rows = [
        [p, _shape(a["shape"]), a["dtype"], _shape(a["chunks"]), _shape(a["shards"]), _size(a["stored_bytes"]),
         "-" if a["compression_ratio"] is None else f"{a['compression_ratio']:g}",
         f"{a['chunks_present']}/{a['chunks_expected']}"]
        for p, a in doc["arrays"].items()
    ]
    _table(head, ["array", "shape", "dtype", "chunks", "shards", "stored", "ratio", "chunks stored"], rows)
    click.echo(f"{len(doc['arrays'])} arrays, {len(doc['groups'])} groups, "
               f"{_size(doc['nbytes'])} decoded, {_size(doc['stored_bytes'])} stored")


def _node_doc(path: str, meta: Any) -> dict[str, Any]:
    if isinstance(meta, GroupMetadata):
        return {"path": path, "node_type": "group", "attributes": sorted(meta.attributes)}
    chunks, shards = layout(meta)
    return {
        "path": path, "node_type": "array", "shape": list(meta.shape), "dtype": str(meta.dtype), "chunks": chunks,
        "shards": shards,
    }


def _nodes(url: str, storage_options: dict[str, Any], depth: int | None) -> tuple[str, list[dict[str, Any]], Any]:
    store, meta = open_node(url, storage_options)
    if not isinstance(meta, GroupMetadata):
        return store.describe(), [], meta
    return store.describe(), [_node_doc(p, m) for p, _, m in walk(Group(store, meta), depth)], meta


@main.command("tree")
@url_argument
@click.option("--depth", type=click.IntRange(min=1), default=None, help="Levels to show (default: all).")
@json_option
@storage_options
def tree_command(url: str, depth: int | None, as_json: bool, storage_options: dict[str, Any]) -> None:
    """The hierarchy: groups, and arrays with shape, dtype and chunks."""
    where, nodes, meta = _nodes(url, storage_options, depth)
    if as_json:
        echo_json({"url": where, "root": _node_doc("", meta), "nodes": nodes})
        return
    click.echo(f"{where} ({'group' if isinstance(meta, GroupMetadata) else 'array'}, {format_label(meta.zarr_format)})")
    open_levels: list[bool] = []  # per ancestor level: whether more siblings follow
    for i, n in enumerate(nodes):
        level = n["path"].count("/")
        later = [m for m in nodes[i + 1:] if m["path"].count("/") <= level]
        last = not later or later[0]["path"].count("/") < level
        del open_levels[level:]
        indent = "".join("│   " if more else "    " for more in open_levels)
        open_levels.append(not last)
        name = n["path"].rsplit("/", 1)[-1]
        note = "(group)"
        if n["node_type"] != "group":
            note = f"{_shape(n['shape'])} {n['dtype']} chunks={_shape(n['chunks'])}"
        if n.get("shards"):
            note += f" shards={_shape(n['shards'])}"
        click.echo(f"{indent}{'└── ' if last else '├── '}{name} {note}")


@main.command("ls")
@url_argument
@json_option
@storage_options
def ls_command(url: str, as_json: bool, storage_options: dict[str, Any]) -> None:
    """The members of a group (or the array itself)."""
    where, nodes, meta = _nodes(url, storage_options, 1)
    if not isinstance(meta, GroupMetadata):
        nodes = [_node_doc("", meta)]
    if as_json:
        echo_json({"url": where, "members": nodes})
        return
    for n in nodes:
        extra = "" if n["node_type"] == "group" else f"  {_shape(n['shape'])} {n['dtype']}"
        click.echo(f"{n['path'] or where}{'/' if n['node_type'] == 'group' else ''}{extra}")


@main.command("du")
@url_argument
@json_option
@storage_options
def du_command(url: str, as_json: bool, storage_options: dict[str, Any]) -> None:
    """Bytes stored per array and in total (from the listing)."""
    doc = info(url, storage_options)
    arrays = doc["arrays"] if doc["node_type"] == "group" else {"/": doc}
    out = {"url": doc["url"], "arrays": {p: a["stored_bytes"] for p, a in arrays.items()}, "total": doc["stored_bytes"]}
    if as_json:
        echo_json(out)
        return
    for p, n in out["arrays"].items():
        click.echo(f"{_size(n):>10}  {p}")
    click.echo(f"{_size(out['total']):>10}  total")


def parse_selection(text: str) -> tuple[Any, ...]:
    """``"0:2, :, 5"`` -> ``(slice(0, 2), slice(None), 5)``; ``...`` allowed.

    Examples
    --------
    >>> parse_selection("0:2, :, 5")
    (slice(0, 2, None), slice(None, None, None), 5)
    """
    out: list[Any] = []
    for part in (p.strip() for p in text.split(",")):
        try:
            if part == "...":
                out.append(Ellipsis)
            elif ":" in part:
                out.append(slice(*(int(v) if v.strip() else None for v in part.split(":"))))
            else:
                out.append(int(part))
        except (TypeError, ValueError) as e:
            raise ZarrioError(
                f"--slice {text!r}: {part!r} is not an index or start:stop[:step]; write e.g. \"0:2, :, 5\""
            ) from e
    return tuple(out)


@main.command("cat")
@url_argument
@click.option("--slice", "selection", default="...", help='A numpy selection, e.g. "0:2, :, 5" (default: all).')
@click.option(
    "--max-items", type=click.IntRange(min=1), default=1000, show_default=True,
    help="Refuse selections with more elements."
)
@click.option("--precision", type=int, default=None, help="numpy print option.")
@click.option("--linewidth", type=int, default=None, help="numpy print option.")
@click.option("--edgeitems", type=int, default=None, help="numpy print option.")
@click.option("--threshold", type=int, default=None, help="numpy print option (elements before summarising).")
@click.option(
    "--suppress/--no-suppress", default=None, help="numpy print option (no scientific notation for small numbers)."
)
@json_option
@allow_pickle_option
@scheduler_option
@storage_options
def cat_command(
    url: str, selection: str, max_items: int, as_json: bool, allow_pickle: bool, scheduler: str | None, quiet: bool,
    storage_options: dict[str, Any], **printopts: Any
) -> None:
    """Print a small selection of an array."""
    arr = read(url, storage_options=storage_options, allow_pickle=allow_pickle)[parse_selection(selection)]
    if arr.size > max_items:
        raise ZarrioError(
            f"--slice {selection!r} selects {arr.size} elements (shape {arr.shape}), "
            f"more than --max-items={max_items}; narrow the slice, or raise --max-items"
        )
    with _scheduler(scheduler) as where:
        data = np.asarray(arr.compute(scheduler=where))
    if as_json:
        echo_json({"shape": list(data.shape), "dtype": str(data.dtype), "data": data.tolist()})
        return
    with np.printoptions(**{k: v for k, v in printopts.items() if v is not None}):
        click.echo(np.array2string(data) if data.ndim else repr(data.item()))



@main.command("verify")
@url_argument
@click.option(
    "--checksum", type=click.Path(dir_okay=False), default=None,
    help="Digest manifest: written if missing, else compared."
)
@json_option
@allow_pickle_option
@scheduler_option
@storage_options
def verify_command(
    url: str, checksum: str | None, as_json: bool, allow_pickle: bool, scheduler: str | None, quiet: bool,
    storage_options: dict[str, Any]
) -> None:
    """Decode every stored chunk; report corrupt chunks and metadata problems.

    Exit status: 0 clean, 1 problems found, 2 could not run.
    """
    with _scheduler(scheduler) as where:
        report = verify(
            url, checksum=checksum, scheduler=where, storage_options=storage_options, progress=progress_mode(quiet),
            allow_pickle=allow_pickle,
        )
    if as_json:
        doc = report.to_dict()
        for problem in doc["problems"]:
            problem["message"] = cli_spelling(problem["message"])
        echo_json(doc)
    else:
        checked = sum(a["chunks_checked"] for a in report.arrays.values())
        for p in report.problems:
            click.echo(f"{p.kind}: {cli_spelling(p.message)}")
        state = "ok" if report.ok else f"{len(report.problems)} problems"
        extra = f", checksum {report.checksum}" if report.checksum else ""
        click.echo(f"{report.url}: {len(report.arrays)} arrays, {checked} stored chunks checked{extra}: {state}")
    sys.exit(0 if report.ok else 1)


@main.command("consolidate")
@url_argument
@storage_options
def consolidate_command(url: str, storage_options: dict[str, Any]) -> None:
    """Write consolidated metadata for the hierarchy below a group."""
    group = consolidate(url, storage_options=storage_options)
    click.echo(f"{group.store.describe()}: consolidated {len(group.metadata.consolidated or {})} members")


@main.command("advise")
@url_argument
@click.option("--sample", type=click.IntRange(min=1), default=8, show_default=True, help="Stored chunks to sample.")
@click.option(
    "--lossy-tolerance", type=float, default=None,
    help="Also try quantize/bitround within this absolute error (floats)."
)
@click.option(
    "--objective", type=click.Choice(OBJECTIVES), default="ratio", show_default=True, help="How to sort the table."
)
@json_option
@storage_options
def advise_command(
    url: str, sample: int, lossy_tolerance: float | None, objective: str, as_json: bool, storage_options: dict[str, Any]
) -> None:
    """Try codec pipelines on a sample of the array's chunks; print the table and a dz copy line."""
    advice = advise(
        url, sample=sample, lossy_tolerance=lossy_tolerance, objective=objective, storage_options=storage_options
    )
    if as_json:
        echo_json(advice.to_dict())
        return
    rows = [
        [r["pipeline"], f"{r['ratio']:g}", f"{r['encode_mb_s']:g}", f"{r['decode_mb_s']:g}", f"{r['max_error']:.3g}"]
        for r in advice.rows
    ]
    title = f"{advice.url}: {len(advice.sampled_chunks)} chunks, {_size(advice.sample_bytes)} sampled, by {objective}"
    _table(title, ["pipeline", "ratio", "encode MB/s", "decode MB/s", "max error"], rows)
    click.echo(f"best: {advice.command}")
