"""The documentation site builds with warnings as errors, and its code examples run."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
BLOCKS = [
    pytest.param(code, id=f"{page.stem}-{i}")
    for page in sorted(DOCS.glob("*.md"))
    for i, code in enumerate(re.findall(r"```python\n(.*?)```", page.read_text(), re.S))
]


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


@pytest.mark.parametrize("code", BLOCKS)
def test_doc_examples_run(code):
    exec(compile(code, "<docs>", "exec"), {"__name__": "__docs__"})


def test_there_are_examples():
    assert len(BLOCKS) >= 7


def test_ci_runs_the_readme_test_command():
    """.ci/run is the README's test command (its steps, with the linters between install and
    pytest), so that what contributors run is what CI runs."""
    root = DOCS.parent
    readme = root.joinpath("README.md").read_text()
    command = re.search(r"\*\*Run the tests\*\*.*?```bash\n(.*?)\n```", readme, re.S).group(1)
    install, _, pytest_command = command.rpartition(" && ")
    lines = [line for line in root.joinpath(".ci", "run").read_text().splitlines() if line and not line.startswith("#")]
    assert install in lines and lines[-1] == pytest_command == "python -m pytest -q"
