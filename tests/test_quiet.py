"""A fresh install is quiet: the demo, ``dz --help`` and the crc32c codec print no warning.

Each runs in a subprocess as a user starts it, with ``-W error`` (a warning becomes an
error) where the warning's own filter allows, and stderr must be empty. numcodecs sets
its own filter for its crc32c deprecation (issue 32), so ``-W error`` alone would not
see it: the subprocess also hides the ``crc32c`` package, as a fresh install of
dask_zarrio (which depends on google-crc32c) does not have it.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: Run first in the subprocess: ``import crc32c`` fails, as in a fresh install without it.
NO_CRC32C = "import sys; sys.modules['crc32c'] = None; "


def _run(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-W", "error", "-c", NO_CRC32C + code, *args],
        capture_output=True, text=True, timeout=240, cwd=ROOT,
    )


@pytest.mark.parametrize("code,args", [
    ("import runpy; runpy.run_module('dask_zarrio.demo', run_name='__main__')", ["--mb", "2"]),
    ("from dask_zarrio.cli import main; main()", ["--help"]),
    ("from dask_zarrio.cli import main; main()", ["info", "--help"]),
], ids=["demo", "dz --help", "dz info --help"])
def test_entry_points_print_no_warning(code, args, tmp_path):
    if args[0] == "--mb":
        args = [*args, "--path", str(tmp_path)]
    out = _run(f"import sys; sys.argv = ['x', *sys.argv[1:]]; {code}", *args)
    assert out.returncode == 0, out.stderr
    assert out.stderr == ""


def test_crc32c_codec_works_without_the_crc32c_package():
    code = (
        "from dask_zarrio.codecs import codec_from_json; import numcodecs, sys; "
        "c = codec_from_json('crc32c'); assert bytes(c.decode(c.encode(b'data'))) == b'data'; "
        "assert sys.modules.get('crc32c') is None"
    )
    out = _run(code)
    assert out.returncode == 0, out.stderr
    assert out.stderr == ""


def test_the_dependency_is_google_crc32c():
    deps = re.search(r"^dependencies = \[(.*?)^\]", (ROOT / "pyproject.toml").read_text(), re.S | re.M).group(1)
    names = re.findall(r'^\s*"([A-Za-z0-9_.-]+)', deps, re.M)
    assert "google-crc32c" in names and "crc32c" not in names
