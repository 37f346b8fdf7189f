"""deploy/: the manifests parse and agree with the Dockerfile and the package; the HPC job runs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from importlib.metadata import entry_points
from pathlib import Path

import pytest
import yaml

import dask_zarrio

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
DOCKERFILE = (DEPLOY / "docker" / "Dockerfile").read_text()


def _image_tag() -> str:
    version = re.search(r'org\.opencontainers\.image\.version="([^"]+)"', DOCKERFILE).group(1)
    title = re.search(r'org\.opencontainers\.image\.title="([^"]+)"', DOCKERFILE).group(1)
    return f"{title}:{version}"


def _dask_subcommands() -> set[str]:
    assert any(e.name == "dask" for e in entry_points(group="console_scripts"))
    return {e.name for e in entry_points(group="dask_cli")}


def test_dockerfile_is_pinned_non_root_and_complete():
    base = re.search(r"^FROM (\S+)", DOCKERFILE, re.M).group(1)
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+", base), base
    user = re.findall(r"^USER (\S+)", DOCKERFILE, re.M)
    assert user and user[-1] not in ("0", "root")
    assert "bokeh" in DOCKERFILE and "COPY dask_zarrio" in DOCKERFILE and "pip install" in DOCKERFILE
    assert _image_tag() == f"dask-zarrio:{dask_zarrio.__version__}"
    for secret in ("AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID"):
        assert secret not in DOCKERFILE


def _containers(spec):
    return spec["spec"]["containers"]


def test_daskcluster_manifest():
    doc = yaml.safe_load((DEPLOY / "kubernetes" / "daskcluster.yaml").read_text())
    assert doc["apiVersion"] == "kubernetes.dask.org/v1" and doc["kind"] == "DaskCluster"
    assert doc["metadata"]["name"]
    commands = _dask_subcommands()
    for role, command in (("worker", "worker"), ("scheduler", "scheduler")):
        (container,) = _containers(doc["spec"][role])
        assert container["image"] == _image_tag()
        assert container["args"][:2] == ["dask", command] and command in commands
        for kind in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(container["resources"][kind])
    assert doc["spec"]["worker"]["replicas"] >= 1
    worker = _containers(doc["spec"]["worker"])[0]
    env = {e["name"]: e for e in worker["env"]}
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        assert "value" not in env[name] and env[name]["valueFrom"]["secretKeyRef"]["name"] == "s3-credentials"
    scheduler = _containers(doc["spec"]["scheduler"])[0]
    assert {p["containerPort"] for p in scheduler["ports"]} == {8786, 8787}
    assert {p["port"] for p in doc["spec"]["scheduler"]["service"]["ports"]} == {8786, 8787}


def test_secret_template_holds_no_secret():
    doc = yaml.safe_load((DEPLOY / "kubernetes" / "s3-credentials.example.yaml").read_text())
    assert doc["kind"] == "Secret" and doc["metadata"]["name"] == "s3-credentials"
    assert set(doc["stringData"].values()) <= {"REPLACE_ME", ""}


def test_helm_values_use_the_same_image():
    doc = yaml.safe_load((DEPLOY / "kubernetes" / "helm-values.yaml").read_text())
    for role in ("scheduler", "worker"):
        image = doc[role]["image"]
        assert f"{image['repository']}:{image['tag']}" == _image_tag()


@pytest.mark.parametrize("script", ["run_dz.sbatch", "run_dz.pbs"])
def test_batch_scripts(script):
    path = DEPLOY / "hpc" / script
    subprocess.run(["bash", "-n", str(path)], check=True)
    text = path.read_text()
    assert "dz_job.py" in text and "dask scheduler" in text and "dask worker" in text
    assert ("#SBATCH" in text) if script.endswith("sbatch") else ("#PBS" in text)


@pytest.mark.slow
def test_hpc_job_runs_against_a_scheduler_file(tmp_path):
    """dz_job.py, as the batch scripts run it, on a scheduler and a worker started by scheduler file."""
    sched_file = tmp_path / "sched.json"
    # Every process imports this checkout's package (the job script's folder, not the
    # repository, is first on its path), not another copy that pip installed elsewhere.
    env = {**os.environ, "PYTHONPATH": str(DEPLOY.parent)}
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": env}
    procs = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler",
                               "--scheduler-file", str(sched_file), "--host", "127.0.0.1", "--port", "0",
                               "--dashboard-address", "127.0.0.1:0"], **quiet)]
    try:
        deadline = time.monotonic() + 60
        while not sched_file.exists():
            assert time.monotonic() < deadline
            time.sleep(0.1)
        procs.append(subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker",
                                       "--scheduler-file", str(sched_file), "--nthreads", "1", "--no-dashboard"],
                                      **quiet))
        out = subprocess.run([sys.executable, str(DEPLOY / "hpc" / "dz_job.py"), "--scheduler-file", str(sched_file),
                              "--url", str(tmp_path / "job.zarr"), "--gb", "0.02"],
                             capture_output=True, text=True, timeout=180, env=env)
        assert out.returncode == 0, out.stderr
        assert "identical: True" in out.stdout
    finally:
        for p in reversed(procs):
            p.terminate()
            p.wait(20)


def test_jobqueue_example_compiles():
    import py_compile

    py_compile.compile(str(DEPLOY / "hpc" / "jobqueue_cluster.py"), doraise=True)


def test_workers_get_the_malloc_settings_everywhere():
    """deploy/ sets dask_zarrio.memory.allocator.WORKER_ENV for workers on Kubernetes (both ways) and HPC."""
    from dask_zarrio.memory.allocator import WORKER_ENV

    doc = yaml.safe_load((DEPLOY / "kubernetes" / "daskcluster.yaml").read_text())
    env = {e["name"]: e.get("value") for e in _containers(doc["spec"]["worker"])[0]["env"]}
    helm = yaml.safe_load((DEPLOY / "kubernetes" / "helm-values.yaml").read_text())
    helm_env = {e["name"]: e.get("value") for e in helm["worker"]["env"]}
    for name, value in WORKER_ENV.items():
        assert env[name] == value and helm_env[name] == value
        for script in ("run_dz.sbatch", "run_dz.pbs"):
            assert f"{name}={value}" in (DEPLOY / "hpc" / script).read_text()
    assert "WORKER_ENV" in (DEPLOY / "hpc" / "jobqueue_cluster.py").read_text()
