"""The notebooks run from top to bottom (outputs are not committed), here with small sizes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


@pytest.mark.parametrize("name", [pytest.param("climate.ipynb", marks=pytest.mark.slow), "imaging.ipynb"])
def test_notebook_runs(name, s3_endpoint, monkeypatch, tmp_path):
    # The kernel imports this checkout's package, not whichever copy pip installed.
    paths = [str(NOTEBOOKS.parent), os.environ.get("PYTHONPATH")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in paths if p))
    monkeypatch.setenv("DZ_NOTEBOOK_YEARS", "1")
    monkeypatch.setenv("DZ_NOTEBOOK_EDGE", "256")
    monkeypatch.setenv("DZ_S3_ENDPOINT", s3_endpoint)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), "commit notebooks without outputs"
    client = nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute(env=dict(os.environ))
    text = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    if name == "imaging.ipynb":
        assert "ranged GETs" in text
