"""The read-only and checking commands: info, tree, ls, du, cat, verify, consolidate, advise."""

from __future__ import annotations

import sys
from typing import Any

import click
import numpy as np

from ..api import read
from ..errors import ArrayNotFoundError, ZarrioError
from ..hierarchy import Group, consolidate
from ..metadata.group import GroupMetadata
from ..metadata.summary import array_note, group_note
from ..store import open_store
from ..store.backends.icechunk_store import is_icechunk
from ..store.base import redact_url
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
from .browse import attribute_lines, decode_cf_times, plural, shape_text, size_or_unknown, stores_under


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


_size, _shape = size_or_unknown, shape_text


def _shown(url: str, described: str) -> str:
    """Where a command looked, as the user typed it for an Icechunk repository (its store names a
    snapshot id instead), else as the store describes it."""
    return redact_url(url) if is_icechunk(url) else described


def _codec_names(codecs: list[dict[str, Any]]) -> str:
    return ", ".join(str(c.get("name") or c.get("id") or c.get("type")) for c in codecs) or "none"


def _array_rows(i: dict[str, Any]) -> list[list[Any]]:
    ratio = "-" if i["compression_ratio"] is None else f"{i['compression_ratio']:g}"
    return [
        ["format", format_label(i["zarr_format"])], ["shape", _shape(i["shape"])], ["dtype", i["dtype"]],
        ["chunks", _shape(i["chunks"])], ["shards", _shape(i["shards"])], ["codecs", _codec_names(i["codecs"])],
        ["fill value", repr(i["fill_value"])], ["dimension names", i["dimension_names"] or "-"],
        ["attributes", attribute_lines(i["attributes"])],
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
    where = _shown(url, doc["url"])
    if doc["node_type"] == "array":
        _table(where, ["", ""], _array_rows(doc))
        return
    consolidated = ", consolidated" if doc["consolidated"] else ""
    head: str | None = f"{where} (group, {format_label(doc['zarr_format'])}{consolidated})"
    if doc["attributes"]:
        _table(head, ["attributes"], [[attribute_lines(doc["attributes"])]])
        head = None
    rows = [
        [p, _shape(a["shape"]), a["dtype"], _shape(a["chunks"]), _shape(a["shards"]), _size(a["stored_bytes"]),
         "-" if a["compression_ratio"] is None else f"{a['compression_ratio']:g}",
         f"{a['chunks_present']}/{a['chunks_expected']}"]
        for p, a in doc["arrays"].items()
    ]
    _table(head, ["array", "shape", "dtype", "chunks", "shards", "stored", "ratio", "chunks stored"], rows)
    for path, p in doc.get("pyramids", {}).items():
        axes = ", ".join(map(str, p["axes"]))
        _table(f"pyramid {path} ({p['convention']}, axes {axes}, {p['method'] or 'method not given'})",
               ["level", "shape", "scale"],
               [[lv["path"], _shape(lv["shape"]), _shape(lv["scale"])] for lv in p["levels"]])
    click.echo(f"{plural(len(doc['arrays']), 'array')}, {plural(len(doc['groups']), 'group')}, "
               f"{_size(doc['nbytes'])} decoded, {_size(doc['stored_bytes'])} stored")


def _node_doc(path: str, meta: Any) -> dict[str, Any]:
    if isinstance(meta, GroupMetadata):
        return {"path": path, "node_type": "group", "attributes": sorted(meta.attributes)}
    chunks, shards = layout(meta)
    return {
        "path": path, "node_type": "array", "shape": list(meta.shape), "dtype": str(meta.dtype), "chunks": chunks,
        "shards": shards,
    }


def _nodes(url: str, storage_options: dict[str, Any], depth: int | None) -> tuple[str, list[tuple[str, Any]], Any]:
    store, meta = open_node(url, storage_options)
    where = _shown(url, store.describe())
    if not isinstance(meta, GroupMetadata):
        return where, [], meta
    return where, [(p, m) for p, _, m in walk(Group(store, meta), depth)], meta


def _note(meta: Any, shape_of: Any = lambda path: None) -> str:
    """What ``dz.tree`` says of a node, so that Python and the command line say the same."""
    return f"(group){group_note(meta.attributes, shape_of)}" if isinstance(meta, GroupMetadata) else array_note(meta)


def _shapes_below(nodes: list[tuple[str, Any]], path: str) -> Any:
    """The shape of a member of the group at ``path`` by its name (a pyramid's levels)."""
    shapes = {p: getattr(m, "shape", None) for p, m in nodes}
    return lambda name: shapes.get(f"{path}/{name}" if path else name)


@main.command("tree")
@url_argument
@click.option("--depth", type=click.IntRange(min=1), default=None, help="Levels to show (default: all).")
@json_option
@storage_options
def tree_command(url: str, depth: int | None, as_json: bool, storage_options: dict[str, Any]) -> None:
    """The hierarchy: groups, and arrays with shape, dtype, chunks, shards and codecs (as dz.tree)."""
    where, nodes, meta = _nodes(url, storage_options, depth)
    if as_json:
        echo_json({"url": where, "root": _node_doc("", meta), "nodes": [_node_doc(p, m) for p, m in nodes]})
        return
    if not isinstance(meta, GroupMetadata):
        click.echo(f"{where} {array_note(meta)}")
        return
    root_note = group_note(meta.attributes, _shapes_below(nodes, ""))
    click.echo(f"{where} (group, {format_label(meta.zarr_format)}){root_note}")
    open_levels: list[bool] = []  # per ancestor level: whether more siblings follow
    for i, (path, node) in enumerate(nodes):
        level = path.count("/")
        later = [p for p, _ in nodes[i + 1:] if p.count("/") <= level]
        last = not later or later[0].count("/") < level
        del open_levels[level:]
        indent = "".join("│   " if more else "    " for more in open_levels)
        open_levels.append(not last)
        note = _note(node, _shapes_below(nodes, path))
        click.echo(f"{indent}{'└── ' if last else '├── '}{path.rsplit('/', 1)[-1]} {note}")


def _member_lines(where: str, nodes: list[dict[str, Any]]) -> list[str]:
    return [
        f"{n['path'] or where}{'/' if n['node_type'] == 'group' else ''}"
        + ("" if n["node_type"] == "group" else f"  {_shape(n['shape'])} {n['dtype']}")
        for n in nodes
    ]


@main.command("ls")
@url_argument
@click.option(
    "--depth", type=click.IntRange(min=1), default=3, show_default=True,
    help="Under a prefix that is no store itself: how many levels down to look for stores.",
)
@click.option(
    "--max-stores", type=click.IntRange(min=1), default=100, show_default=True,
    help="Under such a prefix: list at most this many stores.",
)
@json_option
@storage_options
def ls_command(url: str, depth: int, max_stores: int, as_json: bool, storage_options: dict[str, Any]) -> None:
    """The members of a group (or the array itself); under a prefix that is neither (a bucket, a
    folder of stores), the Zarr arrays and groups found there."""
    try:
        where, found, meta = _nodes(url, storage_options, 1)
    except ArrayNotFoundError:
        store = open_store(url, storage_options)
        if not store.list_dir():
            raise
        stores, more = stores_under(store, depth, max_stores)
        docs = [{**_node_doc(p, m), "zarr_format": m.zarr_format} for p, m in stores]
        if as_json:
            echo_json({"url": _shown(url, store.describe()), "stores": docs, "truncated": more})
            return
        for line, (_, m) in zip(_member_lines("", docs), stores):
            kind = "group" if isinstance(m, GroupMetadata) else "array"
            click.echo(f"{line}  ({kind}, {format_label(m.zarr_format)})")
        if more:
            click.echo(f"(the first {plural(max_stores, 'store')}; more with --max-stores)")
        return
    nodes = [_node_doc(p, m) for p, m in found] if isinstance(meta, GroupMetadata) else [_node_doc("", meta)]
    if as_json:
        echo_json({"url": where, "members": nodes})
        return
    for line in _member_lines(where, nodes):
        click.echo(line)


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
@click.option("--raw", is_flag=True, help="Stored values as they are: no decoding of CF times.")
@json_option
@allow_pickle_option
@scheduler_option
@storage_options
def cat_command(
    url: str, selection: str, max_items: int, raw: bool, as_json: bool, allow_pickle: bool, scheduler: str | None,
    quiet: bool, storage_options: dict[str, Any], **printopts: Any
) -> None:
    """Print a small selection of an array (times with CF units as dates, unless --raw); of a group, its members."""
    store, meta = open_node(url, storage_options)
    if isinstance(meta, GroupMetadata):
        _print_members(url, store, meta, as_json)
        return
    arr = read(store, allow_pickle=allow_pickle)[parse_selection(selection)]
    if arr.size > max_items:
        raise ZarrioError(
            f"--slice {selection!r} selects {arr.size} elements (shape {arr.shape}), "
            f"more than --max-items={max_items}; narrow the slice, or raise --max-items"
        )
    with _scheduler(scheduler) as where:
        data = np.asarray(arr.compute(scheduler=where))
    times = None if raw else decode_cf_times(data, meta.attributes)
    data = data if times is None else times
    # Dates as ISO text to the unit they need ("2000-01-01", not nanoseconds); cftime dates as they print.
    shown = np.datetime_as_string(data, unit="auto") if data.dtype.kind == "M" else data
    if times is not None and data.dtype.kind == "O":
        shown = np.vectorize(str, otypes=[object])(data)
    if as_json:
        values = shown.tolist()
        echo_json({"shape": list(data.shape), "dtype": str(data.dtype), "data": values})
        return
    with np.printoptions(**{k: v for k, v in printopts.items() if v is not None}):
        if times is not None:
            click.echo(np.array2string(shown, formatter={"all": str}) if data.ndim else str(shown.item()))
        else:
            click.echo(np.array2string(data) if data.ndim else repr(data.item()))


def _print_members(url: str, store: Any, meta: GroupMetadata, as_json: bool) -> None:
    """``dz cat`` of a group: what is in it, and how to print one of its arrays."""
    where = _shown(url, store.describe())
    nodes = [_node_doc(p, m) for p, _, m in walk(Group(store, meta), 1)]
    if as_json:
        echo_json({"url": where, "members": nodes})
        return
    click.echo(f"{where} is a group ({plural(len(nodes), 'member')}); dz cat URL/<name> prints an array:")
    for line in _member_lines(where, nodes):
        click.echo(f"  {line}")



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
        state = "ok" if report.ok else plural(len(report.problems), "problem")
        extra = f", checksum {report.checksum}" if report.checksum else ""
        click.echo(f"{_shown(url, report.url)}: {plural(len(report.arrays), 'array')}, "
                   f"{plural(checked, 'stored chunk')} checked{extra}: {state}")
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
