"""The Slurm script and the Kubernetes Job of docs/scaleout.md, run for real.

The Slurm script's body runs under bash with ``SLURM_ARRAY_TASK_ID`` set, as
each array task would; the Job manifest is parsed and its container command
expanded as Kubernetes expands ``$(VAR)`` from the pod's environment, then
run as a real command line. Both against a local PostgreSQL server.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.cli.helpers import ok, themis, write_config
from tests.conftest import REPO_ROOT, fresh_postgres_database
from themis import PostgresRunStore

SLURM_SCRIPT = REPO_ROOT / "examples" / "scaleout" / "slurm-worker.sbatch"
JOB_MANIFEST = REPO_ROOT / "examples" / "scaleout" / "kubernetes-job.yaml"
BIN = str(Path(sys.executable).parent)


def submitted_run(tmp_path: Path, url: str) -> str:
    config = write_config(tmp_path)
    return ok(themis("submit", "--config", config, "--store", url, cwd=tmp_path)).stdout.strip()


def assert_completed_once(url: str, run_id: str) -> None:
    """The run finished, and each case was generated and scored exactly once."""
    store = PostgresRunStore(url)
    try:
        stored = store.resume(run_id)
        assert stored is not None and stored.status.value == "completed"
        types = [event.__dict__.get("event_type") for event in store.iter_events(run_id)]
        assert types.count("run_submitted") == 1
        assert types.count("generation_completed") == 4  # four cases, one candidate each
        assert types.count("score_completed") == 4
    finally:
        store.close()


def worker_environment(**values: str) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    environment["PATH"] = f"{BIN}{os.pathsep}{environment.get('PATH', '')}"
    environment.update(values)
    return environment


def test_the_slurm_script_is_an_array_job_of_workers() -> None:
    text = SLURM_SCRIPT.read_text(encoding="utf-8")
    directives = re.findall(r"^#SBATCH (\S+)", text, re.M)
    assert any(d.startswith("--array=") for d in directives), directives
    assert text.startswith("#!/bin/bash\n")
    assert re.search(
        r'^themis worker --store "\$THEMIS_STORE" --run-id "\$THEMIS_RUN_ID" --max-idle 60$',
        text,
        re.M,
    )
    assert os.access(SLURM_SCRIPT, os.X_OK)


def test_the_slurm_script_runs_workers_on_a_submitted_run(
    tmp_path: Path, postgres_url: str
) -> None:
    url = fresh_postgres_database(postgres_url)
    run_id = submitted_run(tmp_path, url)
    tasks = {
        task: subprocess.Popen(  # three array tasks on one run, at once
            ["bash", str(SLURM_SCRIPT)],
            cwd=tmp_path,
            env=worker_environment(
                THEMIS_STORE=url,
                THEMIS_RUN_ID=run_id,
                SLURM_ARRAY_TASK_ID=task,
                SLURM_ARRAY_JOB_ID="4242",
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for task in ("0", "1", "2")
    }
    for task, process in tasks.items():
        out, err = process.communicate(timeout=180)
        assert process.returncode == 0, err
        assert f"themis worker {task} of job 4242" in err
        assert run_id in out
    assert_completed_once(url, run_id)


def test_the_slurm_script_says_what_is_missing(tmp_path: Path) -> None:
    done = subprocess.run(
        ["bash", str(SLURM_SCRIPT)],
        cwd=tmp_path,
        env=worker_environment(SLURM_ARRAY_TASK_ID="0"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "set THEMIS_STORE" in done.stderr


def _expand(argument: str, environment: dict[str, str]) -> str:
    """Kubernetes' ``$(VAR)`` expansion of a container's command."""
    return re.sub(r"\$\((\w+)\)", lambda m: environment.get(m[1], m[0]), argument)


def test_the_kubernetes_job_runs_worker_pods_on_a_submitted_run(
    tmp_path: Path, postgres_url: str
) -> None:
    manifest = yaml.safe_load(JOB_MANIFEST.read_text(encoding="utf-8"))
    assert (manifest["apiVersion"], manifest["kind"]) == ("batch/v1", "Job")
    spec = manifest["spec"]
    assert spec["parallelism"] >= 2 and spec["completions"] == spec["parallelism"]
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] in ("OnFailure", "Never")
    (container,) = pod["containers"]
    env = {entry["name"]: entry for entry in container["env"]}
    # Secrets come from Secrets, never written in the manifest.
    for name in ("THEMIS_STORE", "OPENAI_API_KEY"):
        assert "secretKeyRef" in env[name]["valueFrom"], name
        assert "value" not in env[name]
    command = container["command"]
    assert command[:2] == ["themis", "worker"]

    url = fresh_postgres_database(postgres_url)
    run_id = submitted_run(tmp_path, url)
    assert env["THEMIS_RUN_ID"]["value"] == "REPLACE_WITH_RUN_ID"
    pod_environment = {  # what the Secrets and the sed of the docs put in the pod
        "THEMIS_STORE": url,
        "THEMIS_RUN_ID": run_id,
        "OPENAI_API_KEY": "sk-test-not-used",
    }
    argv = [_expand(str(argument), pod_environment) for argument in command]
    assert argv == ["themis", "worker", "--store", url, "--run-id", run_id, "--max-idle", "60"]
    pods = [  # the Job's pods, at once
        subprocess.Popen(
            argv,
            cwd=tmp_path,
            env=worker_environment(**pod_environment),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(spec["parallelism"])
    ]
    for pod in pods:
        _, err = pod.communicate(timeout=180)
        assert pod.returncode == 0, err
    assert_completed_once(url, run_id)


@pytest.mark.parametrize("path", [SLURM_SCRIPT, JOB_MANIFEST])
def test_the_docs_page_links_each_example(path: Path) -> None:
    page = (REPO_ROOT / "docs" / "scaleout.md").read_text(encoding="utf-8")
    assert f"(../{path.relative_to(REPO_ROOT)})" in page
