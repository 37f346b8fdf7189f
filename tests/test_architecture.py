"""The house reads top-down: imports follow the arrows below, no cycles, and docs/architecture.md shows them.

Parses the package's own source (no import side effects): each module's imports of
other dask_zarrio parts, outside ``if TYPE_CHECKING:`` blocks (annotations only), must
be among the arrows below; the arrows themselves must form no cycle; modules stay
small and functions short.

The rules here are the single source of the architecture doc's table of parts: its
rows (part, responsibility, imports) are rendered from :data:`RESPONSIBILITIES` and
:data:`ARROWS`, and a test fails when the doc differs. After changing either, run::

    python tests/test_architecture.py --write
"""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "dask_zarrio"
DOC = PACKAGE.parent / "docs" / "architecture.md"
#: The comments around the generated table in :data:`DOC`.
TABLE_BEGIN, TABLE_END = "<!-- arrows:begin -->", "<!-- arrows:end -->"
#: The most lines a function body may have (its docstring aside).
MAX_FUNCTION_LINES = 60

#: part (a top-level module or subpackage) -> the parts it may import. Leaves (errors, config,
#: _compat) import nothing of ours; layout and memory import only errors/config.
ARROWS: dict[str, set[str]] = {
    "errors": set(),
    "config": set(),
    "_compat": set(),
    "layout": {"errors"},
    "memory": {"config"},
    "store": {"errors", "config", "memory"},
    "codecs": {"errors", "memory", "layout"},
    "metadata": {"codecs", "layout", "errors", "store"},
    "typing": {"codecs", "store"},
    "graph": {"_compat", "errors", "layout", "memory", "metadata", "store"},
    "writing": {"_compat", "config", "errors", "graph", "layout", "metadata", "store", "typing"},
    "display": {"codecs", "layout", "metadata"},
    "hierarchy": {"display", "errors", "graph", "metadata", "store", "typing", "writing"},
    "api": {"errors", "graph", "layout", "metadata", "store", "typing", "writing"},
    "rechunking": {"_compat", "codecs", "errors", "graph", "hierarchy", "layout", "memory", "metadata", "store",
                   "typing", "writing"},
    "loading": {"api", "graph", "metadata", "typing"},
    "xarray": {"_compat", "api", "codecs", "errors", "graph", "hierarchy", "metadata", "store", "typing",
               "writing"},
    "tools": {"api", "codecs", "display", "errors", "graph", "hierarchy", "layout", "metadata", "pyramid",
              "rechunking", "store", "typing", "writing"},
    "pyramid": {"api", "errors", "graph", "hierarchy", "layout", "memory", "metadata", "store", "writing"},
    "cli": {"api", "errors", "hierarchy", "metadata", "pyramid", "rechunking", "store", "tools"},
    "demo": {"api"},
    "testing": {"store", "errors", "codecs", "metadata", "layout"},
    "__init__": {"api", "config", "errors", "hierarchy", "loading", "pyramid", "rechunking", "tools", "xarray"},
}

