"""``themis submit`` and ``themis worker``: config runs stored now, run by workers."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.cli.helpers import ok, ok_json, themis, user_error, write_config
from themis import sqlite_store
from themis.core.storage.events import RunSubmittedEvent

SCORING = """
from dataclasses import dataclass

from themis.components import Metric


@dataclass
class AnswerLength(Metric):
    component_id = "project/answer_length"
    version = "1"
    limit: int = 3

    def score(self, parsed, case, ctx):
        return float(len(str(parsed.value)) <= self.limit)
"""


def project(tmp_path: Path) -> Path:
    """A config with a python: metric from its own folder, and the folder's data file."""
    folder = tmp_path / "project"
    folder.mkdir()
    config = write_config(folder)
    (folder / "scoring.py").write_text(SCORING, encoding="utf-8")
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    data["evaluation"]["metrics"].append(
        {"id": "python:scoring:AnswerLength", "options": {"limit": 1}}
    )
    config.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return config


def test_submit_prints_the_run_id_and_a_worker_elsewhere_runs_it(tmp_path: Path) -> None:
    config = project(tmp_path)
    db = tmp_path / "shared" / "runs.sqlite"
    db.parent.mkdir()
    submitted = ok(
        themis("submit", "--config", config, "--set", "seeds=[3]", "--store", db, cwd=tmp_path)
    )
    run_id = submitted.stdout.strip()
    assert run_id.startswith("run-") and len(submitted.stdout.splitlines()) == 1
    assert f"themis worker --store {db} --run-id {run_id}" in submitted.stderr
    # The same run id as running the config with the same override.
    estimate = ok_json(
        themis("estimate", "--config", config, "--set", "seeds=[3]", "--json", cwd=tmp_path)
    )
    assert estimate["run_id"] == run_id

    listed = ok(themis("inspect", "runs", "--path", db, cwd=tmp_path)).stdout
    assert run_id in listed and "pending (submitted)" in listed
    rows = ok_json(themis("inspect", "runs", "--path", db, "--json", cwd=tmp_path))
    assert [(r["run_id"], r["status"], r["submitted"]) for r in rows] == [(run_id, "pending", True)]

    store = sqlite_store(db)
    (event,) = store.iter_events(run_id)
    assert isinstance(event, RunSubmittedEvent)
    recipe = event.recipe
    assert recipe["format"] == "config" and recipe["overrides"] == ["seeds=[3]"]
    assert "storage" not in recipe["config"] and "datasets" not in recipe["config"]  # type: ignore[operator]
    store.close()

    # The worker runs in another folder: the python: metric comes from the
    # config's folder, the cases from the snapshot.
    elsewhere = tmp_path / "node"
    elsewhere.mkdir()
    worked = ok_json(themis("worker", "--store", db, "--run-id", run_id, "--json", cwd=elsewhere))
    assert worked["stopped"] == "run_finished"
    assert [(r["run_id"], r["outcome"], r["status"]) for r in worked["runs"]] == [
        (run_id, "ran", "completed")
    ]
    report = ok_json(
        themis("report", "--path", db, "--run-id", run_id, "--format", "json", cwd=elsewhere)
    )
    text = json.dumps(report)
    assert "project/answer_length" in text and "builtin/exact_match" in text
    status = ok(themis("inspect", "runs", "--path", db, cwd=elsewhere)).stdout
    assert "completed" in status and "submitted" not in status


def test_submit_uses_the_configs_store_by_default(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    run_id = ok(themis("submit", "--config", config, cwd=tmp_path)).stdout.strip()
    worked = ok(themis("worker", "--store", "runs.sqlite", cwd=tmp_path))
    assert run_id in worked.stdout and "ran" in worked.stdout
    idle = ok(themis("worker", "--store", "runs.sqlite", "--max-idle", "0.2", cwd=tmp_path))
    assert "no submitted run was pending" in idle.stderr


def test_worker_errors_are_one_line_exit_two(tmp_path: Path) -> None:
    line = user_error(themis("worker", "--store", "mysql://host/db", cwd=tmp_path))
    assert "unsupported store URL 'mysql://host/db'" in line
    line = user_error(themis("worker", "--store", "missing.sqlite", cwd=tmp_path))
    assert "no store at missing.sqlite" in line
    config = write_config(tmp_path)
    ok(themis("run", "--config", config, cwd=tmp_path))
    line = user_error(
        themis("worker", "--store", "runs.sqlite", "--run-id", "run-nope", cwd=tmp_path)
    )
    assert "run run-nope is not in the store" in line
    run_id = ok_json(themis("inspect", "runs", "--path", "runs.sqlite", "--json", cwd=tmp_path))[0][
        "run_id"
    ]
    line = user_error(themis("worker", "--store", "runs.sqlite", "--run-id", run_id, cwd=tmp_path))
    assert f"run {run_id}" in line and "was never submitted" in line
    line = user_error(themis("submit", "--config", config, "--store", "redis://x", cwd=tmp_path))
    assert "unsupported store URL" in line


def test_submit_refuses_a_memory_store(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    line = user_error(
        themis("submit", "--config", config, "--set", "storage.store=memory",
               "--set", "storage.path=null", cwd=tmp_path)
    )  # fmt: skip
    assert "memory store, which no worker can reach" in line


def test_a_worker_that_cannot_rebuild_a_run_says_so_and_exits_two(tmp_path: Path) -> None:
    config = project(tmp_path)
    run_id = ok(themis("submit", "--config", config, "--store", "runs.sqlite", cwd=tmp_path))
    (config.parent / "scoring.py").unlink()  # the worker's copy of the project lacks it
    done = themis("worker", "--store", "runs.sqlite", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert f"error: run {run_id.stdout.strip()}" in done.stderr
    assert "cannot find module 'scoring'" in done.stderr


def test_postgres_store_url(tmp_path: Path, postgres_url: str) -> None:
    from tests.conftest import fresh_postgres_database

    url = fresh_postgres_database(postgres_url)
    config = write_config(tmp_path)
    run_id = ok(themis("submit", "--config", config, "--store", url, cwd=tmp_path)).stdout.strip()
    worked = ok_json(themis("worker", "--store", url, "--json", cwd=tmp_path))
    assert [(r["run_id"], r["status"]) for r in worked["runs"]] == [(run_id, "completed")]
    ok(themis("report", "--path", url, "--run-id", run_id, cwd=tmp_path))
