"""The notebooks: committed executed (figures inline, rich displays, progress bars), made from
notebooks/make_notebooks.py's cells, small; and they run again from top to bottom, cleaning up."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
pytest.importorskip("nbclient")
pytest.importorskip("matplotlib")

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
#: Figures each notebook shows inline.
FIGURES = {"climate.ipynb": 3, "imaging.ipynb": 1, "pyramid.ipynb": 2}
#: The most a committed notebook may weigh (its PNGs included).
MAX_BYTES = 1_500_000


def _maker():
    spec = importlib.util.spec_from_file_location("make_notebooks", NOTEBOOKS / "make_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _outputs(nb, kind):
    return [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if kind in o.get("data", {})]


def check_shown(nb, name):
    """Figures inline, the package's rich displays, progress bars, no error."""
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]
    assert len(_outputs(nb, "image/png")) >= FIGURES[name]
    assert any("dz-repr" in o.data["text/html"] for o in _outputs(nb, "text/html"))
    text = "".join(o.get("text", "") for c in code for o in c.outputs)
    assert "100% Completed" in text  # a progress bar, on threads and (climate) on distributed
    assert "removed: True" in text
    source = "\n".join(c.source for c in code)
    assert 'matplotlib.use("Agg")' not in source and "savefig" not in source and "%matplotlib inline" in source
    assert "dask_zarrio.testing" not in source  # public API only
    return text


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_committed_notebooks_are_executed_and_small(name):
    path = NOTEBOOKS / name
    assert path.stat().st_size < MAX_BYTES, "smaller figures: see INLINE in make_notebooks.py"
    nb = nbformat.read(path, as_version=4)
    made = _maker().build(_maker().NOTEBOOKS[name])
    assert [c.source for c in nb.cells] == [c.source for c in made.cells], "run python notebooks/make_notebooks.py"
    text = check_shown(nb, name)
    assert "\r" not in text and "\x1b" not in text  # progress bars as they end, not every update
    if name == "climate.ipynb":  # the write on threads, then two computations on distributed
        assert text.count("100% Completed") >= 3


@pytest.mark.parametrize("name", [pytest.param("climate.ipynb", marks=pytest.mark.slow), "imaging.ipynb",
                                  "pyramid.ipynb"])
def test_notebook_runs_and_cleans_up(name, s3_endpoint, monkeypatch, tmp_path):
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setenv("TMPDIR", str(temp))  # the kernel's temporary folder: checked empty after
    monkeypatch.setenv("DZ_NOTEBOOK_YEARS", "1")
    monkeypatch.setenv("DZ_NOTEBOOK_EDGE", "256")
    monkeypatch.setenv("DZ_S3_ENDPOINT", s3_endpoint)
    maker = _maker()
    nb = maker.build(maker.NOTEBOOKS[name])
    maker.execute(nb, timeout=300)
    text = check_shown(nb, name)
    if name == "imaging.ipynb":
        assert "0 whole-object GETs" in text and "ranged GETs" in text
    if name == "pyramid.ipynb":  # validated by ome-zarr-models and dz.verify, the pyramid named by dz.tree
        assert "dz.verify: ok" in text and "level 3: scale [1.0, 4.0, 4.0]" in text and "4 levels" in text
    left = [p for p in temp.rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in left) < 100_000, left
    assert not [p for p in temp.iterdir() if p.name.startswith("dz-")]
