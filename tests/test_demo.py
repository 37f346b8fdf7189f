"""The README's main job runs and checks itself."""

from __future__ import annotations

from dask_zarrio.demo.__main__ import main


def test_demo_writes_and_reads_back(tmp_path, capsys):
    assert main(["--mb", "4", "--path", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "identical: True" in out
    assert (tmp_path / "temperature.zarr" / "zarr.json").exists()


def test_demo_v2(tmp_path):
    assert main(["--mb", "2", "--path", str(tmp_path), "--zarr-format", "2"]) == 0
