"""The documentation site builds with warnings as errors, and its code examples run."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"


def page_order() -> list[Path]:
    """The pages as a reader meets them: ``index.md``, then its toctree's order."""
    toctree = re.search(r"```\{toctree\}\n(.*?)```", (DOCS / "index.md").read_text(), re.S).group(1)
    names = [line.strip() for line in toctree.splitlines() if line.strip() and not line.startswith(":")]
    return [DOCS / "index.md", *(DOCS / f"{name}.md" for name in names)]


BLOCKS = [
    (f"{page.stem}-{i}", code)
    for page in page_order()
    for i, code in enumerate(re.findall(r"```python\n(.*?)```", page.read_text(), re.S))
]
#: Runs the blocks one after another in one interpreter, as a user pastes them into one session,
#: each as ``__main__`` code (so the warnings a user would see are shown: Python's default filters).
#: A marker on both streams names the block whose output follows.
RUNNER = """
import json, sys
for name, code in json.load(open(sys.argv[1])):
    for stream in (sys.stdout, sys.stderr):
        print(f"=== {name}", file=stream, flush=True)
    exec(compile(code, f"<docs {name}>", "exec"), sys.modules["__main__"].__dict__)
"""


@pytest.mark.slow
def test_sphinx_builds_without_warnings(tmp_path):
    pytest.importorskip("sphinx")
    pytest.importorskip("myst_parser")
    pytest.importorskip("myst_nb")
    out = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", str(DOCS), str(tmp_path)],
        capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "api.html").exists() and "dask_zarrio.write" in (tmp_path / "api.html").read_text()
    for page in ("climate", "imaging"):  # the notebooks, with their committed figures and displays
        html = (tmp_path / "notebooks" / f"{page}.html").read_text()
        images = re.findall(r'<img [^>]*src="([^"]+)"', html)
        assert images and all((tmp_path / "notebooks" / src).resolve().is_file() for src in images), page
        assert "dz-repr" in html, page
    for page, figure in (("rechunking", "rechunk-diagram.svg"), ("performance", "performance-speedup.svg")):
        assert f'src="_images/{figure}"' in (tmp_path / f"{page}.html").read_text(), (page, figure)


def test_doc_examples_run_in_one_session_in_page_order_without_a_warning(tmp_path):
    """Every page's examples, in page order, in one fresh interpreter started in an empty
    folder (as a user pastes them): none fails, and nothing is printed on stderr (no
    warning, no log line)."""
    blocks = tmp_path / "blocks.json"
    blocks.write_text(json.dumps(BLOCKS))
    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHONWARNINGS")}
    env["PYTHONPATH"] = str(DOCS.parent)
    done = subprocess.run([sys.executable, "-c", RUNNER, str(blocks)], capture_output=True, text=True, cwd=work,
                          env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    printed = [line for line in done.stderr.splitlines() if not line.startswith("=== ")]
    assert not printed, done.stderr[-4000:]
    logged = [line for line in done.stdout.splitlines() if " WARN " in line or "Warning:" in line]  # icechunk logs
    assert not logged, done.stdout[-4000:]  # to stdout


def test_there_are_examples():
    assert len(BLOCKS) >= 7
    assert [p.name for p in page_order()][:3] == ["index.md", "quickstart.md", "guide.md"]
    assert {p.name for p in page_order()} == {p.name for p in DOCS.glob("*.md")}  # no page left out


def test_the_quickstart_install_command_works_from_a_checkout():
    """``pip install dask_zarrio`` fails (not on PyPI): the quickstart gives the checkout's command,
    and each extra it names is one pyproject.toml defines."""
    text = (DOCS / "quickstart.md").read_text()
    assert "pip install -e '.[xarray]'" in text and "pip install dask_zarrio" not in text
    pyproject = (DOCS.parent / "pyproject.toml").read_text()
    section = pyproject.split("[project.optional-dependencies]")[1].split("\n[")[0]
    extras = set(re.findall(r"^([a-z0-9-]+) = \[", section, re.M))
    named = set(re.findall(r"`([a-z0-9]+)`", text.split("The extras")[1]))
    assert named and named <= extras and extras <= named, (named, extras)


def test_ci_runs_the_readme_test_command():
    """.ci/run is the README's test command (its steps, with the linters between install and
    pytest), so that what contributors run is what CI runs."""
    root = DOCS.parent
    readme = root.joinpath("README.md").read_text()
    command = re.search(r"\*\*Run the tests\*\*.*?```bash\n(.*?)\n```", readme, re.S).group(1)
    install, _, pytest_command = command.rpartition(" && ")
    lines = [line for line in root.joinpath(".ci", "run").read_text().splitlines() if line and not line.startswith("#")]
    assert install in lines and lines[-1] == pytest_command == "python -m pytest -q"
