"""Rich HTML displays for Jupyter: a group, ``dz.info``'s result, a ``dz.plan`` and a ``dz.verify`` report.

Every ``_repr_html_`` of the package delegates here, so the look is one: a header line,
then collapsible sections (``<details>``) holding tables, in the spirit of xarray's and
dask's reprs. Everything shown that came from a store (member names, attribute names and
values, URLs, error messages) is passed through :func:`html.escape`: store names come
from strangers, and a name such as ``<script>`` must show as text, never run.

Reprs must stay cheap: a group's hierarchy is walked from its metadata (consolidated, or
one document per member, as ``dz.tree`` reads it) and stops after :data:`MAX_NODES` nodes.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Sequence
from typing import Any

from .codecs.sharding import ShardingCodec
from .layout.requests import size_text
from .metadata import ArrayMetadataN5, ArrayMetadataV3
from .metadata.group import GroupMetadata
from .metadata.spec import ArrayMetadata

__all__ = ["MAX_NODES", "InfoView", "group_html", "info_html", "plan_html", "verify_html"]

#: The most hierarchy nodes (or problems) one display lists; the rest is counted, not shown.
MAX_NODES = 200
#: Longest attribute value shown (its JSON text, cut with an ellipsis).
MAX_VALUE_CHARS = 200

_STYLE = """<style>
.dz-repr {font-family: var(--jp-code-font-family, monospace); font-size: 12px; line-height: 1.4}
.dz-repr .dz-head {font-weight: bold; margin-bottom: 4px}
.dz-repr .dz-dim {color: var(--jp-content-font-color2, #666); font-weight: normal}
.dz-repr details {margin-left: 10px}
.dz-repr summary {cursor: pointer}
.dz-repr table {border-collapse: collapse; margin: 2px 0 6px 10px}
.dz-repr th, .dz-repr td {padding: 1px 8px; text-align: left; vertical-align: top; border: none}
.dz-repr th {border-bottom: 1px solid var(--jp-border-color2, #ccc)}
.dz-repr .dz-ok {color: #1a7f37} .dz-repr .dz-bad {color: #cf222e}
</style>"""


def esc(value: object) -> str:
    """``value`` as HTML text: every ``<``, ``>``, ``&`` and quote escaped.

    Examples
    --------
    >>> esc("<script>alert('x')</script>")
    '&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;'
    """
    return html.escape(str(value), quote=True)


def _value(value: object) -> str:
    """An attribute value as short text: JSON where it is JSON, cut at :data:`MAX_VALUE_CHARS`."""
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):  # NaN keys, cycles: fall back to repr
        text = repr(value)
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"


def _shape(shape: Iterable[int] | None) -> str:
    return "—" if shape is None else str(tuple(int(n) for n in shape))  # as Python, dz.tree and dask print it


def _size(n: int | None) -> str:
    return "—" if n is None else size_text(int(n))


def _table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A table; every cell is escaped here (pass text, never markup)."""
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _fields(pairs: Iterable[tuple[str, object]]) -> str:
    body = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in pairs)
    return f"<table><tbody>{body}</tbody></table>"


def _section(title: str, count: int | None, body: str, *, open: bool = False) -> str:
    """A collapsible section; ``title`` is escaped, ``body`` is markup built here."""
    label = esc(title) + ("" if count is None else f" <span class='dz-dim'>({count})</span>")
    return f"<details{' open' if open else ''}><summary>{label}</summary>{body}</details>"


def _page(kind: str, head: str, sections: Iterable[str]) -> str:
    """The whole display: ``kind`` in bold, ``head`` (escaped) beside it, the sections below."""
    return (f"{_STYLE}<div class='dz-repr'><div class='dz-head'>{esc(kind)} "
            f"<span class='dz-dim'>{esc(head)}</span></div>{''.join(sections)}</div>")


def _attributes(attrs: dict[str, Any]) -> str:
    rows = [(k, _value(v)) for k, v in sorted(attrs.items(), key=lambda kv: str(kv[0]))]
    return _section("Attributes", len(rows), _fields(rows) if rows else "", open=0 < len(rows) <= 10)


# -- groups ------------------------------------------------------------------------------------
def codec_names(meta: ArrayMetadata) -> str:
    """The array's codecs by name, outermost last (metadata only: nothing is built or unpickled)."""
    if isinstance(meta, ArrayMetadataV3):
        return ", ".join(str(c.to_dict().get("name")) for c in meta.codecs)
    if isinstance(meta, ArrayMetadataN5):
        return f"n5 {meta.compression.get('type')}"
    parts = [f.codec_id for f in meta.filters or ()]
    parts += [meta.compressor.codec_id] if meta.compressor is not None else []
    return ", ".join(parts) or "none"


def array_row(name: str, meta: ArrayMetadata) -> tuple[str, ...]:
    """One table row of an array: name, shape, dtype, chunks, shards, codecs (``dz info``'s words)."""
    shards: tuple[int, ...] | None = None
    chunks = tuple(meta.chunk_shape)
    if isinstance(meta, ArrayMetadataV3) and meta.codecs and isinstance(meta.codecs[0], ShardingCodec):
        chunks, shards = tuple(meta.codecs[0].chunk_shape), tuple(meta.chunk_shape)
    return (name, _shape(meta.shape), str(meta.dtype), _shape(chunks), _shape(shards), codec_names(meta))


_ARRAY_HEADER = ("name", "shape", "dtype", "chunks", "shards", "codecs")


def _members(group: Any, names: list[str], budget: list[int]) -> str:
    """A group's arrays as a table and its groups as nested sections, while ``budget`` lasts."""
    arrays: list[tuple[str, ...]] = []
    groups: list[str] = []
    for name in names:
        if budget[0] <= 0:
            arrays.append((f"… {len(names) - names.index(name)} more members not shown", "", "", "", "", ""))
            break
        budget[0] -= 1
        store, meta = group.node(name)
        if isinstance(meta, GroupMetadata):
            sub = type(group)(store, meta, allow_pickle=group.allow_pickle)
            below = list(sub.members())
            inner = _attributes(meta.attributes) + _members(sub, below, budget)
            groups.append(_section(f"{name}/", len(below), inner))
        else:
            arrays.append(array_row(name, meta))
    return (_table(_ARRAY_HEADER, arrays) if arrays else "") + "".join(groups)


def group_html(group: Any) -> str:
    """The HTML display of a :class:`~dask_zarrio.Group`: its place, format, attributes, and the
    hierarchy below (arrays as table rows, groups as nested sections).

    Examples
    --------
    >>> import dask.array as da, dask_zarrio as dz
    >>> g = dz.create_group("memory://doc/html.zarr", attributes={"<b>": "<i>"}, mode="w")
    >>> dz.write(da.ones(4, chunks=2), "memory://doc/html.zarr/t")
    >>> text = group_html(g)
    >>> "&lt;b&gt;" in text and "<b>" not in text, "<td>t</td>" in text
    (True, True)
    """
    meta = group.metadata
    label = "N5" if meta.zarr_format == "n5" else f"v{meta.zarr_format}"
    cons = ", consolidated" if meta.consolidated is not None else ""
    names = list(group.members())
    return _page("dask_zarrio.Group", f"{group.store.describe()} ({label}{cons})", [
        _attributes(meta.attributes),
        _section("Members", len(names), _members(group, names, [MAX_NODES]), open=True),
    ])


# -- dz.info -----------------------------------------------------------------------------------
class InfoView(dict):  # type: ignore[type-arg]
    """What :func:`dask_zarrio.info` returns: the JSON-serialisable dictionary, shown as a
    table in Jupyter (:func:`info_html`)."""

    def _repr_html_(self) -> str:
        return info_html(self)


def _ratio(doc: dict[str, Any]) -> str:
    ratio = doc.get("compression_ratio")
    return "—" if ratio is None else f"{ratio:.2f}×"


def _codec_list(codecs: list[dict[str, Any]] | None) -> str:
    return ", ".join(str(c.get("name", c.get("id", c.get("type", "?")))) for c in codecs or ()) or "none"


def _array_fields(doc: dict[str, Any]) -> list[tuple[str, object]]:
    return [
        ("shape", _shape(doc.get("shape"))), ("dtype", doc.get("dtype")), ("chunks", _shape(doc.get("chunks"))),
        ("shards", _shape(doc.get("shards"))), ("codecs", _codec_list(doc.get("codecs"))),
        ("fill value", _value(doc.get("fill_value"))),
        ("dimension names", _value(doc.get("dimension_names"))),
        ("size", f"{_size(doc.get('nbytes'))} decoded, {_size(doc.get('stored_bytes'))} stored"),
        ("compression ratio", _ratio(doc)),
        ("chunks present", f"{doc.get('chunks_present')} of {doc.get('chunks_expected')}"
         + (f", {doc['keys_outside_grid']} outside the grid" if doc.get("keys_outside_grid") else "")),
    ]


def info_html(doc: dict[str, Any]) -> str:
    """The HTML display of :func:`dask_zarrio.info`'s dictionary (an array's or a group's).

    Examples
    --------
    >>> import dask.array as da, dask_zarrio as dz
    >>> dz.write(da.ones(4, chunks=2), "memory://doc/infohtml.zarr", mode="w")
    >>> "<td>(4,)</td>" in info_html(dz.info("memory://doc/infohtml.zarr"))
    True
    """
    label = "N5" if doc.get("zarr_format") == "n5" else f"v{doc.get('zarr_format')}"
    head = f"{doc.get('url')} ({label})"
    if doc.get("node_type") == "array":
        return _page("dz.info: array", head, [_section("Array", None, _fields(_array_fields(doc)), open=True),
                                              _attributes(doc.get("attributes") or {})])
    arrays = doc.get("arrays") or {}
    rows = [
        (path, _shape(a.get("shape")), a.get("dtype"), _shape(a.get("chunks")), _shape(a.get("shards")),
         _size(a.get("stored_bytes")), _ratio(a), f"{a.get('chunks_present')}/{a.get('chunks_expected')}")
        for path, a in list(arrays.items())[:MAX_NODES]
    ]
    if len(arrays) > MAX_NODES:
        rows.append((f"… {len(arrays) - MAX_NODES} more arrays not shown", "", "", "", "", "", "", ""))
    summary = [("consolidated", "yes" if doc.get("consolidated") else "no"),
               ("size", f"{_size(doc.get('nbytes'))} decoded, {_size(doc.get('stored_bytes'))} stored"),
               ("groups", len(doc.get("groups") or ())), ("arrays", len(arrays))]
    header = ("path", "shape", "dtype", "chunks", "shards", "stored", "ratio", "chunks present")
    return _page("dz.info: group", head, [
        _section("Summary", None, _fields(summary), open=True),
        _attributes(doc.get("attributes") or {}),
        _section("Arrays", len(arrays), _table(header, rows), open=True),
        _section("Groups", len(doc.get("groups") or ()), _table(("path",), [(g,) for g in doc.get("groups") or ()])),
    ])


# -- dz.plan -----------------------------------------------------------------------------------
_PASS_HEADER = ("pass", "kind", "source chunks", "written as", "into", "tasks", "block", "read", "write",
                "peak per task")


def _pass_rows(passes: Sequence[Any]) -> list[tuple[object, ...]]:
    rows: list[tuple[object, ...]] = []
    for i, p in enumerate(passes):
        block = tuple(b if isinstance(b, int) else max(b, default=0) for b in p.block)
        rows.append((i + 1, p.kind, _shape(p.source), _shape(p.unit), p.into, p.tasks, _shape(block),
                     _size(p.bytes_read), _size(p.bytes_written), _size(p.task_memory)))
    return rows


def plan_html(plan: Any) -> str:
    """The HTML display of a :class:`~dask_zarrio.Plan`: totals first, then each array's passes.

    Examples
    --------
    >>> import dask.array as da, dask_zarrio as dz
    >>> p = dz.plan("write", da.ones(4, chunks=2), "memory://doc/planhtml.zarr", threads=1)
    >>> "request cost" in plan_html(p)
    True
    """
    r, c = plan.requests, plan.cost
    totals = [
        ("arrays, groups", f"{len(plan.arrays)}, {plan.groups}"), ("passes, tasks", f"{plan.passes}, {plan.tasks}"),
        ("requests", f"GET {r['get']}, PUT {r['put']}, LIST {r['list']}"),
        ("bytes (decoded)", f"read {_size(plan.bytes_read)}, write {_size(plan.bytes_written)}"),
        ("peak memory", f"{_size(plan.peak_task_memory)} per task, {_size(plan.peak_worker_memory)} per worker "
                        f"of {plan.threads} threads"),
        ("request cost", f"${c['total']:.6f} (GET ${c['get']:.6f}, PUT ${c['put']:.6f}, LIST ${c['list']:.6f})"),
    ]
    arrays = []
    for a in plan.arrays[:MAX_NODES]:
        through = f" through {a.temp}" if a.temp else ""
        title = f"{a.path or '/'}: {len(a.passes)} pass{'es' if len(a.passes) > 1 else ''}{through}"
        arrays.append(_section(title, None, _table(_PASS_HEADER, _pass_rows(a.passes)), open=len(plan.arrays) == 1))
    return _page(f"dz.plan: {plan.operation}", f"{plan.source} → {plan.target}", [
        _section("Totals", None, _fields(totals), open=True),
        _section("Arrays", len(plan.arrays), "".join(arrays), open=True),
    ])


# -- dz.verify ---------------------------------------------------------------------------------
def verify_html(report: Any) -> str:
    """The HTML display of a :class:`~dask_zarrio.tools.verify.VerifyReport`: the verdict, the
    arrays checked and every problem (kind, array, key, message).

    Examples
    --------
    >>> import dask.array as da, dask_zarrio as dz
    >>> dz.write(da.ones(4, chunks=2), "memory://doc/verifyhtml.zarr", mode="w")
    >>> "dz-ok" in verify_html(dz.verify("memory://doc/verifyhtml.zarr"))
    True
    """
    n = len(report.problems)
    verdict = ("<span class='dz-ok'>OK: no problem found</span>" if report.ok
               else f"<span class='dz-bad'>{n} problem{'s' if n != 1 else ''}</span>")
    if report.checksum is not None:
        verdict += f" <span class='dz-dim'>checksum {esc(report.checksum)}</span>"
    arrays = [(path, a.get("chunks_checked"), "—" if a.get("chunks_expected") is None else a["chunks_expected"])
              for path, a in list(report.arrays.items())[:MAX_NODES]]
    problems = [(p.kind, p.path, "—" if p.key is None else p.key, p.message) for p in report.problems[:MAX_NODES]]
    if n > MAX_NODES:
        problems.append(("…", "", "", f"{n - MAX_NODES} more problems not shown"))
    return _page("dz.verify", report.url, [
        f"<div>{verdict}</div>",
        _section("Arrays", len(report.arrays), _table(("path", "chunks checked", "chunks expected"), arrays)),
        _section("Problems", n, _table(("kind", "array", "key", "message"), problems), open=bool(n)),
    ])
