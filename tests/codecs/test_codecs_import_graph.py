"""dask_zarrio.codecs sits at the bottom of the package: no upward import, no import cycle.

codecs may import only the leaves :mod:`dask_zarrio.errors`, :mod:`dask_zarrio.memory.buffers` (and so
:mod:`dask_zarrio.config`, where buffers reads its pool size) and :mod:`dask_zarrio.layout.grid` (region
maths) of dask_zarrio; its own modules import each other without a cycle, at module level
(an import inside a function is how a cycle used to be papered over).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import dask_zarrio

PACKAGE = Path(dask_zarrio.__file__).parent
CODECS = PACKAGE / "codecs"
# The packages around buffers and grid load with them; their __init__ holds only a docstring.
ALLOWED_OUTSIDE = {"dask_zarrio.errors", "dask_zarrio.memory", "dask_zarrio.memory.buffers", "dask_zarrio.config",
                   "dask_zarrio.layout", "dask_zarrio.layout.grid"}


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(imported dask_zarrio module, at module level?) for every import in ``path``."""
    tree = ast.parse(path.read_text())
    top = {id(node) for node in tree.body}
    package = f"dask_zarrio.codecs.{path.stem}".rsplit(".", 1)[0] if path.stem != "__init__" else "dask_zarrio.codecs"
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            names = [module] if node.module else [f"{module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        found += [(n, id(node) in top) for n in names if n == "dask_zarrio" or n.startswith("dask_zarrio.")]
    return found


def test_codecs_import_only_errors_and_buffers_of_dask_zarrio():
    outside = {
        (path.name, module)
        for path in CODECS.glob("*.py")
        for module, _ in _imports(path)
        if not module.startswith("dask_zarrio.codecs") and module not in ALLOWED_OUTSIDE
    }
    assert not outside


def test_no_import_inside_functions():
    late = {(path.name, module) for path in CODECS.glob("*.py") for module, at_top in _imports(path) if not at_top}
    assert not late


def test_codec_modules_import_each_other_without_a_cycle():
    graph = {
        f"dask_zarrio.codecs.{path.stem}": {
            m for m, _ in _imports(path) if m.startswith("dask_zarrio.codecs.")
        }
        for path in CODECS.glob("*.py") if path.stem != "__init__"
    }
    try:
        order = list(TopologicalSorter(graph).static_order())
    except CycleError as e:
        raise AssertionError(f"import cycle: {e.args[1]}") from e
    assert "dask_zarrio.codecs.base" in order


_PROBE = """
import importlib, json, pkgutil, sys, types

# A stand-in for the top-level package: its __init__ imports the whole library.
stub = types.ModuleType("dask_zarrio")
stub.__path__ = [sys.argv[1]]
sys.modules["dask_zarrio"] = stub

import dask_zarrio.codecs as codecs
from dask_zarrio.codecs.registry import KNOWN_CODECS

for info in pkgutil.iter_modules(codecs.__path__):
    importlib.import_module(f"dask_zarrio.codecs.{info.name}")
for name in KNOWN_CODECS:
    codecs.registry.codec_class(name)
codecs.codec_from_json({"name": "numcodecs.zlib", "configuration": {"level": 1}})
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] == "dask_zarrio")))
"""


def test_importing_every_codec_imports_nothing_above_codecs():
    """In a fresh interpreter: everything under codecs, used, loads no other part of dask_zarrio."""
    out = subprocess.run([sys.executable, "-c", _PROBE, str(PACKAGE)], capture_output=True, text=True, check=True)
    loaded = set(json.loads(out.stdout))
    above = {m for m in loaded if m != "dask_zarrio" and not m.startswith("dask_zarrio.codecs")} - ALLOWED_OUTSIDE
    assert not above
    assert {"dask_zarrio.codecs.sharding", "dask_zarrio.codecs.conversions"} <= loaded