#: part -> what it is responsible for, one line each, in the order the doc's table reads: top-down,
#: so that every part imports only parts listed after it.
RESPONSIBILITIES: dict[str, str] = {
    "__init__": "the public names (`dz.read`, `dz.write`, `dz.write_dataset`, `dz.rechunk`, `dz.copy`, `dz.info`, "
                "`dz.plan`, `dz.open_group`, the error classes ...), re-exported from the parts below",
    "cli": "the `dz` command (click, rich): one thin command per library function, shared options, one-line "
           "errors; `commands.py` looks and checks, `moving.py` copies, rechunks and plans",
    "demo": "`python -m dask_zarrio.demo`: write a few hundred MB array to a local store and read it back",
    "testing": "what users and store authors reuse in their tests: `CountingStore`, the store contract "
               "(`StoreTests`), hypothesis strategies",
    "tools": "the inspecting verbs, a module each: `dz.info` (and the walks behind tree/ls/du), `dz.verify`, "
             "`dz.advise`, `dz.plan` (the job copy, rechunk or write builds with `compute=False`, built on a dry "
             "run and asked for its requests; its report in `plan_report.py`), `RequestCounter` (`requests.py`: "
             "the requests reads make, as they run)",
    "pyramid": "multiscale pyramids in one pass: `dz.write_pyramid` (`write.py`), `dz.read_pyramid` and what "
               "info/verify say of one (`read.py`); the plan of levels and stages (`levels.py`, pure), the block "
               "reductions (`reduce.py`), the OME-Zarr 0.4/0.5 and `multiscales` documents (`conventions.py`), the "
               "stage layers (`graph.py`), region updates (`region.py`), xarray inputs (`dataset.py`)",
    "xarray": "the `engine=\"dask_zarrio\"` backend (`backend.py`), `dz.write_dataset` (`writer.py`; into Icechunk "
              "as one commit) and what it stores per variable, as `to_zarr` does (`encoding.py`)",
    "loading": "`dz.load`: an array or an orthogonal selection of it into one numpy array, each chunk decoded "
               "straight into its place on threads (the loop in `graph/loading.py`)",
    "rechunking": "store to store: `dz.rechunk` in one or two passes under `max_mem` (`rechunk.py`), `dz.copy` of "
                  "arrays and groups (`copy.py`), the target's layout (`target.py`), the intermediate array "
                  "(`temp.py`), the worker tasks (`tasks.py`)",
    "api": "`read`, `write`, `init`: orchestration only, through one write target (open → prepare → plan → "
           "begin → data tasks → commit)",
    "hierarchy": "groups: members, attributes, trees; creating groups and consolidating their metadata; "
                 "`Group.to_xarray` and `dz.open_dataset`",
    "display": "the rich HTML displays in Jupyter (`_repr_html_` of a group, `dz.info`, `dz.plan`, `dz.verify`), "
               "every value from a store escaped",
    "writing": "the one write lifecycle (`target.py`: a plain store's `PlainTarget`, an Icechunk transaction's "
               "`IcechunkTarget`): where a node goes (`destination.py`), mode checks, parent groups, staging and "
               "the journal (`staging.py`), resume, consolidated metadata kept true, Icechunk transactions "
               "(`transactions.py`), the dry run `dz.plan` builds jobs on (`dry_run.py`: stores that count every "
               "request and keep writes in memory)",
    "graph": "the dask graphs of reads and writes, O(1) to build (`builder.py`; `block_layer` is the one "
             "builder of write layers), what runs on workers: the one decode, encode and read loop of a chunk by "
             "its grid index (`tasks.py`), loads into one numpy array on threads (`loading.py`; selections in "
             "`selection.py`), progress bars (`progress.py`)",
    "typing": "the public type aliases of what users pass: stores, chunks, regions, codecs",
    "metadata": "every metadata document (v2, v3, N5, groups, the write journal), read in one step (`node.py`: a "
                "v2 array with its `.zattrs`) and written (`writer.py`), parsed into one `ArraySpec`; a new array's "
                "metadata from `create_array` style arguments (`create.py`, checked in `arguments.py`: the "
                "caller's mistakes are `ZarrioError`, a stored document's `MetadataError`)",
    "codecs": "codec classes by what goes in and out (`base.py`), the chunk pipelines, sharding with partial "
              "reads, the lazy registry, conversions between numcodecs, Zarr v3 and N5 names",
    "store": "key/value access: the `Store` contract (`base.py`), one store per module in `backends/`, what they "
             "share in `support/` (retries, failure translation, local files, S3 requests, ranged reads); "
             "`open_store` picks one for a URL",
    "memory": "memory of the host process: the read-buffer pool (`buffers.py`), the allocator scope in "
              "`dask.distributed` workers behind `dask_zarrio.worker-memory` (`allocator.py`)",
    "layout": "pure layout maths on tuples, no I/O: the chunk grid and chunk keys (`grid.py`), the write plan "
              "(`write_plan.py`), the rechunk plan (`rechunk_plan.py`, aligned to rectilinear grids in `align.py`), "
              "the requests a pass's tasks make (`requests.py`)",
    "_compat": "private symbols of other packages, imported in one place (`tests/test_compat.py` checks them)",
    "config": "every `dask_zarrio.*` setting, read when it is needed",
    "errors": "the exception classes: every one a `ZarrioError`, itself a `ValueError`; `redact_url`",
}


