"""The house reads top-down: imports follow the arrows of docs/architecture.md, no cycles.

Parses the package's own source (no import side effects): each module's imports of
other dask_zarrio parts, outside ``if TYPE_CHECKING:`` blocks (annotations only), must
be among the arrows below; the arrows themselves must form no cycle; modules stay
small and functions short.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "dask_zarrio"
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
    "hierarchy": {"errors", "graph", "metadata", "store", "typing", "writing"},
    "api": {"errors", "graph", "layout", "metadata", "store", "typing", "writing"},
    "rechunking": {"_compat", "codecs", "errors", "graph", "hierarchy", "layout", "memory", "metadata", "store",
                   "typing", "writing"},
    "xarray": {"_compat", "api", "errors", "graph", "hierarchy", "metadata", "store", "typing", "writing"},
    "tools": {"api", "codecs", "errors", "graph", "hierarchy", "layout", "metadata", "rechunking", "store", "typing",
              "writing"},
    "cli": {"api", "errors", "hierarchy", "metadata", "rechunking", "store", "tools"},
    "demo": {"api"},
    "testing": {"store", "errors", "codecs", "metadata", "layout"},
    "__init__": {"api", "config", "errors", "hierarchy", "rechunking", "tools", "xarray"},
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
    assert part in ARROWS, f"{part!r} is a new part of the package: add its arrows here and to docs/architecture.md"
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
