"""The house reads top-down: imports follow the arrows of docs/architecture.md, no cycles.

Parses the package's own source (no import side effects): each module's imports of
other dask_zarrio parts, outside ``if TYPE_CHECKING:`` blocks (annotations only), must
be among the arrows below; the arrows themselves must form no cycle; modules stay
small and ``api.py``'s functions short.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "dask_zarrio"

#: part -> the parts it may import. Leaves (errors, config, buffers, grid, _compat)
#: import nothing of ours but errors/config.
ARROWS: dict[str, set[str]] = {
    "errors": set(),
    "config": set(),
    "_compat": set(),
    "grid": set(),
    "buffers": {"config"},
    "retry": {"errors", "config"},
    "store": {"retry", "errors", "config", "buffers"},
    "codecs": {"errors", "buffers", "grid"},
    "metadata": {"codecs", "grid", "errors", "store"},
    "planner": {"grid", "errors"},
    "worker_memory": {"config"},
    "tasks": {"grid", "metadata", "store", "codecs", "errors", "buffers", "worker_memory"},
    "graph": {"tasks", "planner", "metadata", "store", "errors", "_compat"},
    "consolidated": {"metadata", "store", "errors"},
    "hierarchy": {"consolidated", "graph", "metadata", "modes", "parents", "store", "errors", "typing"},
    "typing": {"codecs", "store"},
    "destination": {"metadata", "planner", "store", "errors", "typing"},
    "resume": {"grid", "metadata", "store"},
    "staging": {"config", "consolidated", "errors", "parents", "metadata", "modes", "store"},
    "modes": {"errors", "metadata", "store"},
    "parents": {"consolidated", "errors", "metadata", "store"},
    "transactions": {"_compat", "destination", "modes", "errors", "graph", "metadata", "planner", "progress", "store", "tasks"},
    "api": {"staging", "modes", "parents", "transactions", "progress", "config", "destination", "resume", "consolidated", "hierarchy", "graph", "planner", "metadata", "store", "errors", "typing"},
    "rechunk_plan": {"errors"},
    "rechunk_target": {"codecs", "destination", "metadata", "errors"},
    "rechunk_tasks": {"codecs", "grid", "metadata", "store", "tasks", "worker_memory"},
    "rechunk_temp": {"codecs", "destination", "errors", "metadata", "rechunk_tasks", "staging", "store", "typing"},
    "rechunk": {"progress", "modes", "_compat", "staging", "destination", "errors", "graph", "metadata", "planner", "rechunk_plan", "rechunk_target", "rechunk_tasks", "rechunk_temp", "resume", "store", "typing"},
    "copying": {"progress", "rechunk", "rechunk_target", "hierarchy", "metadata", "store", "errors", "typing"},
    "xarray_encoding": {"_compat", "errors"},
    "xarray_backend": {"xarray_encoding", "modes", "transactions", "api", "hierarchy", "graph", "metadata", "store", "errors", "_compat", "typing"},
    "demo": {"api"},
    "progress": set(),
    "inspection": {"codecs", "errors", "grid", "hierarchy", "metadata", "store", "typing"},
    "verification": {"inspection", "codecs", "errors", "graph", "grid", "hierarchy", "metadata", "progress", "store", "typing"},
    "advice": {"inspection", "codecs", "errors", "metadata", "store", "typing"},
    "cli": {"inspection", "verification", "advice", "progress", "hierarchy", "api", "errors", "metadata", "store", "planning", "copying", "rechunk"},
    "planning": {"api", "copying", "destination", "errors", "hierarchy", "metadata", "planner", "rechunk", "rechunk_plan", "rechunk_target", "rechunk_temp", "store", "typing"},
    "testing": {"store", "errors", "codecs", "metadata", "grid"},
    "__init__": {"api", "errors", "hierarchy", "xarray_backend", "config", "rechunk", "copying", "inspection", "verification", "advice", "planning"},
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


def test_api_functions_are_orchestration():
    """No function body in api.py over 60 lines (docstrings aside): the work lives elsewhere."""
    tree = ast.parse((PACKAGE / "api.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body[1:] if ast.get_docstring(node) else node.body
            length = body[-1].end_lineno - body[0].lineno + 1  # type: ignore[operator]
            assert length <= 60, f"api.{node.name} has {length} lines of code"