def _part(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _internal_imports(path: Path) -> set[str]:
    """Top-level parts of dask_zarrio that ``path`` imports (annotation-only imports excepted)."""
    tree = ast.parse(path.read_text())
    rel = path.relative_to(PACKAGE)
    depth = len(rel.parts) - 1  # how far below the package root this module sits
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return
        if isinstance(node, ast.ImportFrom):
            if node.level:  # relative: climb to the package root, then take the first name
                if node.level - 1 < depth:
                    return  # within the same subpackage
                if node.module:
                    found.add(node.module.split(".")[0])
                else:  # ``from . import x``: a submodule, or a name of the package's __init__
                    for alias in node.names:
                        sub = PACKAGE / alias.name
                        found.add(alias.name if sub.is_dir() or sub.with_suffix(".py").exists() else "__init__")
            elif node.module and node.module.startswith("dask_zarrio."):
                found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("dask_zarrio."):
                    found.add(alias.name.split(".")[1])
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    found.discard(_part(path))
    return found


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_follow_the_arrows(path):
    part = _part(path)
    assert part in ARROWS, (
        f"{part!r} is a new part of the package: add its arrows and responsibility here, "
        "then run python tests/test_architecture.py --write"
    )
    extra = _internal_imports(path) - ARROWS[part]
    assert not extra, f"{path.relative_to(PACKAGE)} imports {sorted(extra)}, which {part!r} must not depend on"


def test_the_arrows_have_no_cycle():
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        if state.get(node) == 1:
            raise AssertionError(f"import cycle: {' -> '.join([*trail, node])}")
        if state.get(node) == 2:
            return
        state[node] = 1
        for nxt in ARROWS[node]:
            visit(nxt, [*trail, node])
        state[node] = 2

    for node in ARROWS:
        visit(node, [])


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_modules_stay_small(path):
    assert len(path.read_text().splitlines()) <= 420, f"{path.relative_to(PACKAGE)}: split it by responsibility"


def _long_functions(path: Path) -> list[str]:
    """The functions of ``path`` whose body, docstring aside, has more than MAX_FUNCTION_LINES lines."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body[1:] if ast.get_docstring(node) else node.body
            if not body:  # a docstring alone
                continue
            length = body[-1].end_lineno - body[0].lineno + 1  # type: ignore[operator]
            if length > MAX_FUNCTION_LINES:
                found.append(f"{node.name} ({length} lines)")
    return found


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_functions_stay_short(path):
    """No function body over 60 lines (docstrings aside): a longer one holds more than one responsibility."""
    long = _long_functions(path)
    assert not long, f"{path.relative_to(PACKAGE)}: {', '.join(long)}: split by what each part does"


def _label(part: str) -> str:
    """A part as the doc names it: a subpackage with a trailing slash."""
    return f"`{part}/`" if (PACKAGE / part).is_dir() else f"`{part}`"


def render_table() -> str:
    """The doc's table of parts, top-down: what each is responsible for and which parts it imports."""
    rows = ["| part | responsibility | imports |", "|---|---|---|"]
    for part, duty in RESPONSIBILITIES.items():
        imports = ", ".join(_label(p) for p in sorted(ARROWS[part])) or "—"
        rows.append(f"| {_label(part)} | {duty} | {imports} |")
    return "\n".join(rows)


def _table_span(text: str) -> tuple[int, int]:
    """Where the generated table sits in the doc's ``text``: between the marker comments."""
    begin, end = text.find(TABLE_BEGIN), text.find(TABLE_END)
    assert 0 <= begin < end, f"{DOC} needs {TABLE_BEGIN} and {TABLE_END} around its table of parts"
    return begin + len(TABLE_BEGIN), end


def write_doc() -> None:
    """Put the rendered table between the markers of docs/architecture.md."""
    text = DOC.read_text()
    begin, end = _table_span(text)
    DOC.write_text(f"{text[:begin]}\n{render_table()}\n{text[end:]}")


def test_every_part_has_arrows_and_a_responsibility():
    assert set(RESPONSIBILITIES) == set(ARROWS)
    missing = [p for p in ARROWS if not (PACKAGE / p).is_dir() and not (PACKAGE / f"{p}.py").exists()]
    assert not missing, f"parts without a module or subpackage: {missing}"


def test_the_table_reads_top_down():
    """Every part imports only parts listed after it: nothing lower imports anything higher."""
    order = list(RESPONSIBILITIES)
    for i, part in enumerate(order):
        higher = ARROWS[part] & set(order[:i])
        assert not higher, f"{part!r} imports {sorted(higher)}, listed above it: reorder RESPONSIBILITIES"


def test_the_architecture_doc_shows_these_rules():
    text = DOC.read_text()
    begin, end = _table_span(text)
    assert text[begin:end].strip("\n") == render_table(), (
        f"{DOC.name}'s table of parts differs from ARROWS and RESPONSIBILITIES: "
        "run python tests/test_architecture.py --write"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Render docs/architecture.md's table of parts from the rules here.")
    parser.add_argument("--write", action="store_true", help="write it into the doc (default: print it)")
    if parser.parse_args().write:
        write_doc()
        print(f"wrote the table of parts into {DOC}")
    else:
        print(render_table())
