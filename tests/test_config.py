"""Settings (config.py): dask.config keys under dask_zarrio.*, with defaults users can override."""

from __future__ import annotations

import subprocess
import sys

import dask
import pytest

from dask_zarrio import config


@pytest.mark.parametrize("key,default", [
    ("retry.attempts", 6), ("retry.base-delay", 0.05), ("retry.max-delay", 2.0),
    ("requests-in-flight", 16), ("buffer-pool", "256MiB"), ("s3-multipart-part-size", "8MiB"),
])
def test_defaults_are_registered_and_overridable(key, default):
    assert config.get(key) == default
    with dask.config.set({f"dask_zarrio.{key}": "changed"}):
        assert config.get(key) == "changed"
    assert config.get(key) == default


def test_importing_the_package_registers_the_defaults():
    code = "import dask, dask_zarrio; print(dask.config.get('dask_zarrio.requests-in-flight'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "16"


def test_environment_variables_reach_the_setting():
    code = "import dask_zarrio.config as c; print(c.get('requests-in-flight'))"
    env = {"DASK_DASK_ZARRIO__REQUESTS_IN_FLIGHT": "3"}
    import os

    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env={**os.environ, **env}
    )
    assert out.stdout.strip() == "3"


def test_user_settings_made_before_import_win():
    code = (
        "import dask; dask.config.set({'dask_zarrio.retry.attempts': 9}); "
        "import dask_zarrio.config as c; print(c.get('retry.attempts'), c.get('retry.max-delay'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["9", "2.0"]
