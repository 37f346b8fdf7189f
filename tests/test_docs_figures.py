"""The docs' figures (docs/figures.py) are drawn from the numbers the pages give, and committed as drawn."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

matplotlib = pytest.importorskip("matplotlib")

DOCS = Path(__file__).resolve().parent.parent / "docs"
#: figure -> the page that shows it
FIGURES = {
    "rechunk-diagram.svg": ["rechunking.md"],
    "rechunk-time-memory.svg": ["rechunking.md", "performance.md"],
    "performance-speedup.svg": ["performance.md"],
}


def _figures():
    spec = importlib.util.spec_from_file_location("docs_figures", DOCS / "figures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_figures_are_drawn_from_the_pages_and_committed_as_drawn(tmp_path):
    figures = _figures()
    drawn = figures.main(tmp_path)
    assert sorted(p.name for p in drawn) == sorted(FIGURES)
    rechunk = figures.measured(DOCS / "rechunking.md")
    assert any(n.startswith("dz.rechunk") for n, _, _ in rechunk) and len(rechunk) >= 5
    assert len(figures.speedups(DOCS / "performance.md")) >= 5
    for path in drawn:
        committed = DOCS / path.name
        assert committed.stat().st_size < 100_000, path.name
        made_by = re.search(r"Matplotlib v([0-9.]+)", committed.read_text())
        if made_by and made_by.group(1) == matplotlib.__version__:  # another version draws other bytes
            assert committed.read_text() == path.read_text(), f"{path.name}: run python docs/figures.py"


@pytest.mark.parametrize("figure", sorted(FIGURES))
def test_pages_lead_with_their_figures(figure):
    for page in FIGURES[figure]:
        text = (DOCS / page).read_text()
        assert f"]({figure})" in text, (page, figure)
        first_run = text.index("## Measured") if "## Measured" in text else text.index("## The 2 GiB run")
        assert text.index(f"]({figure})") < first_run, "the picture comes before the run logs"


def test_rechunking_page_has_a_chooser():
    text = (DOCS / "rechunking.md").read_text()
    chooser = text[text.index("## Which one to use"):text.index("## Example")]
    for call in ("dz.rechunk(", "dz.copy(", "dz.write(dz.read(src).rechunk(t), dst)"):
        assert call in chooser, call
