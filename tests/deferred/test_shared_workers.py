"""Several worker processes on one submitted run share it.

Three ``themis worker`` processes start together on one run (PostgreSQL and
SQLite). The generator is the real openai adapter against a local server
that takes 40 ms per answer and counts the requests: the workers share the
run through the store's work leases, so each case is asked once and stored
once, however many workers there are; a worker SIGKILLed mid-run leaves its
cases to a worker started after it.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.adapters.fake_openai_server import running_server
from tests.cli.helpers import THEMIS, ok, themis, write_config
from tests.conftest import fresh_postgres_database
from themis import PostgresRunStore, SqliteRunStore
from themis.core.storage.stores.base import RunStore

CASES = 60
WORKERS = 3
KEY_VARIABLE = "THEMIS_SHARED_TEST_KEY"


def config_for(folder: Path, base_url: str) -> Path:
    cases = [
        {"case_id": f"c{i}", "input": {"question": f"{i}+{i}"}, "expected_output": str(2 * i)}
        for i in range(CASES)
    ]
    config = write_config(folder, cases=cases)
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    data["generation"]["generator"] = {
        "id": "openai/generator",
        "options": {
            "model": "test-model",
            "api_mode": "chat_completions",
            "base_url": base_url,
            "api_key_env": KEY_VARIABLE,
        },
    }
    data["generation"]["candidate_policy"] = {"num_samples": 1}
    config.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return config


def run_workers(store: str, run_id: str, cwd: Path) -> list[dict[str, Any]]:
    environment = {**os.environ, KEY_VARIABLE: "sk-shared-test"}
    workers = [
        subprocess.Popen(
            [THEMIS, "worker", "--store", store, "--run-id", run_id, "--json"],
            cwd=cwd,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(WORKERS)
    ]
    reports = []
    for worker in workers:
        out, err = worker.communicate(timeout=300)
        assert worker.returncode == 0, err
        reports.append(json.loads(out))
    return reports


def assert_each_case_stored_once(store: RunStore, run_id: str) -> None:
    stored = store.resume(run_id)
    assert stored is not None and stored.status.value == "completed"
    generated = [
        event.__dict__["case_key"]
        for event in store.iter_events(run_id)
        if event.__dict__.get("event_type") == "generation_completed"
    ]
    assert len(generated) == len(set(generated)) == CASES
    assert len(store.score_rows(run_id)) == CASES


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_three_workers_share_one_submitted_run(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if kind == "postgres":
        location = fresh_postgres_database(request.getfixturevalue("postgres_url"))
    else:
        location = str(tmp_path / "shared.sqlite")
    with running_server() as server:

        def slow_answer(path: str, body: Any) -> str:
            time.sleep(0.04)
            return "4"

        server.answer = slow_answer
        config = config_for(tmp_path, server.base_url)
        done = ok(themis("submit", "--config", config, "--store", location, cwd=tmp_path))
        run_id = done.stdout.strip()
        reports = run_workers(location, run_id, tmp_path)
        calls = len(server.received("/v1/chat/completions"))
    assert [r["runs"][0]["run_id"] for r in reports] == [run_id] * WORKERS
    assert all(r["runs"][0]["status"] == "completed" for r in reports)
    assert calls == CASES, f"{calls - CASES} generator calls repeated by the workers"
    store: RunStore = PostgresRunStore(location) if kind == "postgres" else SqliteRunStore(location)
    try:
        assert_each_case_stored_once(store, run_id)
    finally:
        store.close()


def test_a_killed_workers_cases_are_finished_by_another_worker(tmp_path: Path) -> None:
    """A worker SIGKILLed mid-run; a worker started later (without --run-id)
    takes the unfinished run, takes over the dead worker's leases once they
    expire, and finishes it: every case stored once."""
    location = str(tmp_path / "shared.sqlite")
    environment = {**os.environ, KEY_VARIABLE: "sk-shared-test"}
    with running_server() as server:

        def slow_answer(path: str, body: Any) -> str:
            time.sleep(0.05)
            return "4"

        server.answer = slow_answer
        config = config_for(tmp_path, server.base_url)
        data = yaml.safe_load(config.read_text(encoding="utf-8"))
        data["runtime"] = {"lease_s": 2.0, "max_concurrent_tasks": 4}
        config.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        run_id = ok(
            themis("submit", "--config", config, "--store", location, cwd=tmp_path)
        ).stdout.strip()
        doomed = subprocess.Popen(
            [THEMIS, "worker", "--store", location, "--run-id", run_id],
            cwd=tmp_path,
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while len(server.received("/v1/chat/completions")) < 10:
            assert time.monotonic() < deadline and doomed.poll() is None
            time.sleep(0.05)
        doomed.kill()
        doomed.wait()
        survivor = subprocess.run(
            [THEMIS, "worker", "--store", location, "--json"],
            cwd=tmp_path,
            env=environment,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert survivor.returncode == 0, survivor.stderr
        report = json.loads(survivor.stdout)
        assert [(r["run_id"], r["status"]) for r in report["runs"]] == [(run_id, "completed")]
    store = SqliteRunStore(location)
    try:
        assert_each_case_stored_once(store, run_id)
    finally:
        store.close()
